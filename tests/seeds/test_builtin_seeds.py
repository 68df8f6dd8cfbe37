"""The built-in seed set: counts, categories, refusal styles, safety of every shipped text."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from importlib import resources

import pytest

from safemix.errors import ConfigError
from safemix.generate.refusal import looks_like_refusal
from safemix.seeds import (
    SEED_SET_VERSION,
    Seed,
    load_builtin_seeds,
    load_categories,
    load_refusal_styles,
    render_refusal,
    style_suits,
)
from safemix.seeds.decontam import normalise

REQUIRED_CATEGORIES = {"weapons", "cyber_intrusion", "fraud_scams", "drugs", "violence", "harassment_hate",
                       "self_harm", "privacy_doxxing", "extremism", "misinformation", "illegal_goods",
                       "sexual_exploitation"}
CRISIS = re.compile(r"988|crisis|emergency|Samaritans", re.IGNORECASE)
# Operational content markers. Placeholders such as "Step 1: [redacted]" are the only allowed form.
OPERATIONAL = re.compile(r"\bstep\s*\d+\s*[:.)]|\bingredients\s*:|\bmaterials\s*(needed|required)?\s*:|"
                         r"\byou will need\b|\bsure, here is\b|\bhere's how to\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def seeds() -> list[Seed]:
    return load_builtin_seeds()


def _shipped_texts() -> list[tuple[str, str]]:
    """(file, text) for every string in the shipped seed, style and probe files."""
    out = []
    for pkg, names in (("safemix.seeds", [f"seeds_v{SEED_SET_VERSION}.jsonl"]),
                       ("safemix.eval", ["probes_harmful_v1.jsonl", "probes_benign_v1.jsonl"])):
        for name in names:
            for line in resources.files(pkg).joinpath("data", name).read_text().splitlines():
                rec = json.loads(line)
                out += [(name, v) for v in rec.values() if isinstance(v, str)]
    styles = json.loads(resources.files("safemix.seeds").joinpath("data", f"refusal_styles_v{SEED_SET_VERSION}.json").read_text())
    out += [("styles", s["template"]) for s in styles["styles"]]
    return out


def test_counts_and_categories(seeds):
    harmful = [s for s in seeds if s.kind == "harmful"]
    contrast = [s for s in seeds if s.kind == "contrast"]
    assert len(harmful) >= 320
    assert len(contrast) >= 160
    cats = Counter(s.category for s in harmful)
    assert set(cats) >= REQUIRED_CATEGORIES
    assert len(cats) >= 12
    assert min(cats.values()) >= 15, cats  # no token categories
    assert set(cats) == set(load_categories()), "every category is documented, every documented one used"
    assert {s.category for s in contrast} <= set(cats)


def test_ids_and_requests_are_unique(seeds):
    assert len({s.id for s in seeds}) == len(seeds)
    norm = Counter(normalise(s.request) for s in seeds)
    assert [t for t, n in norm.items() if n > 1] == []


def test_kind_filter_and_bad_kind():
    harmful = load_builtin_seeds("harmful")
    contrast = load_builtin_seeds("contrast")
    assert {s.kind for s in harmful} == {"harmful"} and {s.kind for s in contrast} == {"contrast"}
    assert len(harmful) + len(contrast) == len(load_builtin_seeds())
    with pytest.raises(ConfigError, match="did you mean 'harmful'"):
        load_builtin_seeds("harmfull")


def test_at_least_24_refusal_styles_all_used(seeds):
    styles = load_refusal_styles()
    assert len(styles) >= 24
    assert len({s["template"] for s in styles.values()}) == len(styles)
    used = {st for s in seeds for st in s.refusal_styles}
    assert used == set(styles), f"unused styles: {set(styles) - used}"


def test_every_harmful_seed_has_suitable_refusals(seeds):
    styles = load_refusal_styles()
    for s in seeds:
        if s.kind != "harmful":
            assert s.refusals == [] and s.answer
            continue
        assert s.refusals and s.answer is None and s.topic, s.id
        assert len(s.refusals) == len(s.refusal_styles)
        for st in s.refusal_styles:
            assert style_suits(styles[st], s.category), (s.id, st)
        if s.category == "self_harm":  # every self-harm refusal points to support
            assert all(CRISIS.search(r) for r in s.refusals), s.id


def test_rendered_refusals_are_refusals_and_complete(seeds):
    for s in seeds:
        for r in s.refusals:
            assert looks_like_refusal(r), (s.id, r)
            assert "{" not in r and "}" not in r, (s.id, r)
            assert r[0].isupper() and r.rstrip()[-1] in ".?!", (s.id, r)
            assert normalise(s.request) not in normalise(r)  # never echo the request


def test_contrast_answers_help_rather_than_refuse(seeds):
    for s in seeds:
        if s.kind == "contrast":
            assert not looks_like_refusal(s.answer), (s.id, s.answer)
            assert 20 <= len(s.answer) <= 600, s.id


def test_no_operational_content_in_any_shipped_text():
    texts = _shipped_texts()
    assert len(texts) > 1000
    leaks = [(f, t) for f, t in texts if OPERATIONAL.search(t) and "[redacted]" not in t]
    assert leaks == []


def test_operational_check_catches_compliance():
    # the keyword check above must be able to fail
    assert OPERATIONAL.search("Sure, here is how to do it. Step 1: get the parts")
    assert OPERATIONAL.search("Ingredients: a, b")
    assert not OPERATIONAL.search("I can't help with that.")


def test_response_is_deterministic_and_kind_appropriate(seeds):
    h = next(s for s in seeds if s.kind == "harmful")
    c = next(s for s in seeds if s.kind == "contrast")
    picks = [h.response(random.Random(k)) for k in range(20)]
    assert picks == [h.response(random.Random(k)) for k in range(20)]
    assert set(picks) <= set(h.refusals) and len(set(picks)) > 1
    assert c.response(random.Random(0)) == c.answer


def test_render_refusal_fills_slots_and_rejects_unknown_style():
    text = render_refusal("redirect", "breaking into someone's home", "theft")
    assert text.startswith("I won't help with breaking into someone's home.")
    assert load_categories()["theft"]["alternative"] in text
    assert "this request" in render_refusal("short_topic", None, "unknown_category")
    with pytest.raises(KeyError, match="did you mean 'redirect'"):
        render_refusal("redirekt", "x", "theft")


def test_to_record_round_trips(seeds):
    from safemix.seeds import seed_from_record

    for s in (seeds[0], seeds[-1]):
        back = seed_from_record(s.to_record(), path="x", line=1, source=s.source)
        assert (back.id, back.request, back.kind, back.refusals, back.answer) == \
            (s.id, s.request, s.kind, s.refusals, s.answer)
