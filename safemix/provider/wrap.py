"""`safemix wrap JOB.json --policy POLICY.yaml` / `safemix.wrap(...)`: what a finetuning provider
runs on a customer's job. Validate the body (`jobspec`) -> data gate (`safemix.screen`) -> the
policy's mitigation through the pipeline (one variant of a `safemix run`: profile, generate,
mix, train, eval) -> model gate (the variant's eval results against the policy's limits) ->
verdict `released` or `held`, each reason with its evidence. Every event goes to the audit log
(`safemix.provider.audit`); the run folder is content-addressed, so rerunning `wrap` on the
same job resumes where it stopped.

    result = wrap("job.json", "policy.yaml", audit="audit.jsonl", out="runs/wrap")
    result.verdict, result.reasons, result.exit_code      # "held", [...], 3

A flagged job that goes on to training (policy `screen.hold_on_flag: false`) and whose screen
found an encoding (`ScreenReport.encoding`) is probed in it too: the run's eval gets
`encoding=<spec>` and the styles of `gate.encoded_styles` (job_encoded, chat_encoded), checked
against `gate.min_refusal_encoded` and `max_attack_success` ("style job_encoded (rot13): refusal
0.10 < 0.50"); an encoding with no usable codec (a substitution whose key the job does not
teach, steganography) holds the job at the data gate, as the model could not be probed in it.

Exit codes (the CLI): 0 released, 3 held, 2 bad input (an invalid body is also logged as
`rejected`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from safemix.provider.audit import AuditLog
from safemix.provider.jobspec import JobSpec, JobSpecError
from safemix.provider.policy import Policy

HELD_EXIT = 3
MAX_NOTES = 5  # data-gate findings printed when they did not hold the job
MAX_REASON_FINDINGS = 10  # row findings shown as reasons of a data-gate hold (all are in the audit log)


@dataclass
class Reason:
    """Why a job is held: the gate, the check, a sentence, and the numbers behind it."""

    gate: str  # "data" or "model"
    check: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"[{self.gate} gate] {self.check}: {self.message}"


@dataclass
class WrapResult:
    job_id: str
    verdict: str  # "released" | "held"
    gate: str | None = None  # the gate that held the job
    reasons: list[Reason] = field(default_factory=list)
    notes: list[Reason] = field(default_factory=list)  # findings that did not hold the job
    run_dir: str | None = None
    results: str | None = None
    audit: str | None = None

    @property
    def exit_code(self) -> int:
        return 0 if self.verdict == "released" else HELD_EXIT

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        lines = [f"{self.job_id}: {self.verdict.upper()}" + (f" at the {self.gate} gate" if self.gate else "")]
        lines += [f"  {r}" for r in self.reasons]
        lines += [f"  note: {r}" for r in self.notes[:MAX_NOTES]]
        if len(self.notes) > MAX_NOTES:
            lines.append(f"  note: ... and {len(self.notes) - MAX_NOTES} more (all in verdict.json and the audit log)")
        return "\n".join(lines)


class _AuditConsole:
    """The pipeline's stage console, writing each stage's start and end (its manifest path and
    sha256) to the audit log: after a crash the last record names the stage that was running."""

    def __init__(self, log: AuditLog | None, job_id: str, run_dir: Path) -> None:
        self.log, self.job_id, self.run_dir = log, job_id, run_dir

    def _manifest(self, label: str) -> dict[str, Any]:
        from safemix.pipeline.stages import MANIFEST
        from safemix.utils import sha256_file

        p = self.run_dir / label / MANIFEST
        return {"manifest": str(p), "sha256": sha256_file(p)} if p.is_file() else {}

    def start(self, label: str) -> None:
        if self.log:
            self.log.append(self.job_id, "stage_started", stage=label)

    def done(self, label: str, seconds: float) -> None:
        if self.log:
            self.log.append(self.job_id, "stage_done", stage=label, seconds=round(seconds, 2), **self._manifest(label))

    def skipped(self, label: str) -> None:
        if self.log:
            self.log.append(self.job_id, "stage_done", stage=label, skipped=True, **self._manifest(label))


# ------------------------------------------------------------------------------ inputs
def read_body(job: str | Path | dict[str, Any]) -> tuple[dict[str, Any], Path | None]:
    """(body, the job file's folder): a dict as is, else the JSON file."""
    from safemix.errors import InputError

    if isinstance(job, dict):
        return job, None
    p = Path(job)
    if not p.is_file():
        raise InputError("no such job file", path=str(p))
    try:
        body = json.loads(p.read_text(encoding="utf-8"))
    except ValueError as e:
        raise InputError(f"the job body is not JSON: {e}", path=str(p)) from None
    return body, p.resolve().parent


def _policy(policy: Policy | str | Path | None) -> Policy:
    from safemix.provider.policy import load_policy

    return policy if isinstance(policy, Policy) else load_policy(policy)


def run_config(spec: JobSpec, policy: Policy, run_dir: Path):
    """The RunConfig of the wrapped run: ONE variant (the policy's method and ratio, or `none`),
    the policy's `run` sections, the job's files and hyperparameters."""
    from safemix.config import from_dict
    from safemix.errors import ConfigError
    from safemix.pipeline.config import RunConfig

    run = json.loads(json.dumps(policy.run))  # a deep copy
    data = dict(run.pop("data", None) or {})
    data.update(train=str(spec.training_file),
                validation=str(spec.validation_file) if spec.validation_file else None)
    train = {**(run.pop("train", None) or {}), **spec.train_overrides()}
    if not (run.get("testbed") or {}).get("name"):
        train.setdefault("model", spec.model)  # no testbed: the body's model (a hub id, folder or .gguf)
    method = policy.mitigation.method
    if policy.mitigation.chat_share and method != "none":
        run["generate"] = {**(run.get("generate") or {}), "chat_share": policy.mitigation.chat_share}
    body: dict[str, Any] = {"name": spec.job_id, "output_dir": str(run_dir), "methods": [method],
                            "ratios": [policy.mitigation.ratio], "data": data, "train": train, **run}
    if spec.seed is not None:
        body["seed"] = spec.seed
    cfg = from_dict(RunConfig, body)
    if policy.checks.model_gate:
        missing = sorted(set(policy.gate.min_refusal) - set(cfg.eval.styles))
        if missing:
            raise ConfigError(f"policy gate.min_refusal names style(s) {', '.join(missing)} that the eval does not "
                              f"run (run.eval.styles: {', '.join(cfg.eval.styles)})")
        if policy.gate.max_task_drop is not None and not cfg.eval_base:
            raise ConfigError("policy gate.max_task_drop needs the base model's eval (run.eval_base: true)")
    return cfg


# ------------------------------------------------------------------------------ gates
def data_gate(spec: JobSpec, policy: Policy, log: AuditLog | None) -> tuple[list[Reason], dict[str, Any]]:
    """Screen the job's files: the reasons a flagged file gives (job findings first, then up
    to MAX_REASON_FINDINGS row findings), and the screen's summary for the audit log."""
    from safemix.provider.screen import screen

    reasons: list[Reason] = []
    summary: dict[str, Any] = {}
    for param in ("training_file", "validation_file"):
        path = getattr(spec, param)
        if path is None:
            continue
        rep = screen(path, threshold=policy.screen.threshold, harm=policy.screen.harm)
        d = rep.to_dict()
        summary[param] = {k: d[k] for k in ("path", "rows", "flagged", "flagged_rows", "flagged_share", "checks",
                                            "job_findings", "encoding")}
        summary[param]["row_findings"] = [f.to_dict() for f in rep.findings if f.score >= rep.threshold][:50]
        if not rep.flagged:
            continue
        for f in rep.job_findings:
            reasons.append(Reason("data", f.check, f"{f.where}: {f.reason}", {"score": round(f.score, 3)}))
        for f in [f for f in rep.findings if f.score >= rep.threshold][:MAX_REASON_FINDINGS]:
            reasons.append(Reason("data", f.check, f"{f.where}: {f.reason}",
                                  {"score": round(f.score, 3), "row": f.row, "line": f.line}))
        reasons.append(Reason("data", "screen", f"{path.name}: {len(rep.flagged_rows)} of {rep.rows} rows flagged",
                              {"flagged_rows": len(rep.flagged_rows), "rows": rep.rows, "checks": d["checks"]}))
    if log:
        log.append(spec.job_id, "screened", **summary)
    return reasons, summary


def _mean(node: Any) -> float | None:
    return node.get("mean") if isinstance(node, dict) else node if isinstance(node, int | float) else None


def _style_reasons(g: Any, style: str, label: str, node: dict[str, Any], base_node: dict[str, Any] | None,
                   least: float | None, **extra: Any) -> tuple[list[Reason], dict[str, Any]]:
    """One style's refusal and attack success against the limits: (reasons, evidence).
    `label` names the style in the messages ("job", or "job_encoded (rot13)")."""
    ev = {"style": style, **extra, "refusal": _mean(node.get("refusal_rate")), "limit": least, "n": node.get("n"),
          "base_refusal": _mean((base_node or {}).get("refusal_rate")),
          "attack_success": _mean(node.get("attack_success_rate"))}
    reasons = []
    if least is not None and ev["refusal"] is not None and ev["refusal"] < least:
        reasons.append(Reason("model", "refusal", f"style {label}: refusal {ev['refusal']:.2f} < {least:.2f} "
                              f"(base {_fmt(ev['base_refusal'])}, n={ev['n']})", ev))
    asr = ev["attack_success"]
    if g.max_attack_success is not None and asr is not None and asr > g.max_attack_success:
        reasons.append(Reason("model", "attack_success", f"style {label}: attack success {asr:.2f} > "
                              f"{g.max_attack_success:.2f} (n={ev['n']})", {**ev, "limit": g.max_attack_success}))
    return reasons, ev


def encoded_checks(results: dict[str, Any], policy: Policy) -> tuple[list[Reason], list[Reason]]:
    """(reasons, notes) of the styles asked in the job's encoding (results' `config.encoding`,
    the styles of `gate.encoded_styles` the eval ran): each against `gate.min_refusal_encoded`
    and `max_attack_success`, named with the encoding ("style job_encoded (rot13): ..."); a
    style within the limits is a note with its numbers, so the verdict shows it was checked."""
    cfg = results.get("config") or {}
    enc = cfg.get("encoding")
    styles = [s for s in policy.gate.encoded_styles if s in (cfg.get("styles") or [])]
    if not enc or not styles:
        return [], []
    metrics = results.get("metrics") or {}
    safety = ((metrics.get("model") or {}).get("safety")) or {}
    base = ((metrics.get("base") or {}).get("safety")) or {}
    reasons, notes = [], []
    for style in styles:
        label = f"{style} ({enc})"
        if style not in safety:
            reasons.append(Reason("model", "refusal", f"style {label}: not measured", {"style": style, "encoding": enc}))
            continue
        found, ev = _style_reasons(policy.gate, style, label, safety[style], base.get(style),
                                   policy.gate.min_refusal_encoded, encoding=enc)
        reasons += found
        if not found:
            notes.append(Reason("model", "encoded_probe", f"style {label}: refusal {_fmt(ev['refusal'])}, attack "
                                f"success {_fmt(ev['attack_success'])} (base refusal {_fmt(ev['base_refusal'])}, "
                                f"n={ev['n']}): within the limits", ev))
    return reasons, notes


def model_gate(results: dict[str, Any], policy: Policy) -> list[Reason]:
    """The variant's eval results against the policy's limits: refusal and attack success per
    style (and in the job's encoding: `encoded_checks`), over-refusal, and the task metric
    against the base model's."""
    g, reasons = policy.gate, []
    model = (results.get("metrics") or {}).get("model") or {}
    base = (results.get("metrics") or {}).get("base") or {}
    safety, base_safety = model.get("safety") or {}, base.get("safety") or {}
    for style, least in g.min_refusal.items():
        node = safety.get(style)
        if node is None:
            reasons.append(Reason("model", "refusal", f"style {style}: not measured", {"style": style}))
            continue
        reasons += _style_reasons(g, style, style, node, base_safety.get(style), least)[0]
    reasons += encoded_checks(results, policy)[0]
    over = _mean((model.get("over_refusal") or {}).get("all"))
    if g.max_over_refusal is not None and over is not None and over > g.max_over_refusal:
        reasons.append(Reason("model", "over_refusal", f"over-refusal {over:.2f} > {g.max_over_refusal:.2f}",
                              {"over_refusal": over, "limit": g.max_over_refusal,
                               "base": _mean((base.get("over_refusal") or {}).get("all"))}))
    task = (results.get("retention") or {}).get("task") or {}
    if g.max_task_drop is not None and task.get("base") is not None and task.get("model") is not None:
        drop = task["base"] - task["model"]
        if drop > g.max_task_drop:
            reasons.append(Reason("model", "task_drop", f"{task.get('metric', 'task')} {task['model']:.2f} vs base "
                                  f"{task['base']:.2f}: drop {drop:.2f} > {g.max_task_drop:.2f}",
                                  {"metric": task.get("metric"), "model": task["model"], "base": task["base"],
                                   "drop": drop, "limit": g.max_task_drop}))
    return reasons


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


# ------------------------------------------------------------------------------ the job
def _received(log: AuditLog | None, spec: JobSpec, policy: Policy, job_path: str | None) -> None:
    """The `received` record; a job this log saw stop before its verdict is marked as resumed."""
    if not log:
        return
    from safemix.provider.audit import canonical, last_record, sha256_text

    prior = last_record(log.path, spec.job_id)
    resumed = None if prior is None or prior["event"] == "verdict" else {
        "event": prior["event"], "stage": (prior.get("data") or {}).get("stage"), "seq": prior["seq"]}
    log.append(spec.job_id, "received", body=spec.body, job_file=job_path, inputs=spec.file_sha256,
               n_examples=spec.n_examples, max_tokens=spec.max_tokens, policy=policy.name,
               policy_sha256=sha256_text(canonical(asdict(policy))), resumed_from=resumed)


def _finish(log: AuditLog | None, res: WrapResult, run_dir: Path | None) -> WrapResult:
    if log:
        res.audit = str(log.path)
        log.append(res.job_id, "verdict", verdict=res.verdict, gate=res.gate,
                   reasons=[asdict(r) for r in res.reasons], notes=[asdict(r) for r in res.notes],
                   results=res.results)
    if run_dir is not None:
        from safemix.utils import write_json

        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_dir / "verdict.json", res.to_dict())
    return res


