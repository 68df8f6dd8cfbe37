"""Prompt files: any supported file as rows of dicts, and the prompts in them.

`read_table` reads JSONL, JSON, CSV/TSV, Parquet and `datasets` folders through
`safemix.formats.io`'s readers (one set of rules: UTF-8 with an optional byte-order mark,
repeated keys and lone surrogates are errors, the container detected as for jobs), plus
plain text (one prompt a line). Besides records, JSON(L) may hold plain strings, and a
JSON document may be an object holding one list of records (`{"instructions": [...]}`) or
equal-length lists (columnar). `probes_from_table` finds the prompt / label / category /
id columns by name and gives `Probe`s. Evaluation probe sets (`safemix.eval.probes`) and
seed files and decontamination (`safemix.seeds`) both read files this way.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safemix.errors import ConfigError, InputError

PROBE_KINDS = ("harmful", "benign")

# Column names tried in order (case-insensitive) when no column_map is given.
PROMPT_COLUMNS = ("prompt", "behavior", "goal", "request", "instruction", "question", "query",
                  "prompts", "behaviors", "goals", "requests", "instructions", "questions",
                  "text", "input", "user", "messages", "conversations")
LABEL_COLUMNS = ("label", "kind")
CATEGORY_COLUMNS = ("category", "semanticcategory", "semantic_category", "type", "tags")
ID_COLUMNS = ("id", "behaviorid", "behavior_id")
LABEL_VALUES = {"safe": "benign", "benign": "benign", "harmless": "benign", "contrast": "benign",
                "unsafe": "harmful", "harmful": "harmful"}


@dataclass
class Probe:
    """One evaluation prompt."""

    id: str
    prompt: str
    kind: str  # "harmful" | "benign"
    category: str | None = None
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------ generic tables
@dataclass
class Table:
    """Rows of a file, as dicts, with enough to write the kept rows back in the same container."""

    path: str
    container: str  # jsonl | json | csv | tsv | txt | parquet | hf_disk
    columns: list[str]
    rows: list[tuple[int, dict[str, Any]]]  # (line or row number, record)
    raw: dict[int, bytes] = field(default_factory=dict)  # JSONL: original bytes per line
    json_layout: str | None = None  # JSON only: see `_json_rows`
    json_doc: Any = None  # JSON only: the parsed document, to write kept rows back


def _container(path: Path) -> str:
    """The container of a prompt file: `safemix.formats.io.detect_container`'s answer, plus
    `.txt` (one prompt a line)."""
    if not path.is_dir():
        ext = path.suffix.lower()
        if ext == ".txt":
            return "txt"
        if ext not in _EXTENSIONS:
            raise InputError(f"cannot tell the file type from extension {ext!r}; expected one of "
                             f"{', '.join(sorted(_EXTENSIONS))} or a `datasets` folder", path=str(path))
    from safemix.formats.io import detect_container

    return detect_container(path)


_EXTENSIONS = (".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".txt", ".parquet", ".pq")


def read_table(path: str | os.PathLike) -> Table:
    """Read any supported file into rows of dicts (line numbers for error messages).

    Line numbers are file lines for JSONL, CSV, text and the items of a JSON array; item
    numbers (1-based) for the other JSON layouts, Parquet and `datasets` folders.
    """
    from safemix.formats import io

    p = Path(path)
    if not p.exists():
        raise InputError("file not found", path=str(p))
    container = _container(p)
    sp = str(p)
    if container in ("parquet", "hf_disk"):
        cols, it = io.iter_table_rows(sp, container)
        return Table(sp, container, cols, [(i, r) for i, r, _ in it])
    if container in ("csv", "tsv"):
        header, it = io.iter_csv(sp, "," if container == "csv" else "\t")
        return Table(sp, container, header, [(i, r) for i, r, _ in it])
    if container == "txt":
        rows = [(i, {"prompt": ln.strip()}) for i, ln in enumerate(io.read_text(sp).splitlines(), 1) if ln.strip()]
        return Table(sp, container, ["prompt"], rows)
    if container == "jsonl":
        values = list(io.iter_jsonl_values(sp))
        if p.suffix.lower() == ".json" and len(values) == 1 and isinstance(values[0][1], dict):
            return _json_table(sp, values[0][1], None)  # a one-line JSON document
        return _jsonl_table(sp, values)
    text = io.read_text(sp)
    if text.lstrip(" \t\r\n").startswith("["):
        items = list(io.json_array_items(text, sp))
        return _json_table(sp, [v for _, v in items], [line for line, _ in items])
    return _json_table(sp, io.parse_json(text, sp), None)


def _jsonl_table(path: str, values: list[tuple[int, Any, bytes]]) -> Table:
    rows, raw = [], {}
    for i, rec, line in values:
        if isinstance(rec, str):
            rec = {"prompt": rec}
        if not isinstance(rec, dict):
            raise InputError(f"expected a JSON object per line, got {type(rec).__name__}", path=path, line=i)
        rows.append((i, rec))
        raw[i] = line
    cols = list(dict.fromkeys(k for _, r in rows for k in r))
    return Table(path, "jsonl", cols, rows, raw=raw)


def _json_table(path: str, data: Any, lines: list[int] | None) -> Table:
    """A JSON document's rows; `lines` are the file lines of a top-level array's items."""
    rows, layout = _json_rows(path, data, lines)
    cols = list(dict.fromkeys(k for _, r in rows for k in r))
    return Table(path, "json", cols, rows, json_layout=layout, json_doc=data)


def _json_rows(path: str, data: Any, lines: list[int] | None = None) -> tuple[list[tuple[int, dict]], str | None]:
    """Rows of a JSON document, and its layout: None (an array of records or strings),
    "key:<k>" (an object holding one list of records) or "columnar" (an object of equal-length
    lists, e.g. `{"instructions": [...], "tags": [...], "inputs": []}`)."""
    layout = None
    if isinstance(data, dict):
        lists = {k: v for k, v in data.items() if isinstance(v, list) and v}
        lengths = {len(v) for v in lists.values()}
        if len(lists) == 1 and all(isinstance(x, dict) for x in next(iter(lists.values()))):
            key = next(iter(lists))
            layout, data = f"key:{key}", lists[key]
        elif lists and len(lengths) == 1:
            layout = "columnar"
            n = lengths.pop()
            data = [{k: v[i] for k, v in lists.items()} for i in range(n)]
        else:
            raise InputError("expected a JSON array, an object holding one list of records, or an "
                             f"object of equal-length lists (found keys {list(data)})", path=path)
    if not isinstance(data, list):
        raise InputError(f"expected a JSON array, got {type(data).__name__}", path=path)
    if layout is not None:
        lines = None  # item numbers: the items are not where the file's lines say
    rows = []
    for i, item in enumerate(data, 1):
        line = lines[i - 1] if lines is not None else i
        if isinstance(item, str):
            item = {"prompt": item}
        if not isinstance(item, dict):
            raise InputError(f"expected an object or a string, got {type(item).__name__}",
                             path=path, line=line, field=f"[{i - 1}]")
        rows.append((line, item))
    return rows, layout


def find_column(columns: Iterable[str], candidates: Iterable[str]) -> str | None:
    """The first column whose lower-cased name is in `candidates` (in candidate order).

    >>> find_column(["Behavior", "Category", "BehaviorID"], PROMPT_COLUMNS)
    'Behavior'
    """
    lower = {c.lower(): c for c in columns}
    return next((lower[c] for c in candidates if c in lower), None)


def prompt_text(value: Any, record: dict, column: str) -> str | None:
    """The user prompt held in `record[column]`.

    Chat records give their first user turn; Alpaca-style `instruction` is joined with a
    non-empty `input`, as the model would see it.
    """
    if column.lower() in ("messages", "conversations") and isinstance(value, list):
        for m in value:
            if isinstance(m, dict) and (m.get("role") or m.get("from")) in ("user", "human"):
                value = m.get("content", m.get("value"))
                break
        else:
            return None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if column.lower() == "instruction":
        extra = record.get("input")
        if isinstance(extra, str) and extra.strip():
            text = f"{text}\n\n{extra.strip()}"
    return text or None


def _resolve_columns(table: Table, column_map: dict[str, str] | None) -> dict[str, str | None]:
    cm = dict(column_map or {})
    unknown = set(cm) - {"prompt", "label", "category", "id"}
    if unknown:
        raise ConfigError(f"column_map keys must be prompt, label, category or id; got {sorted(unknown)}")
    for role, col in cm.items():
        if col not in table.columns:
            raise InputError(f"column_map names {role}={col!r}, which is not a column; "
                             f"columns found: {table.columns}", path=table.path)
    prompt = cm.get("prompt") or find_column(table.columns, PROMPT_COLUMNS)
    if prompt is None:
        raise InputError(
            f"no prompt column: expected one of {', '.join(PROMPT_COLUMNS)} (any case); "
            f"columns found: {table.columns}. Name it with column_map={{'prompt': COLUMN}} "
            "(a CSV without a header row needs one added)", path=table.path)
    return {"prompt": prompt,
            "label": cm.get("label") or find_column(table.columns, LABEL_COLUMNS),
            "category": cm.get("category") or find_column(table.columns, CATEGORY_COLUMNS),
            "id": cm.get("id") or find_column(table.columns, ID_COLUMNS)}


def _row_kind(rec: dict, col: str | None, table: Table, line: int) -> str | None:
    if col is None:
        return None
    value = rec.get(col)
    norm = str(value).strip().lower() if value is not None else ""
    if norm not in LABEL_VALUES:
        raise InputError(f"label {value!r} is not one of {', '.join(sorted(LABEL_VALUES))}",
                         path=table.path, line=line, field=col)
    return LABEL_VALUES[norm]


def probes_from_table(table: Table, column_map: dict[str, str] | None = None, kind: str | None = None,
                      source: str | None = None, use_labels: bool = True) -> list[tuple[int, Probe]]:
    """(row index in `table.rows`, Probe) for each row, filtered by `kind` when labelled.

    `use_labels=False` ignores any label column (for decontamination, where every prompt counts).
    """
    if kind is not None and kind not in PROBE_KINDS:
        raise ConfigError(f"probe kind must be one of {', '.join(PROBE_KINDS)}, got {kind!r}")
    if not table.rows:
        raise InputError("no rows (the file is empty)", path=table.path)
    cols = _resolve_columns(table, column_map)
    if not use_labels:
        cols["label"] = None
    source = source or f"file:{table.path}"
    stem = Path(table.path).stem
    out = []
    for idx, (line, rec) in enumerate(table.rows):
        prompt = prompt_text(rec.get(cols["prompt"]), rec, cols["prompt"])
        if prompt is None:
            raise InputError("missing or empty prompt", path=table.path, line=line, field=cols["prompt"])
        row_kind = _row_kind(rec, cols["label"], table, line)
        if kind is not None and row_kind is not None and row_kind != kind:
            continue
        cat = rec.get(cols["category"]) if cols["category"] else None
        pid = rec.get(cols["id"]) if cols["id"] else None
        meta = {k: v for k, v in rec.items() if k != cols["prompt"] and isinstance(v, str | int | float | bool)}
        out.append((idx, Probe(str(pid) if pid not in (None, "") else f"{stem}-{idx + 1}", prompt,
                               row_kind or kind or "harmful", str(cat) if cat not in (None, "") else None,
                               source, meta)))
    if not out:
        raise InputError(f"no rows labelled {kind!r} (label column {cols['label']!r})", path=table.path)
    return out
