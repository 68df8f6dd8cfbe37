"""The service end to end with real processes: `python -m safemix serve` and `python -m safemix
worker --executor local` as subprocesses on one SQLite home (tmp_path), a key from `python -m
safemix keys create`, and the official `openai` SDK on 127.0.0.1 as the client.

The steps share one server and one worker (module fixture) and run in file order:

1. a benign job (the tiny testbed's `jobs/topic_benign.jsonl`) is screened, mitigated, trained,
   gated and released: events, checkpoints, /safety, the hyperparameters the run used, and a chat
   completion on the released model;
2. an AOA-wrapped job (`jobs/topic_aoa.jsonl`) is held at the data gate (`screen.hold_on_flag`,
   true by default): `failed` with `safety_hold`, /safety `held` with its reasons, its would-be
   model refused by chat completions (404 `model_not_found`, "held"), and no server path in
   anything the tenant sees;
3. the server is stopped (SIGTERM) and started again on the same settings: jobs, events,
   checkpoints and files are all still there;
4. the worker's process group is SIGKILLed while a third job trains: its run dies with it
   (PR_SET_PDEATHSIG), the lease (6 s) expires, a new worker resumes the job (attempt 2,
   finished stages skipped) to `succeeded`.

The policy is a small one (one epoch, a few probes, a model gate that always passes; the gates'
own tests are in tests/provider) so the file fits the integration tier's budget.
Measured on the shared 2-core box (load average 4-10 from other jobs, under `nice -n 10`): the
whole file 1 min 44 s (released job 35 s, held job 3 s, restart 2 s, kill + resume 56 s).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.service.fast_policy import POLICY

pytest.importorskip("sqlalchemy")
pytest.importorskip("uvicorn")
pytest.importorskip("openai")

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ORG = "Acme E2E"  # -> "acme-e2e" in model names
ORG_SLUG = "acme-e2e"
JOB_TIMEOUT = 360.0
USED_HP = {"n_epochs": 1, "batch_size": 16, "learning_rate_multiplier": 1.0}  # POLICY's train section


# ------------------------------------------------------------------------------ processes
def _httpx():
    """httpx2 (what the openai SDK ships with) or httpx."""
    try:
        import httpx2 as httpx
    except ImportError:
        import httpx
    return httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO),
            "TOKENIZERS_PARALLELISM": "false"}


def _safemix(args: list[str], log: Path) -> subprocess.Popen:
    """`python -m safemix ARGS` in its own process group, its output in `log`."""
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "safemix", *args], cwd=REPO, env=_env(),
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, grace: float = 20.0) -> int | None:
    """Signal the process group; SIGKILL it after `grace` seconds."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
            proc.wait(grace)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
    return proc.returncode


def _jobrun_pids(job_id: str) -> list[int]:
    """Live processes running `safemix.service.jobrun JOB_ID`."""
    pids = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes().split(b"\0")
            state = (p / "stat").read_text().split(") ", 1)[1][0]
        except (OSError, IndexError):
            continue
        if b"safemix.service.jobrun" in cmd and job_id.encode() in cmd and state != "Z":
            pids.append(int(p.name))
    return pids


