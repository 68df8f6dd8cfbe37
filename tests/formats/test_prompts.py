"""Prompt files (`safemix.formats.prompts`) are read by `safemix.formats.io`'s rules: the same
file gets the same answer whether it is read as a job or as probes / seeds."""

from __future__ import annotations

import json

import pytest

from safemix.errors import InputError
from safemix.formats.io import (
    detect_container,
    iter_jsonl_values,
    json_array_items,
    parse_json,
    read_job,
)
from safemix.formats.prompts import probes_from_table, read_table

BOM = b"\xef\xbb\xbf"


def _prompts(path):
    return [p.prompt for _, p in probes_from_table(read_table(path))]


def test_a_byte_order_mark_is_accepted_as_by_the_job_reader(tmp_path):
    lines = tmp_path / "lines.json"  # JSON lines in a .json file, after a byte-order mark
    lines.write_bytes(BOM + b'{"prompt": "a", "completion": "x"}\n{"prompt": "b", "completion": "y"}\n')
    assert detect_container(lines) == read_table(lines).container == "jsonl"
    assert _prompts(lines) == ["a", "b"] and len(read_job(lines)) == 2
    assert read_table(lines).raw[1] == b'{"prompt": "a", "completion": "x"}\n'  # the mark is not part of row 1
    array = tmp_path / "array.json"
    array.write_bytes(BOM + json.dumps(["one", {"prompt": "two"}], indent=1).encode())
    assert _prompts(array) == ["one", "two"]
    assert [line for line, _ in read_table(array).rows] == [2, 3]  # file lines of the items
    for name in ("t.csv", "t.tsv", "t.jsonl", "t.txt"):
        f = tmp_path / name
        f.write_bytes(BOM + (b"prompt\nhello\n" if name[-3:] in ("csv", "tsv") else
                             b'{"prompt": "hello"}\n' if name.endswith("jsonl") else b"hello\n"))
        assert _prompts(f) == ["hello"], name


def test_the_job_readers_rules_apply_to_prompt_files(tmp_path):
    dup = tmp_path / "dup.jsonl"
    dup.write_text('{"prompt": "a"}\n{"prompt": "b", "prompt": "c"}\n')
    with pytest.raises(InputError, match=r"dup.jsonl:2: field 'prompt': key 'prompt' appears twice"):
        read_table(dup)
    utf16 = tmp_path / "u.csv"
    utf16.write_bytes("prompt\nhello\n".encode("utf-16"))
    with pytest.raises(InputError, match="UTF-16"):
        read_table(utf16)
    sur = tmp_path / "s.json"
    sur.write_text('{"instructions": ["fine", "bad \\ud800"]}')
    with pytest.raises(InputError, match="lone surrogate"):
        read_table(sur)
    bad = tmp_path / "bad.json"
    bad.write_text('[\n "ok",\n 3\n]\n')
    with pytest.raises(InputError, match=r"bad.json:3: field '\[1\]': expected an object or a string, got int"):
        read_table(bad)


def test_io_value_readers(tmp_path):
    f = tmp_path / "v.jsonl"
    f.write_bytes(BOM + b'"a string"\n\n[1, 2]\n{"k": 1}\n')
    assert [(i, v) for i, v, _ in iter_jsonl_values(str(f))] == [(1, "a string"), (3, [1, 2]), (4, {"k": 1})]
    assert list(json_array_items('[\n 1,\n "x" ,{"a": [2]}\n]', "p")) == [(2, 1), (3, "x"), (3, {"a": [2]})]
    with pytest.raises(InputError, match="expected a JSON object, got int"):
        list(json_array_items("[1]", "p", objects=True))
    assert parse_json('{"a": {"b": [1]}}', "p") == {"a": {"b": [1]}}
    with pytest.raises(InputError, match="appears twice"):
        parse_json('{"a": 1, "a": 2}', "p")
    with pytest.raises(InputError, match=r"p:2: malformed JSON"):
        parse_json('{"a":\n ]', "p")
