"""Bad input: one clear message naming file, line and field; exit 2; nothing written;
input never modified."""

from __future__ import annotations

import hashlib
import json

import pytest

from safemix.cli import main

GOOD = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
PC = {"prompt": "a", "completion": "b"}


def _jsonl(*rows) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in rows)


CASES = {
    "malformed_json": ("job.jsonl", _jsonl(GOOD, GOOD, b'{"messages": [}'), ["job.jsonl:3", "malformed JSON"]),
    "missing_field": ("job.jsonl", _jsonl(PC, {"prompt": "x"}), ["job.jsonl:2", "field 'completion'", "missing"]),
    "wrong_type": ("job.jsonl", _jsonl(GOOD, {"messages": [{"role": "user", "content": "q"},
                                                          {"role": "assistant", "content": 5}]}),
                   ["job.jsonl:2", "field 'messages[1].content'", "expected a string, got int"]),
    "empty_file": ("job.jsonl", b"", ["job.jsonl", "empty"]),
    "blank_lines_only": ("job.jsonl", b"\n\n", ["job.jsonl", "empty"]),
    "non_utf8": ("job.jsonl", _jsonl(GOOD, b'{"prompt": "caf\xe9", "completion": "x"}'),
                 ["job.jsonl:2", "not valid UTF-8"]),
    "mixed_formats": ("job.jsonl", _jsonl(PC, PC, GOOD), ["job.jsonl:3", "'openai'", "'prompt_completion'"]),
    "no_assistant": ("job.jsonl", _jsonl(GOOD, {"messages": [{"role": "user", "content": "q"}]}),
                     ["job.jsonl:2", "field 'messages'", "no assistant turn"]),
    "sharegpt_no_assistant": ("job.jsonl", _jsonl({"conversations": [{"from": "human", "value": "q"}]}),
                              ["job.jsonl:1", "no assistant turn"]),
    "oversized_line": ("job.jsonl", _jsonl(GOOD, {"prompt": "x" * 5000, "completion": "y"}),
                       ["job.jsonl:2", "over the limit"]),
    "json_array_bad_record": ("job.json", b'[\n {"instruction": "a", "output": "b"},\n {"instruction": 3, "output": "b"}\n]',
                              ["job.json:3", "field 'instruction'", "expected a string"]),
    "csv_ragged": ("job.csv", b"prompt,completion\na,b\nc,d,e\n", ["job.csv:3", "expected 2 columns"]),
    "unknown_keys": ("job.jsonl", _jsonl({"foo": 1}), ["job.jsonl:1", "cannot detect the format"]),
    "bad_role": ("job.jsonl", _jsonl({"messages": [{"role": "robot", "content": "x"}]}),
                 ["job.jsonl:1", "messages[0].role"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_clear_error(tmp_path, capsys, case):
    name, data, expected = CASES[case]
    src = tmp_path / name
    src.write_bytes(data)
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    out = tmp_path / "profile.json"
    argv = ["profile", str(src), "--out", str(out)]
    if case == "oversized_line":
        argv += ["--max-line-bytes", "1000"]
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    for piece in expected:
        assert piece in err, (piece, err)
    assert len(err.strip().splitlines()) == 1  # one clear message, no traceback
    assert not out.exists()
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no temp files left


def test_missing_file(tmp_path, capsys):
    assert main(["profile", str(tmp_path / "nope.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_unknown_format_did_you_mean(tmp_path, capsys):
    src = tmp_path / "a.jsonl"
    src.write_bytes(_jsonl(PC))
    assert main(["profile", str(src), "--format", "prompt_complection"]) == 2
    assert "did you mean 'prompt_completion'" in capsys.readouterr().err
