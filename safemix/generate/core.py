"""`generate`: safety examples for a job, by method, with validation, fidelity and a manifest."""

from __future__ import annotations

import logging
import random
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from safemix.errors import ConfigError, InputError, SafemixError
from safemix.formats.example import Example
from safemix.formats.io import Job, as_job
from safemix.formats.profile import FormatProfile, infer_profile
from safemix.generate.config import GenerateConfig
from safemix.generate.context import GenContext, MethodOutput
from safemix.generate.methods import check_can_host
from safemix.generate.registry import MethodSpec, method_spec
from safemix.generate.screen import SeedScreen, last_user
from safemix.ratios import count_for_ratio  # the mixer's exact rule, so the two agree

log = logging.getLogger(__name__)


@dataclass
class GenerationResult:
    examples: list[Example]
    manifest: dict[str, Any] = field(default_factory=dict)


def load_seeds(spec: str, column_map: dict | None = None, lang: str = "en") -> list:
    """The built-in seeds (in `lang`) or a seed file's."""
    if spec == "builtin":
        from safemix.seeds import load_builtin_seeds

        return load_builtin_seeds(lang=lang)
    from safemix.seeds.loaders import load_seed_file

    return load_seed_file(spec, column_map=column_map)


def _split_counts(n: int, contrast_share: float, n_contrast_seeds: int) -> tuple[int, int]:
    n_contrast = int(round(n * contrast_share)) if n_contrast_seeds else 0
    return n - n_contrast, n_contrast


def generate_with_report(data: Any, cfg: GenerateConfig | None = None, *, profile: FormatProfile | None = None,
                         seeds: list | None = None, backend: Any = None, intent_judge: Any = None,
                         **overrides: Any) -> GenerationResult:
    """Generate safety examples for the job `data` (see GenerateConfig for the knobs).

    Returns the Examples (metadata carries provenance) and a manifest with counts,
    selection coverage, fidelity and drop reasons. The method comes from the registry
    (`safemix.generate.registry`); everything around it (seeds, screening, selection,
    answer prefix, manifest) is the same for every method.
    """
    import dataclasses

    from safemix.generate.language import seeds_for_job

    cfg = cfg or GenerateConfig()
    if overrides:
        cfg = dataclasses.replace(cfg, **overrides)
    spec = method_spec(cfg.method)
    job, n, profile = _job_count_profile(data, cfg, profile, spec)
    seeds, lang_plan = seeds_for_job(profile, cfg.language, seeds, cfg.seeds,
                                     lambda lang: load_seeds(cfg.seeds, cfg.seed_column_map, lang))
    seed_src = cfg.seeds if isinstance(cfg.seeds, str) else "seeds"
    screen = SeedScreen(profile, in_format=spec.in_format, benign_only=spec.benign_only,
                        one_line=job.container == "tsv")
    pools, need = _screened_pools(seeds, n, cfg, spec, screen, seed_src)
    selection = _order_pools(pools, job, profile, cfg)
    ctx = GenContext(job, profile, screen, pools, need, seed_src, method=cfg.method, seed=cfg.seed,
                     language=cfg.language, embedder=cfg.embedder, bea_trigger_tokens=cfg.bea_trigger_tokens,
                     paraphrase=cfg.paraphrase, backend=backend, intent_judge=intent_judge)
    out = spec.run(ctx)
    if len(out.examples) != n:  # a method's walks either fill their counts or raise
        raise SafemixError(f"internal error: generated {len(out.examples)} safety examples, {n} requested")
    prefix_kept = _apply_answer_prefix(out.examples, profile, cfg, spec.in_format)
    as_chat = _apply_chat_share(out.examples, ctx, cfg.chat_share) if spec.in_format else 0
    manifest = _manifest(ctx, cfg, spec, out, selection, lang_plan, prefix_kept)
    if spec.in_format:
        manifest["chat_rows"] = as_chat
    return GenerationResult(out.examples, manifest)


