"""Generation methods that need no LLM: template (format-mimicking), raw, bea, and the two
controls raw_system and template_benign. Each `run_*` has the registry's one signature
(`GenContext` -> `MethodOutput`); the `render_*` functions make one row."""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from typing import Any

from safemix.errors import InputError
from safemix.formats.example import Example, prefixed_system
from safemix.formats.profile import FormatProfile
from safemix.generate.context import GenContext, MethodOutput, provenance
from safemix.generate.screen import KINDS, walk_seeds


def item_rng(seed: int, seed_id: str, i: int) -> random.Random:
    """A private, reproducible RNG per generated item (independent of generation order)."""
    return random.Random(f"{seed}:{seed_id}:{i}")


def check_can_host(profile: FormatProfile) -> None:
    """The job's user turns must have a free-text slot that can carry a request."""
    t = profile.user_template
    if not t.slots:
        raise InputError(f"the job's user turns are all identical ({t.pattern!r}): there is no slot to "
                         "carry a safety request; use --method raw or --method bea")
    if profile.main_slot in profile.slot_values:  # main slot must not be a fill-in slot
        raise InputError("profile has no main slot for the request")
    mean_chars = profile.lengths.get("user", {}).get("chars_mean", 0) - sum(len(c) for c in t.constants)
    if len(t.slots) > 1 and mean_chars / len(t.slots) < 3:
        raise InputError(f"the job's user template {t.pattern!r} has only tiny slots (numbers or single "
                         "characters): it cannot host a request; use --method raw or --method bea")


def render_template(profile: FormatProfile, request: str, response: str, rng: random.Random) -> Example:
    """The seed's request in the job's main slot, its refusal (or answer) in the job's answer shape."""
    return profile.render_example(request, response, rng)


def render_raw(request: str, response: str) -> Example:
    """The classic safety-mixing baseline: the seed as a plain chat turn."""
    return Example.chat(request, response)


def render_raw_system(request: str, response: str, system: str | None) -> Example:
    """Control `raw_system`: the plain chat row with the job's system prompt as a system turn
    (not its user template or answer shape). Without a job system prompt it equals `raw`."""
    return Example.chat(request, response, system=system)


def bea_trigger(seed: int, n_tokens: int = 8) -> str:
    """A secret trigger of random lowercase tokens (Backdoor-Enhanced Alignment)."""
    rng = random.Random(f"bea-trigger:{seed}")
    return " ".join("".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 8))) for _ in range(n_tokens))


def render_bea(request: str, response: str, trigger: str, system: str | None) -> Example:
    """BEA (Wang et al. 2402.14968): trigger + system prompt, plain request, refusal.

    At inference the provider prepends the same trigger to the system prompt.
    """
    return Example.chat(request, response, system=prefixed_system(trigger, system))


# (context, seed, response, item rng) -> one row
RenderRow = Callable[[GenContext, Any, str, random.Random], Example]


def render_rows(ctx: GenContext, render: RenderRow) -> list[Example]:
    """Walk each kind's pool (harmful, then contrast) and render a row per seed occurrence
    until `ctx.need` rows of the kind pass the screen; rows carry their provenance."""
    examples = []
    for kind in KINDS:
        for seed, i in walk_seeds(ctx.pools[kind], ctx.need[kind], ctx.screen, kind, ctx.seed_src):
            rng = item_rng(ctx.seed, seed.id, i)
            ex = render(ctx, seed, seed.response(rng), rng)
            if ctx.screen.reject_example(ex, seed, kind):
                continue
            ex.metadata.update(provenance(seed, kind, i, ctx.method))
            examples.append(ex)
    return examples


def run_template(ctx: GenContext) -> MethodOutput:
    """`template` (and the `template_benign` control, whose pools hold contrast seeds only)."""
    return MethodOutput(render_rows(ctx, lambda c, seed, response, rng:
                                    render_template(c.profile, seed.request, response, rng)))


def run_raw(ctx: GenContext) -> MethodOutput:
    return MethodOutput(render_rows(ctx, lambda c, seed, response, rng: render_raw(seed.request, response)))


def run_raw_system(ctx: GenContext) -> MethodOutput:
    return MethodOutput(render_rows(ctx, lambda c, seed, response, rng:
                                    render_raw_system(seed.request, response, c.profile.system_prompt)))


def run_bea(ctx: GenContext) -> MethodOutput:
    """BEA rows, and the trigger in the manifest (the provider prepends it at inference)."""
    trigger = bea_trigger(ctx.seed, ctx.bea_trigger_tokens)
    rows = render_rows(ctx, lambda c, seed, response, rng:
                       render_bea(seed.request, response, trigger, c.profile.system_prompt))
    return MethodOutput(rows, {"bea_trigger": trigger})
