"""The evaluator: generate, judge, score, compare with the base model, write the report.

    from safemix import evaluate
    res = evaluate("runs/x/model", base_model="HuggingFaceTB/SmolLM2-135M-Instruct",
                   job="train.jsonl", validation="val.jsonl", output_dir="runs/x/eval")
    print(res.summary())

Samples are appended to `samples.jsonl` (and fsynced) after every generation batch, keyed
by a stable id (model role, part, style, probe, and a hash of the exact prompt, model and
generation settings); a rerun skips every id already there, so an interrupted eval resumes
where it stopped. Judgments are cached in the same records per judge configuration.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import logging
import os
import random
import re
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safemix.errors import ConfigError
from safemix.eval.config import EvalConfig, ProbeSetConfig
from safemix.utils import stable_hash

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
SAMPLES = "samples.jsonl"
RESULTS = "results.json"
ROLES = ("model", "base")


@dataclass
class EvalResult:
    """What `evaluate` returns: the results dict (as in results.json) and the output folder."""

    results: dict[str, Any]
    output_dir: Path

    @property
    def paths(self) -> dict[str, Path]:
        d = self.output_dir
        return {"results": d / RESULTS, "samples": d / SAMPLES, "report_md": d / "report.md",
                "report_html": d / "report.html"}

    def summary(self) -> str:
        from safemix.eval.report import summary_text

        return summary_text(self.results)


# ------------------------------------------------------------------------------ inputs
def to_examples(data: Any, what: str, cfg: EvalConfig) -> tuple[list, str]:
    """(Examples, format name) from a path, a list of Examples / records, or a `datasets.Dataset`."""
    from safemix.formats.io import as_job

    job = as_job(data, what, cfg.data_format, cfg.column_map)
    return job.examples, job.format


def stratified_sample(items: list, key, n: int | None, seed: int) -> list:
    """Up to `n` items spread evenly over the groups given by `key`, order kept."""
    if n is None or n >= len(items):
        return list(items)
    groups: dict[Any, list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        groups[key(it)].append(i)
    rng = random.Random(seed)
    for g in groups.values():
        rng.shuffle(g)
    chosen: list[int] = []
    names = sorted(groups, key=str)
    while len(chosen) < n:
        for g in names:
            if groups[g] and len(chosen) < n:
                chosen.append(groups[g].pop())
    return [items[i] for i in sorted(chosen)]


def load_probe_sets(sets: list[ProbeSetConfig], seed: int) -> list[tuple[str, Any]]:
    """(set name, Probe) for every configured probe set, ids unique across sets."""
    from safemix.eval.probes import load_builtin_probes, load_probe_file

    out, seen = [], set()
    for ps in sets:
        if ps.source == "builtin":
            probes = load_builtin_probes(ps.kind)
            name = ps.name or f"builtin-{ps.kind or 'all'}"
        else:
            probes = load_probe_file(ps.source, ps.column_map, ps.kind)
            name = ps.name or Path(ps.source).stem
        probes = stratified_sample(probes, lambda p: (p.kind, p.category or ""), ps.limit, seed)
        for p in probes:
            pid = p.id if p.id not in seen else f"{name}:{p.id}"
            seen.add(pid)
            out.append((name, dataclasses.replace(p, id=pid)))
    return out


# ------------------------------------------------------------------------------ samples
def _short_hash(obj: Any) -> str:
    return stable_hash(obj)[:12]


def build_samples(cfg: EvalConfig, probes: list[tuple[str, Any]], profile: Any, validation: list,
                  roles: list[str], heldout_profile: Any = None) -> list[dict[str, Any]]:
    """Every prompt to answer, for every model role, with its stable id. `heldout_profile`
    (the FormatProfile of eval.heldout_job) renders the `job_heldout` style."""
    from safemix.eval.render import BENIGN_STYLES, ENCODED_STYLES, render_probe, task_prompt

    styles = list(cfg.styles)
    codec = _codec(cfg)
    if profile is None:
        dropped = [s for s in styles if s in ("job", "job_aoa", "job_encoded")]
        if dropped:
            log.warning("no job or validation data: skipping styles %s", dropped)
        styles = [s for s in styles if s not in dropped]
    profiles = {"job": profile, "job_aoa": profile, "job_heldout": heldout_profile, "job_encoded": profile}
    base: list[dict[str, Any]] = []
    for set_name, p in probes:
        for style in (styles if p.kind == "harmful" else [s for s in styles if s in BENIGN_STYLES]):
            rng = random.Random(f"{cfg.seed}:{p.id}:{style}")  # identical prompts for both models
            base.append({"part": p.kind, "style": style, "probe_id": p.id, "probe_set": set_name,
                         "category": p.category or "uncategorised", "request": p.prompt,
                         "messages": render_probe(p.prompt, style, profiles.get(style), rng, codec),
                         **({"encoding": codec.spec} if style in ENCODED_STYLES else {})})
    task_tokens = cfg.task_max_new_tokens or _task_tokens(profile, cfg.max_new_tokens)
    for i, ex in enumerate(validation):
        base.append({"part": "task", "style": "job", "probe_id": f"val-{i}", "probe_set": "validation",
                     "category": None, "request": ex.user or "", "messages": task_prompt(ex),
                     "reference": ex.assistant or "", "max_new_tokens": task_tokens})
    out = []
    for role in roles:
        prefix = cfg.system_prefix if role == "model" else None
        model_ident = {"model": cfg.model if role == "model" else cfg.base_model,
                       "gguf": cfg.gguf_file if role == "model" else cfg.base_gguf_file, "backend": cfg.backend}
        for s in base:
            if prefix:
                s = {**s, "messages": with_system_prefix(s["messages"], prefix)}
            mnt = s.get("max_new_tokens", cfg.max_new_tokens)
            h = _short_hash({"m": s["messages"], "model": model_ident, "max_new_tokens": mnt,
                             "temperature": cfg.temperature, "seed": cfg.seed if cfg.temperature > 0 else None})
            out.append({"id": f"{role}/{s['part']}/{s['style']}/{s['probe_id']}/{h}", "role": role,
                        **s, "max_new_tokens": mnt})
    return out


def with_system_prefix(messages: list[dict[str, str]], prefix: str) -> list[dict[str, str]]:
    """`messages` with `prefix` at the start of the system prompt (BEA's trigger at inference);
    a conversation without one gets `<prefix> <the generator's default system prompt>`, exactly
    as BEA's safety rows were trained (`formats.example.prefixed_system`)."""
    from safemix.formats.example import prefixed_system

    if messages and messages[0]["role"] == "system":
        return [{"role": "system", "content": prefixed_system(prefix, messages[0]["content"])}, *messages[1:]]
    return [{"role": "system", "content": prefixed_system(prefix, None)}, *messages]


def _codec(cfg: EvalConfig) -> Any:
    """The codec of eval.encoding (None when it is not set)."""
    from safemix.codecs import parse_codec

    return parse_codec(cfg.encoding) if cfg.encoding else None


def _answer(sample: dict[str, Any], generation: str) -> dict[str, Any]:
    """The fields a generation adds to its sample: for an encoded probe, the answer decoded
    (`generation`, what the judges read), the raw one (`raw_generation`) and how it was read."""
    if not sample.get("encoding"):
        return {"generation": generation}
    from safemix.codecs import parse_codec
    from safemix.eval.render import decode_answer

    text, how = decode_answer(generation, parse_codec(sample["encoding"]))
    return {"generation": text, "raw_generation": generation, "answer_read": how}


def _task_tokens(profile: Any, default: int) -> int:
    """Generation length for task prompts: by answer type, plus room for a constant answer
    prefix (an AOA pledge before every label is ~25 words)."""
    answer = getattr(profile, "answer", None)
    t = getattr(answer, "type", None)
    base = {"label": 16, "mc_letter": 16, "number": 256, "span": 48}.get(t, default)
    prefix = getattr(answer, "prefix", "") or ""
    return base + len(prefix) // 2  # about 2+ characters per token: generous for BPE vocabularies


def read_samples(path: Path) -> dict[str, dict[str, Any]]:
    """Finished samples by id; a torn last line (a crash mid-write) is ignored."""
    done: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return done
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                log.warning("%s:%d: ignoring a torn record (interrupted write)", path, n)
                continue
            if isinstance(rec, dict) and "id" in rec and "generation" in rec:
                done[rec["id"]] = rec
    return done


def append_samples(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Append records and fsync, so that a crash after this call loses none of them."""
    if path.exists() and path.stat().st_size:
        with open(path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            torn = f.read(1) != b"\n"
        if torn:  # a record cut off mid-write: end its line so the next record stays whole
            with open(path, "a", encoding="utf-8") as f:
                f.write("\n")
    with open(path, "a", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def generate_missing(backend: Any, todo: list[dict[str, Any]], cfg: EvalConfig, path: Path, role: str) -> int:
    """Generate answers for `todo` in batches, appending each finished batch to `path`."""
    from tqdm.auto import tqdm

    # similar lengths together: less padding per batch for local models
    todo = sorted(todo, key=lambda s: (s["max_new_tokens"], sum(len(m["content"]) for m in s["messages"])))
    n = 0
    from safemix.console import progress_enabled

    with tqdm(total=len(todo), desc=f"eval {role}", unit="prompt", disable=not progress_enabled()) as bar:
        for start in range(0, len(todo), cfg.batch_size):
            batch = todo[start:start + cfg.batch_size]
            mnt = {s["max_new_tokens"] for s in batch}
            outs: list[str] = [""] * len(batch)
            for m in mnt:  # one call per generation length (a batch rarely mixes them)
                idx = [i for i, s in enumerate(batch) if s["max_new_tokens"] == m]
                gens = backend.chat([batch[i]["messages"] for i in idx], max_new_tokens=m,
                                    temperature=cfg.temperature, seed=cfg.seed if cfg.temperature > 0 else None)
                for i, g in zip(idx, gens, strict=True):
                    outs[i] = g
            now = time.time()
            append_samples(path, ({**s, **_answer(s, g), "generated_at": round(now, 3)}
                                  for s, g in zip(batch, outs, strict=True)))
            n += len(batch)
            bar.update(len(batch))
    return n


def loglik_predictions(backend: Any, samples: list[dict[str, Any]], profile: Any) -> list[str]:
    """For each task sample, the label with the highest log-likelihood as the answer.

    The label is scored as the job writes it (`profile.render_assistant(label)`, e.g. with an
    "Answer: " prefix) after the chat-templated prompt, by `backends.loglik` (the hf backend;
    any other says it cannot score).
    """
    from safemix.eval.backends import loglik

    labels = list(profile.answer.labels)
    options = [profile.render_assistant(lab) for lab in labels]
    preds = []
    for s in samples:
        scores = loglik(backend, s["messages"], options)
        preds.append(labels[max(range(len(labels)), key=lambda k: scores[k])])
    return preds


# ------------------------------------------------------------------------------ judging
def judge_samples(records: list[dict[str, Any]], cfg: EvalConfig, labels: list[str] | None,
                  judge_objs: dict[str, Any] | None = None) -> None:
    """Add `judgments[name]` to every probe record lacking one from this judge configuration."""
    from safemix.eval.judges import get_judge

    probe_recs = [r for r in records if r["part"] in ("harmful", "benign")]
    for name in cfg.judges:
        key = _short_hash({"judge": name, "args": cfg.judge_args.get(name, {})})
        todo = [r for r in probe_recs if r.get("judgments", {}).get(name, {}).get("key") != key]
        if not todo:
            continue
        args = dict(cfg.judge_args.get(name, {}))
        if name == "llm" and args.get("backend", "openai") == "openai":
            # graded answers are cached, so an interrupted judging pass resumes too
            args.setdefault("cache_dir", str(Path(cfg.output_dir) / "cache" / "llm_judge"))
        judge = (judge_objs or {}).get(name) or get_judge(name, **args)
        items = [{"request": r["request"], "response": r["generation"], "kind": r["part"], "labels": labels,
                  "prompt": "\n".join(m["content"] for m in r["messages"])} for r in todo]
        log.info("judging %d responses with %s", len(items), name)
        for r, j in zip(todo, judge.judge(items), strict=True):
            r.setdefault("judgments", {})[name] = {"outcome": j.outcome, "reason": j.reason, "score": j.score,
                                                   "key": key, **({"detail": j.detail} if j.detail else {})}


# ------------------------------------------------------------------------------ the run
def _task_setup(cfg: EvalConfig, profile: Any) -> tuple[str | None, Any]:
    from safemix.eval.metrics import metric_for_answer_type, scorer

    if profile is None:
        return None, None
    metric = cfg.task_metric if cfg.task_metric != "auto" else metric_for_answer_type(profile.answer.type)
    a = profile.answer
    if metric == "loglik_accuracy":
        if not a.labels:
            raise ConfigError("loglik_accuracy needs a job with a label set (answer type label or mc_letter)")
        return metric, None
    return metric, scorer(metric, labels=a.labels, prefix=a.prefix, suffix=a.suffix, marker=a.marker)


def heldout_job_profile(cfg: EvalConfig) -> Any:
    """The FormatProfile of eval.heldout_job (for the `job_heldout` style), or None when it is
    not set; asking for `job_heldout` without it is an error, before anything is generated."""
    if cfg.heldout_job is None:
        if "job_heldout" in cfg.styles:
            raise ConfigError("eval.styles has job_heldout, which needs eval.heldout_job: a few rows of the same "
                              "task in a held-out paraphrase of the job's format")
        return None
    from safemix.formats.profile import infer_profile

    rows, fmt = to_examples(cfg.heldout_job, "heldout_job", cfg)
    return infer_profile(rows, fmt)


def check_eval_output(cfg: EvalConfig) -> None:
    """output_dir must be a folder (new or safemix's own) and no input may be written over."""
    from safemix.outputs import OutputGuard

    g = OutputGuard("eval")
    for k in ("job", "validation", "heldout_job"):
        v = getattr(cfg, k)
        if isinstance(v, str | os.PathLike):
            g.input(v)
    out = Path(cfg.output_dir)
    g.folder(out).manifest(out / "results.json").file(out / "report.md", out / "report.html").check()


@dataclass
class _Run:
    """An evaluation with its inputs read and checked: what `evaluate_config`'s steps share."""

    cfg: EvalConfig
    out: Path
    validation: list
    profile: Any
    heldout_profile: Any
    metric: str | None
    score_fn: Any
    probes: list[tuple[str, Any]]
    roles: list[str]
    samples: list[dict[str, Any]]
    done: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    resumed: int = 0

    @property
    def path(self) -> Path:
        return self.out / SAMPLES


def evaluate_config(cfg: EvalConfig, model_backend: Any = None, base_backend: Any = None,
                    judge_objs: dict[str, Any] | None = None) -> EvalResult:
    """Run a whole evaluation from an `EvalConfig`; see the module docstring."""
    from safemix.eval.report import compute_results, write_reports

    t0 = time.time()
    run = _prepare(cfg, model_backend, base_backend)
    generated, backends_info, gen_stats = 0, {}, {}
    for role in run.roles:
        info, stats, n = _run_role(run, role, model_backend if role == "model" else base_backend)
        backends_info[role] = info
        if stats is not None:
            gen_stats[role] = stats
        generated += n
    records = _score(run, judge_objs)
    meta = {"config": redact(dataclasses.asdict(cfg)), "profile": _profile_info(run.profile),
            **({"profile_heldout": _profile_info(run.heldout_profile)} if run.heldout_profile is not None else {}),
            "models": backends_info,
            "task_metric": run.metric, "generation": gen_stats,
            "counts": {"probes_harmful": sum(1 for _, p in run.probes if p.kind == "harmful"),
                       "probes_benign": sum(1 for _, p in run.probes if p.kind == "benign"),
                       "validation": len(run.validation), "samples": len(records), "generated": generated,
                       "resumed": run.resumed},
            "probe_sets": sorted({n for n, _ in run.probes}), "seconds": round(time.time() - t0, 2)}
    results = compute_results(records, cfg, meta)
    write_reports(results, records, run.out)
    return EvalResult(results, run.out)


def _prepare(cfg: EvalConfig, model_backend: Any, base_backend: Any) -> _Run:
    """Read and check every input (data, profile, task metric, probes), build the samples, then
    create the output folder and pick up the samples of an earlier run (`resume`)."""
    if cfg.model is None and model_backend is None:
        raise ConfigError("eval.model is not set: the model to evaluate (path, HF id, .gguf, or served name)")
    out = Path(cfg.output_dir)
    check_eval_output(cfg)
    job, fmt = to_examples(cfg.job, "job", cfg) if cfg.job is not None else (None, "openai")
    validation = []
    if cfg.validation is not None:
        validation, vfmt = to_examples(cfg.validation, "validation", cfg)
        fmt = fmt if job else vfmt
        if cfg.n_validation is not None and len(validation) > cfg.n_validation:
            keep = sorted(random.Random(cfg.seed).sample(range(len(validation)), cfg.n_validation))
            validation = [validation[i] for i in keep]
    profile = None
    if job or validation:
        from safemix.formats.profile import infer_profile

        profile = infer_profile(job or validation, fmt)
    heldout_profile = heldout_job_profile(cfg)
    metric, score_fn = _task_setup(cfg, profile) if validation else (None, None)
    probes = load_probe_sets(cfg.probes, cfg.seed)
    roles = ["model"] + (["base"] if (cfg.base_model is not None or base_backend is not None) else [])
    samples = build_samples(cfg, probes, profile, validation, roles, heldout_profile)
    run = _Run(cfg, out, validation, profile, heldout_profile, metric, score_fn, probes, roles, samples)

    out.mkdir(parents=True, exist_ok=True)  # only once every input has been read and checked
    run.done = read_samples(run.path) if cfg.resume else {}
    if not cfg.resume and run.path.exists():
        run.path.unlink()
    wanted = {s["id"] for s in samples}
    run.resumed = sum(1 for i in wanted if i in run.done)
    if run.done and run.resumed < len(run.done):
        log.info("%d samples in %s belong to another configuration; they are dropped",
                 len(run.done) - run.resumed, run.path)
    return run


def _run_role(run: _Run, role: str, injected: Any) -> tuple[dict[str, Any], dict[str, Any] | None, int]:
    """Generate (and, for loglik_accuracy, score) what `role` still lacks: (backend description,
    generation stats or None when nothing ran, samples added). A backend built here is freed after."""
    from safemix.eval.backends import describe_backend

    cfg, done, samples = run.cfg, run.done, run.samples
    todo = [s for s in samples if s["role"] == role and s["id"] not in done]
    task = [s for s in samples if s["role"] == role and s["part"] == "task"] if run.metric == "loglik_accuracy" else []
    need_loglik = any("prediction" not in done.get(s["id"], {}) for s in task)
    if not todo and not need_loglik:
        return (describe_backend(injected) if injected is not None
                else {"backend": cfg.backend, "model": cfg.model if role == "model" else cfg.base_model}), None, 0
    backend = injected if injected is not None else _role_backend(cfg, role)
    info, generated = describe_backend(backend), 0
    if task:
        tids = {s["id"] for s in task}
        todo = [s for s in todo if s["id"] not in tids]
        pending = [s for s in task if s["id"] not in done]
        if pending:
            preds = loglik_predictions(backend, pending, run.profile)
            append_samples(run.path, ({**s, "generation": p, "prediction": p}
                                      for s, p in zip(pending, preds, strict=True)))
            generated += len(pending)
    generated += generate_missing(backend, todo, cfg, run.path, role)
    stats = backend.stats.to_dict()
    if injected is None:
        del backend
        gc.collect()
        _free_accelerator()
    return info, stats, generated


def _role_backend(cfg: EvalConfig, role: str) -> Any:
    """The configured backend for `role` ("model" or "base"), with the base's own arguments."""
    from safemix.eval.backends import make_backend

    args = dict(cfg.backend_args)
    if role == "base":
        args.update(cfg.base_backend_args)
    if cfg.backend == "hf":
        args.setdefault("batch_size", cfg.batch_size)
    return make_backend(cfg.backend, cfg.model if role == "model" else cfg.base_model,
                        cfg.gguf_file if role == "model" else cfg.base_gguf_file, args,
                        what="model" if role == "model" else "base model")


def _score(run: _Run, judge_objs: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Every sample's record, judged and task-scored, rewritten into samples.jsonl."""
    from safemix.utils import write_jsonl

    records_by_id = read_samples(run.path)
    missing = {s["id"] for s in run.samples} - set(records_by_id)
    if missing:
        raise RuntimeError(f"{len(missing)} samples have no generation after the run (e.g. {sorted(missing)[0]})")
    records = [records_by_id[s["id"]] for s in run.samples]
    profile = run.profile
    labels = list(profile.answer.labels) if profile is not None and profile.answer.labels else None
    judge_samples(records, run.cfg, labels, judge_objs)
    for r in records:
        if r["part"] == "task":
            if run.metric == "loglik_accuracy":
                r["task_score"] = float(r["prediction"].strip().lower() == _gold_label(r["reference"], profile).lower())
            else:
                r["task_score"] = run.score_fn(r["generation"], r["reference"])
    write_jsonl(run.path, records)  # atomic rewrite with judgments and scores
    return records


# names like api_key, hf_token, secret, password (not max_new_tokens)
_SECRET = re.compile(r"(?:^|_)(?:api_?key|key|token|secret|password|authorization)$", re.IGNORECASE)


def redact(obj: Any) -> Any:
    """A copy of a config with secret-looking values (api_key, token, ...) replaced.

    >>> redact({"backend_args": {"api_key": "sk-1", "base_url": "http://x"}})
    {'backend_args': {'api_key': '<redacted>', 'base_url': 'http://x'}}
    """
    if isinstance(obj, dict):
        return {k: ("<redacted>" if isinstance(k, str) and _SECRET.search(k) and v else redact(v))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact(v) for v in obj]
    return obj


def _gold_label(reference: str, profile: Any) -> str:
    from safemix.eval.metrics import strip_answer

    return strip_answer(reference, profile.answer.prefix, profile.answer.suffix)


def _profile_info(profile: Any) -> dict[str, Any] | None:
    if profile is None:
        return None
    return {"format": profile.format, "answer_type": profile.answer.type, "labels": profile.answer.labels[:50],
            "system_prompt": profile.system_prompt, "main_slot": profile.main_slot,
            "user_template": profile.user_template.pattern if profile.user_templates else None,
            "identity_shift": profile.identity_shift.detected}


def _free_accelerator() -> None:
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover
        pass


def evaluate(model: Any = None, *, config: EvalConfig | str | os.PathLike | None = None,
             overrides: list[str] | None = None, backend_obj: Any = None, base_backend_obj: Any = None,
             judge_objs: dict[str, Any] | None = None, **fields: Any) -> EvalResult:
    """Evaluate a finetuned model: task performance and safety retention.

    `model` is a path / HF id / .gguf / served name, or an already-built safemix LLM backend.
    `config` is an `EvalConfig` or a recipe path (its `eval:` section); keyword `fields`
    set `EvalConfig` fields directly (`job`, `validation`, `base_model`, `output_dir`, ...).
    `job`, `validation` and `heldout_job` may also be lists of Examples or records, or a
    `datasets.Dataset`.
    """
    from safemix.config import from_dict, load_config
    from safemix.llm.base import LLMBackend

    if isinstance(model, LLMBackend):
        backend_obj, model = model, getattr(model, "model", None)
        if not isinstance(model, str):
            model = "in-memory"
    data = {k: fields.pop(k) for k in ("job", "validation", "heldout_job")
            if k in fields and not isinstance(fields[k], str | os.PathLike | None)}
    if isinstance(config, EvalConfig):
        cfg = dataclasses.replace(config, **fields) if fields else config
    else:
        base = load_config(EvalConfig, config, overrides, section="eval") if config is not None else None
        merged = dataclasses.asdict(base) if base is not None else {}
        merged.update({k: (str(v) if isinstance(v, os.PathLike) else v) for k, v in fields.items()})
        cfg = from_dict(EvalConfig, merged)
    if model is not None:
        cfg = dataclasses.replace(cfg, model=str(model))
    if data:
        return _evaluate_with_data(cfg, data, backend_obj, base_backend_obj, judge_objs)
    return evaluate_config(cfg, backend_obj, base_backend_obj, judge_objs)


def _evaluate_with_data(cfg: EvalConfig, data: dict[str, Any], backend_obj: Any, base_backend_obj: Any,
                        judge_objs: dict[str, Any] | None) -> EvalResult:
    """In-memory job/validation data: written once into the output folder (in OpenAI chat
    JSONL, which keeps every message), then evaluated like files."""
    from safemix.formats import write_examples

    out = Path(cfg.output_dir)
    check_eval_output(cfg)
    converted = {k: to_examples(v, k, cfg)[0] for k, v in data.items()}  # validated before writing
    repl = {}
    for k, exs in converted.items():
        p = out / f"input_{k}.jsonl"
        write_examples(exs, p, schema="openai", container="jsonl")
        repl[k] = str(p)
    files_left = [k for k in ("job", "validation", "heldout_job") if k not in repl and getattr(cfg, k) is not None]
    if files_left and (cfg.data_format or cfg.column_map):
        raise ConfigError("data_format/column_map apply to files: give job and validation both as files "
                          "or both in memory")
    repl.update(data_format=None, column_map=None)  # in-memory inputs are now OpenAI chat JSONL
    cfg = dataclasses.replace(cfg, **repl)
    return evaluate_config(cfg, backend_obj, base_backend_obj, judge_objs)
