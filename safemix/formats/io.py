"""Containers (JSONL, JSON array, CSV/TSV, Parquet, `datasets` on disk): read, detect, write.

`read_job(path)` detects the container from the path and the schema from the records,
validates every record and returns a `Job` of canonical Examples. Errors name the file,
the line (or row) and the field. Writers are atomic.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safemix.errors import ConfigError, InputError
from safemix.formats.example import Example
from safemix.formats.schemas import SCHEMAS, ColumnsSchema, default_column_map, detect_schema

CONTAINERS = ("jsonl", "json", "csv", "tsv", "parquet", "hf_disk")
FORMATS = tuple(SCHEMAS) + ("columns",)
DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024


@dataclass
class Job:
    """A user's finetuning job: where it came from, how it is stored, and its examples."""

    path: str
    container: str
    schema: str
    examples: list[Example]
    column_map: dict[str, str] | None = None
    columns: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.examples)

    @property
    def format(self) -> str:
        return self.schema if self.schema != "columns" else self.container

    def writer_args(self) -> dict[str, Any]:
        """Keyword arguments for `write_examples` that reproduce this job's format."""
        return {"schema": self.schema, "container": self.container,
                "column_map": self.column_map, "columns": self.columns}


def detect_container(path: str | os.PathLike) -> str:
    p = Path(path)
    if p.is_dir():
        if (p / "dataset_info.json").exists() or (p / "state.json").exists() or (p / "dataset_dict.json").exists():
            return "hf_disk"
        raise InputError("is a directory but not a `datasets` save_to_disk folder", path=str(p))
    ext = "".join(p.suffixes[-1:]).lower()
    by_ext = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv",
              ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}
    if ext in by_ext:
        c = by_ext[ext]
        if c == "json":  # a .json file may hold JSON lines: look at the first character
            with open(p, "rb") as f:
                head = f.read(4096).lstrip()
            if head[:1] == b"{":
                return "jsonl"
        return c
    raise InputError(f"cannot tell the container from extension {ext!r}; "
                     f"pass --container (one of {', '.join(CONTAINERS)})", path=str(p))


# --------------------------------------------------------------------------- raw records
def _decode(raw: bytes, path: str, line: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"not valid UTF-8 (byte {e.start}: {raw[e.start:e.start + 1]!r})",
                         path=path, line=line) from None


