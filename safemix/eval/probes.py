"""Evaluation probes: harmful requests (should be refused) and benign-but-sensitive
requests (should be answered; over-refusal).

The built-in probe sets are written for safemix and kept disjoint from the built-in
seeds (no pair with normalised-text equality or embedding cosine >= 0.9; tested):

    >>> len(load_builtin_probes("harmful")) >= 220, len(load_builtin_probes("benign")) >= 110
    (True, True)

External probe sets are loaded by path with `load_probe_file`: AdvBench / HarmBench CSV
(`goal` / `Behavior`), XSTest CSV (`prompt`, `label` safe|unsafe, `type`), JSON / JSONL
(records, a list of strings, or an object holding one list such as `{"instructions": [...]}`),
plain text (one prompt a line), Parquet and `datasets` folders.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from safemix.errors import ConfigError, InputError
from safemix.formats.io import json_error_message

PROBE_KINDS = ("harmful", "benign")
PROBE_SET_VERSION = 1

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
    if path.is_dir():
        from safemix.formats.io import detect_container

        return detect_container(path)
    ext = path.suffix.lower()
    by_ext = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv",
              ".txt": "txt", ".parquet": "parquet", ".pq": "parquet"}
    if ext not in by_ext:
        raise InputError(f"cannot tell the file type from extension {ext!r}; expected one of "
                         f"{', '.join(sorted(by_ext))} or a `datasets` folder", path=str(path))
    if by_ext[ext] == "json":  # a .json file may hold JSON lines
        with open(path, "rb") as f:
            head = f.read(4096).lstrip()
        if head[:1] == b"{":
            try:
                json.loads(path.read_bytes())
            except json.JSONDecodeError:
                return "jsonl"
    return by_ext[ext]


def _decode(raw: bytes, path: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(f"not valid UTF-8 (byte {e.start})", path=path,
                         line=raw.count(b"\n", 0, e.start) + 1) from None


def _json_rows(path: str, data: Any) -> tuple[list[tuple[int, dict]], str | None]:
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
    rows = []
    for i, item in enumerate(data, 1):
        if isinstance(item, str):
            item = {"prompt": item}
        if not isinstance(item, dict):
            raise InputError(f"expected an object or a string, got {type(item).__name__}",
                             path=path, line=i, field=f"[{i - 1}]")
        rows.append((i, item))
    return rows, layout


def _array_item_lines(text: str) -> list[int]:
    """1-based line on which each element of a top-level JSON array starts."""
    dec, n = json.JSONDecoder(), len(text)
    i = text.index("[") + 1
    lines, line, last = [], 1, 0
    while True:
        while i < n and text[i] in " \t\r\n,":
            i += 1
        if i >= n or text[i] == "]":
            return lines
        line += text.count("\n", last, i)
        last = i
        lines.append(line)
        _, i = dec.raw_decode(text, i)


def read_table(path: str | os.PathLike) -> Table:
    """Read any supported file into rows of dicts (line numbers for error messages).

    Line numbers are file lines for JSONL, CSV and text; item numbers (1-based) for JSON,
    Parquet and `datasets` folders.
    """
    p = Path(path)
    if not p.exists():
        raise InputError("file not found", path=str(p))
    container = _container(p)
    sp = str(p)
    if container in ("parquet", "hf_disk"):
        from safemix.formats.io import iter_table_rows

        cols, it = iter_table_rows(sp, container)
        return Table(sp, container, cols, [(i, r) for i, r, _ in it])
    text = _decode(p.read_bytes(), sp)
    if container == "txt":
        rows = [(i, {"prompt": ln.strip()}) for i, ln in enumerate(text.splitlines(), 1) if ln.strip()]
        return Table(sp, container, ["prompt"], rows)
    if container == "jsonl":
        rows, raw = [], {}
        for i, ln in enumerate(text.splitlines(keepends=True), 1):
            if not ln.strip():
                continue
            try:
                rec = json.loads(ln)
            except json.JSONDecodeError as e:
                raise InputError(json_error_message(e), path=sp, line=i) from None
            if isinstance(rec, str):
                rec = {"prompt": rec}
            if not isinstance(rec, dict):
                raise InputError(f"expected a JSON object per line, got {type(rec).__name__}", path=sp, line=i)
            rows.append((i, rec))
            raw[i] = ln.encode("utf-8")
        cols = list(dict.fromkeys(k for _, r in rows for k in r))
        return Table(sp, container, cols, rows, raw=raw)
    if container == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(json_error_message(e), path=sp, line=e.lineno) from None
        rows, layout = _json_rows(sp, data)
        if layout is None:  # report file lines, not item numbers, for a top-level array
            rows = [(ln, rec) for ln, (_, rec) in zip(_array_item_lines(text), rows, strict=True)]
        cols = list(dict.fromkeys(k for _, r in rows for k in r))
        return Table(sp, container, cols, rows, json_layout=layout, json_doc=data)
    # csv / tsv: the job reader's (header, line-numbered rows, clear errors)
    from safemix.formats.io import iter_csv

    header, it = iter_csv(sp, "," if container == "csv" else "\t")
    return Table(sp, container, header, [(i, r) for i, r, _ in it])


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


def load_probe_file(path: str | os.PathLike, column_map: dict[str, str] | None = None,
                    kind: str | None = None) -> list[Probe]:
    """Load probes from an external file or `datasets` folder.

    The prompt column is found by name (prompt, Behavior, goal, instruction, ...) unless
    `column_map={"prompt": COL, "label": COL, "category": COL, "id": COL}` names it. With a
    label column (XSTest's `label` safe/unsafe), `kind` keeps only rows of that kind and
    `None` keeps all, labelled; without one, every row gets `kind` ("harmful" if None).
    """
    return [p for _, p in probes_from_table(read_table(path), column_map, kind)]


def _builtin_file(kind: str) -> str:
    return f"probes_{kind}_v{PROBE_SET_VERSION}.jsonl"


def load_builtin_probes(kind: str | None = None) -> list[Probe]:
    """The built-in probes: "harmful", "benign" (over-refusal), or both when None."""
    if kind is not None and kind not in PROBE_KINDS:
        from safemix.config import did_you_mean

        raise ConfigError(f"unknown probe kind {kind!r}{did_you_mean(kind, PROBE_KINDS)}; choose harmful or benign")
    out = []
    for k in ([kind] if kind else list(PROBE_KINDS)):
        name = _builtin_file(k)
        text = resources.files("safemix.eval").joinpath("data", name).read_text(encoding="utf-8")
        for line in text.splitlines():
            if line.strip():
                r = json.loads(line)
                out.append(Probe(r["id"], r["prompt"], r["kind"], r.get("category"),
                                 f"builtin:{name.removesuffix('.jsonl')}"))
    return out

