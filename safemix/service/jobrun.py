"""`python -m safemix.service.jobrun JOB_ID --settings SETTINGS.json [--worker ID]`: run ONE
fine-tuning job of the store through `safemix.provider.wrap` and record its outcome.

What every executor (local, ray, slurm) runs. It reads the job row and its files from the store,
builds the wrap body (the job's `training_file`/`validation_file` ids -> the store's local paths;
`model` -> `settings.models[model]`: `{"testbed": NAME}` sets the policy's `run.testbed.name`,
`{"model": PATH}` sets `run.train.model`), loads the policy (`settings.policy`, else the example
policy; `files.allowed_roots` = the job's inputs folder `<runs>/inputs/<job id>/`, where the
store's files are hard-linked or copied under their extension) and calls `wrap(body, policy,
audit=settings.audit_path(), out=settings.runs_root())`. While wrap runs, a thread mirrors the
wrap's audit records and the train stage's checkpoints into the job's events and checkpoints
(`safemix.service.worker.EventMirror`; cursor kept in the events, so nothing is mirrored twice
across attempts). The outcome:

- released -> `succeeded`, `fine_tuned_model` = `ft:<base>:<org>:<suffix>:<id>`, verdict released;
- held -> `failed` with `error.code = "safety_hold"` (and verdict held, the reasons);
- a bad body or file (wrap's `JobSpecError`) -> `failed` with wrap's first ApiError;
- data a stage cannot use (an `InputError` raised inside wrap, e.g. a job whose rows have no slot
  for a request) -> `failed` with `invalid_training_file` at once, not retried (it would fail again);
- a model that `settings.models` does not list -> `failed` with `model_not_found`;
- anything else is a crash: exit status 1, the row untouched (the worker requeues or fails it).

With `--worker ID` the outcome is written only while that worker holds the job's lease (exit
status 75 when it does not). The run is resumable: wrap's run folder is content-addressed, so
a second run of the same job skips the stages that finished.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("safemix.service.jobrun")

EXIT_OK = 0
EXIT_CRASH = 1
EXIT_USAGE = 2
EXIT_LEASE_LOST = 75  # EX_TEMPFAIL: another worker holds the job now
TERMINAL = ("succeeded", "failed", "cancelled")
MAX_REASONS_IN_MESSAGE = 3
INPUT_EXTS = (".jsonl", ".json", ".csv", ".tsv", ".parquet")
USED_HYPERPARAMETERS = "hyperparameters_used"  # key of jobs.method: what the run used (not part of the body)


class JobFailure(Exception):
    """The job cannot run as asked (bad model, missing file): it fails with this OpenAI error."""

    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.error = {"code": code, "message": message, "param": param}


# ------------------------------------------------------------------------------ settings
def load_settings(path_or_json: str | Path):
    """ServiceSettings from a JSON file (or JSON text, starting with '{')."""
    from safemix.config import from_dict
    from safemix.service.settings import ServiceSettings

    text = str(path_or_json)
    data = json.loads(text if text.lstrip().startswith("{") else Path(text).read_text(encoding="utf-8"))
    return from_dict(ServiceSettings, data)


def settings_json(settings: Any, *, drop: tuple[str, ...] = ("admin_key",)) -> str:
    """The settings as JSON for a run (the admin key left out: a run never needs it)."""
    from safemix.config import to_dict

    return json.dumps({k: v for k, v in to_dict(settings).items() if k not in drop}, sort_keys=True)


# ------------------------------------------------------------------------------ the body
def org_name(store: Any, org_id: str) -> str:
    """The org's name as it goes into model names (lowercase, [a-z0-9_-]); its id if unknown."""
    name = (store.get_org(org_id) or {}).get("name") or org_id
    return re.sub(r"[^a-z0-9_-]+", "-", str(name).lower()).strip("-") or org_id


def model_name(job: dict[str, Any], org: str) -> str:
    """OpenAI's `ft:<base>:<org>:<suffix>:<id>` (the id without its `ftjob-` prefix)."""
    return f"ft:{job['model']}:{org}:{job.get('suffix') or ''}:{job['id'].removeprefix('ftjob-')}"


