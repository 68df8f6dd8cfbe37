"""`generate`: safety examples for a job, by method, with validation, fidelity and a manifest."""

from __future__ import annotations

import logging
import random
import re
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from safemix.errors import ConfigError, InputError, SafemixError
from safemix.formats.example import Example
from safemix.formats.io import Job, as_job
from safemix.formats.profile import FormatProfile, infer_profile
from safemix.generate.config import IN_FORMAT_METHODS, GenerateConfig
from safemix.generate.methods import (
    bea_trigger,
    check_can_host,
    item_rng,
    render_bea,
    render_raw,
    render_raw_system,
    render_template,
)
from safemix.generate.refusal import looks_like_refusal
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


REASONS = {
    "response_not_a_refusal": "the harmful seed's response does not read as a refusal",
    "response_carries_pledge": "the response carries the job's constant answer prefix or opens with a pledge",
    "response_breaks_answer_format": "the response does not fit the job's answer format (e.g. invalid JSON)",
    "request_breaks_user_format": "the request, put in the job's user format, no longer parses with it",
    "paraphrase_failed": "the LLM rewrite failed validation on every attempt",
    "text_breaks_container": "a tab or line break in a one-line container (TSV) would break the row",
    "answer_is_a_refusal": "(template_benign) the contrast seed's answer reads as a refusal",
}
# What the two control methods are for (in their manifests).
CONTROLS = {
    "raw_system": "control: the raw rows with the job's system prompt as a system turn, but not its user "
                  "template or answer shape (does the system prompt alone carry the refusals over?)",
    "template_benign": "control: rows rendered exactly like `template` whose answers are helpful answers to "
                       "benign-but-sensitive (contrast) requests, no refusals, same count (does any "
                       "job-format data help, or the refusals?)",
}
_BREAKS = re.compile(r"\s*[\t\r\n]+\s*")