def iter_jsonl(path: str, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Iterator[tuple[int, Any, bytes]]:
    """Yield (line number, parsed record, raw line bytes) for each non-blank line."""
    with open(path, "rb") as f:
        for i, raw in enumerate(f, 1):
            if len(raw) > max_line_bytes:
                raise InputError(f"line is {len(raw)} bytes, over the limit of {max_line_bytes} "
                                 "(raise it with max_line_bytes)", path=path, line=i)
            if not raw.strip():
                continue
            text = _decode(raw, path, i)
            try:
                rec = json.loads(text)
            except json.JSONDecodeError as e:
                raise InputError(f"malformed JSON: {e.msg} at column {e.colno}", path=path, line=i) from None
            if not isinstance(rec, dict):
                raise InputError(f"expected a JSON object per line, got {type(rec).__name__}",
                                 path=path, line=i)
            yield i, rec, raw


def iter_json_array(path: str, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Iterator[tuple[int, Any, None]]:
    raw = Path(path).read_bytes()
    text = _decode_whole(raw, path)
    dec = json.JSONDecoder()
    n = len(text)

    def skip_ws(i: int) -> int:
        while i < n and text[i] in " \t\r\n":
            i += 1
        return i

    def line_of(i: int) -> int:
        return text.count("\n", 0, i) + 1

    i = skip_ws(0)
    if i >= n or text[i] != "[":
        # a single object or malformed
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(f"malformed JSON: {e.msg} at column {e.colno}", path=path, line=e.lineno) from None
        raise InputError(f"expected a JSON array of records, got {type(obj).__name__}", path=path, line=1)
    i = skip_ws(i + 1)
    line, last = 1, 0
    while i < n and text[i] != "]":
        line += text.count("\n", last, i)
        last = i
        try:
            rec, j = dec.raw_decode(text, i)
        except json.JSONDecodeError as e:
            raise InputError(f"malformed JSON: {e.msg}", path=path, line=line_of(e.pos)) from None
        if not isinstance(rec, dict):
            raise InputError(f"expected a JSON object, got {type(rec).__name__}", path=path, line=line)
        yield line, rec, None
        i = skip_ws(j)
        if i < n and text[i] == ",":
            i = skip_ws(i + 1)
        elif i < n and text[i] != "]":
            raise InputError("malformed JSON: expected ',' or ']'", path=path, line=line_of(i))
    if i >= n:
        raise InputError("malformed JSON: unterminated array", path=path, line=line_of(n))


def _decode_whole(raw: bytes, path: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise InputError(f"not valid UTF-8 (byte {e.start}: {raw[e.start:e.start + 1]!r})",
                         path=path, line=line) from None


def iter_csv(path: str, delimiter: str, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> tuple[list[str], Iterator[tuple[int, dict, None]]]:
    raw = Path(path).read_bytes()
    text = _decode_whole(raw, path)
    csv.field_size_limit(max_line_bytes)
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError("file is empty (no header row)", path=path) from None
    except csv.Error as e:
        raise InputError(f"malformed CSV header: {e}", path=path, line=1) from None

    def rows() -> Iterator[tuple[int, dict, None]]:
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                raise InputError(f"malformed CSV: {e}", path=path, line=reader.line_num) from None
            if not values:
                continue
            if len(values) != len(header):
                raise InputError(f"expected {len(header)} columns ({', '.join(header)}), got {len(values)}",
                                 path=path, line=reader.line_num)
            yield reader.line_num, dict(zip(header, values, strict=True)), None

    return header, rows()


def iter_table_rows(path: str, container: str) -> tuple[list[str], Iterator[tuple[int, dict, None]]]:
    if container == "parquet":
        from safemix.errors import require

        pq = require("pyarrow.parquet", "data")
        try:
            table = pq.read_table(path)
        except Exception as e:
            raise InputError(f"cannot read Parquet: {e}", path=path) from None
        cols = table.column_names
        rows = table.to_pylist()
    else:
        from safemix.errors import require

        datasets = require("datasets", "data")
        try:
            ds = datasets.load_from_disk(path)
        except Exception as e:
            raise InputError(f"cannot load `datasets` folder: {e}", path=path) from None
        if isinstance(ds, datasets.DatasetDict):
            split = "train" if "train" in ds else next(iter(ds))
            ds = ds[split]
        cols = list(ds.column_names)
        rows = ds.to_list()
    return cols, ((i, r, None) for i, r in enumerate(rows, 1))


# ------------------------------------------------------------------------------- reading
def _resolve_schema(first: dict, schema: str | None, column_map: dict | None, columns: list[str],
                    path: str, line: int):
    if column_map:
        missing = [c for c in column_map.values() if c not in first]
        if missing:
            raise InputError(f"column_map names columns that are not in the data: {missing}; "
                             f"columns are {list(first)}", path=path, line=line)
        return "columns", ColumnsSchema(dict(column_map), columns)
    if schema is None or schema == "auto":
        schema = detect_schema(first)
    if schema == "columns" or schema is None:
        cm = default_column_map(list(first))
        if cm is None:
            raise InputError(
                "cannot detect the format: expected 'messages' (OpenAI), 'prompt'+'completion', "
                "'instruction'+'output' (Alpaca), 'conversations' (ShareGPT), or columns with a "
                f"--column-map; found keys {list(first)}", path=path, line=line)
        return "columns", ColumnsSchema(cm, columns)
    if schema not in SCHEMAS:
        import difflib

        close = difflib.get_close_matches(schema, FORMATS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"unknown format {schema!r}{hint}; choose one of {', '.join(FORMATS)}")
    return schema, SCHEMAS[schema]


def iter_records(path: str, container: str, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES):
    """Return (columns, iterator of (line, record, raw bytes or None))."""
    if container == "jsonl":
        return [], iter_jsonl(path, max_line_bytes)
    if container == "json":
        return [], iter_json_array(path, max_line_bytes)
    if container in ("csv", "tsv"):
        return iter_csv(path, "," if container == "csv" else "\t", max_line_bytes)
    if container in ("parquet", "hf_disk"):
        return iter_table_rows(path, container)
    raise ConfigError(f"unknown container {container!r}; choose one of {', '.join(CONTAINERS)}")


class JobReader:
    """Streaming reader: validates each record and yields (line, Example, raw bytes or None).

    Schema is fixed by the first record; a later record of another schema is an error.
    """

    def __init__(self, path: str | os.PathLike, schema: str | None = None, container: str | None = None,
                 column_map: dict[str, str] | None = None, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES):
        self.path = str(path)
        if not Path(self.path).exists():
            raise InputError("no such file or directory", path=self.path)
        if container is None and schema in CONTAINERS:  # `--format csv` means the container
            container, schema = schema, None
        self.container = container or detect_container(self.path)
        self.schema_name = schema
        self.column_map = column_map
        self.max_line_bytes = max_line_bytes
        self.columns: list[str] = []
        self.adapter = None

    def __iter__(self) -> Iterator[tuple[int, Example, bytes | None]]:
        if Path(self.path).is_file() and Path(self.path).stat().st_size == 0:
            raise InputError("file is empty (no records)", path=self.path)
        cols, rows = iter_records(self.path, self.container, self.max_line_bytes)
        self.columns = cols
        n = 0
        for line, rec, raw in rows:
            loc = {"path": self.path, "line": line}
            if self.adapter is None:
                self.schema_name, self.adapter = _resolve_schema(
                    rec, self.schema_name, self.column_map, cols, self.path, line)
                if isinstance(self.adapter, ColumnsSchema):
                    self.column_map = self.adapter.column_map
            elif self.schema_name != "columns":
                seen = detect_schema(rec)
                if seen is not None and seen != self.schema_name:
                    raise InputError(f"record looks like {seen!r} but earlier records are "
                                     f"{self.schema_name!r}: a file must hold one format",
                                     path=self.path, line=line)
            ex = self.adapter.to_example(rec, loc)
            n += 1
            yield line, ex, raw
        if n == 0:
            raise InputError("file is empty (no records)", path=self.path)


def read_job(path: str | os.PathLike, format: str | None = None, container: str | None = None,
             column_map: dict[str, str] | None = None, limit: int | None = None,
             max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Job:
    """Read and validate a whole job into canonical Examples.

    `format` is a schema name (openai, prompt_completion, alpaca, sharegpt, columns) or
    None to detect it; `container` overrides detection from the file extension.
    """
    reader = JobReader(path, format, container, column_map, max_line_bytes)
    examples = []
    for _, ex, _ in reader:
        examples.append(ex)
        if limit is not None and len(examples) >= limit:
            break
    return Job(str(path), reader.container, reader.schema_name, examples,
               reader.column_map, reader.columns)


def as_job(data: Any, what: str = "memory", format: str | None = None,
           column_map: dict[str, str] | None = None) -> Job:
    """A Job from a path, a Job, Examples, records (any schema, detected per record) or a
    `datasets.Dataset`. Errors name `<what>` and the record's 1-based position."""
    from safemix.formats.example import Example

    if isinstance(data, Job):
        return data
    if isinstance(data, str | os.PathLike):
        return read_job(data, format=format, column_map=column_map)
    rows = data.to_list() if hasattr(data, "to_list") and hasattr(data, "column_names") else list(data)
    where = f"<{what}>"
    if not rows:
        raise InputError("no examples", path=where)
    examples, schema = [], None
    for i, r in enumerate(rows):
        if isinstance(r, Example):
            examples.append(r)
            continue
        s = detect_schema(r)
        if s is None:
            raise InputError("record matches no known format (messages, prompt/completion, instruction/output, "
                             f"conversations); keys {list(r) if isinstance(r, dict) else type(r).__name__}",
                             path=where, line=i + 1)
        schema = schema or s
        examples.append(SCHEMAS[s].to_example(dict(r), {"path": where, "line": i + 1}))
    return Job(where, "jsonl", schema or "openai", examples)


def read_examples(path: str | os.PathLike, **kw: Any) -> list[Example]:
    return read_job(path, **kw).examples


# ------------------------------------------------------------------------------- writing
def record_encoder(schema: str, column_map: dict | None = None, columns: list[str] | None = None):
    """The function turning an Example into a record of `schema`."""
    if schema == "columns":
        if not column_map:
            raise ConfigError("writing a columns format needs a column_map")
        return ColumnsSchema(dict(column_map), list(columns or [])).from_example
    if schema not in SCHEMAS:
        raise ConfigError(f"unknown format {schema!r}; choose one of {', '.join(FORMATS)}")
    return SCHEMAS[schema].from_example


def dumps_jsonl_record(rec: dict) -> str:
    return json.dumps(rec, ensure_ascii=False) + "\n"


def write_examples(examples: list[Example], path: str | os.PathLike, schema: str = "openai",
                   container: str | None = None, column_map: dict | None = None,
                   columns: list[str] | None = None) -> Path:
    """Write Examples in `schema` inside `container` (detected from the path), atomically."""
    from safemix.utils import atomic_write

    path = Path(path)
    if container is None:
        container = "hf_disk" if path.suffix == "" else {
            ".jsonl": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv", ".parquet": "parquet"
        }.get(path.suffix.lower(), "jsonl")
    enc = record_encoder(schema, column_map, columns)
    records = [enc(ex) for ex in examples]
    if container == "jsonl":
        with atomic_write(path) as f:
            for r in records:
                f.write(dumps_jsonl_record(r))
    elif container == "json":
        with atomic_write(path) as f:
            json.dump(records, f, ensure_ascii=False, indent=2)
            f.write("\n")
    elif container in ("csv", "tsv"):
        header = list(columns or (records[0].keys() if records else []))
        for r in records:
            header += [k for k in r if k not in header]
        with atomic_write(path) as f:
            delim = "," if container == "csv" else "\t"
            w = csv.writer(f, delimiter=delim, lineterminator="\n",
                           quoting=csv.QUOTE_NONE if delim == "\t" else csv.QUOTE_MINIMAL,
                           escapechar="\\" if delim == "\t" else None)
            w.writerow(header)
            for r in records:
                w.writerow([r.get(c, "") for c in header])
    elif container == "parquet":
        from safemix.errors import require

        pa = require("pyarrow", "data")
        pq = require("pyarrow.parquet", "data")
        with atomic_write(path, "wb") as f:
            pq.write_table(pa.Table.from_pylist(records), f)
    elif container == "hf_disk":
        from safemix.errors import require

        datasets = require("datasets", "data")
        from safemix.outputs import replace_dir, staging_dir

        # written beside and renamed in; an existing folder is replaced only if safemix made it
        with staging_dir(path) as tmp:
            datasets.Dataset.from_list(records).save_to_disk(str(tmp / "data"))
            replace_dir(tmp / "data", path)
            shutil.rmtree(tmp, ignore_errors=True)
    else:
        raise ConfigError(f"unknown container {container!r}; choose one of {', '.join(CONTAINERS)}")
    return path
