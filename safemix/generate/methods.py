"""Generation methods that need no LLM: template (format-mimicking), raw, bea, and the two
controls raw_system and template_benign."""

from __future__ import annotations

import random
import string

from safemix.errors import InputError
from safemix.formats.example import Example
from safemix.formats.profile import FormatProfile

DEFAULT_SYSTEM = "You are a helpful assistant."


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
    return Example.chat(request, response, system=f"{trigger} {system or DEFAULT_SYSTEM}")