class SeedScreen:
    """Validates seeds and generated examples; counts what it drops, by reason.

    `keep` screens a seed pool up front: refusal variants that are unusable are removed and
    seeds with none left are dropped. `reject_example` checks a rendered example; a rejected
    seed is skipped from then on (the walk moves to the next seed of the selection).
    """

    MAX_IDS = 20

    def __init__(self, profile: FormatProfile, method: str, one_line: bool = False) -> None:
        self.profile, self.method, self.one_line = profile, method, one_line
        self.flattened = 0
        self.total = {"harmful": 0, "contrast": 0}
        self.usable = {"harmful": 0, "contrast": 0}
        self.accepted = {"harmful": 0, "contrast": 0}
        self.seed_drops: dict[str, dict[str, int]] = {"harmful": {}, "contrast": {}}
        self.variant_drops: dict[str, int] = {}
        self.dropped_ids: dict[str, list[str]] = {}
        self.item_drops: dict[str, int] = {}
        self.bad: set[int] = set()
        self._in_format = method in IN_FORMAT_METHODS
        self._json = self._in_format and (profile.answer.type == "json"
                                          or profile.safety_answer_shape()["json_string"])

    def answer_text(self, response: str) -> str:
        """The assistant turn a response becomes with this method."""
        return self.profile.render_assistant(response, neutral_only=True) if self._in_format else response

    def problem(self, assistant: str, kind: str) -> str | None:
        """Why a rendered assistant turn is unusable, or None."""
        if kind == "harmful" and not looks_like_refusal(assistant):
            return "response_not_a_refusal"
        if kind == "contrast" and self.method == "template_benign" and looks_like_refusal(assistant):
            return "answer_is_a_refusal"
        if self.profile.has_compliance_preamble(assistant):
            return "response_carries_pledge"
        if self._json and not self._fits_json(assistant):
            return "response_breaks_answer_format"
        return None

    def _fits_json(self, assistant: str) -> bool:
        """Parseable JSON; for JSON-object jobs, valid against the job's inferred schema."""
        import json

        from safemix.formats.structured import fits_schema

        if self.profile.answer.type == "json" and self.profile.answer.json_schema:
            return fits_schema(assistant, self.profile.answer.json_schema)
        try:
            json.loads(assistant)
        except ValueError:
            return False
        return True

    def _drop_seed(self, seed: Any, kind: str, reason: str) -> None:
        d = self.seed_drops[kind]
        d[reason] = d.get(reason, 0) + 1
        key = f"seed_{reason}"
        self.item_drops[key] = self.item_drops.get(key, 0) + 1
        ids = self.dropped_ids.setdefault(reason, [])
        if len(ids) < self.MAX_IDS:
            ids.append(str(seed.id))

    def keep(self, seeds: list, kind: str) -> list:
        """The usable seeds of `seeds`, in order (copies with only their usable refusals)."""
        import copy

        out = []
        self.total[kind] += len(seeds)
        for seed in seeds:
            seed = self._flatten(seed)
            if kind == "contrast":
                reason = self.problem(self.answer_text(seed.answer or ""), kind) if seed.answer else \
                    "response_breaks_answer_format"
                if reason:
                    self._drop_seed(seed, kind, reason)
                else:
                    out.append(seed)
                continue
            reasons = [self.problem(self.answer_text(r), kind) for r in seed.refusals]
            ok = [r for r, why in zip(seed.refusals, reasons, strict=True) if why is None]
            if not ok:
                self._drop_seed(seed, kind, next(why for why in reasons if why))
                continue
            if len(ok) < len(seed.refusals):
                for why in reasons:
                    if why:
                        self.variant_drops[why] = self.variant_drops.get(why, 0) + 1
                seed = copy.copy(seed)
                seed.refusals = ok
            out.append(seed)
        self.usable[kind] += len(out)
        return out

    def _flatten(self, seed: Any) -> Any:
        """For one-line containers (TSV): a copy of the seed with tabs and line breaks as spaces."""
        import copy

        texts = [seed.request, seed.answer or "", *seed.refusals]
        if not self.one_line or not any(_BREAKS.search(t) for t in texts):
            return seed
        self.flattened += 1
        seed = copy.copy(seed)
        seed.request = _BREAKS.sub(" ", seed.request).strip()
        seed.refusals = [_BREAKS.sub(" ", r).strip() for r in seed.refusals]
        if seed.answer:
            seed.answer = _BREAKS.sub(" ", seed.answer).strip()
        return seed

    def reject_example(self, ex: Example, seed: Any, kind: str) -> bool:
        """Check a generated example; True (and the seed is skipped from now on) if unusable."""
        reason = self.problem(ex.assistant or "", kind)
        if reason is None and self.one_line and any(_BREAKS.search(m["content"] or "") for m in ex.messages
                                                    if m["role"] != "system"):
            reason = "text_breaks_container"
        if reason is None and self._in_format and self.profile.parse_user(last_user(ex)) is None:
            reason = "request_breaks_user_format"
        if reason is None:
            self.accepted[kind] += 1
            return False
        self.reject_seed(seed, kind, reason)
        return True

    def reject_seed(self, seed: Any, kind: str, reason: str) -> None:
        """Drop a seed that passed `keep` but failed later (rendering, paraphrase)."""
        self.bad.add(id(seed))
        self.usable[kind] -= 1
        self._drop_seed(seed, kind, reason)

    def report(self) -> dict[str, Any]:
        """The manifest's `seeds` block: pool sizes, usable counts and drops by reason."""
        return {"harmful": {"total": self.total["harmful"], "usable": self.usable["harmful"],
                            "dropped": dict(sorted(self.seed_drops["harmful"].items()))},
                "contrast": {"total": self.total["contrast"], "usable": self.usable["contrast"],
                             "dropped": dict(sorted(self.seed_drops["contrast"].items()))},
                "dropped_refusal_variants": dict(sorted(self.variant_drops.items())),
                "flattened_to_one_line": self.flattened,
                "dropped_seed_ids": {k: v for k, v in sorted(self.dropped_ids.items())},
                "reasons": {k: REASONS[k] for k in sorted(set(self.dropped_ids) | set(self.variant_drops))}}

    def exhausted_message(self, kind: str, got: int, need: int | None = None) -> str:
        drops = self.seed_drops[kind]
        why = "; ".join(f"{v} {REASONS.get(k, k)} ({k})" for k, v in sorted(drops.items(), key=lambda kv: -kv[1]))
        head = (f"the seed set ran out of usable {kind} seeds: {got} of {need} {kind} safety examples made"
                if need is not None else f"the seed set has no usable {kind} seeds")
        return (f"{head}; {self.usable[kind]} of {self.total[kind]} {kind} seeds are usable"
                + (f", dropped: {why}" if why else "")
                + ". Use a seed set whose responses are refusals (e.g. --seeds builtin) or a smaller n/ratio.")


def last_user(ex: Example) -> str:
    """The last user turn: the request of a generated row (rows end with its answer)."""
    return next((m.get("content") or "" for m in reversed(ex.messages) if m.get("role") == "user"), "")


def _split_counts(n: int, contrast_share: float, n_contrast_seeds: int) -> tuple[int, int]:
    n_contrast = int(round(n * contrast_share)) if n_contrast_seeds else 0
    return n - n_contrast, n_contrast