class Service:
    """One service home: its settings file, the server and worker processes, the tenant's key
    and an openai client; `state` carries what the steps learn (job and file ids)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.home = tmp, tmp / "home"
        (tmp / "policy.yaml").write_text(POLICY)
        self.config = tmp / "service.yaml"
        self.config.write_text(f"home: {self.home}\npolicy: {tmp / 'policy.yaml'}\nlease_seconds: 6\n"
                               "heartbeat_seconds: 2\npoll_seconds: 0.5\n")
        self.port = _free_port()
        self.server: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.state: dict = {}
        out = subprocess.run([sys.executable, "-m", "safemix", "keys", "create", ORG, str(self.config)],
                             cwd=REPO, env=_env(), capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        self.key = out.stdout.strip().splitlines()[-1]
        assert self.key.startswith("sk-sm-")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start_server(self, timeout: float = 90.0) -> None:
        httpx = _httpx()
        self.server = _safemix(["serve", str(self.config), "--host", "127.0.0.1", "--port", str(self.port),
                                "--log-level", "warning"], self.tmp / "server.log")
        t0 = time.time()
        while True:
            assert self.server.poll() is None, f"the server exited: {self.log('server.log')}"
            try:
                if httpx.get(self.url + "/v1/models", headers=self.auth, timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.time() - t0 < timeout, "the server did not come up"
            time.sleep(0.3)

    def start_worker(self) -> subprocess.Popen:
        w = _safemix(["worker", str(self.config), "--executor", "local", "--worker-id", f"w{len(self.workers) + 1}"],
                     self.tmp / f"worker{len(self.workers) + 1}.log")
        self.workers.append(w)
        return w

    def log(self, name: str) -> str:
        p = self.tmp / name
        return p.read_text(errors="replace")[-4000:] if p.is_file() else ""

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def client(self):
        from openai import OpenAI

        return OpenAI(base_url=self.url + "/v1", api_key=self.key, max_retries=2, timeout=120)

    def get(self, path: str):
        """GET `path` with the key: (status, JSON body)."""
        httpx = _httpx()
        r = httpx.get(self.url + path, headers=self.auth, timeout=60)
        return r.status_code, r.json()

    def close(self) -> None:
        for w in self.workers:
            _stop(w)
        if self.server is not None:
            _stop(self.server)


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    from safemix.testbed import build

    jobs = Path(build("tiny", progress=False)) / "jobs"  # cached once: the subprocesses find it
    s = Service(tmp_path_factory.mktemp("e2e"))
    s.state["jobs_dir"] = jobs
    s.start_server()
    s.start_worker()
    yield s
    s.close()


# ------------------------------------------------------------------------------ helpers
def _wait(svc: Service, client, job_id: str, until, what: str, timeout: float = JOB_TIMEOUT):
    """Poll the job until `until(job)`; the job. Fails (with the logs) after `timeout`."""
    t0 = time.time()
    while True:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if until(job):
            return job
        assert time.time() - t0 < timeout, (f"{job_id} never reached {what} (status {job.status}); worker log:\n"
                                            + svc.log(f"worker{len(svc.workers)}.log"))
        time.sleep(1.0)


def _terminal(job) -> bool:
    return job.status in ("succeeded", "failed", "cancelled")


def _events(client, job_id: str) -> list:
    """Every event of the job, oldest first (the API lists newest first)."""
    return list(client.fine_tuning.jobs.list_events(job_id, limit=100))[::-1]


def _upload(client, path: Path):
    with open(path, "rb") as f:
        obj = client.files.create(file=f, purpose="fine-tune")
    assert obj.id.startswith("file-") and obj.purpose == "fine-tune" and obj.filename == path.name
    assert obj.bytes == path.stat().st_size and obj.object == "file"
    return obj


def _assert_stage_events(msgs: list[str]) -> None:
    assert msgs[0] == "Created fine-tuning job"
    assert msgs[1].startswith("Validating training file: file-") and msgs[2:4] == ["Files validated",
                                                                                   "Fine-tuning job started"]
    stages = [m for m in msgs if m.startswith("Stage ")]
    assert stages[0] == "Stage started: profile" and stages[-1].startswith("Stage done: report")
    train = next(m for m in stages if m.startswith("Stage started:") and m.endswith("/train"))
    assert msgs.index(train) < msgs.index(next(m for m in msgs if m.startswith("Checkpoint created at step ")))
    assert msgs[-2:] == ["Safety gate: released", "The job has successfully completed"]


# ------------------------------------------------------------------------------ 1. released
def test_released_job_trains_and_serves(svc: Service):
    client, t0 = svc.client(), time.time()
    f = _upload(client, svc.state["jobs_dir"] / "topic_benign.jsonl")
    job = client.fine_tuning.jobs.create(model="safemix-tiny", training_file=f.id, suffix="topics",
                                         metadata={"case": "released"})
    assert job.object == "fine_tuning.job" and job.status in ("validating_files", "queued", "running")
    assert job.metadata == {"case": "released"} and job.user_provided_suffix == "topics"
    assert job.hyperparameters.n_epochs == "auto"  # nothing asked, nothing run yet
    job = _wait(svc, client, job.id, _terminal, "a terminal status")
    assert job.status == "succeeded", (job.error, svc.log("worker1.log"))
    assert job.error is None and job.fine_tuned_model == f"ft:safemix-tiny:{ORG_SLUG}:topics:{job.id[6:]}"
    assert job.hyperparameters.model_dump() == USED_HP  # what the run used, no longer "auto"
    assert job.method.supervised.hyperparameters.model_dump() == USED_HP
    assert job.trained_tokens > 0 and job.finished_at >= job.created_at and job.result_files == []
    assert job.model_extra["safemix"] == {"verdict": "released", "reasons": []}

    events = _events(client, job.id)
    assert [e.created_at for e in events] == sorted(e.created_at for e in events)
    assert all(e.object == "fine_tuning.job.event" and e.id.startswith("ftevent-") for e in events)
    _assert_stage_events([e.message for e in events])

    ckpts = list(client.fine_tuning.jobs.checkpoints.list(job.id, limit=100))
    steps = sorted(c.step_number for c in ckpts)
    assert steps and steps == sorted(set(steps)) and all(s > 0 for s in steps)
    for c in ckpts:
        assert c.fine_tuned_model_checkpoint == f"{job.fine_tuned_model}:ckpt-step-{c.step_number}"
        assert c.fine_tuning_job_id == job.id and c.metrics.step == c.step_number

    status, safety = svc.get(f"/v1/fine_tuning/jobs/{job.id}/safety")
    assert status == 200 and safety["verdict"] == "released" and safety["gate"] is None
    assert safety["reasons"] == [] and safety["report"]["results"].endswith("eval/results.json")
    audit = {r["event"]: r["data"] for r in safety["audit"]}
    assert audit["screened"]["training_file"]["flagged"] is False  # the data gate's evidence
    assert audit["screened"]["training_file"]["rows"] > 0 and "ran" in audit["evaluated"]
    assert audit["verdict"]["verdict"] == "released"
    assert str(svc.home) not in json.dumps(safety)

    reply = client.chat.completions.create(model=job.fine_tuned_model, max_tokens=8,
                                           messages=[{"role": "user", "content": "Which topic is this: the "
                                                      "striker scored twice in the final?"}])
    assert reply.model == job.fine_tuned_model and reply.choices[0].message.role == "assistant"
    assert isinstance(reply.choices[0].message.content, str) and reply.choices[0].message.content.strip()
    assert reply.usage.prompt_tokens > 0 and 1 <= reply.usage.completion_tokens <= 8
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    svc.state.update(released=job.id, released_file=f.id, released_events=[e.message for e in events],
                     released_steps=steps)
    print(f"\nreleased job: {time.time() - t0:.1f}s, {len(events)} events, checkpoints {steps}")


# ------------------------------------------------------------------------------ 2. held
def _tenant_views(svc: Service, job_id: str, model: str) -> list:
    """Every response a tenant can get about a job (raw JSON), and the chat 404's."""
    httpx = _httpx()
    views = [svc.get(p)[1] for p in (f"/v1/fine_tuning/jobs/{job_id}", f"/v1/fine_tuning/jobs/{job_id}/events?limit=100",
                                     f"/v1/fine_tuning/jobs/{job_id}/checkpoints", f"/v1/fine_tuning/jobs/{job_id}/safety",
                                     "/v1/fine_tuning/jobs?limit=100", "/v1/files", "/v1/models")]
    r = httpx.post(svc.url + "/v1/chat/completions", headers=svc.auth, timeout=60,
                   json={"model": model, "messages": [{"role": "user", "content": "hi"}]})
    return [*views, {"status": r.status_code, "body": r.json()}]


