"""The service's worker: claim a job from the store's queue, run it through an executor, keep
its lease alive, and settle how it ended.

    worker = Worker(settings, executor="local")      # or "ray" / "slurm" / an executor object
    worker.run_once()                                # claim one job, run it to the end; None if none
    worker.run_forever()                             # until SIGTERM/SIGINT

One job at a time per worker (run several workers for more). For each claimed job:

- `executor.submit` starts `python -m safemix.service.jobrun JOB --settings S.json --worker ID`
  (local subprocess, Ray job or Slurm job); that run writes the outcome (succeeded / failed with
  `safety_hold` / failed with the body's error) while the worker holds the lease.
- a heartbeat thread renews the lease every `heartbeat_seconds` (`lease_seconds` long); when the
  lease is lost (another worker took the job after it expired) the run is stopped and the row
  left to the new owner.
- `cancel_requested` (POST .../cancel on a running job) stops the run (the whole process tree of
  a local run, `stop_job` on Ray, `scancel` on Slurm) and sets the job `cancelled`.
- a run that crashes (non-zero exit, the row still running) is queued again, or failed with
  `internal_error` once it has had `max_attempts` attempts.
- a worker that dies (SIGKILL, a lost host) takes its local run with it (the run gets SIGKILL
  when its worker dies); the lease expires and the next claim resumes the job (`attempts` + 1,
  event "Resumed after a lost worker (attempt N)"): wrap skips the stages that finished and
  training resumes from its last checkpoint.

Events and checkpoints are mirrored by `EventMirror`, which runs inside the job's run (jobrun),
where the audit log and the run folder are, so it works the same for every executor: one event
per `stage_started`, `stage_done`, `verdict` (and `error`) audit record of the job's wrap id, one
checkpoint per `variants/*/train/checkpoint-N`. The cursor is the events themselves (each
mirrored event carries its record's `audit_seq`), so a resumed run never mirrors a record twice.

SIGTERM / SIGINT (graceful stop): the worker claims nothing more and FINISHES the job it is
running, then exits. A second SIGTERM/SIGINT stops the run at once and puts the job back in the
queue (status `queued`, lease cleared) so another worker resumes it without waiting for the lease.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("safemix.service.worker")

MIRRORED = ("stage_started", "stage_done", "verdict", "error")
DEFAULT_MAX_ATTEMPTS = 3
EXIT_WAIT = 120.0  # seconds a run that wrote its outcome gets to exit before it is stopped
EVENT_PAGE = 100


# ------------------------------------------------------------------------------ audit -> events
def audit_next_seq(path: str | Path) -> int:
    """The `seq` the next record of the audit log gets (0 for a new log)."""
    from safemix.provider.audit import _tail

    return _tail(Path(path))[0]


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The rows of a train stage's metrics.jsonl (unreadable lines skipped)."""
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def step_metrics(rows: list[dict[str, Any]], step: int) -> dict[str, Any]:
    """OpenAI's checkpoint metrics at `step`: the last train log at or before it, the eval loss."""
    out: dict[str, Any] = {"step": step}
    train = [r for r in rows if "loss" in r and int(r.get("step", -1)) <= step]
    if train:
        out["train_loss"] = train[-1]["loss"]
        if "mean_token_accuracy" in train[-1]:
            out["train_mean_token_accuracy"] = train[-1]["mean_token_accuracy"]
    valid = [r for r in rows if "eval_loss" in r and int(r.get("step", -1)) <= step]
    if valid:
        out["valid_loss"] = valid[-1]["eval_loss"]
        if "eval_mean_token_accuracy" in valid[-1]:
            out["valid_mean_token_accuracy"] = valid[-1]["eval_mean_token_accuracy"]
    return out


def event_message(rec: dict[str, Any]) -> tuple[str, str]:
    """(level, message) of a mirrored audit record."""
    data, ev = rec.get("data") or {}, rec["event"]
    if ev == "stage_started":
        return "info", f"Stage started: {data.get('stage')}"
    if ev == "stage_done":
        if data.get("skipped"):
            return "info", f"Stage done: {data.get('stage')} (finished earlier, skipped)"
        return "info", f"Stage done: {data.get('stage')} ({data.get('seconds', 0):.1f}s)"
    if ev == "verdict":
        reasons = [r.get("message", "") for r in data.get("reasons") or []]
        where = f" at the {data['gate']} gate" if data.get("gate") else ""
        return ("info" if data.get("verdict") == "released" else "warn",
                f"Safety gate: {data.get('verdict')}{where}" + (f" ({'; '.join(reasons[:3])})" if reasons else ""))
    return "error", f"Error in wrap: {data.get('error')}: {data.get('message', '')}"[:1000]


