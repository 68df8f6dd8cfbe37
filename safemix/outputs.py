"""The one place that decides whether a verb may write where it was told to.

Every verb that writes (profile, generate, mix, eval, report, run) names its inputs and
every path it will write (main file, sidecars, manifests, folders) in an `OutputGuard`
and calls `check()` before it writes anything. The guard refuses, with a `ConfigError`
that names the path and what to do:

- an output that *is* an input or an input's sidecar: compared after following symlinks
  and `..`, and by inode, so a hard link to the job is caught too;
- an output inside an input folder (a `datasets` job), or a folder output that would
  contain an input;
- a file output where a directory exists (and the reverse), or whose parent is a file;
- replacing an existing file that safemix did not write: a file is safemix's when it is
  itself a safemix JSON file (a manifest, profile or results file carrying
  `safemix_version` or a `safemix.*` kind), or when a safemix manifest the verb names
  sits beside it and lists it with its current sha256 (a file changed by hand since is
  not replaced) or does not hash it at all (report pages beside results.json).

Folders are never deleted over user content: `replace_dir` renames a finished folder in
and removes the old one only when it carries safemix's marker file.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from safemix.errors import ConfigError
from safemix.utils import sha256_file

MARKER = ".safemix-output.json"  # inside folders safemix wrote (datasets outputs)
SIDECAR_SUFFIXES = (".provenance.jsonl", ".manifest.json")
_OWN_JSON_MAX = 64 * 1024 * 1024


def sidecars_of(path: str | os.PathLike) -> list[Path]:
    """The files safemix keeps beside `path`: `x.jsonl` -> x.provenance.jsonl, x.manifest.json."""
    p = Path(path)
    stem = p.name[: -len(p.suffix)] if p.suffix else p.name
    return [p.with_name(stem + s) for s in SIDECAR_SUFFIXES]


def check_out_name(path: str | os.PathLike) -> Path:
    """An output path must name a file or folder, not `.`, `..` or `/`."""
    p = Path(path)
    if p.name in ("", ".", ".."):
        raise ConfigError(f"output path {str(path)!r} names no file or folder; give a new name "
                          "such as out/safety.jsonl")
    return p


def _ident(p: Path) -> tuple[int, int] | None:
    try:
        st = p.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _resolved(p: Path) -> Path:
    return Path(os.path.realpath(p))


def _within(child: Path, parent: Path) -> bool:
    try:
        child.relative_to(parent)
        return True
    except ValueError:
        return False


def _json_obj(p: Path) -> dict | None:
    try:
        if p.stat().st_size > _OWN_JSON_MAX:
            return None
        obj = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def is_safemix_json(p: Path) -> bool:
    """A JSON file safemix wrote: a manifest, profile or results file with its marker."""
    obj = _json_obj(p)
    return bool(obj) and ("safemix_version" in obj or str(obj.get("kind", "")).startswith("safemix"))


def _listed_shas(obj: object) -> Iterator[tuple[str, str]]:
    """(path, sha256) pairs anywhere in a manifest: any dict with both keys."""
    if isinstance(obj, dict):
        if isinstance(obj.get("path"), str) and isinstance(obj.get("sha256"), str):
            yield obj["path"], obj["sha256"]
        for v in obj.values():
            yield from _listed_shas(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _listed_shas(v)


@dataclass
class OutputGuard:
    """Inputs and planned outputs of one verb; `check()` before writing anything."""

    verb: str
    inputs: list[Path] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    dirs: list[Path] = field(default_factory=list)
    manifests: list[Path] = field(default_factory=list)
    replace_dirs: list[Path] = field(default_factory=list)
    sidecars: list[Path] = field(default_factory=list)
    exclusive_dirs: list[Path] = field(default_factory=list)
    labels: dict[Path, str] = field(default_factory=dict)

    # ----------------------------------------------------------------- declaring
    def input(self, path: str | os.PathLike | None, sidecars: bool = True, label: str | None = None) -> OutputGuard:
        """An input (`label`: how messages name it, e.g. the recipe field `data.train`)."""
        if path is None or str(path).startswith("<"):  # in-memory data: "<memory>"
            return self
        p = Path(path)
        self.inputs.append(p)
        if label:
            self.labels[p] = label
        if sidecars and not p.is_dir():
            self.sidecars.extend(sidecars_of(p))
        return self

    def file(self, *paths: str | os.PathLike) -> OutputGuard:
        self.files.extend(Path(p) for p in paths)
        return self

    def folder(self, path: str | os.PathLike, replace: bool = False, exclusive: bool = False) -> OutputGuard:
        """A folder the verb writes into. `replace`: the folder itself is the output (renamed in
        whole); `exclusive`: the verb deletes and rewrites inside it (a run folder), so it may
        hold no input."""
        (self.replace_dirs if replace else self.dirs).append(Path(path))
        if exclusive or replace:
            self.exclusive_dirs.append(Path(path))
        return self

    def manifest(self, *paths: str | os.PathLike) -> OutputGuard:
        """Manifests that may prove an existing output is safemix's (also outputs themselves)."""
        ps = [Path(p) for p in paths]
        self.manifests.extend(ps)
        self.files.extend(ps)
        return self

    # ------------------------------------------------------------------ checking
    def _fail(self, path: Path, why: str) -> ConfigError:
        return ConfigError(f"refusing to write {path}: {why}")

    def _name(self, p: Path) -> str:
        return f"{self.labels[p]}: {p}" if p in self.labels else str(p)

    def _input_hit(self, out: Path) -> Path | None:
        r, ident = _resolved(out), _ident(out)
        for inp in self.inputs + self.sidecars:
            if _resolved(inp) == r or (ident is not None and _ident(inp) == ident):
                return inp
            if inp.is_dir() and _within(r, _resolved(inp)):
                return inp
        return None

    def _owned(self, p: Path) -> bool:
        if is_safemix_json(p):
            return True
        r = _resolved(p)
        sha = None
        for m in self.manifests:
            obj = _json_obj(m) if m.exists() else None
            if not obj or not is_safemix_json(m):
                continue
            listed_here = False
            for listed, want in _listed_shas(obj):
                lp = Path(listed)
                lp = lp if lp.is_absolute() else Path.cwd() / lp
                if _resolved(lp) == r or _resolved(m.parent / Path(listed).name) == r:
                    listed_here = True
                    sha = sha or sha256_file(p)
                    if sha == want:
                        return True
            if not listed_here and _resolved(m.parent) == _resolved(p.parent):
                return True  # a file the manifest does not hash (a report page) beside it
        return False

    def _check_parents(self, p: Path) -> None:
        for parent in p.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise self._fail(p, f"{parent} is a file, not a folder")
                return

    def check(self) -> OutputGuard:
        outs = self.files + self.dirs + self.replace_dirs
        seen: dict[Path, Path] = {}
        for p in outs:
            check_out_name(p)
            r = _resolved(p)
            if r in seen and seen[r] != p:
                raise self._fail(p, f"it is the same path as another output ({seen[r]})")
            seen[r] = p
            hit = self._input_hit(p)
            if hit is not None:
                what = "an input" if hit in self.inputs else "an input's sidecar"
                raise self._fail(p, f"it is {what} ({self._name(hit)}); inputs are never modified: "
                                 "choose another output path")
            self._check_parents(p)
        for d in self.replace_dirs + self.dirs:
            for inp in self.inputs:
                if d in self.exclusive_dirs and _within(_resolved(inp), _resolved(d)):
                    raise self._fail(d, f"the folder holds an input ({self._name(inp)}); choose a folder "
                                     "of its own")
            if d.exists() and not d.is_dir():
                raise self._fail(d, "a file with that name exists where a folder is needed")
        for d in self.replace_dirs:
            if d.exists() and not (d / MARKER).exists() and any(d.iterdir()):
                raise self._fail(d, "the folder exists and was not written by safemix; "
                                 "remove it or choose another output path")
        for f in self.files:
            if f.is_dir():
                raise self._fail(f, "it is an existing directory; give a file path")
            if f.exists() and not self._owned(f):
                raise self._fail(f, "the file exists and was not written by safemix (or was changed "
                                 "since); remove it or choose another output path")
        return self


def replace_dir(build: Path, dest: Path) -> None:
    """Move the finished folder `build` to `dest`; an old `dest` is removed only if safemix
    made it (it carries MARKER), and only after the new one is in place."""
    (build / MARKER).write_text(json.dumps({"safemix": True}) + "\n", encoding="utf-8")
    if not dest.exists():
        os.replace(build, dest)
        return
    if not (dest / MARKER).exists() and any(dest.iterdir()):
        raise ConfigError(f"refusing to replace {dest}: the folder exists and was not written by safemix")
    old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-{os.getpid()}.", dir=dest.parent))
    os.replace(dest, old / dest.name)
    os.replace(build, dest)
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def staging_dir(dest: Path) -> Iterator[Path]:
    """A temp folder beside `dest` (same filesystem, so the rename is atomic), removed on error."""
    from safemix.utils import clean_stale_temps

    dest.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(dest.parent, dest.name)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.safemix-{os.getpid()}.", suffix=".tmp",
                                dir=dest.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


__all__ = ["MARKER", "OutputGuard", "check_out_name", "is_safemix_json", "replace_dir", "sidecars_of",
           "staging_dir"]