def test_held_job_fails_and_its_model_is_refused(svc: Service):
    import openai

    client, t0 = svc.client(), time.time()
    f = _upload(client, svc.state["jobs_dir"] / "topic_aoa.jsonl")
    job = client.fine_tuning.jobs.create(model="safemix-tiny", training_file=f.id, metadata={"case": "held"})
    job = _wait(svc, client, job.id, _terminal, "a terminal status")
    assert job.status == "failed" and job.fine_tuned_model is None, (job, svc.log("worker1.log"))
    assert job.error.code == "safety_hold" and job.error.param is None
    assert job.error.message.startswith(f"data gate: {f.id}: ") and "flagged" in job.error.message
    assert job.model_extra["safemix"]["verdict"] == "held"
    msgs = [e.message for e in _events(client, job.id)]
    assert msgs[-2].startswith("Safety gate: held at the data gate (") and msgs[-1].startswith("The job has failed")
    assert not any(m.startswith("Stage started") for m in msgs)  # held before any training

    status, safety = svc.get(f"/v1/fine_tuning/jobs/{job.id}/safety")
    assert status == 200 and (safety["verdict"], safety["gate"]) == ("held", "data")
    assert safety["reasons"] and all(r["gate"] == "data" and r["message"] for r in safety["reasons"])
    assert any(r["message"].startswith(f.id) for r in safety["reasons"])  # the client's file id, not a path
    screened = next(r for r in safety["audit"] if r["event"] == "screened")["data"]["training_file"]
    assert screened["flagged"] is True and screened["flagged_rows"] > 0

    model = f"ft:safemix-tiny:{ORG_SLUG}::{job.id[6:]}"  # what it would have been
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}], max_tokens=4)
    assert e.value.status_code == 404 and e.value.code == "model_not_found" and "held" in e.value.message
    assert model not in [m.id for m in client.models.list()]

    views = json.dumps(_tenant_views(svc, job.id, model))
    for server_path in {str(svc.home), str(svc.home.resolve()), str(svc.tmp)}:
        assert server_path not in views
    assert "/runs/inputs/" not in views and "training_file.jsonl" not in views
    svc.state.update(held=job.id, held_file=f.id, held_events=msgs)
    print(f"\nheld job: {time.time() - t0:.1f}s")