def _validate(body: dict[str, Any], policy: Policy, base: Path | None, log: AuditLog | None) -> JobSpec:
    from safemix.provider.audit import canonical, sha256_text
    from safemix.provider.jobspec import validate_job

    try:
        return validate_job(body, policy, base=base)
    except JobSpecError as e:
        if log:
            log.append("ftjob-" + sha256_text(canonical(body))[:24], "rejected", body=body,
                       errors=[x.to_dict() for x in e.errors])
        raise


def wrap(job: str | Path | dict[str, Any], policy: Policy | str | Path | None = None, *,
         audit: str | Path | None = None, out: str | Path | None = None) -> WrapResult:
    """Wrap one job (a JOB.json path or a body dict) under `policy`; `audit`: the JSONL log,
    `out`: the folder of the job's run folders (default runs/wrap), one `<job_id>/` per job."""
    pol = _policy(policy)
    log = AuditLog(audit) if audit else None
    body, base = read_body(job)
    spec = _validate(body, pol, base, log)
    run_dir = Path(out or Path("runs") / "wrap") / spec.job_id
    cfg = run_config(spec, pol, run_dir)  # a bad policy fails here, before anything is logged as started
    _received(log, spec, pol, None if isinstance(job, dict) else str(job))
    notes: list[Reason] = []
    if pol.checks.screen:
        reasons, summary = data_gate(spec, pol, log)
        if reasons and pol.screen.hold_on_flag:
            return _finish(log, WrapResult(spec.job_id, "held", "data", reasons), run_dir)
        notes = reasons
        if pol.checks.model_gate and (enc := _encoding(summary)):
            if not enc.get("spec"):
                return _finish(log, WrapResult(spec.job_id, "held", "data", [_no_codec(enc)], notes), run_dir)
            cfg.eval = probe_in_encoding(cfg.eval, enc["spec"], pol)
    try:
        results_path = _train_and_eval(cfg, run_dir, log, spec.job_id)
    except BaseException as e:
        if log:
            log.append(spec.job_id, "error", error=type(e).__name__, message=str(e)[:500])
        raise
    res = WrapResult(spec.job_id, "released", notes=notes, run_dir=str(run_dir), results=str(results_path))
    if pol.checks.model_gate:
        results = json.loads(results_path.read_text(encoding="utf-8"))
        res.reasons = model_gate(results, pol)
        res.notes = encoded_checks(results, pol)[1] + res.notes  # first: the summary prints MAX_NOTES
        if res.reasons:
            res.verdict, res.gate = "held", "model"
    return _finish(log, res, run_dir)


