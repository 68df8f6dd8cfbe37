"""The safety set: load it (file + provenance sidecar, or Examples) and convert it into
the job's format.

Format choice (documented in the README of the stage): safety Examples are converted
into the job's schema with the job's own record encoder, so the mixed file is one
format. Conversion is an error only where the job's schema cannot represent a safety
example: a multi-turn conversation, or a role other than system/user/assistant, in a
single-turn schema (prompt_completion, alpaca, columns). A system prompt is folded the
way the format adapters fold it (prefixed to the prompt where the schema has no system
field). `require_same_format` turns any schema difference into an error instead.
Per-message extras (ShareGPT `from` names) and record extras are not written into safety
rows, so strict schema checks pass; record extras go into provenance. OpenAI's per-message
`weight` (0/1) is kept in an OpenAI job: generated multi-turn rows of a job that trains only
final turns carry weight 0 on their context turns and 1 on the refusal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safemix.errors import InputError
from safemix.formats.example import Example

SINGLE_TURN_SCHEMAS = ("prompt_completion", "alpaca", "columns")
PLAIN_ROLES = ("system", "user", "assistant")


@dataclass
class SafetySet:
    """Safety Examples with one provenance dict each, and where they came from."""

    examples: list[Example]
    provenance: list[dict[str, Any]]
    lines: list[int | None]  # line/row of each example in its file (None for in-memory)
    path: str | None = None
    schema: str | None = None  # None: in-memory Examples, no schema of their own
    provenance_path: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.examples)


def default_provenance_path(path: str | Path) -> Path:
    """`safety.jsonl` -> `safety.provenance.jsonl` (the generator's sidecar name)."""
    from safemix.outputs import sidecars_of

    return sidecars_of(path)[0]


def provenance_of(ex: Example) -> dict[str, Any]:
    """Provenance carried in an Example's metadata; record extras kept under their names."""
    prov = {k: v for k, v in ex.metadata.items() if k != "extra"}
    for k, v in (ex.metadata.get("extra") or {}).items():
        prov.setdefault(k, v)
    prov.setdefault("source", "safety")
    return prov


def read_provenance_sidecar(path: str | Path, n_rows: int) -> list[dict[str, Any]]:
    """Rows of a provenance JSONL sidecar; it must hold one object per safety row."""
    path = str(path)
    rows: list[dict[str, Any]] = []
    with open(path, "rb") as f:
        for i, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise InputError(f"malformed JSON in provenance sidecar: {e}", path=path, line=i) from None
            if not isinstance(rec, dict):
                raise InputError(f"expected a JSON object per line, got {type(rec).__name__}",
                                 path=path, line=i)
            rows.append(rec)
    if len(rows) != n_rows:
        raise InputError(f"provenance sidecar has {len(rows)} rows but the safety set has {n_rows}; "
                         "they must be aligned by row", path=path)
    return rows


def load_safety_file(path: str | Path, *, format: str | None = None, column_map: dict | None = None,
                     provenance: str | Path | None = None) -> SafetySet:
    """Read a safety file in any supported format, with its provenance sidecar if present."""
    from safemix.formats import JobReader

    reader = JobReader(path, format, None, column_map)
    examples, lines = [], []
    for line, ex, _ in reader:
        examples.append(ex)
        lines.append(line)
    prov_path = Path(provenance) if provenance else default_provenance_path(path)
    if provenance and not prov_path.exists():
        raise InputError("safety provenance sidecar not found", path=str(prov_path))
    if prov_path.exists():
        side = read_provenance_sidecar(prov_path, len(examples))
        provs = [{**provenance_of(ex), **row} for ex, row in zip(examples, side, strict=True)]
    else:
        prov_path = None
        provs = [provenance_of(ex) for ex in examples]
    for p in provs:
        p.setdefault("source", "safety")
    return SafetySet(examples, provs, lines, str(path), reader.schema_name,
                     str(prov_path) if prov_path else None)


def safety_from_memory(items: Any) -> SafetySet:
    """A SafetySet from Examples, records (any schema) or a `datasets.Dataset`."""
    from safemix.formats.io import as_job

    rows = dataset_rows(items) if is_dataset(items) else list(items)
    job = as_job(rows, "safety")
    schema = job.schema if any(not isinstance(r, Example) for r in rows) else None
    return SafetySet(job.examples, [provenance_of(ex) for ex in job.examples], [None] * len(job.examples),
                     None, schema)


def is_dataset(obj: Any) -> bool:
    return hasattr(obj, "column_names") and hasattr(obj, "to_list") and hasattr(obj, "select")


def dataset_rows(ds: Any) -> list[dict]:
    """Records of a `datasets.Dataset`, without the nulls Arrow adds for absent nested keys."""
    return [_drop_nulls(r) for r in ds.to_list()]


def _drop_nulls(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _drop_nulls(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_drop_nulls(v) for v in obj]
    return obj


def check_representable(ex: Example, schema: str) -> str | None:
    """Why `ex` cannot be written in `schema`, or None when it can."""
    roles = [m.get("role") for m in ex.messages]
    if schema == "openai":
        return None
    bad = sorted({r for r in roles if r not in PLAIN_ROLES}, key=str)
    if bad:
        return f"role(s) {bad} cannot be written as {schema}"
    if schema in SINGLE_TURN_SCHEMAS:
        body = [r for r in roles if r != "system"]
        if body != ["user", "assistant"] or (roles and "system" in roles[1:]):
            return (f"a {'/'.join(roles)} conversation cannot be written as {schema}, which holds "
                    "one (system +) user turn and one assistant turn")
    return None


def _clean_message(m: dict[str, Any], schema: str) -> dict[str, Any]:
    """Role and content only; OpenAI rows also keep a 0/1 `weight` (which turns are trained)."""
    out = {"role": m["role"], "content": m["content"]}
    if schema == "openai" and m.get("weight") in (0, 1) and not isinstance(m.get("weight"), bool):
        out["weight"] = m["weight"]
    return out


class SafetyConverter:
    """Turns safety Examples into records of the job's schema, checked by the job's own adapter."""

    def __init__(self, schema: str, column_map: dict | None, columns: list[str] | None,
                 source_schema: str | None = None) -> None:
        from safemix.formats.io import record_encoder
        from safemix.formats.schemas import SCHEMAS, ColumnsSchema

        self.schema = schema
        # OpenAI rows already validated by the OpenAI reader stay valid with only role/content
        # kept, and read back as exactly those messages: the check can be skipped (it is the
        # dominant cost of preparing a large safety set).
        self.prevalidated = schema == source_schema == "openai"
        self.encode = record_encoder(schema, column_map, columns)
        self.decode = (ColumnsSchema(dict(column_map or {}), list(columns or [])).to_example
                       if schema == "columns" else SCHEMAS[schema].to_example)

    def __call__(self, ex: Example, where: dict[str, Any]) -> tuple[dict, Example]:
        """(record in the job's schema, that record read back as the job would read it)."""
        why = check_representable(ex, self.schema)
        if why:
            raise InputError(f"safety example cannot be converted to the job's format: {why}", **where)
        clean = Example([_clean_message(m, self.schema) for m in ex.messages], {})
        rec = self.encode(clean)
        if self.prevalidated:
            return rec, Example(clean.messages, {"extra": {}})
        try:
            back = self.decode(rec, {"path": where.get("path"), "line": where.get("line")})
        except InputError as e:
            raise InputError(f"safety example is not valid in the job's format ({self.schema}): "
                             f"{e.detail}", **where) from None
        return rec, back