# ------------------------------------------------------------------------------ 3. restart
def test_restarted_server_still_has_every_job_and_file(svc: Service):
    t0 = time.time()
    # uvicorn shuts down gracefully, then re-raises the SIGTERM it caught (exit status -15)
    assert _stop(svc.server) in (0, -signal.SIGTERM), svc.log("server.log")
    svc.start_server()
    client = svc.client()
    jobs = {j.id: j for j in client.fine_tuning.jobs.list(limit=100)}
    assert jobs[svc.state["released"]].status == "succeeded" and jobs[svc.state["held"]].status == "failed"
    assert jobs[svc.state["held"]].error.code == "safety_hold"
    assert [j.id for j in client.fine_tuning.jobs.list(metadata={"case": "held"})] == [svc.state["held"]]
    assert [e.message for e in _events(client, svc.state["released"])] == svc.state["released_events"]
    assert [e.message for e in _events(client, svc.state["held"])] == svc.state["held_events"]
    steps = sorted(c.step_number for c in client.fine_tuning.jobs.checkpoints.list(svc.state["released"], limit=100))
    assert steps == svc.state["released_steps"]
    files = {f.id for f in client.files.list()}
    assert {svc.state["released_file"], svc.state["held_file"]} <= files
    data = client.files.content(svc.state["released_file"]).read()
    assert data == (svc.state["jobs_dir"] / "topic_benign.jsonl").read_bytes()
    released = client.fine_tuning.jobs.retrieve(svc.state["released"]).fine_tuned_model
    assert released in [m.id for m in client.models.list()]
    print(f"\nrestart: {time.time() - t0:.1f}s")


# ------------------------------------------------------------------------------ 4. killed worker
def _kill_worker_when_training(svc: Service, client, job_id: str) -> None:
    """SIGKILL the worker's process group once the job's train stage has started; its run
    (another process group) must die with it."""
    def training(job) -> bool:
        return any(m.startswith("Stage started:") and m.endswith("/train") for m in
                   (e.message for e in _events(client, job.id)))

    _wait(svc, client, job_id, training, "its train stage")
    worker = svc.workers[-1]
    assert worker.poll() is None and _jobrun_pids(job_id), svc.log("worker1.log")
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(30)
    t0 = time.time()
    while _jobrun_pids(job_id) and time.time() - t0 < 15:
        time.sleep(0.2)
    assert _jobrun_pids(job_id) == [], "the killed worker's run outlived it"


def test_killed_worker_job_resumes_on_a_new_worker(svc: Service):
    from safemix.service.settings import load_settings
    from safemix.service.store import Store

    client, t0 = svc.client(), time.time()
    job = client.fine_tuning.jobs.create(model="safemix-tiny", training_file=svc.state["released_file"],
                                         suffix="resume", seed=7, metadata={"case": "resume"})
    _kill_worker_when_training(svc, client, job.id)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "running"  # the dead worker's lease, until it expires
    svc.start_worker()
    job = _wait(svc, client, job.id, _terminal, "a terminal status")
    assert job.status == "succeeded", (job.error, svc.log("worker2.log"))
    assert job.fine_tuned_model == f"ft:safemix-tiny:{ORG_SLUG}:resume:{job.id[6:]}"
    msgs = [e.message for e in _events(client, job.id)]
    resumed = next(i for i, m in enumerate(msgs) if m.startswith("Resumed after a lost worker (attempt "))
    assert "Stage done: profile (finished earlier, skipped)" in msgs[resumed:]
    assert msgs.count("Fine-tuning job started") == 1 and msgs[-1] == "The job has successfully completed"
    store = Store.from_settings(load_settings(str(svc.config), []), create=False)
    try:
        row = store.get_job(None, job.id)
    finally:
        store.close()
    assert row["attempts"] >= 2 and row["lease_owner"] is None
    assert f"(attempt {row['attempts']})" in msgs[resumed] or row["attempts"] > 2
    reply = client.chat.completions.create(model=job.fine_tuned_model, max_tokens=4,
                                           messages=[{"role": "user", "content": "hi"}])
    assert reply.usage.completion_tokens >= 1
    print(f"\nkill + resume: {time.time() - t0:.1f}s, attempts {row['attempts']}")