def stage_input(store: Any, file_id: str, dest: Path) -> Path:
    """The store's bytes of `file_id` at `dest` (a hard link when it can, else a copy): wrap reads
    files by their extension, and the store keeps bytes under the bare file id."""
    import shutil

    src = store.file_path(file_id)
    if dest.is_file() and dest.stat().st_size == src.stat().st_size:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dest)
    return dest


def job_body(store: Any, settings: Any, job: dict[str, Any]) -> tuple[dict[str, Any], Path]:
    """The wrap body of a stored job and the folder of its input files: the job's fields, its file
    ids replaced by paths under `<runs>/inputs/<job id>/` (one folder per job: a job's wrap run,
    named by the hash of its body and files, is never shared with another job or tenant)."""
    inputs = Path(settings.runs_root()) / "inputs" / job["id"]
    body: dict[str, Any] = {"model": job["model"]}
    for param in ("training_file", "validation_file"):
        fid = job.get(param)
        if not fid:
            continue
        row = store.get_file(job["org_id"], fid)
        if row is None:
            raise JobFailure("file_not_found", f"{param} {fid} does not exist (or was deleted)", param)
        ext = Path(row.get("filename") or "").suffix.lower()
        body[param] = str(stage_input(store, fid, inputs / f"{param}{ext if ext in INPUT_EXTS else '.jsonl'}"))
    for key in ("hyperparameters", "suffix", "seed", "metadata"):
        if job.get(key) not in (None, {}, ""):
            body[key] = job[key]
    method = job.get("method")
    if isinstance(method, dict):  # the body as asked: not the hyperparameters a finished run recorded
        method = {k: v for k, v in method.items() if k != USED_HYPERPARAMETERS}
    if method not in (None, {}, ""):
        body["method"] = method
    return body, inputs


def job_policy(settings: Any, model: str, inputs: Path):
    """The policy of a job: settings.policy (or the example) + overrides, its run pointed at the
    model's testbed or path, its allowed roots = the job's inputs folder."""
    from safemix.provider.policy import EXAMPLE_POLICY, load_policy

    entry = (settings.models or {}).get(model)
    if not isinstance(entry, dict) or not (entry.get("testbed") or entry.get("model")):
        raise JobFailure("model_not_found", f"the model {model!r} does not exist or you do not have access to it",
                         "model")
    pol = load_policy(settings.policy or EXAMPLE_POLICY, list(settings.policy_overrides or []))
    run = json.loads(json.dumps(pol.run))
    if entry.get("testbed"):
        run["testbed"] = {**(run.get("testbed") or {}), "name": str(entry["testbed"])}
    else:
        run.pop("testbed", None)
        run["train"] = {**(run.get("train") or {}), "model": str(entry["model"])}
    pol.run = run
    pol.files.allowed_roots = [str(inputs.resolve())]
    return pol


# ------------------------------------------------------------------------------ tenant view
# the directory part of an absolute path (what is left is its basename); not inside a URL
_ABS_DIRS = re.compile(r"(?<![\w.:/~-])/(?:[^\s/'\"()\[\]{}<>:;,=|]+/)+(?=[^\s/'\"()\[\]{}<>:;,=|])")


def tenant_paths(settings: Any, job: dict[str, Any]) -> list[tuple[str, str]]:
    """(server text, what a tenant sees instead) pairs for `job`, longest first: the job's staged
    input files (`<runs>/inputs/<job>/training_file.jsonl`, or just its basename, as wrap names
    them) -> the client's file id; a local model path of `settings.models` -> its model name;
    the runs folder and the service home -> nothing (paths relative to them)."""
    pairs: list[tuple[str, str]] = []

    def both(path: Path, repl: str, sep: str = "") -> None:
        for p in {str(path.expanduser()), str(path.expanduser().resolve())}:
            pairs.append((p + sep, repl))

    inputs = Path(settings.runs_root()) / "inputs" / job["id"]
    for param in ("training_file", "validation_file"):
        if job.get(param):
            for ext in INPUT_EXTS:
                both(inputs / f"{param}{ext}", job[param])
                pairs.append((f"{param}{ext}", job[param]))
    for name, entry in (settings.models or {}).items():
        if isinstance(entry, dict) and entry.get("model") and str(entry["model"]).startswith(("/", "~")):
            both(Path(str(entry["model"])), name)
    both(Path(settings.runs_root()), "", "/")
    both(Path(settings.home), "", "/")
    return sorted(set(pairs), key=lambda p: -len(p[0]))


