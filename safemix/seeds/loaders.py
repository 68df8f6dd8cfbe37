"""External seed sets, loaded by path.

`load_seed_file(path, column_map=None)` reads:

- JSONL / JSON in safemix's own seed schema (`request`, `refusals` or `answer`, ...);
- Alpaca JSON / JSONL (`instruction`, optional `input`, `output`): the request is the
  instruction (plus the input, when there is one), the refusal is the output, as in the
  Safety-Tuned LLaMAs training set;
- CSV / TSV / Parquet / `datasets` folders with named columns, e.g. HarmBench's
  `Behavior,Safe_Response` (found by name) or any columns named by
  `column_map={"request": COL, "refusal": COL, "answer": COL, "category": COL, "id": COL, "kind": COL}`.

Errors name the file, the line and the field; an empty file and a harmful row without a
refusal are errors, never skipped silently.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from safemix.errors import ConfigError, InputError
from safemix.seeds import Seed, seed_from_record

COLUMN_ROLES = ("request", "refusal", "answer", "category", "id", "kind")
REQUEST_COLUMNS = ("request", "behavior", "goal", "prompt", "instruction", "question", "query")
REFUSAL_COLUMNS = ("refusal", "refusals", "safe_response", "response", "output", "completion")
ANSWER_COLUMNS = ("answer",)


def _find(columns: list[str], candidates: tuple[str, ...]) -> str | None:
    from safemix.formats.prompts import find_column

    return find_column(columns, candidates)


def _detect(columns: list[str], column_map: dict[str, str] | None, path: str,
            container: str) -> tuple[str, dict[str, str]]:
    """('seed', {}) for our schema, ('alpaca', {}) or ('columns', role -> column)."""
    if column_map:
        unknown = set(column_map) - set(COLUMN_ROLES)
        if unknown:
            raise ConfigError(f"seed column_map keys must be among {', '.join(COLUMN_ROLES)}; got {sorted(unknown)}")
        missing = [c for c in column_map.values() if c not in columns]
        if missing:
            raise InputError(f"column_map names columns that are not in the file: {missing}; "
                             f"columns found: {columns}", path=path)
        if "request" not in column_map:
            raise ConfigError("seed column_map needs a 'request' column")
        return "columns", dict(column_map)
    cols = set(columns)
    if container in ("jsonl", "json") and "request" in cols and ({"refusals", "answer"} & cols):
        return "seed", {}
    if "instruction" in cols and "output" in cols:
        return "alpaca", {}
    cm = {"request": _find(columns, REQUEST_COLUMNS), "refusal": _find(columns, REFUSAL_COLUMNS),
          "answer": _find(columns, ANSWER_COLUMNS), "category": _find(columns, ("category",)),
          "id": _find(columns, ("id", "behaviorid")), "kind": _find(columns, ("kind",))}
    cm = {k: v for k, v in cm.items() if v}
    if "request" not in cm or not ({"refusal", "answer"} & set(cm)):
        raise InputError(
            "cannot tell which columns hold the request and the refusal: expected safemix's seed "
            "schema (request + refusals/answer), Alpaca (instruction + output), or columns such as "
            f"Behavior + Safe_Response; columns found: {columns}. Name them with "
            "column_map={'request': COL, 'refusal': COL}", path=path)
    return "columns", cm


def _alpaca_record(rec: dict) -> dict[str, Any]:
    request = rec.get("instruction")
    extra = rec.get("input")
    if isinstance(request, str) and isinstance(extra, str) and extra.strip():
        request = f"{request.strip()}\n\n{extra.strip()}"
    out = {"request": request, "refusals": [rec["output"]] if rec.get("output") is not None else []}
    for k in ("id", "category", "kind"):
        if k in rec:
            out[k] = rec[k]
    if out.get("kind") == "contrast":
        out["answer"] = rec.get("output")
        out["refusals"] = []
    return out


def _columns_record(rec: dict, cm: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"request": rec.get(cm["request"])}
    for role in ("category", "id", "kind"):
        if role in cm and rec.get(cm[role]) not in (None, ""):
            out[role] = rec[cm[role]]
    refusal = rec.get(cm["refusal"]) if "refusal" in cm else None
    answer = rec.get(cm["answer"]) if "answer" in cm else None
    if refusal not in (None, "") and out.get("kind") != "contrast":
        out["refusals"] = refusal if isinstance(refusal, list) else [refusal]
    elif answer not in (None, ""):
        out["answer"] = answer
        out.setdefault("kind", "contrast")
    else:
        out["refusals"] = []  # reported as a missing refusal, with the column name
    return out


def load_seed_file(path: str | os.PathLike, column_map: dict[str, str] | None = None) -> list[Seed]:
    """Seeds from an external file or `datasets` folder (see the module docstring for formats)."""
    from safemix.formats.prompts import read_table

    table = read_table(path)
    if not table.rows:
        raise InputError("no seeds (the file is empty)", path=table.path)
    schema, cm = _detect(table.columns, column_map, table.path, table.container)
    source = f"file:{table.path}"
    stem = Path(table.path).stem
    seeds, seen = [], set()
    for n, (line, rec) in enumerate(table.rows, 1):
        if schema == "seed":
            rec2 = rec
        elif schema == "alpaca":
            rec2 = _alpaca_record(rec)
        else:
            rec2 = _columns_record(rec, cm)
        try:
            seed = seed_from_record(rec2, path=table.path, line=line, source=source, default_id=f"{stem}-{n}")
        except InputError as e:
            raise _rename_field(e, schema, cm) from None
        if seed.id in seen:
            raise InputError(f"duplicate seed id {seed.id!r}", path=table.path, line=line, field="id")
        seen.add(seed.id)
        seeds.append(seed)
    return seeds


def _rename_field(e: InputError, schema: str, cm: dict[str, str]) -> InputError:
    """Report errors with the user's own column names (e.g. 'Safe_Response', 'output')."""
    names = {"alpaca": {"request": "instruction", "refusals": "output", "answer": "output"},
             "columns": {"request": cm.get("request"), "refusals": cm.get("refusal"), "answer": cm.get("answer")},
             }.get(schema, {})
    fld = e.field
    if fld and fld.split("[")[0] in names and names[fld.split("[")[0]]:
        fld = names[fld.split("[")[0]]
    return InputError(e.detail, path=e.path, line=e.line, field=fld)