def _job_count_profile(data: Any, cfg: GenerateConfig, profile: FormatProfile | None,
                       spec: MethodSpec) -> tuple[Job, int, FormatProfile]:
    """The job, the number of rows to make, and the job's profile (checked to host a request
    when the method writes in the job's format)."""
    import dataclasses

    job = as_job(data)
    if not job.examples:
        raise InputError("the job is empty", path=job.path)
    if cfg.n is None and cfg.ratio is None:
        raise ConfigError("give the number of safety examples (n) or the safety share (ratio)")
    n = cfg.n if cfg.n is not None else count_for_ratio(len(job), cfg.ratio)
    if n < 0:
        raise ConfigError(f"n must be >= 0, got {n}")
    profile = profile or infer_profile(job.examples, job.format)
    if cfg.shape == "single" and profile.shape.contexts:  # one exchange per row, whatever the job's shape
        profile = dataclasses.replace(profile, shape=dataclasses.replace(profile.shape, contexts=[]))
    if spec.in_format:
        check_can_host(profile)
    return job, n, profile


def _screened_pools(seeds: list, n: int, cfg: GenerateConfig, spec: MethodSpec, screen: SeedScreen,
                    seed_src: str) -> tuple[dict[str, list], dict[str, int]]:
    """The usable seeds of each kind and how many rows of each kind to make."""
    benign_only = spec.benign_only  # the control: contrast rows only, no refusals
    harmful = [] if benign_only else [s for s in seeds if s.kind == "harmful"]
    contrast = [s for s in seeds if s.kind == "contrast"]
    if benign_only and not contrast:
        raise InputError("the seed set has no contrast requests (benign-but-sensitive requests with helpful "
                         f"answers), which method {cfg.method} is made of", path=cfg.seeds)
    if not harmful and not benign_only:
        raise InputError("the seed set has no harmful requests", path=cfg.seeds)
    for s in harmful:
        if not s.refusals:
            raise InputError("harmful seed has no refusal", path=cfg.seeds, field=f"{s.id}.refusals")
    # Unusable seeds (response not a refusal, carries a pledge, breaks the answer format) are
    # screened out before selection, so the selection's next-best seeds take their place.
    harmful = screen.keep(harmful, "harmful")
    contrast = screen.keep(contrast, "contrast")
    if benign_only:
        if n and not contrast:
            raise InputError(screen.exhausted_message("contrast", 0), path=seed_src)
        n_harm, n_con = 0, n
    else:
        if n and not harmful:
            raise InputError(screen.exhausted_message("harmful", 0), path=seed_src)
        n_harm, n_con = _split_counts(n, cfg.contrast_share, len(contrast))
    return {"harmful": harmful, "contrast": contrast}, {"harmful": n_harm, "contrast": n_con}


def _order_pools(pools: dict[str, list], job: Job, profile: FormatProfile, cfg: GenerateConfig) -> dict[str, Any]:
    """Put the pools in the order the methods take seeds: harmful seeds selected for the job's
    domain (MMR) or shuffled, contrast seeds shuffled. Returns the manifest's `selection`."""
    selection: dict[str, Any] = {"enabled": cfg.select}
    if cfg.select and pools["harmful"]:
        from safemix.generate.select import select_seeds

        user_texts = [profile.request_text(ex) or "" for ex in job.examples]
        pools["harmful"], selection = select_seeds(pools["harmful"], user_texts, len(pools["harmful"]),
                                                   embedder=cfg.embedder, lam=cfg.mmr_lambda,
                                                   min_per_category=cfg.min_per_category,
                                                   job_sample=cfg.job_sample, seed=cfg.seed)
        selection["enabled"] = True
    else:
        random.Random(cfg.seed).shuffle(pools["harmful"])
    random.Random(cfg.seed + 1).shuffle(pools["contrast"])
    return selection


