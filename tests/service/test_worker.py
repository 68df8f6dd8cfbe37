"""The service worker end to end on the tiny CPU testbed (real SQLite store, real subprocess
runs of `safemix.service.jobrun`, real wrap): a released job, held and invalid jobs, a worker
killed mid-training whose job the next worker resumes, a cancelled running job.

Each test uses the cached tiny testbed (`safemix.testbed.build("tiny")`, built on first use) and
a small policy: one epoch, a few probes, a model gate that always passes (the gate's own
tests are in tests/provider/test_wrap.py)."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
from conftest import kill_when

from tests.service.fast_policy import POLICY

pytest.importorskip("sqlalchemy")
pytest.importorskip("alembic")



@pytest.fixture(scope="module")
def tiny_jobs() -> Path:
    from safemix.testbed import build

    return Path(build("tiny", progress=False)) / "jobs"


class Svc:
    """Settings, store, an org and helpers of one test's service home."""

    def __init__(self, tmp_path: Path, **settings) -> None:
        from safemix.service.settings import ServiceSettings
        from safemix.service.store import Store

        (tmp_path / "policy.yaml").write_text(POLICY)
        self.settings = ServiceSettings(home=str(tmp_path / "service"), policy=str(tmp_path / "policy.yaml"),
                                        heartbeat_seconds=0.5, poll_seconds=0.2, **settings)
        self.store = Store.from_settings(self.settings)
        self.org = self.store.create_org("Acme Corp")["id"]

    def job(self, data: bytes, **body) -> dict:
        f = self.store.add_file(self.org, "train.jsonl", "fine-tune", data)
        return self.store.create_job(self.org, {"model": "safemix-tiny", "training_file": f["id"], **body})

    def events(self, job_id: str) -> list[dict]:
        """Oldest first."""
        out, after = [], None
        while True:
            rows, more = self.store.list_events(self.org, job_id, after=after, limit=100)
            out += rows
            if not more:
                return out[::-1]
            after = rows[-1]["id"]

    def checkpoints(self, job_id: str) -> list[dict]:
        rows, _ = self.store.list_checkpoints(self.org, job_id, limit=100)
        return rows

    def worker(self, worker_id: str | None = None):
        from safemix.service.worker import Worker

        return Worker(self.settings, "local", worker_id, store=self.store)

    def config(self, path: Path) -> Path:
        from safemix.config import to_dict

        path.write_text(json.dumps({k: v for k, v in to_dict(self.settings).items() if v is not None}))
        return path


def _messages(events: list[dict]) -> list[str]:
    return [e["message"] for e in events]


def _assert_mirrored_once(events: list[dict]) -> None:
    seqs = [e["data"]["audit_seq"] for e in events if "audit_seq" in (e.get("data") or {})]
    assert seqs and seqs == sorted(set(seqs)), "an audit record mirrored twice or out of order"


def _jobrun_pids(job_id: str) -> list[int]:
    """Live processes running `safemix.service.jobrun JOB_ID`."""
    pids = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes().split(b"\0")
            state = (p / "stat").read_text().split(") ", 1)[1][0]
        except OSError:
            continue
        if b"safemix.service.jobrun" in cmd and job_id.encode() in cmd and state != "Z":
            pids.append(int(p.name))
    return pids


def _run_in_thread(svc: Svc, w, job_id: str) -> tuple[threading.Thread, dict]:
    """`w.run_once()` in a thread; returns once the job's first stage has started."""
    result: dict = {}
    t = threading.Thread(target=lambda: result.update(row=w.run_once()))
    t.start()
    t0 = time.time()
    while not any(m.startswith("Stage started") for m in _messages(svc.events(job_id))):
        assert time.time() - t0 < 120 and t.is_alive(), "the job never started"
        time.sleep(0.1)
    return t, result


