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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safemix.errors import SafemixError
from safemix.formats.example import Example
from safemix.formats.shape import with_context
from safemix.generate.context import GenContext, MethodOutput, ParaphraseConfig, provenance
from safemix.generate.methods import item_rng
from safemix.generate.refusal import looks_like_refusal
from safemix.generate.screen import KINDS, walk_seeds

log = logging.getLogger(__name__)
PROMPTS = Path(__file__).parent / "prompts"
PARAPHRASE_ROUNDS = 4  # paraphrase passes: the first, then top-ups for items that were dropped


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


def make_backend(pc: ParaphraseConfig):
    from safemix.llm import get_backend

    return get_backend(pc.backend, model=pc.model, **pc.backend_args)


def run_paraphrase(ctx: GenContext) -> MethodOutput:
    """Paraphrase until each kind has its count: items the LLM keeps failing are dropped (their
    seed is skipped from then on) and replaced by the next seeds of the selection."""
    backend = ctx.backend or make_backend(ctx.paraphrase)
    screen = ctx.screen
    walks = {k: walk_seeds(ctx.pools[k], ctx.need[k], screen, k, ctx.seed_src) for k in KINDS}
    done: dict[str, list[Example]] = {k: [] for k in KINDS}
    stats: dict[str, Any] = {}
    calls = attempts = 0
    for rnd in range(PARAPHRASE_ROUNDS):
        plan = [(s, i, k) for k in KINDS
                for s, i in (next(walks[k]) for _ in range(ctx.need[k] - len(done[k])))]
        if not plan:
            break
        exs, stats = paraphrase_items(plan, ctx, backend)
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
    short = {k: ctx.need[k] - len(done[k]) for k in KINDS if len(done[k]) < ctx.need[k]}
    if short:
        raise SafemixError(f"paraphrase made {sum(map(len, done.values()))} of {sum(ctx.need.values())} safety "
                           f"examples after {PARAPHRASE_ROUNDS} rounds (missing: {short}); drops: "
                           f"{screen.item_drops}. Check the LLM backend or raise paraphrase.max_attempts.")
    stats["llm_calls"], stats["attempts"] = calls, attempts
    return MethodOutput(done["harmful"] + done["contrast"], {"paraphrase": stats} if stats else {})


@dataclass
class _Style:
    """What the prompts show the LLM: the prompt templates, the language to write in, and the
    job's texts to imitate (main-slot values in slot mode, whole user turns in full mode)."""

    tmpl: str
    refusal_tmpl: str | None
    lang: str
    lang_tmpl: str
    pool: list[str]
    answers: list[str]
    one_line: bool  # slot mode on a job whose slot values are one line: keep the first line


def _style(ctx: GenContext) -> _Style:
    from safemix.generate.language import writing_language

    pc, profile, job = ctx.paraphrase, ctx.profile, ctx.job
    tmpl = load_prompt(f"paraphrase_{pc.mode}", pc.prompt_version)
    refusal_tmpl = load_prompt("refusal", pc.prompt_version) if pc.refusal_from_llm else None
    lang, lang_tmpl = writing_language(profile, ctx.language), _language_prompt(pc.prompt_version)
    users = [profile.request_text(ex) or "" for ex in job.examples]
    main_values = [v[profile.main_slot] for v in (profile.parse_user(u) for u in users[:5000])
                   if v is not None and profile.main_slot in v]
    pool = main_values if pc.mode == "slot" else users
    answers = [ex.assistant or "" for ex in job.examples[:5000]]
    one_line = pc.mode == "slot" and not any("\n" in v for v in pool[:200])
    return _Style(tmpl, refusal_tmpl, lang, lang_tmpl, pool, answers, one_line)


def paraphrase_items(plan: list[tuple[Any, int, str]], ctx: GenContext, backend: Any,
                     ) -> tuple[list[Example], dict[str, Any]]:
    """Rewrite every planned (seed, occurrence, kind) item; returns (examples, stats).

    Outputs that fail validation are asked for again (hotter) up to `max_attempts` times;
    every failed attempt is counted in the screen's drops."""
    pc, drops = ctx.paraphrase, ctx.screen.item_drops
    style = _style(ctx)
    pending = list(range(len(plan)))
    results: dict[int, Example] = {}
    attempts = n_calls = 0
    for attempt in range(pc.max_attempts):
        if not pending:
            break
        attempts = attempt + 1
        outs = _ask_rewrites(plan, pending, ctx, style, backend, attempt)
        n_calls += len(pending)
        candidates = _candidates(plan, pending, outs, ctx, style)
        if candidates:
            results.update(_keep_intent(plan, candidates, ctx))
        pending = [j for j in pending if j not in results]
    for _ in pending:
        drops["dropped_after_retries"] = drops.get("dropped_after_retries", 0) + 1

    if style.refusal_tmpl is not None and results:
        _llm_refusals(results, plan, ctx, backend, style)

    examples = []
    for j in sorted(results):
        seed, i, kind = plan[j]
        ex = results[j]
        ex.metadata.update(provenance(seed, kind, i, ctx.method, pc))
        examples.append(ex)
    stats = {"mode": pc.mode, "attempts": attempts, "llm_calls": n_calls,
             "backend": getattr(backend, "name", type(backend).__name__), "writes_in": style.lang}
    if hasattr(backend, "stats"):
        st = backend.stats
        stats["backend_stats"] = st.to_dict() if hasattr(st, "to_dict") else dict(st)
    return examples, stats


