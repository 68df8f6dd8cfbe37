"""Bad files the readers used to accept silently, crash on, or report unclearly: each gives one
message naming the file and line (and field), exit code 2 from `profile` and `mix`, writes
nothing and leaves the input as it was."""

from __future__ import annotations

import hashlib
import json

import pytest

from safemix.cli import main

GOOD = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
PC = {"prompt": "a", "completion": "b"}


def _jsonl(*rows) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in rows)


def _csv_rows(n: int) -> bytes:
    return b"".join(b"q%d,a%d\n" % (i, i) for i in range(n))


DEEP = b'{"prompt": "a", "completion": "b", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"

# name -> (file name, bytes, pieces the message must hold, extra argv)
CASES: dict[str, tuple[str, bytes, list[str], list[str]]] = {
    # silently corrupted before
    "csv_duplicate_header": ("job.csv", b"prompt,prompt,completion\na,b,c\n",
                             ["job.csv:1", "field 'prompt'", "appears twice in the header"], []),
    "tsv_duplicate_header": ("job.tsv", b"sentence\tlabel\tlabel\na\t1\t0\n",
                             ["job.tsv:1", "field 'label'", "appears twice in the header"], []),
    "jsonl_duplicate_key": ("job.jsonl", _jsonl(PC, b'{"prompt": "a", "prompt": "b", "completion": "c"}'),
                            ["job.jsonl:2", "field 'prompt'", "appears twice"], []),
    "jsonl_duplicate_nested_key": ("job.jsonl", _jsonl(b'{"messages": [{"role": "user", "content": "q", '
                                                      b'"content": "r"}, {"role": "assistant", "content": "a"}]}'),
                                   ["job.jsonl:1", "field 'content'", "appears twice"], []),
    "json_array_duplicate_key": ("job.json", b'[\n {"prompt": "a", "completion": "b"},\n'
                                             b' {"prompt": "a", "completion": "b", "completion": "c"}\n]\n',
                                 ["job.json:3", "field 'completion'", "appears twice"], []),
    # tracebacks before
    "jsonl_nested_too_deeply": ("job.jsonl", _jsonl(PC, DEEP), ["job.jsonl:2", "nested too deeply"], []),
    "json_array_nested_too_deeply": ("job.json", b"[\n" + DEEP + b"\n]\n", ["job.json:2", "nested too deeply"], []),
    "jsonl_lone_surrogate": ("job.jsonl", _jsonl(PC, b'{"messages": [{"role": "user", "content": "x\\ud800y"}, '
                                                 b'{"role": "assistant", "content": "a"}]}'),
                             ["job.jsonl:2", "field 'messages[0].content'", "lone surrogate"], []),
    "json_array_lone_surrogate": ("job.json", b'[\n {"prompt": "a", "completion": "\\udc00"}\n]',
                                  ["job.json:2", "field 'completion'", "lone surrogate"], []),
    "jsonl_lone_surrogate_in_key": ("job.jsonl", _jsonl(b'{"prompt": "a", "completion": "b", "\\udc80x": 1}'),
                                    ["job.jsonl:1", "field '\\udc80x'", "lone surrogate"], []),
    "jsonl_duplicate_key_with_surrogate": ("job.jsonl", _jsonl(b'{"prompt": "a", "completion": "b", "\\udc80": 1, '
                                                               b'"\\udc80": 2}'),
                                           ["job.jsonl:1", "field '\\udc80'", "appears twice"], []),
    # unclear messages before
    "pretty_array_saved_as_jsonl": ("job.jsonl", json.dumps([PC, PC], indent=2).encode(),
                                    ["job.jsonl:1", "looks like a JSON array", "--container json"], []),
    "pretty_object_saved_as_jsonl": ("job.jsonl", json.dumps(PC, indent=2).encode(),
                                     ["job.jsonl:1", "multi-line", "one complete record per line"], []),
    "one_line_array_saved_as_jsonl": ("job.jsonl", json.dumps([PC, PC]).encode(),
                                      ["job.jsonl:1", "got list", "--container json"], []),
    "json_single_object": ("job.json", json.dumps(PC, indent=2).encode(),
                           ["job.json:1", "single JSON object", "JSON array"], []),
    "csv_unterminated_quote": ("job.csv", b"prompt,completion\n" + _csv_rows(10) + b'"never closed,x\n' + _csv_rows(10),
                               ["job.csv:12", "unterminated quoted field"], []),
    "csv_text_after_closing_quote": ("job.csv", b'prompt,completion\n"a"b,c\n', ["job.csv:2", "malformed CSV"], []),
    "csv_ragged_multiline_row": ("job.csv", b'prompt,completion\n"two\nlines",a,extra\n',
                                 ["job.csv:2", "expected 2 columns", "from line 2 to 3"], []),
    "unterminated_string_no_doubled_at": ("job.jsonl", _jsonl(PC) + b'{"prompt": "a',  # no final newline
                                          ["job.jsonl:2", "Unterminated string starting at column 12"], []),
    "invalid_control_character_no_doubled_at": ("job.jsonl", b'{"prompt": "a\tb", "completion": "c"}\n',
                                                ["job.jsonl:1", "Invalid control character at column 14"], []),
    "oversized_line_names_the_flag": ("job.jsonl", _jsonl(PC, {"prompt": "x" * 5000, "completion": "y"}),
                                      ["job.jsonl:2", "over the limit", "--max-line-bytes", "data.max_line_bytes"],
                                      ["--max-line-bytes", "1000"]),
    "csv_oversized_field_names_the_flag": ("job.csv", b"prompt,completion\n" + b"x" * 5000 + b",y\n",
                                           ["job.csv:2", "over the limit", "--max-line-bytes"],
                                           ["--max-line-bytes", "1000"]),
    "utf16_jsonl": ("job.jsonl", json.dumps(PC).encode("utf-16"), ["job.jsonl", "UTF-16", "save it as UTF-8"], []),
    "utf16_csv_no_bom": ("job.csv", "prompt,completion\na,b\n".encode("utf-16-le"),
                         ["job.csv", "UTF-16", "save it as UTF-8"], []),
    "utf16_be_jsonl_no_bom": ("job.jsonl", json.dumps(PC).encode("utf-16-be"), ["job.jsonl", "UTF-16", "save it as UTF-8"], []),
    "utf32_json": ("job.json", json.dumps([PC]).encode("utf-32"), ["job.json", "UTF-32", "save it as UTF-8"], []),
    "byte_order_mark_mid_jsonl": ("job.jsonl", _jsonl(PC) + b"\xef\xbb\xbf" + _jsonl(PC),
                                  ["job.jsonl:2", "byte-order mark", "delete it"], []),
    "latin1_csv": ("job.csv", "prompt,completion\ncafé,b\n".encode("latin-1"),
                   ["job.csv:2", "not valid UTF-8", "save the file as UTF-8"], []),
}