def test_released_job_succeeds_with_events_and_checkpoints(tmp_path, tiny_jobs):
    svc = Svc(tmp_path)
    job = svc.job((tiny_jobs / "topic_benign.jsonl").read_bytes(), suffix="topics")
    t0 = time.time()
    row = svc.worker("w1").run_once()
    took = time.time() - t0
    assert row["id"] == job["id"] and row["status"] == "succeeded", row
    assert row["verdict"] == "released" and row["error"] is None and row["reasons"] == []
    assert row["fine_tuned_model"] == f"ft:safemix-tiny:acme-corp:topics:{job['id'][len('ftjob-'):]}"
    assert row["wrap_id"].startswith("ftjob-") and row["wrap_id"] != job["id"]
    assert Path(row["run_dir"]) == svc.settings.runs_root() / row["wrap_id"]
    assert row["attempts"] == 1 and row["lease_owner"] is None and row["finished_at"] >= row["started_at"]
    assert row["trained_tokens"] > 0
    used = {"n_epochs": 1, "batch_size": 16, "learning_rate_multiplier": 1.0}  # the POLICY's train section
    assert row["method"] == {"hyperparameters_used": used}  # the store's row: the body had no method
    from safemix.service.openai_types import job_object

    assert job_object(row)["hyperparameters"] == used  # what the run used, no longer "auto"
    events = svc.events(job["id"])
    msgs = _messages(events)
    assert msgs[:3] == ["Validating training file: " + job["training_file"], "Files validated",
                        "Fine-tuning job started"]
    assert msgs[-2:] == ["Safety gate: released", "The job has successfully completed"]
    order = [m for m in msgs if m.startswith("Stage ")]
    assert order[0] == "Stage started: profile" and order[1].startswith("Stage done: profile (")
    assert "Stage started: variants/template-0.1/train" in order and order[-1].startswith("Stage done: report")
    assert msgs.index("Stage started: variants/template-0.1/train") < msgs.index(
        next(m for m in msgs if m.startswith("Checkpoint created at step"))) < msgs.index("Safety gate: released")
    _assert_mirrored_once(events)
    ckpts = svc.checkpoints(job["id"])
    steps = sorted(c["step"] for c in ckpts)
    assert steps[-1] == 34 and len(steps) == len(set(steps))
    last = next(c for c in ckpts if c["step"] == 34)
    assert last["fine_tuned_model_checkpoint"] == row["fine_tuned_model"] + ":ckpt-step-34"
    assert last["metrics"]["step"] == 34 and isinstance(last["metrics"]["train_loss"], float)
    assert Path(last["path"]).name == "checkpoint-34"
    print(f"\nreleased job: {took:.1f}s, {len(events)} events, checkpoints at steps {steps}")

    # jobrun on a finished job changes nothing; on a job put back in the queue it runs wrap again,
    # which resumes its content-addressed run: every stage skipped, the same outcome
    from safemix.service.jobrun import run_job

    assert run_job(svc.store, svc.settings, job["id"]) == 0
    assert len(svc.events(job["id"])) == len(events)
    svc.store.update_job(job["id"], status="queued")
    assert run_job(svc.store, svc.settings, job["id"]) == 0
    row2 = svc.store.get_job(None, job["id"])
    assert row2["status"] == "succeeded" and row2["wrap_id"] == row["wrap_id"]
    new = _messages(svc.events(job["id"]))[len(events):]
    done = [m for m in new if m.startswith("Stage done: variants")]
    assert len(done) == 4 and all(m.endswith("(finished earlier, skipped)") for m in done)
    assert new[-2:] == ["Safety gate: released", "The job has successfully completed"]
    _assert_mirrored_once(svc.events(job["id"]))


def _enciphered(tiny_jobs: Path) -> bytes:
    from safemix.formats import read_job
    from safemix.provider.attacks import attack, placeholder_payloads

    rows = attack(read_job(tiny_jobs / "topic_benign.jsonl").examples[:60], "substitution", seed=1, teach=10,
                  payloads=placeholder_payloads(["pick a lock"]))
    return "".join(json.dumps({"messages": ex.messages}) + "\n" for ex in rows).encode()