def scrub(obj: Any, pairs: list[tuple[str, str]]) -> Any:
    """`obj` (str, or dicts/lists of them) as a tenant may see it: the `pairs` of `tenant_paths`
    replaced, and any other absolute path cut to its basename. Idempotent."""
    if isinstance(obj, str):
        for old, new in pairs:
            if old in obj:
                obj = obj.replace(old, new)
        return _ABS_DIRS.sub("", obj) if "/" in obj else obj
    if isinstance(obj, dict):
        return {k: scrub(v, pairs) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [scrub(v, pairs) for v in obj]
    return obj


# ------------------------------------------------------------------------------ outcome
def outcome(job: dict[str, Any], res: Any, org: str, settings: Any = None) -> tuple[str, dict[str, Any]]:
    """(status, fields) of a WrapResult; with `settings`, the reasons and the error message
    carry no server paths (`scrub`) and the hyperparameters the run used are recorded."""
    from dataclasses import asdict

    pairs = tenant_paths(settings, job) if settings is not None else []
    reasons = scrub([asdict(r) for r in res.reasons], pairs)
    fields: dict[str, Any] = {"verdict": res.verdict, "reasons": reasons, "wrap_id": res.job_id,
                              "finished_at": int(time.time()), "result_files": []}
    if res.run_dir:
        fields["run_dir"] = res.run_dir
        tokens = trained_tokens(Path(res.run_dir))
        if tokens is not None:
            fields["trained_tokens"] = tokens
        used = used_hyperparameters(Path(res.run_dir))
        if used:
            fields["method"] = {**(job.get("method") or {}), USED_HYPERPARAMETERS: used}
    if res.verdict == "released":
        return "succeeded", {**fields, "fine_tuned_model": model_name(job, org), "error": None}
    first = "; ".join(r["message"] for r in reasons[:MAX_REASONS_IN_MESSAGE])
    more = f" (and {len(reasons) - MAX_REASONS_IN_MESSAGE} more)" if len(reasons) > MAX_REASONS_IN_MESSAGE else ""
    error = {"code": "safety_hold", "message": f"{res.gate} gate: {first}{more}", "param": None}
    return "failed", {**fields, "fine_tuned_model": None, "error": error}


def trained_tokens(run_dir: Path) -> int | None:
    """The tokens the train stage saw (its metrics.jsonl's last `num_tokens`)."""
    from safemix.service.worker import read_metrics

    seen = [r["num_tokens"] for p in sorted(run_dir.glob("variants/*/train/metrics.jsonl"))
            for r in read_metrics(p) if isinstance(r.get("num_tokens"), int | float)]
    return int(max(seen)) if seen else None


def used_hyperparameters(run_dir: Path) -> dict[str, Any] | None:
    """OpenAI's hyperparameters as the train stage used them (its model's manifest.json):
    n_epochs, batch_size (global: per device x processes x accumulation) and
    learning_rate_multiplier; None when nothing was trained."""
    for path in sorted(run_dir.glob("variants/*/train/model/manifest.json")):
        try:
            man = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        cfg = man.get("config") or {}
        if not cfg:
            continue
        epochs = float(cfg.get("n_epochs") or 1)
        batch = cfg.get("batch_size")
        if not isinstance(batch, int):
            batch = int(cfg.get("per_device_batch_size") or 1) * int(man.get("world_size") or 1) * int(
                cfg.get("gradient_accumulation_steps") or 1)
        return {"n_epochs": int(epochs) if epochs.is_integer() else epochs, "batch_size": batch,
                "learning_rate_multiplier": float(cfg.get("learning_rate_multiplier") or 1.0)}
    return None


def _finish(store: Any, job: dict[str, Any], worker_id: str | None, status: str, fields: dict[str, Any]) -> bool:
    """Write the outcome (only as the lease owner when `worker_id`) and the final event."""
    fields = {"finished_at": int(time.time()), **fields}
    if worker_id:
        if not store.finish_job(job["id"], worker_id, status=status, **fields):
            return False
    else:
        store.update_job(job["id"], status=status, lease_owner=None, lease_expires=None, **fields)
    if status == "succeeded":
        store.add_event(job["id"], "The job has successfully completed", data={"fine_tuned_model":
                                                                                fields.get("fine_tuned_model")})
    else:
        err = fields.get("error") or {}
        store.add_event(job["id"], f"The job has failed: {err.get('message', status)}", level="error",
                        data={"error": err})
    return True


# ------------------------------------------------------------------------------ the run
def _validated(store: Any, settings: Any, job: dict[str, Any], body: dict[str, Any], policy: Any):
    """The JobSpec (wrap's own validation; a rejection is logged to the audit log), with the
    first attempt's events around it."""
    from safemix.provider.audit import AuditLog
    from safemix.provider.wrap import _validate
    from safemix.service.worker import audit_next_seq

    first = int(job.get("attempts") or 1) <= 1
    if first:
        store.add_event(job["id"], f"Validating training file: {job.get('training_file')}",
                        data={"audit_from": audit_next_seq(settings.audit_path())})
    spec = _validate(body, policy, None, AuditLog(settings.audit_path()))
    if first:
        store.add_event(job["id"], "Files validated", data={"wrap_id": spec.job_id, "n_examples": spec.n_examples})
        store.add_event(job["id"], "Fine-tuning job started", data={"wrap_id": spec.job_id})
    return spec


def run_job(store: Any, settings: Any, job_id: str, worker_id: str | None = None) -> int:
    """Run one job to its outcome; the exit status (EXIT_OK when the outcome is recorded)."""
    from safemix.errors import InputError
    from safemix.provider.jobspec import JobSpecError
    from safemix.provider.wrap import wrap
    from safemix.service.worker import EventMirror

    job = store.get_job(None, job_id)
    if job is None:
        print(f"jobrun: no such job {job_id}", file=sys.stderr)
        return EXIT_USAGE
    if job["status"] in TERMINAL:
        print(f"jobrun: {job_id} is already {job['status']}", file=sys.stderr)
        return EXIT_OK
    try:
        body, inputs = job_body(store, settings, job)
        policy = job_policy(settings, job["model"], inputs)
        spec = _validated(store, settings, job, body, policy)
    except JobFailure as e:
        return _done(store, job, worker_id, "failed", {"error": e.error})
    except JobSpecError as e:
        err = e.errors[0]
        message = scrub(err.message, tenant_paths(settings, job))
        return _done(store, job, worker_id, "failed", {"error": {"code": err.code, "message": message,
                                                                  "param": err.param}})
    run_dir = Path(settings.runs_root()) / spec.job_id
    store.update_job(job_id, wrap_id=spec.job_id, run_dir=str(run_dir))
    mirror = EventMirror(store, job, settings.audit_path(), spec.job_id, run_dir, model_name(job, org_name(
        store, job["org_id"])), scrub_pairs=tenant_paths(settings, job))
    try:
        with mirror.running(interval=max(0.2, float(settings.poll_seconds))):
            res = wrap(body, policy, audit=settings.audit_path(), out=settings.runs_root())
    except InputError as e:  # the customer's data cannot be used (e.g. no slot for a request): it would fail again
        message = scrub(str(e), tenant_paths(settings, job))
        return _done(store, job, worker_id, "failed", {"error": {"code": "invalid_training_file",
                                                                  "message": message, "param": "training_file"}})
    status, fields = outcome(job, res, org_name(store, job["org_id"]), settings)
    return _done(store, job, worker_id, status, fields)


def _done(store: Any, job: dict[str, Any], worker_id: str | None, status: str, fields: dict[str, Any]) -> int:
    if _finish(store, job, worker_id, status, fields):
        return EXIT_OK
    print(f"jobrun: {job['id']}: the lease of worker {worker_id} was lost; outcome not written", file=sys.stderr)
    return EXIT_LEASE_LOST


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m safemix.service.jobrun",
                                description="Run one fine-tuning job of the service's store through wrap.")
    p.add_argument("job_id")
    p.add_argument("--settings", required=True, help="The service settings: a JSON file (or JSON text).")
    p.add_argument("--worker", default=None, help="The worker holding the job's lease (the outcome is written "
                   "only while it does).")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from safemix.service.store import Store

    settings = load_settings(args.settings)
    store = Store.from_settings(settings, create=False)
    try:
        return run_job(store, settings, args.job_id, args.worker)
    except Exception:
        log.exception("job %s crashed", args.job_id)
        return EXIT_CRASH
    finally:
        store.close()


if __name__ == "__main__":
    sys.exit(main())
