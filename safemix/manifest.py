"""One manifest schema for every stage: a small common envelope plus the stage's own fields.

Every record a stage writes about a run (generate's `x.manifest.json`, mix's `mix_manifest.json`,
train's `model/manifest.json`, eval's `results.json`, a pipeline stage's `stage_manifest.json`,
a testbed's `testbed.json`) is built with `make_manifest` and written with `write_manifest`:

    {"manifest_schema": "safemix.manifest", "manifest_version": 1,
     "stage": "generate" | "mix" | "train" | "eval" | "pipeline" | "testbed",
     "safemix_version": "0.1.0", "created": "2026-12-02T14:30:47+00:00",   # UTC, ISO 8601
     ...the stage's own fields, where its readers expect them...,
     "inputs": {name: {"path", "sha256", ...}}, "outputs": {name: ...}, "config": {...}}

`inputs`, `outputs` and `config` are always objects (`{}` where a stage records them in fields of
its own); an entry is a file record `{"path", "sha256", ...}` where the stage hashes the file, a
list of them (train's data files), or the stage's own value (a pipeline stage keeps its cache
inputs as name -> sha256 and its outputs as names relative to the stage folder). The envelope's
keys are prefixed `manifest_` so that they never collide with a stage's own `schema_version`
(eval's results.json). `read_manifest(path)` checks the envelope and its version and names the
file in every error (`ManifestError`, an `InputError`); `legacy=True` also accepts a file written
before the envelope existed (returned as it is) for readers of older run folders.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from safemix.errors import InputError

SCHEMA = "safemix.manifest"
VERSION = 1  # bump when an envelope key changes meaning; readers accept SUPPORTED_VERSIONS
SUPPORTED_VERSIONS = frozenset({1})
STAGES = ("generate", "mix", "train", "eval", "pipeline", "testbed")
_HEAD = ("manifest_schema", "manifest_version", "stage", "safemix_version", "created")
_OBJECTS = ("inputs", "outputs", "config")


class ManifestError(InputError):
    """A manifest that is missing, unreadable, not safemix's, or of a version this safemix does not read."""


def utc_now() -> str:
    """The envelope's `created`: UTC, ISO 8601 to the second (`2026-12-02T14:30:47+00:00`)."""
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def make_manifest(stage: str, fields: dict[str, Any] | None = None, *, inputs: dict[str, Any] | None = None,
                  outputs: dict[str, Any] | None = None, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """The envelope (first) and the stage's own `fields` (unchanged, in their order).

    `inputs` / `outputs` / `config` fill those envelope keys where `fields` has none of its own
    (`{}` when not given); a key `fields` already has keeps its value there.
    """
    from safemix import __version__

    if stage not in STAGES:
        raise ValueError(f"unknown manifest stage {stage!r}; one of {', '.join(STAGES)}")
    fields = dict(fields or {})
    if fields.get("stage", stage) != stage:
        raise ValueError(f"fields say stage {fields['stage']!r}, not {stage!r}")
    man: dict[str, Any] = {"manifest_schema": SCHEMA, "manifest_version": VERSION, "stage": stage,
                           "safemix_version": __version__, "created": utc_now(), **fields}
    for key, value in zip(_OBJECTS, (inputs, outputs, config), strict=True):
        man.setdefault(key, {} if value is None else value)
    return man


def check_manifest(obj: Any, path: str | os.PathLike | None = None, stage: str | None = None) -> dict[str, Any]:
    """`obj` if it is a manifest of a version this safemix reads (of `stage`, when given); else
    a `ManifestError` that names `path` and what is wrong."""
    where = None if path is None else str(path)

    def bad(msg: str, field: str | None = None) -> ManifestError:
        return ManifestError(msg, path=where, field=field)

    if not isinstance(obj, dict):
        raise bad(f"a manifest is a JSON object, not {type(obj).__name__}")
    if obj.get("manifest_schema") != SCHEMA:
        raise bad(f"not a safemix manifest (no \"manifest_schema\": \"{SCHEMA}\"): written by another "
                  "tool, edited by hand, or by a safemix before manifests were versioned", "manifest_schema")
    version = obj.get("manifest_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise bad(f"manifest_version {version!r} is not a whole number", "manifest_version")
    if version not in SUPPORTED_VERSIONS:
        newer = "; it was written by a newer safemix: upgrade safemix" if version > VERSION else ""
        raise bad(f"manifest version {version} is not supported (this safemix reads version "
                  f"{', '.join(map(str, sorted(SUPPORTED_VERSIONS)))}){newer}", "manifest_version")
    if obj.get("stage") not in STAGES:
        raise bad(f"unknown stage {obj.get('stage')!r}; one of {', '.join(STAGES)}", "stage")
    if stage is not None and obj["stage"] != stage:
        raise bad(f"this is a {obj['stage']} manifest, not a {stage} one", "stage")
    for key in ("safemix_version", "created"):
        if not isinstance(obj.get(key), str):
            raise bad(f"{key} is missing or not a string", key)
    for key in _OBJECTS:
        if not isinstance(obj.get(key), dict):
            raise bad(f"{key} is missing or not an object", key)
    return obj


def write_manifest(path: str | os.PathLike, manifest: dict[str, Any]) -> Path:
    """Check `manifest` (see `check_manifest`) and write it atomically as JSON; returns the path."""
    from safemix.utils import write_json

    check_manifest(manifest, path)
    write_json(path, manifest)
    return Path(path)


def read_manifest(path: str | os.PathLike, stage: str | None = None, legacy: bool = False) -> dict[str, Any]:
    """The manifest at `path`, checked (envelope, version, `stage` when given).

    `legacy=True`: a JSON object without the envelope (written by a safemix before it) is
    returned as it is; one that has the envelope is still checked. Errors are `ManifestError`s
    naming the file.
    """
    import json

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError("no manifest here (the stage has not finished, or wrote elsewhere)",
                            path=str(p)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ManifestError(f"cannot read the manifest: {e}", path=str(p)) from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise ManifestError(f"malformed JSON: {e.msg}", path=str(p), line=e.lineno) from None
    if legacy and isinstance(obj, dict) and "manifest_schema" not in obj:
        return obj
    return check_manifest(obj, p, stage)


__all__ = ["SCHEMA", "STAGES", "SUPPORTED_VERSIONS", "VERSION", "ManifestError", "check_manifest",
           "make_manifest", "read_manifest", "utc_now", "write_manifest"]
