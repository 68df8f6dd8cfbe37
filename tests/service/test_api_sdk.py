"""The API through the official `openai` SDK against a real uvicorn server on 127.0.0.1: files,
fine-tuning jobs (create, retrieve, list, cancel, events, checkpoints, safety), tenancy, 50
concurrent creations, and a restart on the same settings. Every field is asserted explicitly
(the SDK does not validate responses)."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
openai = pytest.importorskip("openai")

ID = {"file": re.compile(r"^file-[0-9a-f]{24}$"), "job": re.compile(r"^ftjob-[0-9a-f]{24}$"),
      "event": re.compile(r"^ftevent-[0-9a-f]{24}$"), "ckpt": re.compile(r"^ftckpt-[0-9a-f]{24}$")}


def _upload(client, data: bytes, name: str = "train.jsonl"):
    return client.files.create(file=(name, data, "application/jsonl"), purpose="fine-tune")


def test_files_upload_list_retrieve_content_delete(api_env, live_api, jsonl):
    srv = live_api(api_env.settings, api_env.store)
    c = srv.client(api_env.key)
    datas = [jsonl(12, start=i * 100) for i in range(3)]
    made = [_upload(c, d, f"part{i}.jsonl") for i, d in enumerate(datas)]
    for i, (f, d) in enumerate(zip(made, datas, strict=True)):
        assert ID["file"].match(f.id)
        assert (f.object, f.purpose, f.filename, f.bytes) == ("file", "fine-tune", f"part{i}.jsonl", len(d))
        assert f.status in ("uploaded", "processed") and isinstance(f.created_at, int) and f.created_at > 0
    got = c.files.retrieve(made[1].id)
    assert (got.id, got.filename, got.bytes, got.purpose) == (made[1].id, "part1.jsonl", len(datas[1]), "fine-tune")
    assert c.files.content(made[2].id).read() == datas[2]

    page = c.files.list(limit=2)
    raw = page.model_dump()
    assert raw["object"] == "list" and raw["has_more"] is True and len(page.data) == 2
    assert [f.id for f in page.data] == [made[2].id, made[1].id]  # newest first (order=desc)
    assert (raw["first_id"], raw["last_id"]) == (made[2].id, made[1].id)
    page2 = c.files.list(limit=2, after=page.data[-1].id)
    assert [f.id for f in page2.data] == [made[0].id] and page2.has_more is False
    assert [f.id for f in c.files.list(limit=1)] == [made[2].id, made[1].id, made[0].id]  # auto-pagination
    assert [f.id for f in c.files.list(order="asc").data] == [f.id for f in made]
    assert [f.id for f in c.files.list(purpose="fine-tune").data] == [made[2].id, made[1].id, made[0].id]

    deleted = c.files.delete(made[1].id)
    assert (deleted.id, deleted.object, deleted.deleted) == (made[1].id, "file", True)
    with pytest.raises(openai.NotFoundError) as e:
        c.files.retrieve(made[1].id)
    assert e.value.status_code == 404 and e.value.code == "file_not_found" and e.value.param == "file_id"
    assert [f.id for f in c.files.list().data] == [made[2].id, made[0].id]


def _assert_new_job(job, env, file_id: str, **expect) -> None:
    assert ID["job"].match(job.id)
    assert job.object == "fine_tuning.job" and job.status == "validating_files"
    assert (job.model, job.training_file, job.validation_file) == ("safemix-tiny", file_id, expect.get("validation"))
    assert job.organization_id == env.org
    assert job.fine_tuned_model is None and job.finished_at is None and job.error is None
    assert job.result_files == [] and job.trained_tokens is None and job.integrations == []
    assert isinstance(job.created_at, int) and isinstance(job.seed, int)
    extra = job.model_dump()
    assert extra["user_provided_suffix"] == expect.get("suffix")
    assert extra["safemix"] == {"verdict": None, "reasons": []}


def test_job_create_retrieve_list_cancel_events(api_env, live_api, jsonl):
    srv = live_api(api_env.settings, api_env.store)
    c = srv.client(api_env.key)
    f = _upload(c, jsonl())
    v = _upload(c, jsonl(10, start=50), "val.jsonl")
    job = c.fine_tuning.jobs.create(model="safemix-tiny", training_file=f.id, validation_file=v.id, suffix="acme-v1",
                                    seed=7, metadata={"team": "red", "run": "1"},
                                    hyperparameters={"n_epochs": 2, "learning_rate_multiplier": 0.5})
    _assert_new_job(job, api_env, f.id, validation=v.id, suffix="acme-v1")
    assert job.seed == 7 and job.metadata == {"team": "red", "run": "1"}
    assert job.hyperparameters.model_dump() == {"n_epochs": 2, "batch_size": "auto", "learning_rate_multiplier": 0.5}
    assert job.method.type == "supervised"
    assert job.method.supervised.hyperparameters.n_epochs == 2
    other = c.fine_tuning.jobs.create(model="safemix-tiny", training_file=f.id, metadata={"team": "blue"})
    _assert_new_job(other, api_env, f.id)

    got = c.fine_tuning.jobs.retrieve(job.id)
    assert got.model_dump() == job.model_dump()
    page = c.fine_tuning.jobs.list(limit=1)
    assert [j.id for j in page.data] == [other.id] and page.has_more is True
    assert [j.id for j in c.fine_tuning.jobs.list(limit=1, after=other.id).data] == [job.id]
    assert [j.id for j in c.fine_tuning.jobs.list(limit=1)] == [other.id, job.id]
    assert [j.id for j in c.fine_tuning.jobs.list(metadata={"team": "red"}).data] == [job.id]

    events = c.fine_tuning.jobs.list_events(job.id)
    assert events.has_more is False and len(events.data) == 1
    ev = events.data[0]
    assert ID["event"].match(ev.id) and ev.object == "fine_tuning.job.event"
    assert (ev.message, ev.level, ev.type) == ("Created fine-tuning job", "info", "message")

    cancelled = c.fine_tuning.jobs.cancel(job.id)
    assert cancelled.id == job.id and cancelled.status == "cancelled"
    assert c.fine_tuning.jobs.retrieve(job.id).status == "cancelled"
    msgs = [e.message for e in c.fine_tuning.jobs.list_events(job.id)]
    assert msgs[0] == "Fine-tuning job cancelled" and msgs[-1] == "Created fine-tuning job"
    with pytest.raises(openai.BadRequestError) as e:
        c.fine_tuning.jobs.cancel(job.id)
    assert e.value.code == "job_not_cancellable" and e.value.param == "fine_tuning_job_id"
    api_env.store.update_job(other.id, status="running")  # as a worker's claim leaves it
    stopping = c.fine_tuning.jobs.cancel(other.id)
    assert stopping.status == "running"  # the worker stops it and finishes it as cancelled
    assert api_env.store.get_job(api_env.org, other.id)["cancel_requested"] is True
    assert c.fine_tuning.jobs.list_events(other.id).data[0].message.startswith("Cancellation requested")


def test_checkpoints_and_safety(api_env, live_api, jsonl, tmp_path):
    from safemix.provider.audit import AuditLog

    st, settings = api_env.store, api_env.settings
    srv = live_api(settings, st)
    c = srv.client(api_env.key)
    job = c.fine_tuning.jobs.create(model="safemix-tiny", training_file=_upload(c, jsonl()).id)
    s0 = c.get(f"/fine_tuning/jobs/{job.id}/safety", cast_to=object)
    assert s0 == {"object": "fine_tuning.job.safety", "job_id": job.id, "status": "validating_files", "verdict": None,
                  "gate": None, "reasons": [], "report": None, "audit": []}
    assert c.fine_tuning.jobs.checkpoints.list(job.id).data == []

    for step in (10, 20, 30):
        st.add_checkpoint(job.id, step=step, metrics={"train_loss": 1.0 / step}, path=f"ckpt/checkpoint-{step}",
                          model_name=f"ft:safemix-tiny:acme::{job.id[-8:]}:ckpt-step-{step}")
    page = c.fine_tuning.jobs.checkpoints.list(job.id, limit=2)
    assert page.has_more is True and [p.step_number for p in page.data] == [30, 20]
    ck = page.data[0]
    assert ID["ckpt"].match(ck.id) and ck.object == "fine_tuning.job.checkpoint"
    assert ck.fine_tuning_job_id == job.id and ck.metrics.step == 30 and ck.metrics.train_loss == pytest.approx(1 / 30)
    assert ck.fine_tuned_model_checkpoint == f"ft:safemix-tiny:acme::{job.id[-8:]}:ckpt-step-30"
    raw = page.model_dump()
    assert (raw["first_id"], raw["last_id"]) == (page.data[0].id, page.data[1].id)
    assert [p.step_number for p in c.fine_tuning.jobs.checkpoints.list(job.id, after=ck.id).data] == [20, 10]

    # a held job, as the worker leaves it: its run folder, verdict.json, results, report and audit records
    run_dir = Path(settings.runs_root()) / "ftjob-wrap0001"
    eval_dir = run_dir / "variants" / "template-0.1" / "eval"
    eval_dir.mkdir(parents=True)
    (eval_dir / "results.json").write_text("{}")
    (eval_dir / "report.html").write_text("<html></html>")
    reasons = [{"gate": "model", "check": "refusal", "message": "style job: refusal 0.10 < 0.50", "evidence": {}}]
    (run_dir / "verdict.json").write_text(json.dumps({"verdict": "held", "gate": "model", "reasons": reasons,
                                                      "results": str(eval_dir / "results.json")}))
    log = AuditLog(settings.audit_path())
    log.append("ftjob-wrap0001", "received", body={})
    log.append("ftjob-other", "received", body={})
    log.append("ftjob-wrap0001", "verdict", verdict="held")
    st.update_job(job.id, status="failed", verdict="held", reasons=reasons, wrap_id="ftjob-wrap0001",
                  run_dir=str(run_dir), error={"code": "safety_hold", "message": "model gate: refusal", "param": None})
    s1 = c.get(f"/fine_tuning/jobs/{job.id}/safety", cast_to=object)
    assert (s1["verdict"], s1["gate"], s1["reasons"], s1["status"]) == ("held", "model", reasons, "failed")
    assert s1["report"] == {"results": "ftjob-wrap0001/variants/template-0.1/eval/results.json",
                            "html": "ftjob-wrap0001/variants/template-0.1/eval/report.html"}
    assert [r["event"] for r in s1["audit"]] == ["received", "verdict"]
    assert {r["job"] for r in s1["audit"]} == {"ftjob-wrap0001"}
    held = c.fine_tuning.jobs.retrieve(job.id)
    assert held.status == "failed" and held.fine_tuned_model is None
    assert (held.error.code, held.error.message) == ("safety_hold", "model gate: refusal")
    assert held.model_dump()["safemix"] == {"verdict": "held", "reasons": reasons}


def test_tenancy_another_org_gets_404_for_everything(api_env, live_api, jsonl):
    srv = live_api(api_env.settings, api_env.store)
    a, b = srv.client(api_env.key), srv.client(api_env.key2)
    f = _upload(a, jsonl())
    job = a.fine_tuning.jobs.create(model="safemix-tiny", training_file=f.id)
    calls = [lambda: b.files.retrieve(f.id), lambda: b.files.content(f.id), lambda: b.files.delete(f.id),
             lambda: b.fine_tuning.jobs.retrieve(job.id), lambda: b.fine_tuning.jobs.cancel(job.id),
             lambda: b.fine_tuning.jobs.list_events(job.id), lambda: b.fine_tuning.jobs.checkpoints.list(job.id),
             lambda: b.get(f"/fine_tuning/jobs/{job.id}/safety", cast_to=object)]
    for call in calls:
        with pytest.raises(openai.NotFoundError) as e:
            call()
        assert e.value.status_code == 404 and e.value.code in ("file_not_found", "fine_tuning_job_not_found")
    assert b.files.list().data == [] and b.fine_tuning.jobs.list().data == []
    with pytest.raises(openai.BadRequestError) as e:
        b.fine_tuning.jobs.create(model="safemix-tiny", training_file=f.id)
    assert (e.value.param, e.value.code) == ("training_file", "file_not_found")
    assert b.fine_tuning.jobs.list().data == []
    assert a.files.retrieve(f.id).id == f.id and a.fine_tuning.jobs.retrieve(job.id).status == "validating_files"


def test_fifty_concurrent_job_creations(api_env, live_api, jsonl):
    srv = live_api(api_env.settings, api_env.store)
    c = srv.client(api_env.key)
    f = _upload(c, jsonl())
    ids: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def create(i: int) -> None:
        try:
            job = srv.client(api_env.key).fine_tuning.jobs.create(model="safemix-tiny", training_file=f.id,
                                                                  metadata={"i": str(i)})
            with lock:
                ids.append(job.id)
        except BaseException as e:  # noqa: BLE001 - collected and asserted below
            with lock:
                errors.append(e)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == [] and len(ids) == 50 and len(set(ids)) == 50
    listed = [j.id for j in c.fine_tuning.jobs.list(limit=7)]
    assert sorted(listed) == sorted(ids)
    assert all(len(c.fine_tuning.jobs.list_events(i).data) == 1 for i in ids[:5])


def test_restart_sees_every_job_and_file(api_env, live_api, jsonl):
    srv = live_api(api_env.settings, api_env.store)
    c = srv.client(api_env.key)
    files = [_upload(c, jsonl(12, start=i)) for i in range(2)]
    jobs = [c.fine_tuning.jobs.create(model="safemix-tiny", training_file=f.id, suffix=f"s{i}")
            for i, f in enumerate(files)]
    srv.stop()
    api_env.store.close()
    srv2 = live_api(api_env.settings)  # a new app: create_app opens its own Store on the same settings
    c2 = srv2.client(api_env.key)
    assert [f.id for f in c2.files.list().data] == [f.id for f in reversed(files)]
    assert c2.files.content(files[0].id).read() == jsonl(12, start=0)
    again = [c2.fine_tuning.jobs.retrieve(j.id) for j in jobs]
    assert [j.model_dump() for j in again] == [j.model_dump() for j in jobs]
    assert [j.id for j in c2.fine_tuning.jobs.list().data] == [j.id for j in reversed(jobs)]
    assert c2.fine_tuning.jobs.list_events(jobs[0].id).data[0].message == "Created fine-tuning job"
    srv2.stop()
    srv2.app.state.store.close()


def test_models_list_and_retrieve(api_env, live_api):
    c = live_api(api_env.settings, api_env.store).client(api_env.key)
    models = c.models.list()
    assert [m.id for m in models.data] == ["safemix-tiny"]
    m = c.models.retrieve("safemix-tiny")
    assert (m.id, m.object, m.owned_by) == ("safemix-tiny", "model", "safemix")
    with pytest.raises(openai.NotFoundError) as e:
        c.models.retrieve("gpt-4o")
    assert e.value.code == "model_not_found"


def test_safemix_serve_cli(tmp_path, jsonl):
    """`python -m safemix serve CONFIG.yaml key=value --port N`: the verb serves the settings'
    store (a key made on those settings works; the override reached the settings)."""
    import os
    import socket
    import subprocess
    import sys
    import time

    from safemix.service.api import open_store
    from safemix.service.settings import load_settings

    config = tmp_path / "serve.yaml"
    config.write_text(f"home: {tmp_path / 'svc'}\nmax_file_bytes: 1000\n")
    store = open_store(load_settings(config))
    key = store.create_api_key(store.create_org("acme")["id"])
    store.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "safemix", "serve", str(config), "max_file_bytes=5000",
                             "--port", str(port), "--log-level", "warning"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read().decode()
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "safemix serve did not start"
            time.sleep(0.1)
        c = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0)
        f = _upload(c, jsonl(12))  # ~1.4 KB: over the YAML's 1000, under the override's 5000
        assert 1000 < c.files.retrieve(f.id).bytes == len(jsonl(12)) < 5000
        with pytest.raises(openai.APIStatusError) as e:
            _upload(c, jsonl(60))  # ~7 KB: over the override's 5000
        assert (e.value.status_code, e.value.code) == (413, "file_too_large")
    finally:
        proc.terminate()
        proc.wait(30)


@pytest.mark.integration
def test_postgres_concurrency_tenancy_restart(pg_api_env, live_api, jsonl):
    """The same API on PostgreSQL: 50 concurrent creations, another org's 404s, a restart."""
    from concurrent.futures import ThreadPoolExecutor

    env = pg_api_env
    srv = live_api(env.settings, env.store)
    c, other = srv.client(env.key), srv.client(env.key2)
    f = _upload(c, jsonl())
    with ThreadPoolExecutor(50) as pool:
        jobs = list(pool.map(lambda i: srv.client(env.key).fine_tuning.jobs.create(
            model="safemix-tiny", training_file=f.id, metadata={"i": str(i)}), range(50)))
    ids = [j.id for j in jobs]
    assert len(set(ids)) == 50 and all(j.status == "validating_files" for j in jobs)
    assert sorted(j.id for j in c.fine_tuning.jobs.list(limit=9)) == sorted(ids)
    assert [j.id for j in c.fine_tuning.jobs.list(metadata={"i": "7"}).data] == [ids[7]]
    for call in (lambda: other.files.retrieve(f.id), lambda: other.fine_tuning.jobs.retrieve(ids[0]),
                 lambda: other.fine_tuning.jobs.cancel(ids[0])):
        with pytest.raises(openai.NotFoundError):
            call()
    assert c.fine_tuning.jobs.cancel(ids[0]).status == "cancelled"
    srv.stop()
    srv2 = live_api(env.settings)  # a new app on the same settings: its own Store on the same database
    c2 = srv2.client(env.key)
    assert c2.files.retrieve(f.id).bytes == len(jsonl())
    assert c2.fine_tuning.jobs.retrieve(ids[0]).status == "cancelled"
    assert sorted(j.id for j in c2.fine_tuning.jobs.list(limit=100).data) == sorted(ids)
    srv2.stop()
    srv2.app.state.store.close()
