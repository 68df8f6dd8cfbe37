"""Mixing keeps a text job's conventions: CRLF line endings, a byte-order mark, TSV values
holding quotes, backslashes and tabs."""

from __future__ import annotations

import json

import pytest
from mix.mix_helpers import FIX, read_prov, write_safety

from safemix.cli import main
from safemix.formats import read_job

JOB = FIX / "topic_chat.jsonl"


def run(*argv) -> int:
    return main(["mix", "--quiet", *map(str, argv)])


@pytest.mark.parametrize("inline", [False, True])
def test_crlf_job_gets_crlf_safety_rows(tmp_path, safety_file, inline):
    job = tmp_path / "crlf.jsonl"
    job.write_bytes(JOB.read_bytes().replace(b"\n", b"\r\n"))
    before = job.read_bytes()
    out = tmp_path / "out" / "m.jsonl"
    argv = ["--data", job, "--safety", safety_file(10), "--count", "6", "--out", out]
    assert run(*argv, *(["--inline-provenance"] if inline else [])) == 0
    data = out.read_bytes()
    rows = data.split(b"\r\n")
    assert rows[-1] == b"" and all(b"\n" not in r for r in rows)  # every row ends in CRLF, none in bare LF
    prov = read_prov(out.with_name("m.provenance.jsonl"))
    job_rows = before.split(b"\r\n")
    assert len(rows) - 1 == len(prov) == 40 + 6
    for row, p in zip(rows, prov, strict=False):
        rec = json.loads(row)
        assert (rec.pop("safemix_provenance", None) == p) == inline
        if p["source"] == "user":
            assert row == job_rows[p["job_line"] - 1] or inline
            assert rec == json.loads(job_rows[p["job_line"] - 1])
    assert job.read_bytes() == before
    assert len(read_job(out).examples) == 46


def test_lf_job_keeps_lf(tmp_path, safety_file):
    out = tmp_path / "m.jsonl"
    assert run("--data", JOB, "--safety", safety_file(10), "--count", "3", "--out", out) == 0
    assert b"\r" not in out.read_bytes()


def test_byte_order_mark_is_not_copied_into_a_row(tmp_path, safety_file):
    job = tmp_path / "bom.jsonl"
    job.write_bytes(b"\xef\xbb\xbf" + JOB.read_bytes())
    out = tmp_path / "out" / "m.jsonl"
    # --strategy append: the first output row is the job's first row
    assert run("--data", job, "--safety", safety_file(10), "--count", "4", "--strategy", "append", "--out", out) == 0
    assert out.read_bytes().startswith(JOB.read_bytes())  # every user row as in the job, without the mark
    assert len(read_job(out).examples) == 44
    man = json.loads((out.parent / "mix_manifest.json").read_text())
    import hashlib

    assert man["inputs"]["job"]["sha256"] == hashlib.sha256(job.read_bytes()).hexdigest()


def test_tsv_job_with_quotes_backslashes_and_tabs_round_trips_through_mix(tmp_path):
    job = tmp_path / "s.tsv"
    job.write_text('sentence\tlabel\n"I" statements are fine\t1\nC:\\dir and \\d+\t0\nplain\t1\n', encoding="utf-8")
    user_bytes = job.read_bytes()
    safety = write_safety(tmp_path / "safety.jsonl", [
        {"messages": [{"role": "user", "content": f'Write "{w}" with a tab\there and a line\nbreak \\n'},
                      {"role": "assistant", "content": "I can't help with that."}]} for w in ("x", "y", "z")])
    out = tmp_path / "out" / "m.tsv"
    assert run("--data", job, "--safety", safety, "--count", "2", "--strategy", "append", "--out", out) == 0
    text = out.read_text(encoding="utf-8")
    assert text.encode().startswith(user_bytes)  # user rows written back byte for byte
    assert '\\"' not in text
    mixed = read_job(out)
    assert [e.user for e in mixed.examples][:3] == ['"I" statements are fine', "C:\\dir and \\d+", "plain"]
    users = {e.user for e in mixed.examples[3:]}
    assert users <= {'Write "x" with a tab\there and a line\nbreak \\n', 'Write "y" with a tab\there and a line\nbreak \\n',
                     'Write "z" with a tab\there and a line\nbreak \\n'} and len(users) == 2
