"""The one refusal check (`safemix.refusal`) and the three names the stages use it by."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safemix.refusal import (
    REFUSAL_PHRASES,
    RefusalHit,
    find_refusal,
    first_refusal_at,
    looks_like_refusal,
    normalise,
)


def brute_force_phrase(text: str) -> str | None:
    """The keyword judge's original rule: the earliest phrase, ties to the smallest."""
    t = normalise(text)
    hits = [(t.find(p), p) for p in REFUSAL_PHRASES if p in t]
    return min(hits)[1] if hits else None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([*REFUSAL_PHRASES, "Sure", " ", ", ", "I", "can", "'", "\u2019", "x", "help"]),
                max_size=8).map("".join))
def test_english_phrase_is_the_earliest_then_shortest(text):
    hit = find_refusal(text, english_only=True)
    assert (hit.phrase if hit else None) == brute_force_phrase(text)


@pytest.mark.parametrize(("text", "phrase"), [
    ("I'm sorry, but I can't help with that.", "i'm sorry, but"),
    ("Well, I can't help with that.", "i can't"),
    ("Well, I won\u2019t do that.", "i won't"),
    ("Lo siento, pero no puedo ayudarte.", "Lo siento, pero"),
    ("Je ne peux pas vous aider.", "Je ne peux pas"),
    ("抱歉，我不能帮你。", "抱歉"),
    ("Sure, here is how. Step 1: [redacted]", None),
    ("Sorry for the delay, here's the script.", None),
])
def test_phrases_in_every_language(text, phrase):
    hit = find_refusal(text)
    assert (hit.phrase if hit else None) == phrase
    assert looks_like_refusal(text) is (phrase is not None)


def test_english_only_and_offsets():
    assert find_refusal("Lo siento, pero no puedo ayudarte.", english_only=True) is None
    assert find_refusal("Ok. No puedo. I can't.") == RefusalHit(4, "No puedo")
    assert find_refusal("Ok. No puedo. I can't.", english_only=True) == RefusalHit(14, "i can't")
    assert first_refusal_at("As an AI, I cannot do that.") == 10
    assert first_refusal_at("Sure.") is None and first_refusal_at(None) is None


def test_opening_mode_reads_only_the_window():
    late = "Sure. " + "x" * 300 + " I cannot help."
    assert looks_like_refusal(late) and not looks_like_refusal(late, "opening")
    assert looks_like_refusal(late, "opening", window=len(late))
    assert looks_like_refusal("I cannot help. " + "x" * 300, "opening")
    with pytest.raises(ValueError, match="mode"):
        find_refusal("I cannot", "start")


def test_every_stage_uses_the_same_check():
    from safemix.eval.keyword import refusal_phrase
    from safemix.generate.refusal import looks_like_refusal as generate_check
    from safemix.train.callbacks import is_refusal

    for text in ("I must decline.", "Sure, here it is.", "Je refuse.", "That isn't something I can do."):
        assert generate_check(text) is looks_like_refusal(text)
        assert is_refusal(text) is looks_like_refusal(text, "opening")
        assert refusal_phrase(text) == (h.phrase if (h := find_refusal(text, english_only=True)) else None)


def test_the_callbacks_default_probes_are_the_shipped_set_spread_over_categories():
    import json

    from safemix.train.callbacks import BUILTIN_PROBES, load_probe_requests

    rows = [json.loads(x) for x in BUILTIN_PROBES.read_text(encoding="utf-8").splitlines() if x.strip()]
    reqs = load_probe_requests()
    assert sorted(reqs) == sorted(r["prompt"] for r in rows)
    categories = {r["prompt"]: r["category"] for r in rows}
    n_cat = len(set(categories.values()))
    assert n_cat >= 8 and len({categories[r] for r in load_probe_requests(limit=n_cat)}) == n_cat