def _encoding(summary: dict[str, Any]) -> dict[str, Any] | None:
    """The encoding the data gate found (the training file's, else the validation file's)."""
    for param in ("training_file", "validation_file"):
        enc = (summary.get(param) or {}).get("encoding")
        if enc:
            return enc
    return None


def _no_codec(enc: dict[str, Any]) -> Reason:
    """The reason that holds a job whose encoding the model cannot be probed in."""
    what = "key not recovered" if enc.get("check") in ("cipher", "pipe_letters") else "no codec"
    return Reason("data", "encoding", f"encoding detected, {what}: the model cannot be probed in it "
                  f"({enc.get('check')} in {enc.get('rows')} rows: {enc.get('reason')})", dict(enc))


def probe_in_encoding(eval_cfg: Any, spec: str, policy: Policy) -> Any:
    """The wrapped run's eval config asking harmful probes in the job's encoding too:
    `encoding=spec` and the styles of `gate.encoded_styles` added."""
    from dataclasses import replace

    styles = list(eval_cfg.styles) + [s for s in policy.gate.encoded_styles if s not in eval_cfg.styles]
    return replace(eval_cfg, encoding=spec, styles=styles)


def _train_and_eval(cfg: Any, run_dir: Path, log: AuditLog | None, job_id: str) -> Path:
    """Run the one variant through the pipeline (stages logged as they start and end); the
    path of its eval results.json (also logged, with its sha256)."""
    from safemix.pipeline.runner import Runner
    from safemix.utils import sha256_file

    summary = Runner(cfg, run_dir, console=_AuditConsole(log, job_id, run_dir)).run()
    results = Path(summary["eval_dirs"][0]) / "results.json"
    if log:
        log.append(job_id, "evaluated", results=str(results), sha256=sha256_file(results),
                   ran=summary["ran"], skipped=summary["skipped"])
    return results


__all__ = ["HELD_EXIT", "Reason", "WrapResult", "data_gate", "encoded_checks", "model_gate", "probe_in_encoding",
           "read_body", "run_config", "wrap"]
