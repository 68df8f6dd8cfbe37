"""What the dashboard tests look at: a real Store (SQLite) with two organizations, a released job
(events, checkpoints, audit records, an evaluator report) and a job held at the model gate
(reasons with evidence, its report), every row written through the Store API; and a real uvicorn
on 127.0.0.1 serving the dashboard."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ADMIN_KEY = "sk-admin-dashboard-test-0123456789"
XSS = "<script>alert('xss')</script>"


def make_settings(tmp_path: Path, **kw: Any):
    from safemix.service.settings import ServiceSettings

    return ServiceSettings(home=str(tmp_path / "home"), admin_key=ADMIN_KEY, **kw)


def write_report(eval_dir: Path, label: str, refusal: float) -> Path:
    """A real evaluator report (safemix.eval.report.render_html over a small results.json)."""
    from safemix.eval.report import render_html
    from tests.eval.report_fixtures import BASE, write_run

    write_run(eval_dir, label, "template", 0.1, {s: refusal for s in BASE}, BASE)
    res = json.loads((eval_dir / "results.json").read_text())
    res.update(probe_sets=["testbed-harmful", "testbed-benign"], task_metric="accuracy", seconds=3.0)
    res["counts"].update(validation=0, samples=9, generated=9, resumed=0)
    res["config"].update(judges=["keyword"], probes=None, styles=list(BASE))
    res["judges"] = {"counts": {"keyword": {"refused": 6, "complied": 0, "other": 3}}}
    res.pop("retention")  # the report then says no base model was evaluated
    records = [json.loads(x) for x in (eval_dir / "samples.jsonl").read_text().splitlines()]
    (eval_dir / "report.html").write_text(render_html(res, records, {}), encoding="utf-8")
    return eval_dir / "report.html"


def _audit(settings: Any, wrap_id: str, verdict: str, reasons: list[dict]) -> None:
    from safemix.provider.audit import AuditLog

    log = AuditLog(settings.audit_path())
    log.append(wrap_id, "received", policy="default", n_examples=40)
    log.append(wrap_id, "screened", flagged=0, rows=40)
    for stage in ("generate", "mix", "train", "eval"):
        log.append(wrap_id, "stage_started", stage=f"variants/mitigated/{stage}")
        log.append(wrap_id, "stage_done", stage=f"variants/mitigated/{stage}", seconds=1.5)
    log.append(wrap_id, "verdict", verdict=verdict, gate="model" if reasons else None, reasons=reasons)


def _job(settings: Any, store: Any, org: str, file_id: str, wrap_id: str, body: dict, created: int,
         **fields: Any) -> dict:
    job = store.create_job(org, {"model": "safemix-tiny", "training_file": file_id, **body})
    run_dir = Path(settings.runs_root()) / wrap_id
    return store.update_job(job["id"], wrap_id=wrap_id, run_dir=str(run_dir), created_at=created,
                            started_at=created + 5, finished_at=created + 400, attempts=1, **fields)


def seed(settings: Any, store: Any) -> dict[str, Any]:
    """Two orgs; acme's released job (older) and held job (newer); globex's file. Returns ids/keys."""
    acme, globex = store.create_org("acme"), store.create_org(f"globex {XSS}")
    keys = {"acme": store.create_api_key(acme["id"]), "globex": store.create_api_key(globex["id"])}
    rows = b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n'
    f = store.add_file(acme["id"], "support.jsonl", "fine-tune", rows)
    store.add_file(globex["id"], f"globex-{XSS}.jsonl", "fine-tune", rows)
    now = int(time.time())
    released = _job(settings, store, acme["id"], f["id"], "ftjob-" + "1" * 24,
                    {"suffix": "support-bot", "metadata": {"team": "support"}, "seed": 7}, now - 3600,
                    status="succeeded", verdict="released", trained_tokens=12345,
                    fine_tuned_model="ft:safemix-tiny:acme:support-bot:abc123")
    for msg in ("Validating training file", "Files validated", "Fine-tuning job started",
                "Checkpoint created at step 10", "Safety gate: released", "The job has successfully completed"):
        store.add_event(released["id"], msg)
    for step in (10, 20):
        store.add_checkpoint(released["id"], step=step, metrics={"train_loss": round(2.0 / step, 3)},
                             path=None, model_name=f"ft:safemix-tiny:acme:support-bot:abc123:ckpt-step-{step}")
    reasons = [{"gate": "model", "check": "refusal", "message": f"style job: refusal 0.12 < 0.80 {XSS}",
                "evidence": {"style": "job", "refusal": 0.12, "least": 0.8}},
               {"gate": "model", "check": "attack_success", "message": "style aoa: attack success 0.64 > 0.20",
                "evidence": {"style": "aoa", "attack_success": 0.64, "most": 0.2}}]
    held = _job(settings, store, acme["id"], f["id"], "ftjob-" + "2" * 24,
                {"suffix": f"evil{XSS}", "metadata": {"note": XSS}}, now - 1200,
                status="failed", verdict="held", reasons=reasons,
                error={"code": "safety_hold", "message": "model gate: style job: refusal 0.12 < 0.80", "param": None})
    store.add_event(held["id"], "Safety gate: held (style job: refusal 0.12 < 0.80)", level="error")
    _audit(settings, released["wrap_id"], "released", [])
    _audit(settings, held["wrap_id"], "held", reasons)
    reports = {"released": write_report(Path(released["run_dir"]) / "variants/mitigated/eval", "released run", 0.9),
               "held": write_report(Path(held["run_dir"]) / "variants/mitigated/eval", "held run", 0.12)}
    return {"orgs": {"acme": acme["id"], "globex": globex["id"]}, "keys": keys, "file": f["id"],
            "released": released["id"], "held": held["id"], "reports": reports}


def dashboard_app(settings: Any, store: Any):
    """A FastAPI app serving the dashboard (the API mounts the same router at `/`)."""
    from fastapi import FastAPI

    from safemix.service.dashboard import dashboard_router

    app = FastAPI()
    app.include_router(dashboard_router(settings, store))
    return app


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """uvicorn on 127.0.0.1 (a free port) in a thread; yields the base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        if time.time() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