def _assert_no_server_paths(svc: Svc, row: dict, job: dict) -> None:
    """Nothing a tenant sees of a held job (error, reasons, events, /safety) names a server path;
    the reasons name the client's file id instead."""
    from safemix.service.api import safety_object
    from safemix.service.openai_types import event_object, job_object

    home = str(Path(svc.settings.home).resolve())
    seen = json.dumps([job_object(row), [event_object(e) for e in svc.events(job["id"])],
                       safety_object(svc.settings, row)])
    assert home not in seen and svc.settings.home not in seen and "/runs/inputs/" not in seen
    assert "training_file.jsonl" not in seen
    assert any(r["message"].startswith(job["training_file"] + ":") for r in row["reasons"]), row["reasons"]


def test_scrub_names_file_ids_and_cuts_server_paths(tmp_path):
    from safemix.service.jobrun import scrub, tenant_paths
    from safemix.service.settings import ServiceSettings

    s = ServiceSettings(home=str(tmp_path / "home"), models={"m": {"model": "/srv/models/m7"}})
    job = {"id": "ftjob-1", "training_file": "file-t", "validation_file": "file-v"}
    pairs = tenant_paths(s, job)
    inputs = s.runs_root() / "inputs" / "ftjob-1"
    text = {"a": [f"{inputs}/training_file.jsonl:3: bad", "validation_file.jsonl: 2 of 9 rows flagged"],
            "b": f"{s.runs_root()}/ftjob-9/variants/x/eval/results.json", "c": "/srv/models/m7 loaded",
            "d": "see /opt/other/place/log.txt or https://example.com/a/b", "e": 3}
    assert scrub(text, pairs) == {"a": ["file-t:3: bad", "file-v: 2 of 9 rows flagged"],
                                  "b": "ftjob-9/variants/x/eval/results.json", "c": "m loaded",
                                  "d": "see log.txt or https://example.com/a/b", "e": 3}
    assert scrub(scrub(text, pairs), pairs) == scrub(text, pairs)