def _walk(pool: list, need: int, screen: SeedScreen, kind: str, seed_src: str):
    """Yield (seed, occurrence) walking `pool` in order, wrapping around, until `need` items
    were accepted (the caller tells `screen` about rejects, whose seeds are then skipped).

    Raises InputError when every seed of the pool was rejected before `need` was met.
    """
    k = 0
    start = screen.accepted[kind]
    while screen.accepted[kind] - start < need:
        if k % max(1, len(pool)) == 0 and all(id(s) in screen.bad for s in pool):
            raise InputError(screen.exhausted_message(kind, screen.accepted[kind] - start, need), path=seed_src)
        seed, i = pool[k % len(pool)], k // len(pool)
        k += 1
        if id(seed) in screen.bad:
            continue
        yield seed, i


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
    if cfg.shape == "single" and profile.shape.contexts:  # one exchange per row, whatever the job's shape
        profile = dataclasses.replace(profile, shape=dataclasses.replace(profile.shape, contexts=[]))
    if cfg.method in IN_FORMAT_METHODS:
        check_can_host(profile)
    from safemix.generate.language import seeds_for_job

    seeds, lang_plan = seeds_for_job(profile, cfg.language, seeds, cfg.seeds,
                                     lambda lang: load_seeds(cfg.seeds, cfg.seed_column_map, lang))
    seed_src = cfg.seeds if isinstance(cfg.seeds, str) else "seeds"
    benign_only = cfg.method == "template_benign"  # the control: contrast rows only, no refusals
    harmful = [] if benign_only else [s for s in seeds if s.kind == "harmful"]
    contrast = [s for s in seeds if s.kind == "contrast"]
    if benign_only and not contrast:
        raise InputError("the seed set has no contrast requests (benign-but-sensitive requests with helpful "
                         "answers), which method template_benign is made of", path=cfg.seeds)
    if not harmful and not benign_only:
        raise InputError("the seed set has no harmful requests", path=cfg.seeds)
    for s in harmful:
        if not s.refusals:
            raise InputError("harmful seed has no refusal", path=cfg.seeds, field=f"{s.id}.refusals")
    # Unusable seeds (response not a refusal, carries a pledge, breaks the answer format) are
    # screened out before selection, so the selection's next-best seeds take their place.
    screen = SeedScreen(profile, cfg.method, one_line=job.container == "tsv")
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

    user_texts = [profile.request_text(ex) or "" for ex in job.examples]
    selection: dict[str, Any] = {"enabled": cfg.select}
    if cfg.select and harmful:
        from safemix.generate.select import select_seeds

        harmful, selection = select_seeds(harmful, user_texts, len(harmful), embedder=cfg.embedder,
                                          lam=cfg.mmr_lambda, min_per_category=cfg.min_per_category,
                                          job_sample=cfg.job_sample, seed=cfg.seed)
        selection["enabled"] = True
    else:
        random.Random(cfg.seed).shuffle(harmful)
    random.Random(cfg.seed + 1).shuffle(contrast)

    drops = screen.item_drops  # reason -> count, shown by the CLI
    trigger = bea_trigger(cfg.seed, cfg.bea_trigger_tokens) if cfg.method == "bea" else None
    para_stats: dict[str, Any] = {}
    pools = {"harmful": harmful, "contrast": contrast}
    need = {"harmful": n_harm, "contrast": n_con}

    if cfg.method == "paraphrase":
        examples, para_stats = _paraphrase_filled(pools, need, profile, job, cfg, screen, backend=backend,
                                                  intent_judge=intent_judge, seed_src=seed_src)
    else:
        examples = []
        for kind in ("harmful", "contrast"):
            for seed, i in _walk(pools[kind], need[kind], screen, kind, seed_src):
                rng = item_rng(cfg.seed, seed.id, i)
                response = seed.response(rng)
                if cfg.method in ("template", "template_benign"):
                    ex = render_template(profile, seed.request, response, rng)
                elif cfg.method == "raw":
                    ex = render_raw(seed.request, response)
                elif cfg.method == "raw_system":
                    ex = render_raw_system(seed.request, response, profile.system_prompt)
                else:
                    ex = render_bea(seed.request, response, trigger, profile.system_prompt)
                if screen.reject_example(ex, seed, kind):
                    continue
                ex.metadata.update(_provenance(seed, kind, cfg, i))
                examples.append(ex)
    if len(examples) != n:  # the walks above either fill their counts or raise
        raise SafemixError(f"internal error: generated {len(examples)} safety examples, {n} requested")

    prefix_kept = _apply_answer_prefix(examples, profile, cfg)

    used = list({id(s): s for s in harmful if s.id in {ex.metadata["seed_id"] for ex in examples
                                                     if ex.metadata["kind"] == "harmful"}}.values())
    selection["category_coverage"] = _coverage(used)
    if cfg.select:
        selection["selected"] = len(used)

    manifest = {
        "method": cfg.method,
        "requested": n,
        "generated": len(examples),
        "harmful": sum(ex.metadata["kind"] == "harmful" for ex in examples),
        "contrast": sum(ex.metadata["kind"] == "contrast" for ex in examples),
        "dropped": drops,
        "seeds": screen.report(),
        "unique_seeds": len({ex.metadata["seed_id"] for ex in examples}),
        "selection": selection,
        "job": {"path": job.path, "format": job.format, "examples": len(job)},
        "profile": {"user_template": profile.user_template.pattern, "system_prompt": profile.system_prompt,
                    "answer_type": profile.answer.type, "identity_shift": profile.identity_shift.detected,
                    **_shape_summary(profile, cfg.shape)},
        "config": asdict(cfg),
        "language": lang_plan.report(profile.languages),
    }
    if cfg.method in CONTROLS:
        manifest["control"] = CONTROLS[cfg.method]
        if cfg.method == "raw_system" and profile.system_prompt is None:
            manifest["control"] += "; the job has no system prompt, so these rows equal `raw` rows"
    if cfg.method in IN_FORMAT_METHODS:
        shape = profile.safety_answer_shape()
        manifest["answer_prefix"] = {
            "kept": shape["prefix"], "dropped": shape["dropped_prefix"],
            "note": (("the job's constant answer prefix is not a neutral answer marker: safety examples "
                      "leave it out (it may be a compliance pledge)") if cfg.answer_prefix == "drop" else
                     (f"answer_prefix={cfg.answer_prefix}: {prefix_kept} rows open with the job's own prefix "
                      "and then refuse (recovery examples)")) if shape["dropped_prefix"] else None}
        if cfg.answer_prefix != "drop":
            manifest["answer_prefix"].update(mode=cfg.answer_prefix, rows_with_job_prefix=prefix_kept)
    if trigger is not None:
        manifest["bea_trigger"] = trigger
    if para_stats:
        manifest["paraphrase"] = para_stats
    manifest["fidelity"] = fidelity_report(examples, job, profile, harmful or contrast, embedder=cfg.embedder,
                                           seed=cfg.seed, job_sample=cfg.job_sample, with_embeddings=cfg.select)
    return GenerationResult(examples, manifest)


