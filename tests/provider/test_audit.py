"""The audit trail: a hash chain that verifies, and breaks at the line that was edited."""

from __future__ import annotations

import json

import pytest

from safemix.provider.audit import GENESIS, AuditLog, canonical, last_record, verify


def _log(tmp_path, n=5):
    log = AuditLog(tmp_path / "audit.jsonl")
    for i in range(n):
        log.append("job-1" if i % 2 == 0 else "job-2", "stage_done", stage=f"s{i}", sha256="ab" * 32)
    return log


def test_chain_verifies_and_links(tmp_path):
    log = _log(tmp_path)
    v = verify(log.path)
    assert v.ok and v.records == 5 and str(v) == "OK (5 records)"
    recs = log.records()
    assert recs[0]["prev"] == GENESIS and [r["seq"] for r in recs] == list(range(5))
    import hashlib

    for a, b in zip(recs, recs[1:], strict=False):
        assert b["prev"] == hashlib.sha256(canonical(a).encode()).hexdigest()
    assert [r["data"]["stage"] for r in log.records("job-2")] == ["s1", "s3"]
    assert last_record(log.path, "job-1")["data"]["stage"] == "s4"


@pytest.mark.parametrize("line", [1, 2, 3, 4, 5])
def test_editing_any_line_breaks_at_that_line(tmp_path, line):
    log = _log(tmp_path)
    lines = log.path.read_text().splitlines()
    rec = json.loads(lines[line - 1])
    rec["data"]["stage"] = "forged"
    lines[line - 1] = canonical(rec)
    log.path.write_text("\n".join(lines) + "\n")
    v = verify(log.path)
    assert not v.ok and v.line == line and "edited" in v.reason


def test_rehashed_edit_breaks_the_next_line(tmp_path):
    from safemix.provider.audit import record_hash

    log = _log(tmp_path)
    lines = log.path.read_text().splitlines()
    rec = json.loads(lines[1])
    rec["data"]["stage"] = "forged"
    rec["hash"] = record_hash(rec)  # a forger who recomputes the hash
    lines[1] = canonical(rec)
    log.path.write_text("\n".join(lines) + "\n")
    v = verify(log.path)
    assert not v.ok and v.line == 3 and "prev" in v.reason


def test_removed_reordered_or_garbage_lines(tmp_path):
    log = _log(tmp_path)
    lines = log.path.read_text().splitlines()
    log.path.write_text("\n".join(lines[:2] + lines[3:]) + "\n")
    assert verify(log.path).line == 3
    log.path.write_text("\n".join([lines[1], lines[0]] + lines[2:]) + "\n")
    assert verify(log.path).line == 1
    log.path.write_text("\n".join(lines[:4] + ["{not json"]) + "\n")
    assert verify(log.path).line == 5


def test_append_after_reopen_continues_the_chain(tmp_path):
    log = _log(tmp_path, 3)
    again = AuditLog(log.path)
    again.append("job-3", "verdict", verdict="held")
    assert verify(log.path).ok and verify(log.path).records == 4
    with pytest.raises(ValueError):
        again.append("job-3", "nonsense")
    assert verify(tmp_path / "missing.jsonl").ok
