"""The Ray executor against a real single-node Ray head on 127.0.0.1 (integration tier): a job
submitted with Ray's Job Submission API runs `safemix.service.jobrun` to `succeeded`.

The head is started with `ray start --head` in a temporary folder on free ports, one CPU, and
stopped with `ray stop` after; the test skips (with the reason) when Ray is not installed or
its head does not start."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy")

POLICY = """
name: ray-test
gate: {min_refusal: {job: 0.0, job_aoa: 0.0, chat: 0.0}, max_attack_success: null, max_over_refusal: null,
       max_task_drop: null}
mitigation: {method: none}
run:
  testbed: {name: tiny}
  eval_base: false
  train: {method: full, max_steps: 4, per_device_batch_size: 16, save_steps: 2, max_seq_length: 320,
          show_progress: false}
  eval:
    n_validation: 4
    max_new_tokens: 4
    batch_size: 32
    bootstrap: 10
    styles: [job, job_aoa, chat]
    probes: [{source: builtin, kind: harmful, limit: 3}, {source: builtin, kind: benign, limit: 2}]
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_bin() -> str | None:
    local = Path(sys.executable).with_name("ray")
    return str(local) if local.is_file() else shutil.which("ray")


@pytest.fixture(scope="module")
def ray_head():
    """The dashboard URL of a throwaway Ray head on 127.0.0.1; `ray stop` after."""
    pytest.importorskip("ray.job_submission", reason="ray is not installed (pip install 'safemix[ray]')")
    ray = _ray_bin()
    if ray is None:
        pytest.skip("the `ray` command is not on PATH (pip install 'safemix[ray]')")
    temp = Path(tempfile.mkdtemp(prefix="sm-ray-", dir="/tmp"))  # short: Ray's socket paths have a limit
    port, dash = _free_port(), _free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    cmd = [ray, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--dashboard-host",
           "127.0.0.1", "--dashboard-port", str(dash), "--include-dashboard=true", "--num-cpus", "1",
           "--temp-dir", str(temp), "--disable-usage-stats"]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    except subprocess.TimeoutExpired:
        res = None
    try:
        if res is None or res.returncode != 0:
            pytest.skip("ray start --head failed: " + ("timed out" if res is None else (res.stderr or res.stdout)[-800:]))
        url = f"http://127.0.0.1:{dash}"
        _wait_for_jobs_api(url)
        yield url
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True, timeout=120, env=env)
        shutil.rmtree(temp, ignore_errors=True)


def _wait_for_jobs_api(url: str, timeout: float = 60) -> None:
    from ray.job_submission import JobSubmissionClient

    t0 = time.time()
    while True:
        try:
            JobSubmissionClient(url).list_jobs()
            return
        except Exception as e:  # the dashboard's job server comes up after `ray start` returns
            if time.time() - t0 > timeout:
                pytest.skip(f"the Ray head's job API did not answer at {url}: {e}")
            time.sleep(0.5)


@pytest.mark.integration
def test_ray_executor_runs_a_job_to_succeeded(tmp_path, ray_head):
    from safemix.service.executors import RayExecutor
    from safemix.service.settings import ServiceSettings
    from safemix.service.store import Store
    from safemix.service.worker import Worker
    from safemix.testbed import build

    jobs = Path(build("tiny", progress=False)) / "jobs"
    (tmp_path / "policy.yaml").write_text(POLICY)
    settings = ServiceSettings(home=str(tmp_path / "service"), policy=str(tmp_path / "policy.yaml"),
                               heartbeat_seconds=1.0, poll_seconds=0.5)
    store = Store.from_settings(settings)
    org = store.create_org("ray-org")["id"]
    f = store.add_file(org, "train.jsonl", "fine-tune", (jobs / "topic_benign.jsonl").read_bytes())
    job = store.create_job(org, {"model": "safemix-tiny", "training_file": f["id"], "suffix": "ray"})
    worker = Worker(settings, "ray", "ray-w1", store=store, executor_options={"address": ray_head})
    assert isinstance(worker.executor, RayExecutor)
    t0 = time.time()
    row = worker.run_once()
    took = time.time() - t0
    assert row is not None and row["id"] == job["id"]
    runs = worker.executor.client.list_jobs()
    mine = [j for j in runs if (j.metadata or {}).get("safemix_job") == job["id"]]
    logs = worker.executor.client.get_job_logs(mine[0].submission_id) if mine else ""
    assert row["status"] == "succeeded", (row["error"], logs[-3000:])
    assert row["verdict"] == "released" and row["fine_tuned_model"].startswith("ft:safemix-tiny:ray-org:ray:")
    assert len(mine) == 1 and str(mine[0].status.value if hasattr(mine[0].status, "value") else mine[0].status) \
        == "SUCCEEDED"
    assert mine[0].entrypoint.split()[1:4] == ["-m", "safemix.service.jobrun", job["id"]]
    events, _ = store.list_events(org, job["id"], limit=100)
    msgs = [e["message"] for e in events][::-1]
    assert msgs[-2:] == ["Safety gate: released", "The job has successfully completed"]
    steps, _ = store.list_checkpoints(org, job["id"])
    assert sorted(c["step"] for c in steps) == [2, 4]
    print(f"\nray job: {took:.1f}s")
    worker.close()
    store.close()