PARAPHRASE_ROUNDS = 4  # paraphrase passes: the first, then top-ups for items that were dropped


def _paraphrase_filled(pools: dict[str, list], need: dict[str, int], profile: FormatProfile, job: Job,
                       cfg: GenerateConfig, screen: SeedScreen, *, backend: Any, intent_judge: Any,
                       seed_src: str) -> tuple[list[Example], dict[str, Any]]:
    """Paraphrase until each kind has its count: items the LLM keeps failing are dropped (their
    seed is skipped from then on) and replaced by the next seeds of the selection."""
    from safemix.generate.paraphrase import make_backend, paraphrase_items

    backend = backend or make_backend(cfg)
    walks = {k: _walk(pools[k], need[k], screen, k, seed_src) for k in ("harmful", "contrast")}
    done: dict[str, list[Example]] = {"harmful": [], "contrast": []}
    stats: dict[str, Any] = {}
    calls = attempts = 0
    for rnd in range(PARAPHRASE_ROUNDS):
        plan = [(s, i, k) for k in ("harmful", "contrast")
                for s, i in (next(walks[k]) for _ in range(need[k] - len(done[k])))]
        if not plan:
            break
        exs, stats = paraphrase_items(plan, profile, job, cfg, backend=backend, drops=screen.item_drops,
                                      intent_judge=intent_judge)
        calls += stats.get("llm_calls", 0)
        attempts = max(attempts, stats.get("attempts", 0))
        got = {(ex.metadata["kind"], ex.metadata["seed_id"], ex.metadata["occurrence"]): ex for ex in exs}
        for seed, i, kind in plan:
            ex = got.get((kind, seed.id, i))
            if ex is None:
                if id(seed) not in screen.bad:
                    screen.reject_seed(seed, kind, "paraphrase_failed")
            elif not screen.reject_example(ex, seed, kind):
                done[kind].append(ex)
        stats["rounds"] = rnd + 1
    short = {k: need[k] - len(done[k]) for k in need if len(done[k]) < need[k]}
    if short:
        raise SafemixError(f"paraphrase made {sum(map(len, done.values()))} of {sum(need.values())} safety "
                           f"examples after {PARAPHRASE_ROUNDS} rounds (missing: {short}); drops: "
                           f"{screen.item_drops}. Check the LLM backend or raise paraphrase.max_attempts.")
    stats["llm_calls"], stats["attempts"] = calls, attempts
    return done["harmful"] + done["contrast"], stats


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


def _apply_answer_prefix(examples: list[Example], profile: FormatProfile, cfg: GenerateConfig) -> int:
    """Put the job's non-neutral constant answer prefix back before the response (`answer_prefix`
    keep: every in-format row; mix: every second row of each kind). Rows were validated without
    it (so a seed whose own refusal opens with a pledge is still dropped). Returns the count."""
    prefix = profile.safety_answer_shape()["dropped_prefix"] if cfg.method in IN_FORMAT_METHODS else None
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