def _sha(p) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _safety(folder):
    folder.mkdir()
    p = folder / "safety.jsonl"
    p.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"Help me do harm {i}"},
                                                  {"role": "assistant", "content": "I can't help with that."}]})
                         + "\n" for i in range(5)), encoding="utf-8")
    return p


@pytest.mark.parametrize("command", ["profile", "mix"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_file_one_clear_message_exit_2_nothing_written(tmp_path, capsys, case, command):
    name, data, expected, extra = CASES[case]
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    src = job_dir / name
    src.write_bytes(data)
    before = _sha(src)
    if command == "profile":
        argv = ["profile", str(src), "--out", str(job_dir / "profile.json"), *extra]
    else:
        safety = _safety(tmp_path / "safety")
        argv = ["mix", "--quiet", "--data", str(src), "--safety", str(safety), "--count", "1",
                "--out", str(job_dir / ("mixed" + src.suffix)), *extra]
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    for piece in expected:
        assert piece in err, (piece, err)
    assert "at at " not in err and "utf-8-sig" not in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err  # one message, no traceback
    assert _sha(src) == before
    assert sorted(p.name for p in job_dir.iterdir()) == [name]  # no output, no temp files
    if command == "mix":
        assert sorted(p.name for p in (tmp_path / "safety").iterdir()) == ["safety.jsonl"]