def _manifest(ctx: GenContext, cfg: GenerateConfig, spec: MethodSpec, out: MethodOutput,
              selection: dict[str, Any], lang_plan: Any, prefix_kept: int) -> dict[str, Any]:
    """The generation manifest: counts, drops, seeds, selection, job, profile, config, language,
    the method's own entries, and the fidelity report."""
    examples, job, profile, harmful = out.examples, ctx.job, ctx.profile, ctx.pools["harmful"]
    used = list({id(s): s for s in harmful if s.id in {ex.metadata["seed_id"] for ex in examples
                                                     if ex.metadata["kind"] == "harmful"}}.values())
    selection["category_coverage"] = _coverage(used)
    if cfg.select:
        selection["selected"] = len(used)
    manifest = {
        "method": cfg.method,
        "requested": sum(ctx.need.values()),
        "generated": len(examples),
        "harmful": sum(ex.metadata["kind"] == "harmful" for ex in examples),
        "contrast": sum(ex.metadata["kind"] == "contrast" for ex in examples),
        "dropped": ctx.screen.item_drops,  # reason -> count, shown by the CLI
        "seeds": ctx.screen.report(),
        "unique_seeds": len({ex.metadata["seed_id"] for ex in examples}),
        "selection": selection,
        "job": {"path": job.path, "format": job.format, "examples": len(job)},
        "profile": {"user_template": profile.user_template.pattern, "system_prompt": profile.system_prompt,
                    "answer_type": profile.answer.type, "identity_shift": profile.identity_shift.detected,
                    **_shape_summary(profile, cfg.shape)},
        "config": asdict(cfg),
        "language": lang_plan.report(profile.languages),
    }
    if spec.control:
        manifest["control"] = spec.control
        if spec.no_system_note and profile.system_prompt is None:
            manifest["control"] += f"; {spec.no_system_note}"
    if spec.in_format:
        manifest["answer_prefix"] = _answer_prefix_report(profile, cfg, prefix_kept)
    manifest.update(out.manifest)
    in_format_rows = [ex for ex in examples if ex.metadata.get("rendered") != "chat"]  # generate.chat_share
    manifest["fidelity"] = fidelity_report(in_format_rows, job, profile, harmful or ctx.pools["contrast"],
                                           embedder=cfg.embedder, seed=cfg.seed, job_sample=cfg.job_sample,
                                           with_embeddings=cfg.select)
    return manifest


def _answer_prefix_report(profile: FormatProfile, cfg: GenerateConfig, prefix_kept: int) -> dict[str, Any]:
    """The manifest's `answer_prefix`: the job's constant answer prefix, kept or dropped, and why."""
    shape = profile.safety_answer_shape()
    report = {
        "kept": shape["prefix"], "dropped": shape["dropped_prefix"],
        "note": (("the job's constant answer prefix is not a neutral answer marker: safety examples "
                  "leave it out (it may be a compliance pledge)") if cfg.answer_prefix == "drop" else
                 (f"answer_prefix={cfg.answer_prefix}: {prefix_kept} rows open with the job's own prefix "
                  "and then refuse (recovery examples)")) if shape["dropped_prefix"] else None}
    if cfg.answer_prefix != "drop":
        report.update(mode=cfg.answer_prefix, rows_with_job_prefix=prefix_kept)
    return report


def _shape_summary(profile: FormatProfile, mode: str = "match") -> dict[str, Any]:
    """The manifest's record of where the request went: main slot, conversation shape (and
    `generate.shape`: match or single), JSON refusal shape."""
    sh = profile.shape
    out: dict[str, Any] = {"main_slot": profile.main_slot,
                           "conversation": {"mode": mode, "turn_counts": sh.turn_counts,
                                            "request_turn": sh.request_turn,
                                            "weights": sh.weights, "contexts": len(sh.contexts),
                                            "continues_share": sh.continues_share}}
    if profile.answer.json_refusal:
        out["json_refusal"] = {k: profile.answer.json_refusal[k] for k in ("key", "source")}
    return out


def _coverage(seeds: list) -> dict[str, int]:
    from collections import Counter

    return dict(sorted(Counter(s.category for s in seeds).items()))