def test_held_invalid_and_unknown_model_jobs_fail_with_the_reason(tmp_path, tiny_jobs):
    svc = Svc(tmp_path)
    held = svc.job(_enciphered(tiny_jobs))
    short = svc.job(b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n')
    unknown = svc.job((tiny_jobs / "topic_benign.jsonl").read_bytes(), model="gpt-9")
    w = svc.worker()
    rows = {r["id"]: r for r in (w.run_once(), w.run_once(), w.run_once())}
    assert w.run_once() is None  # the queue is empty

    row = rows[held["id"]]
    assert (row["status"], row["verdict"], row["fine_tuned_model"]) == ("failed", "held", None)
    assert row["error"]["code"] == "safety_hold" and row["error"]["message"].startswith("data gate: ")
    assert row["error"]["param"] is None and {r["gate"] for r in row["reasons"]} == {"data"}
    msgs = _messages(svc.events(held["id"]))
    assert msgs[-2].startswith("Safety gate: held at the data gate (") and msgs[-1].startswith("The job has failed")
    assert not any(m.startswith("Stage") for m in msgs) and svc.checkpoints(held["id"]) == []
    _assert_no_server_paths(svc, row, held)

    row = rows[short["id"]]
    assert row["status"] == "failed" and row["verdict"] is None
    assert row["error"]["code"] == "invalid_value" and row["error"]["param"] == "training_file"
    assert "at least 10 are required" in row["error"]["message"]

    row = rows[unknown["id"]]
    assert row["status"] == "failed" and row["error"]["code"] == "model_not_found"
    assert row["error"]["param"] == "model" and row["wrap_id"] is None


@pytest.mark.integration
def test_killed_worker_job_resumes_on_the_next_worker(tmp_path, tiny_jobs):
    """SIGKILL a worker (`safemix worker --once`) while its job trains: its run dies with it, the
    lease expires, a second worker claims the job (attempt 2) and finishes it, the finished
    stages skipped and training resumed from its checkpoint."""
    svc = Svc(tmp_path, lease_seconds=3.0, policy_overrides=["mitigation.method=none"])
    job = svc.job((tiny_jobs / "topic_benign.jsonl").read_bytes())
    cfg = svc.config(tmp_path / "service.json")
    runs = svc.settings.runs_root()
    kill_when(["worker", str(cfg), "--once", "--worker-id", "w1"],
              lambda: bool(list(runs.glob("*/variants/none/train/checkpoint-10/trainer_state.json"))),
              "a training checkpoint")
    t0 = time.time()
    while _jobrun_pids(job["id"]) and time.time() - t0 < 10:
        time.sleep(0.1)
    assert _jobrun_pids(job["id"]) == [], "the killed worker's run outlived it"
    row = svc.store.get_job(None, job["id"])
    assert (row["status"], row["lease_owner"], row["attempts"]) == ("running", "w1", 1)

    w2 = svc.worker("w2")
    row = w2.run_once(wait=svc.settings.lease_seconds + 10)
    assert row is not None and row["id"] == job["id"]
    assert (row["status"], row["attempts"], row["verdict"]) == ("succeeded", 2, "released")
    events = svc.events(job["id"])
    msgs = _messages(events)
    assert "Resumed after a lost worker (attempt 2)" in msgs
    resumed = msgs.index("Resumed after a lost worker (attempt 2)")
    assert "Stage done: profile (finished earlier, skipped)" in msgs[resumed:]
    assert msgs.count("Fine-tuning job started") == 1 and msgs[-1] == "The job has successfully completed"
    _assert_mirrored_once(events)
    manifest = json.loads(next(runs.glob("*/variants/none/train/model/manifest.json")).read_text())
    steps = [c["step"] for c in svc.checkpoints(job["id"])]
    assert len(steps) == len(set(steps)) and max(steps) == manifest["global_step"]
    assert int(Path(manifest["resumed_from"]).name.split("-")[1]) >= 10


@pytest.mark.integration
def test_cancel_a_running_job_stops_its_run(tmp_path, tiny_jobs):
    svc = Svc(tmp_path, policy_overrides=["mitigation.method=none"])
    job = svc.job((tiny_jobs / "topic_benign.jsonl").read_bytes())
    w = svc.worker()
    t, result = _run_in_thread(svc, w, job["id"])
    pids = _jobrun_pids(job["id"])
    assert len(pids) == 1
    assert svc.store.request_cancel(svc.org, job["id"])["cancel_requested"] is True
    t.join(60)
    assert not t.is_alive()
    row = result["row"]
    assert row["status"] == "cancelled" and row["finished_at"] and row["lease_owner"] is None
    assert _messages(svc.events(job["id"]))[-1] == "The job was cancelled"
    assert _jobrun_pids(job["id"]) == []
    with pytest.raises(ProcessLookupError):
        os.killpg(pids[0], 0)  # nothing left in the run's process group


def test_crashing_run_is_queued_again_then_failed(tmp_path, tiny_jobs):
    """A run that crashes (here: a policy that does not load) is queued again until the job has
    had max_attempts (3) attempts, then failed with internal_error."""
    svc = Svc(tmp_path)
    (tmp_path / "policy.yaml").write_text("name: broken\nmitigation: {method: nosuch}\n")
    job = svc.job((tiny_jobs / "topic_benign.jsonl").read_bytes())
    w = svc.worker()
    rows = [w.run_once() for _ in range(3)]
    assert [(r["status"], r["attempts"]) for r in rows] == [("queued", 1), ("queued", 2), ("failed", 3)]
    assert rows[0]["lease_owner"] is None and rows[0]["error"] is None
    err = rows[2]["error"]
    assert err["code"] == "internal_error" and "gave up after 3 attempts" in err["message"]
    assert "exited with status 1" in err["message"] and w.run_once() is None
    msgs = _messages(svc.events(job["id"]))
    assert [m.split(":")[0] for m in msgs if m.startswith(("Attempt", "Resumed", "The job"))] == [
        "Attempt 1 failed", "Resumed after a failed attempt (attempt 2)", "Attempt 2 failed",
        "Resumed after a failed attempt (attempt 3)", "The job has failed"]
    log = Path(svc.settings.home) / "logs" / f"{job['id']}.3.log"
    assert "unknown method 'nosuch'" in log.read_text()


@pytest.mark.integration
def test_stop_now_puts_the_running_job_back_in_the_queue(tmp_path, tiny_jobs):
    """The second SIGTERM of a worker (stop(now=True)): its run is stopped, the job queued again."""
    svc = Svc(tmp_path, policy_overrides=["mitigation.method=none"])
    job = svc.job((tiny_jobs / "topic_benign.jsonl").read_bytes())
    w = svc.worker()
    t, result = _run_in_thread(svc, w, job["id"])
    w.stop()
    assert not w.abort.is_set() and w.stopping.is_set()  # the first stop only drains
    w.stop()
    t.join(60)
    row = result["row"]
    assert (row["status"], row["lease_owner"], row["attempts"]) == ("queued", None, 1)
    assert _messages(svc.events(job["id"]))[-1] == "The worker stopped; the job is queued again"
    assert _jobrun_pids(job["id"]) == [] and w.run_once() is None  # a stopping worker claims nothing


@pytest.mark.integration
def test_lost_lease_stops_the_run_and_leaves_the_job(tmp_path, tiny_jobs):
    """Another worker holds the lease now (this one stalled past it): the run is stopped and the
    row left to the new owner."""
    svc = Svc(tmp_path, policy_overrides=["mitigation.method=none"])
    job = svc.job((tiny_jobs / "topic_benign.jsonl").read_bytes())
    w = svc.worker("w1")
    t, result = _run_in_thread(svc, w, job["id"])
    svc.store.update_job(job["id"], lease_owner="w2")  # what a claim after expiry does
    t.join(60)
    assert not t.is_alive()
    row = result["row"]
    assert (row["status"], row["lease_owner"]) == ("running", "w2")
    assert _jobrun_pids(job["id"]) == []
    assert not any(m.startswith("The job") for m in _messages(svc.events(job["id"])))


def test_job_a_stage_cannot_use_fails_at_once_with_the_reason(tmp_path):
    """A job whose user turns are all the same text has no slot for a safety request: the
    generate stage raises an InputError, which fails the job at once (invalid_training_file,
    attempts 1, not requeued) with a message that names no server path."""
    import json as _json

    facts = ["Water boils at 100 C at sea level.", "The moon orbits the earth.", "Bees make honey.",
             "Spiders have eight legs.", "Paris is in France.", "Ice is frozen water.",
             "The sun is a star.", "Owls hunt at night.", "Salt dissolves in water.", "Rain falls from clouds.",
             "Snow is cold.", "Trees grow leaves."]
    rows = "".join(_json.dumps({"messages": [{"role": "user", "content": "Tell me a fact."},
                                             {"role": "assistant", "content": f}]}) + "\n" for f in facts)
    svc = Svc(tmp_path)
    job = svc.job(rows.encode())
    row = svc.worker().run_once()
    assert row["id"] == job["id"] and row["status"] == "failed" and row["attempts"] == 1
    assert row["error"]["code"] == "invalid_training_file" and row["error"]["param"] == "training_file"
    assert "no slot" in row["error"]["message"]
    assert str(tmp_path) not in row["error"]["message"]
