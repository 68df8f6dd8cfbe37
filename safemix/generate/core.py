"""`generate`: safety examples for a job, by method, with validation, fidelity and a manifest."""

from __future__ import annotations

import logging
import random
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from safemix.errors import ConfigError, InputError
from safemix.formats.example import Example
from safemix.formats.io import Job, as_job
from safemix.formats.profile import FormatProfile, infer_profile
from safemix.generate.config import GenerateConfig
from safemix.generate.methods import (
    bea_trigger,
    check_can_host,
    item_rng,
    render_bea,
    render_raw,
    render_template,
)
from safemix.generate.refusal import looks_like_refusal
from safemix.mix.plan import count_for_ratio  # the mixer's exact rule, so the two agree

log = logging.getLogger(__name__)


@dataclass
class GenerationResult:
    examples: list[Example]
    manifest: dict[str, Any] = field(default_factory=dict)


def load_seeds(spec: str, column_map: dict | None = None) -> list:
    if spec == "builtin":
        from safemix.seeds import load_builtin_seeds

        return load_builtin_seeds()
    from safemix.seeds.loaders import load_seed_file

    return load_seed_file(spec, column_map=column_map)


def _split_counts(n: int, contrast_share: float, n_contrast_seeds: int) -> tuple[int, int]:
    n_contrast = int(round(n * contrast_share)) if n_contrast_seeds else 0
    return n - n_contrast, n_contrast