def _ask_rewrites(plan: list, pending: list[int], ctx: GenContext, style: _Style, backend: Any,
                  attempt: int) -> list[str]:
    """One LLM call per pending item: rewrite the seed's request in the style of the job."""
    pc = ctx.paraphrase
    convs = []
    for j in pending:
        seed, i, _ = plan[j]
        rng = item_rng(ctx.seed + 7919 * attempt, seed.id, i)
        prompt = style.tmpl.format(examples=_style_examples(style.pool, pc.k_examples, rng), request=seed.request)
        convs.append([{"role": "user", "content": _in_language(prompt, style.lang, seed, style.lang_tmpl)}])
    return backend.chat(convs, max_new_tokens=pc.max_new_tokens,
                        temperature=pc.temperature + 0.2 * attempt, seed=ctx.seed + attempt)


def _candidates(plan: list, pending: list[int], outs: list[str], ctx: GenContext,
                style: _Style) -> dict[int, tuple[str, str]]:
    """The usable outputs, as j -> (user turn, request text): not empty, not an LLM refusal,
    not too long, and (full mode) parsing with the job's user template."""
    profile, drops = ctx.profile, ctx.screen.item_drops
    candidates: dict[int, tuple[str, str]] = {}
    for j, out in zip(pending, outs, strict=True):
        seed, i, _ = plan[j]
        text = _clean(out, one_line=style.one_line)
        if not text:
            _bump(drops, "empty_output")
            continue
        if looks_like_refusal(text) and not looks_like_refusal(seed.request):
            _bump(drops, "llm_refused_rewrite")
            continue
        if len(text) > 4 * len(seed.request) + 400:
            _bump(drops, "too_long")
            continue
        rng = item_rng(ctx.seed, seed.id, i)
        if ctx.paraphrase.mode == "slot":
            user = profile.render_user(profile.fill_slots(text, rng))
            request = text
        else:
            vals = profile.parse_user(text)
            if vals is None:
                _bump(drops, "does_not_parse")
                continue
            user, request = text, vals.get(profile.main_slot, text)
        candidates[j] = (user, request)
    return candidates


def _keep_intent(plan: list, candidates: dict[int, tuple[str, str]], ctx: GenContext) -> dict[int, Example]:
    """The candidates that kept the seed's intent (embedding similarity to the seed request,
    batched, then the judge hook), as rows: the job's system prompt and earlier turns, the
    rewritten user turn, the seed's response in the job's answer shape."""
    import numpy as np

    from safemix.embed import embed

    profile, drops = ctx.profile, ctx.screen.item_drops
    js = sorted(candidates)
    a = embed([candidates[j][1] for j in js], model=ctx.embedder)
    b = embed([plan[j][0].request for j in js], model=ctx.embedder)
    sims = np.sum(a * b, axis=1)
    kept: dict[int, Example] = {}
    for j, sim in zip(js, sims, strict=True):
        seed, i, _ = plan[j]
        if sim < ctx.paraphrase.min_intent_similarity:
            _bump(drops, "intent_drift")
            continue
        if ctx.intent_judge is not None and not ctx.intent_judge(candidates[j][1], seed):
            _bump(drops, "judge_rejected")
            continue
        rng = item_rng(ctx.seed, seed.id, i)
        response = seed.response(rng)
        msgs = ([{"role": "system", "content": profile.system_prompt}] if profile.system_prompt is not None else [])
        msgs += with_context(profile.shape, rng)  # the job's earlier turns (multi-turn jobs)
        msgs.append({"role": "user", "content": candidates[j][0]})
        msgs.append(profile.answer_message(profile.render_assistant(response, neutral_only=True)))
        kept[j] = Example(msgs, {"rewrite": candidates[j][1], "intent_similarity": round(float(sim), 4)})
    return kept


def _bump(drops: dict[str, int], reason: str) -> None:
    """Count a failed attempt (all attempts are counted; final drops separately)."""
    key = f"attempt_failed:{reason}"
    drops[key] = drops.get(key, 0) + 1


def _llm_refusals(results: dict[int, Example], plan: list, ctx: GenContext, backend: Any, style: _Style) -> None:
    """Replace seed refusals by LLM refusals in the style of the job's answers (and in its
    language), when valid."""
    pc, profile, drops = ctx.paraphrase, ctx.profile, ctx.screen.item_drops
    js = [j for j in sorted(results) if plan[j][2] == "harmful"]
    convs = []
    for j in js:
        seed, i, _ = plan[j]
        rng = item_rng(ctx.seed + 1, seed.id, i)
        prompt = style.refusal_tmpl.format(examples=_style_examples(style.answers, pc.k_examples, rng),
                                           request=seed.request)
        convs.append([{"role": "user", "content": _in_language(prompt, style.lang, seed, style.lang_tmpl)}])
    outs = backend.chat(convs, max_new_tokens=pc.max_new_tokens, temperature=0.3, seed=ctx.seed)
    for j, out in zip(js, outs, strict=True):
        text = _clean(out, one_line=False)
        if looks_like_refusal(text) and not profile.has_compliance_preamble(text):
            results[j].messages[-1]["content"] = profile.render_assistant(text, neutral_only=True)
        else:
            drops["llm_refusal_invalid_used_seed_refusal"] = drops.get("llm_refusal_invalid_used_seed_refusal", 0) + 1