class EventMirror:
    """Copies a job's wrap audit records into its events and its train checkpoints into its
    checkpoints; `sync()` is idempotent (the cursor is read back from the stored events)."""

    def __init__(self, store: Any, job: dict[str, Any], audit: str | Path, wrap_id: str, run_dir: str | Path,
                 model_name: str, *, scrub_pairs: list[tuple[str, str]] | None = None) -> None:
        self.store, self.job, self.audit, self.wrap_id = store, job, Path(audit), wrap_id
        self.run_dir, self.model_name = Path(run_dir), model_name
        self.scrub_pairs = scrub_pairs  # event messages as tenants see them (jobrun.tenant_paths)
        self.cursor = self._stored_cursor()
        self.steps = self._stored_steps()
        self._offset = 0  # bytes of the audit log read so far
        self._lock = threading.Lock()

    def _stored_cursor(self) -> int:
        """The next audit seq to mirror: after the last mirrored record, else from the job's start."""
        after = None
        while True:
            rows, more = self.store.list_events(self.job["org_id"], self.job["id"], after=after, limit=EVENT_PAGE)
            for ev in rows:  # newest first
                data = ev.get("data") or {}
                if "audit_seq" in data:
                    return int(data["audit_seq"]) + 1
                if "audit_from" in data:
                    return int(data["audit_from"])
            if not more or not rows:
                return 0
            after = rows[-1]["id"]

    def _stored_steps(self) -> set[int]:
        steps, after = set(), None
        while True:
            rows, more = self.store.list_checkpoints(self.job["org_id"], self.job["id"], after=after, limit=EVENT_PAGE)
            steps |= {int(r["step"]) for r in rows}
            if not more or not rows:
                return steps
            after = rows[-1]["id"]

    def sync(self) -> int:
        """Mirror what is new; the number of events and checkpoints added."""
        with self._lock:
            return self._sync_audit() + self._sync_checkpoints()

    def _new_records(self) -> list[dict[str, Any]]:
        """The audit log's complete lines since the last call (read from a byte offset)."""
        try:
            with open(self.audit, "rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            return []
        end = chunk.rfind(b"\n") + 1  # a line being written is read next time
        self._offset += end
        out = []
        for line in chunk[:end].splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and rec.get("job") == self.wrap_id:
                out.append(rec)
        return out

    def _sync_audit(self) -> int:
        n = 0
        for rec in self._new_records():
            if int(rec.get("seq", -1)) < self.cursor or rec.get("event") not in MIRRORED:
                continue
            level, message = event_message(rec)
            if self.scrub_pairs is not None:
                from safemix.service.jobrun import scrub

                message = scrub(message, self.scrub_pairs)
            data = {"audit_seq": rec["seq"], "audit_event": rec["event"], "wrap_id": self.wrap_id,
                    **{k: v for k, v in (rec.get("data") or {}).items() if k in ("stage", "skipped", "verdict", "gate")}}
            self.store.add_event(self.job["id"], message, level=level, data=data)
            self.cursor, n = int(rec["seq"]) + 1, n + 1
        return n

    def _sync_checkpoints(self) -> int:
        n = 0
        for folder in sorted(self.run_dir.glob("variants/*/train/checkpoint-*"), key=_step_of):
            step = _step_of(folder)
            if step < 0 or step in self.steps or not (folder / "trainer_state.json").is_file():
                continue  # trainer_state.json is written last: the checkpoint is complete
            metrics = step_metrics(read_metrics(folder.parent / "metrics.jsonl"), step)
            self.store.add_checkpoint(self.job["id"], step=step, metrics=metrics, path=str(folder),
                                      model_name=f"{self.model_name}:ckpt-step-{step}")
            self.store.add_event(self.job["id"], f"Checkpoint created at step {step}", data={"step": step})
            self.steps.add(step)
            n += 1
        return n

    @contextlib.contextmanager
    def running(self, interval: float = 1.0) -> Iterator[EventMirror]:
        """Sync every `interval` seconds in a thread while the block runs; a last sync after it."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(interval):
                try:
                    self.sync()
                except Exception:  # a busy database: the next tick retries
                    log.warning("mirroring events failed; retrying", exc_info=True)

        t = threading.Thread(target=loop, name="event-mirror", daemon=True)
        t.start()
        try:
            yield self
        finally:
            stop.set()
            t.join()
            self.sync()


def _step_of(folder: Path) -> int:
    try:
        return int(folder.name.split("-", 1)[1])
    except (IndexError, ValueError):
        return -1


# ------------------------------------------------------------------------------ lease
class Heartbeat:
    """Renews a job's lease every `interval` seconds in a thread; `lost` is set when the store
    says another worker holds it (or renewing has failed for a whole lease)."""

    def __init__(self, store: Any, job_id: str, worker_id: str, lease: float, interval: float) -> None:
        self.store, self.job_id, self.worker_id, self.lease, self.interval = store, job_id, worker_id, lease, interval
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-{job_id}", daemon=True)

    def _loop(self) -> None:
        last_ok = time.monotonic()
        while not self._stop.wait(self.interval):
            try:
                if not self.store.renew_lease(self.job_id, self.worker_id, self.lease):
                    self.lost.set()
                    return
                last_ok = time.monotonic()
            except Exception:
                log.warning("renewing the lease of %s failed", self.job_id, exc_info=True)
                if time.monotonic() - last_ok > self.lease:
                    self.lost.set()
                    return

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


# ------------------------------------------------------------------------------ the worker
class Worker:
    """Claims jobs from `settings`' store and runs them with `executor` ("local", "ray",
    "slurm" or an executor object; `executor_options` go to `make_executor`)."""

    def __init__(self, settings: Any, executor: Any = "local", worker_id: str | None = None, *, store: Any = None,
                 executor_options: dict[str, Any] | None = None, max_attempts: int | None = None) -> None:
        from safemix.service.jobrun import settings_json

        self.settings = settings
        if store is None:
            from safemix.service.store import Store

            store = Store.from_settings(settings)
        self.store = store
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{os.urandom(3).hex()}"
        self.home = Path(settings.home).expanduser()
        self.executor = self._executor(executor, dict(executor_options or {}))
        self.max_attempts = int(max_attempts or getattr(settings, "max_attempts", None) or DEFAULT_MAX_ATTEMPTS)
        self.settings_file = self.home / "workers" / f"{self.worker_id}.json"
        self.settings_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.settings_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # holds the database URL
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(settings_json(settings))
        self.stopping = threading.Event()  # no more claims
        self.abort = threading.Event()  # stop the running job now and requeue it
        self.current: dict[str, Any] | None = None

    def _executor(self, executor: Any, options: dict[str, Any]) -> Any:
        if not isinstance(executor, str):
            return executor
        from safemix.service.executors import make_executor

        if executor == "local":
            options.setdefault("log_dir", str(self.home / "logs"))
        if executor == "slurm":
            options.setdefault("script_dir_default", str(self.home / "slurm"))
        return make_executor(executor, **options)

    # -------------------------------------------------------------- the loop
    def run_forever(self) -> None:
        """Claim and run jobs until stopped (SIGTERM/SIGINT: see the module docstring)."""
        self.install_signal_handlers()
        log.info("worker %s: %s executor, polling %s", self.worker_id, self.executor.name, self.settings.db_url())
        while not self.stopping.is_set():
            try:
                job = self.run_once()
            except Exception:  # the database away for a moment: log, wait, go on
                log.exception("worker %s: claiming or running a job failed", self.worker_id)
                job = None
            if job is None:
                self.stopping.wait(float(self.settings.poll_seconds))
        log.info("worker %s: stopped", self.worker_id)

    def run_once(self, wait: float = 0.0) -> dict[str, Any] | None:
        """Claim one job (polling up to `wait` seconds for one), run it to the end and return its
        row; None when there was nothing to claim."""
        t0 = time.monotonic()
        while True:
            job = None if self.stopping.is_set() else self.store.claim_job(self.worker_id, self.settings.lease_seconds)
            if job is not None:
                return self.execute(job)
            if time.monotonic() - t0 >= wait or self.stopping.is_set():
                return None
            time.sleep(min(float(self.settings.poll_seconds), max(0.05, wait - (time.monotonic() - t0))))

    def stop(self, now: bool = False) -> None:
        """Claim no more jobs; `now`: also stop the running one and requeue it."""
        if self.stopping.is_set() or now:
            self.abort.set()
        self.stopping.set()

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT -> stop() (the first: drain, the second: requeue now); main thread only."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop())

    # -------------------------------------------------------------- one job
    def execute(self, job: dict[str, Any]) -> dict[str, Any]:
        """Run a claimed job through the executor until it ends, is cancelled, or the lease is lost."""
        attempt = int(job.get("attempts") or 1)
        self.current = job
        if attempt > 1:
            last, _ = self.store.list_events(None, job["id"], limit=1)
            why = "a failed attempt" if last and (last[0].get("data") or {}).get("requeued") else "a lost worker"
            self.store.add_event(job["id"], f"Resumed after {why} (attempt {attempt})",
                                 data={"attempt": attempt, "worker": self.worker_id})
        log.info("worker %s: job %s, attempt %d", self.worker_id, job["id"], attempt)
        try:
            handle = self.executor.submit(job["id"], str(self.settings_file), self.worker_id, attempt)
        except Exception as e:
            log.exception("submitting %s failed", job["id"])
            return self._crashed(job, f"the {self.executor.name} executor could not start the job: {e}")
        with Heartbeat(self.store, job["id"], self.worker_id, float(self.settings.lease_seconds),
                       float(self.settings.heartbeat_seconds)) as hb:
            how, rc = self._watch(job, handle, hb)
        self.current = None
        return self._settle(job, handle, how, rc)

    def _watch(self, job: dict[str, Any], handle: Any, hb: Heartbeat) -> tuple[str, int | None]:
        """Wait for the run: ("exited", rc), ("cancelled", None), ("lost", None) or ("aborted", None)."""
        from safemix.service.jobrun import TERMINAL

        poll = max(0.05, float(self.settings.poll_seconds))
        while True:
            rc = self.executor.poll(handle)
            if rc is not None:
                return "exited", rc
            row = self.store.get_job(None, job["id"]) or {}
            if row.get("status") in TERMINAL:  # the run wrote the outcome (which ends the lease): let it exit
                return "exited", self._wait_exit(handle, EXIT_WAIT)
            why = ("lost" if hb.lost.is_set() else "aborted" if self.abort.is_set() else
                   "cancelled" if row.get("cancel_requested") else None)
            if why:
                log.info("worker %s: job %s %s; stopping its run %s", self.worker_id, job["id"], why, handle)
                self.executor.cancel(handle)
                return why, None
            time.sleep(poll)

    def _wait_exit(self, handle: Any, timeout: float) -> int | None:
        """The run's exit status once it ends; stopped after `timeout` seconds."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            rc = self.executor.poll(handle)
            if rc is not None:
                return rc
            time.sleep(0.2)
        self.executor.cancel(handle)
        return self.executor.poll(handle)

    def _settle(self, job: dict[str, Any], handle: Any, how: str, rc: int | None) -> dict[str, Any]:
        """Write how the attempt ended when the run did not (cancel, crash, abort)."""
        from safemix.service.jobrun import EXIT_LEASE_LOST, EXIT_OK, TERMINAL

        jid, now = job["id"], int(time.time())
        row = self.store.get_job(None, jid) or job
        if row["status"] in TERMINAL or how == "lost" or rc == EXIT_LEASE_LOST:
            return row  # the run wrote the outcome, or another worker owns the job now
        if how == "cancelled":
            if self.store.finish_job(jid, self.worker_id, status="cancelled", finished_at=now):
                self.store.add_event(jid, "The job was cancelled", data={"run": str(handle)})
        elif how == "aborted":
            if self.store.finish_job(jid, self.worker_id, status="queued"):
                self.store.add_event(jid, "The worker stopped; the job is queued again", level="warn",
                                     data={"worker": self.worker_id, "requeued": True})
        else:
            why = "ended without recording an outcome" if rc == EXIT_OK else f"exited with status {rc}"
            return self._crashed(job, f"the job's run {handle} {why}" + (f" (log: {handle.log})" if handle.log else ""))
        return self.store.get_job(None, jid) or row

    def _crashed(self, job: dict[str, Any], message: str) -> dict[str, Any]:
        """A crashed attempt: queued again, or failed with internal_error after max_attempts (the
        message as tenants see it: no server paths)."""
        from safemix.service.jobrun import scrub, tenant_paths

        jid, attempt = job["id"], int(job.get("attempts") or 1)
        message = scrub(message, tenant_paths(self.settings, job))
        if attempt >= self.max_attempts:
            err = {"code": "internal_error", "message": f"{message}; gave up after {attempt} attempts", "param": None}
            if self.store.finish_job(jid, self.worker_id, status="failed", error=err, finished_at=int(time.time())):
                self.store.add_event(jid, f"The job has failed: {err['message']}", level="error", data={"error": err})
        elif self.store.finish_job(jid, self.worker_id, status="queued"):
            self.store.add_event(jid, f"Attempt {attempt} failed: {message}; the job is queued again", level="warn",
                                 data={"attempt": attempt, "requeued": True})
        return self.store.get_job(None, jid) or job

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.settings_file.unlink()


__all__ = ["EventMirror", "Heartbeat", "Worker", "audit_next_seq", "event_message", "read_metrics", "step_metrics"]