def _cycle(items: list, n: int) -> list[tuple[Any, int]]:
    """n (item, occurrence) pairs, walking `items` in order and wrapping around."""
    return [(items[i % len(items)], i // len(items)) for i in range(n)] if items else []


def generate_with_report(data: Any, cfg: GenerateConfig | None = None, *, profile: FormatProfile | None = None,
                         seeds: list | None = None, backend: Any = None, intent_judge: Any = None,
                         **overrides: Any) -> GenerationResult:
    """Generate safety examples for the job `data` (see GenerateConfig for the knobs).

    Returns the Examples (metadata carries provenance) and a manifest with counts,
    selection coverage, fidelity and drop reasons.
    """
    import dataclasses

    cfg = cfg or GenerateConfig()
    if overrides:
        cfg = dataclasses.replace(cfg, **overrides)
    job = as_job(data)
    if not job.examples:
        raise InputError("the job is empty", path=job.path)
    if cfg.n is None and cfg.ratio is None:
        raise ConfigError("give the number of safety examples (n) or the safety share (ratio)")
    n = cfg.n if cfg.n is not None else count_for_ratio(len(job), cfg.ratio)
    if n < 0:
        raise ConfigError(f"n must be >= 0, got {n}")
    profile = profile or infer_profile(job.examples, job.format)
    if cfg.method in ("template", "paraphrase"):
        check_can_host(profile)
    seeds = seeds if seeds is not None else load_seeds(cfg.seeds, cfg.seed_column_map)
    harmful = [s for s in seeds if s.kind == "harmful"]
    contrast = [s for s in seeds if s.kind == "contrast"]
    if not harmful:
        raise InputError("the seed set has no harmful requests", path=cfg.seeds)
    for s in harmful:
        if not s.refusals:
            raise InputError("harmful seed has no refusal", path=cfg.seeds, field=f"{s.id}.refusals")
    n_harm, n_con = _split_counts(n, cfg.contrast_share, len(contrast))

    user_texts = [ex.user or "" for ex in job.examples]
    selection: dict[str, Any] = {"enabled": cfg.select}
    if cfg.select:
        from safemix.generate.select import select_seeds

        harmful, selection = select_seeds(harmful, user_texts, len(harmful), embedder=cfg.embedder,
                                          lam=cfg.mmr_lambda, min_per_category=cfg.min_per_category,
                                          job_sample=cfg.job_sample, seed=cfg.seed)
        selection["enabled"] = True
        used = harmful[: min(n_harm, len(harmful))]
        selection["category_coverage"] = _coverage(used)
        selection["selected"] = len(used)
    else:
        random.Random(cfg.seed).shuffle(harmful)
        selection["category_coverage"] = _coverage(harmful[: min(n_harm, len(harmful))])
    random.Random(cfg.seed + 1).shuffle(contrast)

    plan = [(s, i, "harmful") for s, i in _cycle(harmful, n_harm)]
    plan += [(s, i, "contrast") for s, i in _cycle(contrast, n_con)]
    drops: dict[str, int] = {}
    trigger = bea_trigger(cfg.seed, cfg.bea_trigger_tokens) if cfg.method == "bea" else None
    para_stats: dict[str, Any] = {}

    if cfg.method == "paraphrase":
        from safemix.generate.paraphrase import paraphrase_items

        examples, para_stats = paraphrase_items(plan, profile, job, cfg, backend=backend, drops=drops,
                                                intent_judge=intent_judge)
    else:
        examples = []
        for seed, i, kind in plan:
            rng = item_rng(cfg.seed, seed.id, i)
            response = seed.response(rng)
            if kind == "harmful" and not looks_like_refusal(response):
                drops["seed_response_not_a_refusal"] = drops.get("seed_response_not_a_refusal", 0) + 1
                continue
            if cfg.method == "template":
                ex = render_template(profile, seed.request, response, rng)
            elif cfg.method == "raw":
                ex = render_raw(seed.request, response)
            else:
                ex = render_bea(seed.request, response, trigger, profile.system_prompt)
            ex.metadata.update(_provenance(seed, kind, cfg, i))
            examples.append(ex)

    for ex in examples:
        if ex.metadata["kind"] == "harmful" and profile.has_compliance_preamble(ex.assistant or ""):
            raise AssertionError("a compliance preamble reached a refusal")  # never: render strips it

    manifest = {
        "method": cfg.method,
        "requested": n,
        "generated": len(examples),
        "harmful": sum(ex.metadata["kind"] == "harmful" for ex in examples),
        "contrast": sum(ex.metadata["kind"] == "contrast" for ex in examples),
        "dropped": drops,
        "unique_seeds": len({ex.metadata["seed_id"] for ex in examples}),
        "selection": selection,
        "job": {"path": job.path, "format": job.format, "examples": len(job)},
        "profile": {"user_template": profile.user_template.pattern, "system_prompt": profile.system_prompt,
                    "answer_type": profile.answer.type, "identity_shift": profile.identity_shift.detected},
        "config": asdict(cfg),
    }
    if trigger is not None:
        manifest["bea_trigger"] = trigger
    if para_stats:
        manifest["paraphrase"] = para_stats
    manifest["fidelity"] = fidelity_report(examples, job, profile, harmful, embedder=cfg.embedder,
                                           seed=cfg.seed, job_sample=cfg.job_sample, with_embeddings=cfg.select)
    return GenerationResult(examples, manifest)


def _coverage(seeds: list) -> dict[str, int]:
    from collections import Counter

    return dict(sorted(Counter(s.category for s in seeds).items()))


def _provenance(seed: Any, kind: str, cfg: GenerateConfig, i: int) -> dict[str, Any]:
    return {"source": "generated", "method": cfg.method, "seed_id": seed.id, "category": seed.category,
            "kind": kind, "seed_source": getattr(seed, "source", None), "occurrence": i,
            "generator_model": (cfg.paraphrase.model if cfg.method == "paraphrase" else None),
            "prompt_version": (cfg.paraphrase.prompt_version if cfg.method == "paraphrase" else None)}


def _w1(a: list[float], b: list[float]) -> float:
    """Wasserstein-1 distance between two 1-D samples (quantile matching on 100 points)."""
    if not a or not b:
        return float("nan")
    a, b = sorted(a), sorted(b)
    qs = [(k + 0.5) / 100 for k in range(100)]
    return statistics.mean(abs(a[min(len(a) - 1, int(q * len(a)))] - b[min(len(b) - 1, int(q * len(b)))])
                           for q in qs)


def fidelity_report(examples: list[Example], job: Job, profile: FormatProfile, seeds: list, *,
                    embedder: str | None = None, seed: int = 0, job_sample: int = 1000,
                    with_embeddings: bool = True) -> dict[str, Any]:
    """How much the generated examples look like the job, compared with the raw seeds."""
    users = [ex.user or "" for ex in examples]
    match = sum(profile.parse_user(u) is not None for u in users)
    sys_match = sum((ex.system == profile.system_prompt) for ex in examples)
    job_users = [ex.user or "" for ex in job.examples]
    rng = random.Random(seed)
    job_s = job_users if len(job_users) <= job_sample else rng.sample(job_users, job_sample)
    raw = [s.request for s in seeds]
    mean_len = statistics.mean(len(u) for u in job_s) or 1.0
    out: dict[str, Any] = {
        "template_match_rate": round(match / len(users), 4) if users else None,
        "system_prompt_match_rate": round(sys_match / len(users), 4) if users else None,
        "length_w1_generated": round(_w1([len(u) for u in users], [len(u) for u in job_s]) / mean_len, 4),
        "length_w1_raw_seeds": round(_w1([len(u) for u in raw], [len(u) for u in job_s]) / mean_len, 4),
    }
    if with_embeddings and users:
        import numpy as np

        from safemix.embed import embed

        jv = embed(job_s, model=embedder)
        c = jv.mean(axis=0)
        c /= np.linalg.norm(c) + 1e-12
        gen_u = users if len(users) <= job_sample else rng.sample(users, job_sample)
        out["centroid_similarity_generated"] = round(float((embed(gen_u, model=embedder) @ c).mean()), 4)
        out["centroid_similarity_raw_seeds"] = round(float((embed(raw, model=embedder) @ c).mean()), 4)
    return out


def generate(data: Any, method: str = "template", n: int | None = None, ratio: float | None = None,
             **kwargs: Any):
    """Safety examples for a job: `safemix.generate(job, method="template", n=200)`.

    `data` is a path, a Job, a list of Examples or records, or a `datasets.Dataset`
    (then a Dataset in the job's format is returned). Deterministic for a given `seed`.
    """
    cfg_kw = {k: v for k, v in kwargs.items() if k in GenerateConfig.__dataclass_fields__
              and not (k == "seeds" and not isinstance(v, str))}  # a list of Seeds is passed through
    rest = {k: v for k, v in kwargs.items() if k not in cfg_kw}
    res = generate_with_report(data, GenerateConfig(method=method, n=n, ratio=ratio, **cfg_kw), **rest)
    if hasattr(data, "column_names") and hasattr(data, "to_list"):
        import datasets

        from safemix.formats.io import record_encoder

        job = as_job(data)
        enc = record_encoder(job.schema)
        return datasets.Dataset.from_list([enc(ex) for ex in res.examples])
    return res.examples


def sidecar_paths(out: str | Path) -> tuple[Path, Path]:
    """`safety.jsonl` -> (`safety.provenance.jsonl`, `safety.manifest.json`)."""
    out = Path(out)
    stem = out.name[: -len(out.suffix)] if out.suffix else out.name
    return out.with_name(stem + ".provenance.jsonl"), out.with_name(stem + ".manifest.json")


def check_generation_outputs(job: Job | str | Path, out: str | Path, container: str | None = None,
                             seeds: Any = None) -> None:
    """Refuse (before any work) an --out that is an input, an input's sidecar, or a file or
    folder safemix did not write; see `safemix.outputs`."""
    from safemix.outputs import OutputGuard, check_out_name

    out = check_out_name(out)
    prov, man = sidecar_paths(out)
    job_path = job.path if isinstance(job, Job) else str(job)
    container = container or (job.container if isinstance(job, Job) else None)
    if container is None and Path(job_path).is_dir():
        container = "hf_disk"
    g = OutputGuard("generate").input(job_path)
    if isinstance(seeds, str | Path) and str(seeds) != "builtin":
        g.input(seeds)
    if container == "hf_disk":
        g.folder(out, replace=True)
    else:
        g.file(out)
    g.file(prov).manifest(man).check()


def write_generation(res: GenerationResult, job: Job, out: str | Path) -> dict[str, Path]:
    """Write the examples in the job's own format, the provenance sidecar and the manifest."""
    from safemix import __version__
    from safemix.formats import write_examples
    from safemix.utils import sha256_file, write_json, write_jsonl

    out = Path(out)
    check_generation_outputs(job, out)
    prov, man = sidecar_paths(out)
    write_examples(res.examples, out, **job.writer_args())
    write_jsonl(prov, [ex.metadata for ex in res.examples])
    manifest = dict(res.manifest)
    manifest["output"] = {"path": str(out), "sha256": sha256_file(out), "rows": len(res.examples)}
    manifest["provenance"] = {"path": str(prov), "sha256": sha256_file(prov)}
    if Path(job.path).exists():
        manifest["job"]["sha256"] = sha256_file(job.path)
    manifest["safemix_version"] = __version__
    write_json(man, manifest)
    return {"examples": out, "provenance": prov, "manifest": man}


__all__ = ["GenerationResult", "count_for_ratio", "generate", "check_generation_outputs", "generate_with_report",
           "write_generation"]
