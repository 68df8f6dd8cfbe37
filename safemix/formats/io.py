r"""Containers (JSONL, JSON array, CSV/TSV, Parquet, `datasets` on disk): read, detect, write.

`read_job(path)` detects the container from the path and the schema from the records,
validates every record and returns a `Job` of canonical Examples. Errors name the file,
the line (or row) and the field. Writers are atomic.

Whatever a reader accepts, the writer of the same container writes back so that reading
it again gives the same records:

* Text files are UTF-8; a leading UTF-8 byte-order mark is skipped. UTF-16/UTF-32 files
  are rejected with a message saying to save them as UTF-8.
* JSON / JSONL: a key repeated in one object is an error (which value was meant is
  ambiguous), and so are a string holding a lone surrogate (`"\ud800"`: it cannot be
  written as UTF-8) and nesting too deep to parse.
* CSV (RFC 4180): fields holding `,` `"` CR or LF are quoted with `"` doubled inside;
  quotes are read strictly (an unterminated quote is reported at the line where it
  opens). A header naming one column twice is an error (so is one in a TSV).
* TSV: fields are never quoted; a `"` is an ordinary character, read and written as is.
  Tabs and line breaks inside a value are written as the backslash escapes `\t`, `\n`,
  `\r`, and a backslash followed by `\`, `t`, `n`, `r`, a tab or a line break as `\\`.
  Reading turns exactly these four escapes back (`\t` tab, `\n` LF, `\r` CR, `\\` one
  backslash) and keeps any other backslash as it is, so `C:\dir` or `\d+` read and write
  unchanged. A TSV without backslashes reads exactly as its raw text; one whose values
  hold a literal `\n` or `\t` (say LaTeX `\theta`) reads them as a line break or tab and
  writes them back as the same two characters.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import sys
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
        if c == "json" and _first_line_is_object(p):  # a .json file may hold JSON lines
            return "jsonl"
        return c
    raise InputError(f"cannot tell the container from extension {ext!r}; "
                     f"pass --container (one of {', '.join(CONTAINERS)})", path=str(p))


def _first_line_is_object(p: Path) -> bool:
    """Whether the first non-blank line of `p` is one complete JSON object (JSON lines),
    rather than the start of a multi-line document."""
    with open(p, "rb") as f:
        first = f.readline(DEFAULT_MAX_LINE_BYTES).removeprefix(UTF8_BOM)
        for _ in range(1000):
            if first.strip():
                break
            first = f.readline(DEFAULT_MAX_LINE_BYTES)
    if not first.lstrip().startswith(b"{"):
        return False
    try:
        return isinstance(json.loads(first), dict)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return False


# --------------------------------------------------------------------------- raw records
UTF8_BOM = b"\xef\xbb\xbf"
_MAX_LINE_HINT = "raise the limit with --max-line-bytes (data.max_line_bytes in a recipe)"


def _encoding_problem(head: bytes) -> str | None:
    """A message for a file that is not UTF-8 text by its first bytes (UTF-16/32), or None."""
    if head[:4] in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"):
        return "file is UTF-32 (it starts with a UTF-32 byte-order mark); save it as UTF-8"
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "file is UTF-16 (it starts with a UTF-16 byte-order mark); save it as UTF-8"
    h = head[:32]
    h = h[:len(h) - len(h) % 4]
    if len(h) >= 8:  # no byte-order mark: ASCII text in UTF-16/32 has NUL bytes in a fixed pattern
        zero = [not any(h[k::4]) for k in range(4)]
        nonzero = [all(h[k::4]) for k in range(4)]
        if zero[1:] == [True] * 3 and nonzero[0] or zero[:3] == [True] * 3 and nonzero[3]:
            return "file looks like UTF-32 (every character is 4 bytes, 3 of them NUL); save it as UTF-8"
        if zero[1] and zero[3] and nonzero[0] and nonzero[2] or zero[0] and zero[2] and nonzero[1] and nonzero[3]:
            return "file looks like UTF-16 (a NUL byte next to every character); save it as UTF-8"
    return None


def _not_utf8(raw: bytes, e: UnicodeDecodeError) -> str:
    return (f"not valid UTF-8 (byte {e.start}: {raw[e.start:e.start + 1]!r}); "
            "save the file as UTF-8")


def _decode(raw: bytes, path: str, line: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(_not_utf8(raw, e), path=path, line=line) from None


def _decode_whole(raw: bytes, path: str) -> str:
    """The text of a whole file, without a leading UTF-8 byte-order mark."""
    problem = _encoding_problem(raw[:32])
    if problem:
        raise InputError(problem, path=path)
    raw = raw.removeprefix(UTF8_BOM)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise InputError(_not_utf8(raw, e), path=path, line=line) from None


def read_text(path: str | os.PathLike) -> str:
    """A whole text file under this module's rules: UTF-8, one leading byte-order mark skipped,
    UTF-16/32 rejected with a message saying so."""
    return _decode_whole(Path(path).read_bytes(), str(path))


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _object_pairs(pairs: list[tuple[str, Any]]) -> dict:
    d = dict(pairs)
    if len(d) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise _DuplicateKey(k)
            seen.add(k)
    return d


_JSON = json.JSONDecoder(object_pairs_hook=_object_pairs)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def json_error_message(e: json.JSONDecodeError) -> str:
    """'malformed JSON: <what> at column N' (Python's messages sometimes end in 'at' already)."""
    msg = e.msg if e.msg.endswith(" at") else e.msg + " at"  # "Unterminated string starting at"
    return f"malformed JSON: {msg} column {e.colno}"


def _printable(key: str) -> str:
    """`key` with lone surrogates as `\\udXXX` escapes, so that a message naming it can be printed."""
    return key.encode("utf-8", "backslashreplace").decode("utf-8") if _SURROGATE.search(key) else key


def _surrogate_field(obj: Any, where: str = "") -> str | None:
    """Path of the first string (or key) in `obj` holding a lone surrogate, or None."""
    if isinstance(obj, str):
        return where if _SURROGATE.search(obj) else None
    if isinstance(obj, dict):
        for k, v in obj.items():
            p = f"{where}.{_printable(k)}" if where else _printable(k)
            if _SURROGATE.search(k):
                return p
            found = _surrogate_field(v, p)
            if found is not None:
                return found
    elif isinstance(obj, list):
        for j, v in enumerate(obj):
            found = _surrogate_field(v, f"{where}[{j}]")
            if found is not None:
                return found
    return None


def _parse_json_record(text: str, path: str, line: int | None, decode: Any = None) -> Any:
    """Parse one JSON document (or, with `decode`, call it): a duplicate key or too deep
    nesting is an error naming the line (and the key)."""
    try:
        rec = _JSON.decode(text) if decode is None else decode()
    except _DuplicateKey as e:
        raise InputError(f"key {e.key!r} appears twice in one JSON object (which value is meant "
                         "is ambiguous); keep one", path=path, line=line, field=_printable(e.key)) from None
    except RecursionError:
        raise InputError(f"JSON nested too deeply to read (the limit is about {sys.getrecursionlimit()} "
                         "levels of [ and {)", path=path, line=line) from None
    return rec


def _check_surrogates(rec: Any, path: str, line: int | None) -> None:
    try:
        where = _surrogate_field(rec)
    except RecursionError:
        raise InputError(f"JSON nested too deeply to read (the limit is about {sys.getrecursionlimit()} "
                         "levels of [ and {)", path=path, line=line) from None
    if where is not None:
        raise InputError("string holds a lone surrogate escape (such as \\ud800) that is not "
                         "valid Unicode and cannot be written as UTF-8", path=path, line=line,
                         field=where or None)


def _jsonl_hint(text: str) -> str:
    """Why a JSONL line may not parse: a stray byte-order mark, or the file is one multi-line
    JSON document."""
    if text.startswith("\ufeff"):  # not on line 1, where it is skipped
        return "; the line starts with a byte-order mark (U+FEFF), as when files are joined with cat: delete it"
    s = text.strip()
    if s.startswith("["):
        return ("; this looks like a JSON array, not JSON lines: pass --container json "
                "(or save one record per line)")
    if s in ("{", "[{") or (s.startswith("{") and not s.endswith("}")):
        return ("; this looks like multi-line (pretty-printed) JSON: JSON lines need one complete "
                "record per line (for a JSON array of records pass --container json)")
    return ""


def iter_jsonl(path: str, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Iterator[tuple[int, Any, bytes]]:
    """Yield (line number, parsed record, raw line bytes) for each non-blank line."""
    return _iter_jsonl(path, max_line_bytes, objects=True)


def iter_jsonl_values(path: str, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Iterator[tuple[int, Any, bytes]]:
    """`iter_jsonl` for lines holding any JSON value (a string, a list, ...), not only objects;
    the caller checks what it accepts."""
    return _iter_jsonl(path, max_line_bytes, objects=False)


def _iter_jsonl(path: str, max_line_bytes: int, objects: bool) -> Iterator[tuple[int, Any, bytes]]:
    with open(path, "rb") as f:
        for i, raw in enumerate(f, 1):
            if len(raw) > max_line_bytes:
                raise InputError(f"line is {len(raw)} bytes, over the limit of {max_line_bytes} "
                                 f"({_MAX_LINE_HINT})", path=path, line=i)
            if i == 1:
                problem = _encoding_problem(raw[:32])
                if problem:
                    raise InputError(problem, path=path)
                raw = raw.removeprefix(UTF8_BOM)
            if not raw.strip():
                continue
            text = _decode(raw, path, i)
            try:
                rec = _parse_json_record(text, path, i)
            except json.JSONDecodeError as e:
                raise InputError(json_error_message(e) + _jsonl_hint(text), path=path, line=i) from None
            if objects and not isinstance(rec, dict):
                hint = "; for a JSON array of records pass --container json" if isinstance(rec, list) else ""
                raise InputError(f"expected a JSON object per line, got {type(rec).__name__}{hint}",
                                 path=path, line=i)
            if "\\u" in text and _SURROGATE_ESCAPE.search(text):
                _check_surrogates(rec, path, i)
            yield i, rec, raw


def parse_json(text: str, path: str) -> Any:
    """One whole JSON document (the text of a file) under this module's rules: a repeated key,
    a lone surrogate or too deep nesting is an error, as in records."""
    try:
        doc = _parse_json_record(text, path, None)
    except json.JSONDecodeError as e:
        raise InputError(json_error_message(e), path=path, line=e.lineno) from None
    if "\\u" in text and _SURROGATE_ESCAPE.search(text):
        _check_surrogates(doc, path, None)
    return doc


def iter_json_array(path: str, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Iterator[tuple[int, Any, None]]:
    text = read_text(path)
    body = text.lstrip(" \t\r\n")
    if not body.startswith("["):
        # a single object or malformed
        line = text.count("\n", 0, len(text) - len(body)) + 1
        try:
            obj = _parse_json_record(text, path, line)
        except json.JSONDecodeError as e:
            raise InputError(json_error_message(e), path=path, line=e.lineno) from None
        if isinstance(obj, dict):
            raise InputError("holds a single JSON object, not an array of records: put the records in "
                             "a JSON array ([{...}, {...}]) or save them one per line as JSONL",
                             path=path, line=line)
        raise InputError(f"expected a JSON array of records, got {type(obj).__name__}", path=path, line=line)
    for line, rec in json_array_items(text, path, objects=True):
        yield line, rec, None


def json_array_items(text: str, path: str, objects: bool = False) -> Iterator[tuple[int, Any]]:
    """(line where it starts, value) for each element of the top-level JSON array in `text`,
    under this module's rules; `objects` requires every element to be an object."""
    n = len(text)
    maybe_surrogates = "\\u" in text and _SURROGATE_ESCAPE.search(text) is not None

    def skip_ws(i: int) -> int:
        while i < n and text[i] in " \t\r\n":
            i += 1
        return i

    def line_of(i: int) -> int:
        return text.count("\n", 0, i) + 1

    i = skip_ws(skip_ws(0) + 1)  # past the "["
    line, last = 1, 0
    while i < n and text[i] != "]":
        line += text.count("\n", last, i)
        last = i
        try:
            rec, j = _parse_json_record(text, path, line, decode=lambda i=i: _JSON.raw_decode(text, i))
        except json.JSONDecodeError as e:
            raise InputError(json_error_message(e), path=path, line=line_of(e.pos)) from None
        if objects and not isinstance(rec, dict):
            raise InputError(f"expected a JSON object, got {type(rec).__name__}", path=path, line=line)
        if maybe_surrogates:
            _check_surrogates(rec, path, line)
        yield line, rec
        i = skip_ws(j)
        if i < n and text[i] == ",":
            i = skip_ws(i + 1)
        elif i < n and text[i] != "]":
            raise InputError("malformed JSON: expected ',' or ']'", path=path, line=line_of(i))
    if i >= n:
        raise InputError("malformed JSON: unterminated array", path=path, line=line_of(n))


# TSV escapes (see the module docstring)
_TSV_UNESCAPE = re.compile(r"\\([\\tnr])")
_TSV_UNESCAPED = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}
_TSV_ESCAPE_BACKSLASH = re.compile(r"\\(?=[\\tnr\t\n\r])")


def tsv_unescape(value: str) -> str:
    r"""The value a TSV field stands for: `\t` `\n` `\r` `\\` unescaped, other backslashes kept.

    >>> tsv_unescape(r"a\tb\\n C:\dir")
    'a\tb\\n C:\\dir'
    """
    if "\\" not in value:
        return value
    return _TSV_UNESCAPE.sub(lambda m: _TSV_UNESCAPED[m.group(1)], value)


def tsv_escape(value: str) -> str:
    r"""The TSV field for `value`; `tsv_unescape(tsv_escape(v)) == v` for every string.

    >>> tsv_escape("a\tb\\n C:\\dir")
    'a\\tb\\\\n C:\\dir'
    """
    if "\\" in value:
        value = _TSV_ESCAPE_BACKSLASH.sub(r"\\\\", value)
    if "\t" in value or "\n" in value or "\r" in value:
        value = value.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value


def _csv_error(e: csv.Error, start: int, line_num: int, path: str, kind: str,
               max_line_bytes: int) -> InputError:
    """The InputError for a csv.Error in the row starting on line `start` (the reader is at `line_num`)."""
    msg = str(e)
    if msg == "unexpected end of data":
        return InputError('unterminated quoted field: a " opens a field on this line and is never '
                          'closed (write a literal " inside a quoted field as "")', path=path, line=start)
    if "field larger than field limit" in msg:
        return InputError(f"a field is over the limit of {max_line_bytes} bytes ({_MAX_LINE_HINT})",
                          path=path, line=start)
    if "expected after" in msg:
        msg += ' (a quoted field must end at its closing quote; write a literal " inside it as "")'
    if line_num > start:
        msg += f" (in the row starting on line {start})"
    return InputError(f"malformed {kind}: {msg}", path=path, line=line_num)


def iter_csv(path: str, delimiter: str, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> tuple[list[str], Iterator[tuple[int, dict, None]]]:
    """(header, iterator of (line where the row starts, row, None)) for a CSV (`,`) or TSV (tab)."""
    text = read_text(path)
    csv.field_size_limit(max_line_bytes)
    tsv = delimiter == "\t"
    if tsv:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=csv.QUOTE_NONE)
    else:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    kind = "TSV" if tsv else "CSV"

    def csv_error(e: csv.Error, start: int) -> InputError:
        return _csv_error(e, start, reader.line_num, path, kind, max_line_bytes)

    try:
        header = next(reader)
    except StopIteration:
        raise InputError("file is empty (no header row)", path=path) from None
    except csv.Error as e:
        raise csv_error(e, 1) from None
    if tsv:
        header = [tsv_unescape(h) for h in header]
    seen: set[str] = set()
    for h in header:
        if h in seen:
            raise InputError(f"column {h!r} appears twice in the header; rename one",
                             path=path, line=1, field=h)
        seen.add(h)

    def rows() -> Iterator[tuple[int, dict, None]]:
        while True:
            start = reader.line_num + 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                raise csv_error(e, start) from None
            if not values:
                continue
            if len(values) != len(header):
                more = f" (the row runs from line {start} to {reader.line_num})" if reader.line_num > start else ""
                raise InputError(f"expected {len(header)} columns ({', '.join(header)}), got {len(values)}{more}",
                                 path=path, line=start)
            if tsv:
                values = [tsv_unescape(v) for v in values]
            yield start, dict(zip(header, values, strict=True)), None

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
        from safemix.config import did_you_mean

        raise ConfigError(f"unknown format {schema!r}{did_you_mean(schema, FORMATS)}; choose one of {', '.join(FORMATS)}")
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


def _cell(v: Any) -> str:
    return "" if v is None else v if isinstance(v, str) else str(v)


def write_table_rows(f: Any, container: str, header: list[str], records: list[dict]) -> None:
    """Write a header and rows as CSV or TSV (the module docstring's conventions) to text file `f`,
    so that `iter_csv` reads back exactly `header` and `records` (missing cells as "")."""
    if header and header[0].startswith("\ufeff"):
        f.write("\ufeff")  # readers skip one leading byte-order mark: keep the header's own
    rows = [[_cell(r.get(c, "")) for c in header] for r in records]
    if container == "tsv":
        for row in [header, *rows]:
            f.write("\t".join([tsv_escape(v) for v in row]) + "\n")
        return
    # RFC 4180 rows ending in LF. The csv module quotes a field holding LF but not one holding
    # only CR (with an LF line terminator), so a row with a CR is written fully quoted.
    w = csv.writer(f, lineterminator="\n")
    quote_all = csv.writer(f, lineterminator="\n", quoting=csv.QUOTE_ALL)
    for row in [header, *rows]:
        (quote_all if any("\r" in v for v in row) else w).writerow(row)


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
            write_table_rows(f, container, header, records)
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
