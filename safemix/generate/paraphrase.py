"""`paraphrase`: an LLM rewrites each seed request in the style of the user's data.

Two modes. `slot` (default): the LLM rewrites the request in the style of k sampled
values of the job's main slot, and the FormatProfile renders it into the exact format
(robust with small models). `full`: the LLM writes the whole user turn after k sampled
user turns; it must parse with the job's profile. Every output is validated: it parses,
it keeps the seed's intent (embedding similarity, optional judge hook), the LLM did not
refuse the rewrite, and the response is a refusal. Failures are regenerated up to
`max_attempts` times, then dropped and counted.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from safemix.formats.example import Example
from safemix.formats.io import Job
from safemix.formats.profile import FormatProfile
from safemix.formats.shape import with_context
from safemix.generate.config import GenerateConfig
from safemix.generate.methods import item_rng
from safemix.generate.refusal import looks_like_refusal

log = logging.getLogger(__name__)
PROMPTS = Path(__file__).parent / "prompts"


def load_prompt(name: str, version: str) -> str:
    from safemix.errors import ConfigError

    p = PROMPTS / f"{name}_{version}.txt"
    if not p.exists():
        have = sorted(x.stem for x in PROMPTS.glob(f"{name}_*.txt"))
        raise ConfigError(f"no prompt {p.name}; available: {', '.join(have)}")
    return p.read_text(encoding="utf-8")


def _language_prompt(version: str) -> str:
    """The language instruction template (`language_<version>.txt`, else v1)."""
    from safemix.errors import ConfigError

    try:
        return load_prompt("language", version)
    except ConfigError:
        return load_prompt("language", "v1")


def _in_language(prompt: str, lang: str, seed: Any, template: str) -> str:
    """`prompt` with a line asking the LLM to write in the job's language (unchanged for an
    English job with English seeds, or an undetermined language)."""
    from safemix.generate.language import language_instruction

    extra = language_instruction(template, lang, getattr(seed, "lang", "en"))
    return f"{prompt.rstrip()}\n\n{extra.strip()}" if extra else prompt


def _clean(text: str, one_line: bool) -> str:
    t = text.strip()
    t = re.sub(r"^(rewritten( request)?|request|new example|refusal)\s*:\s*", "", t, flags=re.IGNORECASE)
    if one_line:
        t = next((ln.strip() for ln in t.splitlines() if ln.strip()), "")
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "\"'":
        t = t[1:-1].strip()
    return t


def _style_examples(values: list[str], k: int, rng: random.Random) -> str:
    pick = rng.sample(values, min(k, len(values))) if values else []
    return "\n".join(f"- {v.strip()}" if "\n" not in v.strip() else f"---\n{v.strip()}\n---" for v in pick)


def make_backend(cfg: GenerateConfig):
    from safemix.llm import get_backend

    return get_backend(cfg.paraphrase.backend, model=cfg.paraphrase.model, **cfg.paraphrase.backend_args)


def paraphrase_items(plan: list[tuple[Any, int, str]], profile: FormatProfile, job: Job, cfg: GenerateConfig, *,
                     backend: Any = None, drops: dict[str, int], intent_judge: Callable[[str, Any], bool] | None = None,
                     ) -> tuple[list[Example], dict[str, Any]]:
    """Rewrite every planned (seed, occurrence, kind) item; returns (examples, stats)."""
    import numpy as np

    pc = cfg.paraphrase
    backend = backend or make_backend(cfg)
    mode = pc.mode
    tmpl = load_prompt(f"paraphrase_{mode}", pc.prompt_version)
    refusal_tmpl = load_prompt("refusal", pc.prompt_version) if pc.refusal_from_llm else None
    from safemix.generate.language import writing_language

    lang, lang_tmpl = writing_language(profile, cfg.language), _language_prompt(pc.prompt_version)
    users = [profile.request_text(ex) or "" for ex in job.examples]
    main_values = [v[profile.main_slot] for v in (profile.parse_user(u) for u in users[:5000])
                   if v is not None and profile.main_slot in v]
    style_pool = main_values if mode == "slot" else users
    answers = [ex.assistant or "" for ex in job.examples[:5000]]

    pending = list(range(len(plan)))
    results: dict[int, Example] = {}
    attempts = 0
    n_calls = 0
    for attempt in range(pc.max_attempts):
        if not pending:
            break
        attempts = attempt + 1
        convs = []
        for j in pending:
            seed, i, _ = plan[j]
            rng = item_rng(cfg.seed + 7919 * attempt, seed.id, i)
            prompt = tmpl.format(examples=_style_examples(style_pool, pc.k_examples, rng), request=seed.request)
            convs.append([{"role": "user", "content": _in_language(prompt, lang, seed, lang_tmpl)}])
        outs = backend.chat(convs, max_new_tokens=pc.max_new_tokens,
                            temperature=pc.temperature + 0.2 * attempt, seed=cfg.seed + attempt)
        n_calls += len(convs)
        candidates: dict[int, tuple[str, str]] = {}  # j -> (user turn, request text)
        for j, out in zip(pending, outs, strict=True):
            seed, i, kind = plan[j]
            text = _clean(out, one_line=(mode == "slot" and not any("\n" in v for v in style_pool[:200])))
            if not text:
                _bump(drops, "empty_output", attempt, pc.max_attempts)
                continue
            if looks_like_refusal(text) and not looks_like_refusal(seed.request):
                _bump(drops, "llm_refused_rewrite", attempt, pc.max_attempts)
                continue
            if len(text) > 4 * len(seed.request) + 400:
                _bump(drops, "too_long", attempt, pc.max_attempts)
                continue
            rng = item_rng(cfg.seed, seed.id, i)
            if mode == "slot":
                user = profile.render_user(profile.fill_slots(text, rng))
                request = text
            else:
                vals = profile.parse_user(text)
                if vals is None:
                    _bump(drops, "does_not_parse", attempt, pc.max_attempts)
                    continue
                user, request = text, vals.get(profile.main_slot, text)
            candidates[j] = (user, request)
        # intent preserved: embedding similarity to the seed request (batched), then the judge hook
        if candidates:
            from safemix.embed import embed

            js = sorted(candidates)
            a = embed([candidates[j][1] for j in js], model=cfg.embedder)
            b = embed([plan[j][0].request for j in js], model=cfg.embedder)
            sims = np.sum(a * b, axis=1)
            for j, sim in zip(js, sims, strict=True):
                seed, i, kind = plan[j]
                if sim < pc.min_intent_similarity:
                    _bump(drops, "intent_drift", attempt, pc.max_attempts)
                    continue
                if intent_judge is not None and not intent_judge(candidates[j][1], seed):
                    _bump(drops, "judge_rejected", attempt, pc.max_attempts)
                    continue
                rng = item_rng(cfg.seed, seed.id, i)
                response = seed.response(rng)
                msgs = ([{"role": "system", "content": profile.system_prompt}] if profile.system_prompt is not None else [])
                msgs += with_context(profile.shape, rng)  # the job's earlier turns (multi-turn jobs)
                msgs.append({"role": "user", "content": candidates[j][0]})
                msgs.append(profile.answer_message(profile.render_assistant(response, neutral_only=True)))
                ex = Example(msgs, {"rewrite": candidates[j][1], "intent_similarity": round(float(sim), 4)})
                results[j] = ex
        pending = [j for j in pending if j not in results]
    for _ in pending:
        drops["dropped_after_retries"] = drops.get("dropped_after_retries", 0) + 1

    if refusal_tmpl is not None and results:
        _llm_refusals(results, plan, profile, backend, refusal_tmpl, answers, cfg, drops, (lang, lang_tmpl))

    from safemix.generate.core import _provenance

    examples = []
    for j in sorted(results):
        seed, i, kind = plan[j]
        ex = results[j]
        ex.metadata.update(_provenance(seed, kind, cfg, i))
        examples.append(ex)
    stats = {"mode": mode, "attempts": attempts, "llm_calls": n_calls,
             "backend": getattr(backend, "name", type(backend).__name__), "writes_in": lang}
    if hasattr(backend, "stats"):
        st = backend.stats
        stats["backend_stats"] = st.to_dict() if hasattr(st, "to_dict") else dict(st)
    return examples, stats


def _bump(drops: dict[str, int], reason: str, attempt: int, max_attempts: int) -> None:
    """Count a failed attempt (all attempts are counted; final drops separately)."""
    key = f"attempt_failed:{reason}"
    drops[key] = drops.get(key, 0) + 1


def _llm_refusals(results: dict[int, Example], plan, profile: FormatProfile, backend, tmpl: str,
                  answers: list[str], cfg: GenerateConfig, drops: dict[str, int],
                  language: tuple[str, str] = ("und", "")) -> None:
    """Replace seed refusals by LLM refusals in the style of the job's answers (and in its
    language), when valid."""
    js = [j for j in sorted(results) if plan[j][2] == "harmful"]
    convs = []
    for j in js:
        seed, i, _ = plan[j]
        rng = item_rng(cfg.seed + 1, seed.id, i)
        prompt = tmpl.format(examples=_style_examples(answers, cfg.paraphrase.k_examples, rng), request=seed.request)
        convs.append([{"role": "user", "content": _in_language(prompt, language[0], seed, language[1])}])
    outs = backend.chat(convs, max_new_tokens=cfg.paraphrase.max_new_tokens, temperature=0.3, seed=cfg.seed)
    for j, out in zip(js, outs, strict=True):
        text = _clean(out, one_line=False)
        if looks_like_refusal(text) and not profile.has_compliance_preamble(text):
            results[j].messages[-1]["content"] = profile.render_assistant(text, neutral_only=True)
        else:
            drops["llm_refusal_invalid_used_seed_refusal"] = drops.get("llm_refusal_invalid_used_seed_refusal", 0) + 1