def _apply_answer_prefix(examples: list[Example], profile: FormatProfile, cfg: GenerateConfig,
                         in_format: bool) -> int:
    """Put the job's non-neutral constant answer prefix back before the response (`answer_prefix`
    keep: every in-format row; mix: every second row of each kind). Rows were validated without
    it (so a seed whose own refusal opens with a pledge is still dropped). Returns the count."""
    prefix = profile.safety_answer_shape()["dropped_prefix"] if in_format else None
    if not prefix or cfg.answer_prefix == "drop":
        return 0
    seen: dict[str, int] = {}
    kept = 0
    for ex in examples:
        kind = ex.metadata.get("kind", "harmful")
        k = seen[kind] = seen.get(kind, -1) + 1
        keep = cfg.answer_prefix == "keep" or k % 2 == 0
        ex.metadata["answer_prefix"] = "kept" if keep else "dropped"
        if keep:
            ex.messages[-1]["content"] = prefix + ex.messages[-1]["content"]
            kept += 1
    return kept


def _apply_chat_share(examples: list[Example], ctx: GenContext, share: float) -> int:
    """Replace round(share x rows) of each kind's in-format rows, picked by a seeded shuffle, with
    the plain chat row of the same seed and response (what `raw` makes: the seed's own request,
    the same refusal or answer). Rows keep their provenance, marked `rendered: chat`. Returns the
    count. The refusal drawn for a row is its item RNG's first draw, so it is drawn again here."""
    from safemix.generate.methods import item_rng, render_raw

    if not share:
        return 0
    by_id = {s.id: s for pool in ctx.pools.values() for s in pool}
    done = 0
    for kind in sorted({ex.metadata.get("kind", "harmful") for ex in examples}):
        idx = [i for i, ex in enumerate(examples) if ex.metadata.get("kind", "harmful") == kind]
        random.Random(f"chat-share:{ctx.seed}:{kind}").shuffle(idx)
        for i in idx[:int(round(share * len(idx)))]:
            meta = examples[i].metadata
            seed = by_id[meta["seed_id"]]
            response = seed.response(item_rng(ctx.seed, seed.id, meta["occurrence"]))
            examples[i] = render_raw(seed.request, response)
            examples[i].metadata.update({k: v for k, v in meta.items() if k != "answer_prefix"}, rendered="chat")
            done += 1
    return done


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
    """How much the generated examples look like the job, compared with the raw seeds; `score` and
    `parts`: the form fidelity (`safemix.generate.fidelity`)."""
    from safemix.generate.fidelity import form_fidelity

    users = [last_user(ex) for ex in examples]
    match = sum(profile.parse_user(u) is not None for u in users)
    sys_match = sum((ex.system == profile.system_prompt) for ex in examples)
    job_users = [profile.request_text(ex) or "" for ex in job.examples]
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
    out.update(form_fidelity(examples, job.examples, profile, seed=seed, sample=job_sample))
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
    from safemix.outputs import sidecars_of

    prov, man = sidecars_of(out)
    return prov, man


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
    """Write the examples in the job's own format, the provenance sidecar and the manifest
    (`safemix.manifest`: the envelope's `inputs.job` repeats `job`'s path and sha256, its
    `outputs` the `output` and `provenance` records)."""
    from safemix.formats import write_examples
    from safemix.manifest import make_manifest, write_manifest
    from safemix.utils import sha256_file, write_jsonl

    out = Path(out)
    check_generation_outputs(job, out)
    prov, man = sidecar_paths(out)
    write_examples(res.examples, out, **job.writer_args())
    write_jsonl(prov, [ex.metadata for ex in res.examples])
    manifest = dict(res.manifest)
    manifest["output"] = {"path": str(out), "sha256": sha256_file(out), "rows": len(res.examples)}
    manifest["provenance"] = {"path": str(prov), "sha256": sha256_file(prov)}
    job_record = {"path": str(job.path)}
    if Path(job.path).exists():
        manifest["job"]["sha256"] = job_record["sha256"] = sha256_file(job.path)
    write_manifest(man, make_manifest("generate", manifest, inputs={"job": job_record},
                                      outputs={"examples": manifest["output"],
                                               "provenance": manifest["provenance"]}))
    return {"examples": out, "provenance": prov, "manifest": man}


__all__ = ["GenerationResult", "generate", "check_generation_outputs", "generate_with_report",
           "write_generation"]
