"""The audit trail of `safemix wrap`: an append-only JSONL log, one record per job event,
hash-chained so that editing, removing or reordering a line shows.

Each line is one JSON record::

    {"seq": 3, "time": "...Z", "job": "<job id>", "event": "stage_done",
     "data": {...}, "prev": "<sha256 of the previous line's canonical JSON>",
     "hash": "<sha256 of this record's canonical JSON without 'hash'>"}

Canonical JSON: keys sorted, no spaces, UTF-8 (`canonical`). The first record's `prev` is
`GENESIS`. Every append is flushed and fsynced before it returns, so a crash mid-job leaves the
last record it wrote (e.g. `stage_started` with the stage's name): that record says where the job
stopped (`last_record`). `verify(path)` checks the whole chain and names the first broken line.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
EVENTS = ("received", "rejected", "screened", "stage_started", "stage_done", "evaluated", "verdict", "error")


def canonical(obj: Any) -> str:
    """The one serialisation the hashes are taken over: sorted keys, no spaces, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def record_hash(rec: dict[str, Any]) -> str:
    """The `hash` of a record: sha256 of its canonical JSON without the `hash` key."""
    return sha256_text(canonical({k: v for k, v in rec.items() if k != "hash"}))


@dataclass
class Verification:
    """`ok`, the records checked, and the first broken line (1-based) with why."""

    ok: bool
    records: int
    line: int | None = None
    reason: str | None = None

    def __str__(self) -> str:
        return f"OK ({self.records} records)" if self.ok else f"broken at line {self.line}: {self.reason}"


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            yield i, line.rstrip("\n")


def verify(path: str | os.PathLike) -> Verification:
    """Check every line of the log: valid JSON, its `hash`, its `seq`, and `prev` = sha256 of the
    previous line's canonical JSON. Returns at the first broken line."""
    prev, n = GENESIS, 0
    p = Path(path)
    if not p.exists():
        return Verification(True, 0)
    for i, line in _lines(p):
        try:
            rec = json.loads(line)
        except ValueError:
            return Verification(False, n, i, "not a JSON record")
        if not isinstance(rec, dict) or "hash" not in rec or "prev" not in rec:
            return Verification(False, n, i, "not an audit record (no hash/prev)")
        if rec["prev"] != prev:
            return Verification(False, n, i, "prev does not match the previous record (a line was edited, "
                                              "removed or reordered)")
        if rec.get("seq") != n:
            return Verification(False, n, i, f"seq {rec.get('seq')!r}, expected {n}")
        if record_hash(rec) != rec["hash"]:
            return Verification(False, n, i, "hash does not match the record (the record was edited)")
        prev, n = sha256_text(canonical(rec)), n + 1
    return Verification(True, n)


def read_log(path: str | os.PathLike, job: str | None = None) -> list[dict[str, Any]]:
    """The log's records (of one `job` when given), in order; unreadable lines are skipped."""
    p = Path(path)
    if not p.exists():
        return []
    out = []
    for _, line in _lines(p):
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and (job is None or rec.get("job") == job):
            out.append(rec)
    return out


def last_record(path: str | os.PathLike, job: str) -> dict[str, Any] | None:
    """The last record of `job`: after a crash, where the job stopped."""
    recs = read_log(path, job)
    return recs[-1] if recs else None


def _tail(path: Path) -> tuple[int, str]:
    """(records so far, prev for the next record), from the log's last line."""
    if not path.exists() or path.stat().st_size == 0:
        return 0, GENESIS
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size, chunk, buf = f.tell(), 4096, b""
        while size > 0 and buf.count(b"\n") < 2:
            step = min(chunk, size)
            size -= step
            f.seek(size)
            buf = f.read(step) + buf
    last = buf.rstrip(b"\n").rsplit(b"\n", 1)[-1].decode("utf-8")
    from safemix.errors import InputError

    try:
        rec = json.loads(last)
        return int(rec["seq"]) + 1, sha256_text(canonical(rec))
    except (ValueError, KeyError, TypeError):
        raise InputError("the audit log's last line is not an audit record; run verify on it", path=str(path)) from None


class AuditLog:
    """An append-only, hash-chained JSONL log (`append` locks, writes one line and fsyncs)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def append(self, job: str, event: str, **data: Any) -> dict[str, Any]:
        """Write one record for `job` and return it; durable when this returns."""
        if event not in EVENTS:
            raise ValueError(f"unknown audit event {event!r}; one of {', '.join(EVENTS)}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            try:
                import fcntl

                fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            except ImportError:  # pragma: no cover - not POSIX
                pass
            seq, prev = _tail(self.path)
            rec: dict[str, Any] = {"seq": seq, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                   "job": job, "event": event, "data": json.loads(canonical(data)), "prev": prev}
            rec["hash"] = record_hash(rec)
            f.write(canonical(rec) + "\n")
            f.flush()
            os.fsync(f.fileno())
        return rec

    def verify(self) -> Verification:
        return verify(self.path)

    def records(self, job: str | None = None) -> list[dict[str, Any]]:
        return read_log(self.path, job)


__all__ = ["EVENTS", "GENESIS", "AuditLog", "Verification", "canonical", "last_record", "read_log",
           "record_hash", "verify"]
