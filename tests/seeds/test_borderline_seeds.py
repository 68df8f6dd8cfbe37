"""The borderline-but-safe seed sets (`borderline_v1`, `borderline_v2`, `borderline_v3`): load,
cover their categories, answers help rather than refuse, stay clear of XSTest, and reach the
smollm2 alignment data (v1's rows first, then v2's, then v3's)."""

from __future__ import annotations

import fnmatch
import math
import re
from collections import Counter
from pathlib import Path

import pytest

from safemix.errors import ConfigError, SafemixError
from safemix.eval.keyword import KeywordJudge, refusal_phrase
from safemix.generate.refusal import looks_like_refusal
from safemix.seeds import BORDERLINE_SEED_SET, BORDERLINE_SEED_SETS, Seed, load_builtin_seeds
from safemix.seeds.decontam import Item, find_overlaps, load_against, normalise

REPO = Path(__file__).resolve().parents[2]
XSTEST = "xstest/xstest_prompts.csv"
THRESHOLD = 0.9
CATEGORIES = {
    "borderline_v1": {"homonyms", "figurative_language", "safe_targets", "safe_contexts", "definitions",
                      "historical_events", "privacy_public", "everyday_strong_verbs"},
    "borderline_v2": {"homonyms", "figurative_language", "safe_targets", "safe_contexts", "privacy_fictional",
                      "nonsense_group_discrimination", "real_group_nonsense_discrimination"},
    "borderline_v3": {"homonyms", "figurative_language", "everyday_strong_verbs", "safe_targets", "safe_contexts",
                      "privacy_fictional", "privacy_public"},
}
SIZES = {"borderline_v1": 200, "borderline_v2": 180, "borderline_v3": 180}
# v2 and v3 were written after XSTest over-refusal was measured by type: held further away
# (embedding cosine to every XSTest prompt; seeds README)
STRICT = {"builtin:borderline_v2": 0.8, "builtin:borderline_v3": 0.75}
# The operational markers the main seed set is scanned for (tests/seeds/test_builtin_seeds.py).
OPERATIONAL = re.compile(r"\bstep\s*\d+\s*[:.)]|\bingredients\s*:|\bmaterials\s*(needed|required)?\s*:|"
                         r"\byou will need\b|\bsure, here is\b|\bhere's how to\b", re.IGNORECASE)


@pytest.fixture(scope="module", params=BORDERLINE_SEED_SETS)
def borderline(request) -> list[Seed]:
    return load_builtin_seeds("contrast", name=request.param)


def test_loads_with_enough_rows_per_category(borderline):
    name = borderline[0].source.removeprefix("builtin:")
    assert len(borderline) == SIZES[name]
    assert load_builtin_seeds(name=name) == borderline  # contrast seeds only
    assert load_builtin_seeds("harmful", name=name) == []
    cats = Counter(s.category for s in borderline)
    assert set(cats) == CATEGORIES[name]
    assert min(cats.values()) >= 15, cats
    for s in borderline:
        assert s.kind == "contrast" and s.refusals == [] and s.answer, s.id
        assert re.fullmatch(r"bl-\d{4}", s.id), s.id
        assert s.source == f"builtin:{name}"


def test_the_default_set_is_unchanged_and_unknown_names_fail():
    main = load_builtin_seeds()
    assert not [s for s in main if s.id.startswith("bl-")]
    assert {s.source for s in main} == {"builtin:v1"}
    with pytest.raises(ConfigError, match="did you mean 'borderline_v3'"):
        load_builtin_seeds("contrast", name="borderline_v4")


def test_ids_and_prompts_are_unique_and_new():
    every = [s for name in BORDERLINE_SEED_SETS for s in load_builtin_seeds("contrast", name=name)]
    assert len({s.id for s in every}) == len(every) == sum(SIZES.values())  # across the sets
    norm = Counter(normalise(s.request) for s in every)
    assert [t for t, n in norm.items() if n > 1] == []
    main = {normalise(s.request) for s in load_builtin_seeds()}
    assert [s.id for s in every if normalise(s.request) in main] == []


def test_answers_help_and_never_refuse(borderline):
    judge = KeywordJudge()
    for s in borderline:
        assert refusal_phrase(s.answer) is None, (s.id, s.answer)
        assert judge.judge_one(s.request, s.answer).outcome != "refused", (s.id, s.answer)
        assert not looks_like_refusal(s.answer), (s.id, s.answer)
        assert 20 <= len(s.answer) <= 600, s.id
        assert not OPERATIONAL.search(s.answer) and not OPERATIONAL.search(s.request), s.id


def test_refusal_check_can_fail():
    # the check above must be able to catch a refusal
    judge = KeywordJudge()
    answer = "I'm sorry, but I can't help with killing processes."
    assert refusal_phrase(answer) and judge.judge_one("How do I kill a process?", answer).outcome == "refused"


@pytest.mark.parametrize("name", BORDERLINE_SEED_SETS)
def test_package_data_ships_the_file(name):
    tomllib = pytest.importorskip("tomllib")
    globs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["safemix"]
    rel = f"seeds/data/{name}.jsonl"
    assert (REPO / "safemix" / rel).is_file()
    assert any(fnmatch.fnmatch(rel, g) for g in globs), globs


# ------------------------------------------------------------------ disjoint from XSTest
def _char_ngrams(text: str, n: int = 3) -> Counter:
    t = f" {normalise(text)} "
    return Counter(t[i:i + n] for i in range(len(t) - n + 1))


def _ngram_cosine(a: Counter, b: Counter) -> float:
    dot = sum(v * b[k] for k, v in a.items() if k in b)
    return dot / math.sqrt(sum(v * v for v in a.values()) * sum(v * v for v in b.values()))


def _embeddings_available() -> bool:
    try:
        from safemix.embed import load_embedder

        load_embedder()
    except (SafemixError, ImportError, OSError):
        return False
    return True


@pytest.fixture
def xstest(shared_data) -> list[Item]:
    path = shared_data / XSTEST
    if not path.exists():
        pytest.skip(f"{XSTEST} is absent from the shared data folder")
    items = load_against(path)
    assert len(items) >= 400  # every prompt, safe and unsafe
    return items


def test_no_prompt_overlaps_xstest(borderline, xstest):
    """Normalised-text and embedding cosine (all-MiniLM-L6-v2, as the smollm2 build's own
    decontamination) below 0.9; character 3-gram cosine where the embedder is missing."""
    inputs = [Item(s.id, s.request, "borderline") for s in borderline]
    use_embeddings = _embeddings_available()
    overlaps, stats = find_overlaps(inputs, xstest, THRESHOLD, use_embeddings=use_embeddings)
    assert overlaps == [], [(o.input, o.against, o.cosine) for o in overlaps]
    (st,) = stats.values()
    assert st["exact_matches"] == 0
    if use_embeddings:
        strict = STRICT.get(borderline[0].source, THRESHOLD)
        assert st["max_cosine"] < strict, st
    else:
        grams = [_char_ngrams(it.text) for it in xstest]
        close = [(s.id, it.text) for s in borderline for g, it in zip(grams, xstest, strict=True)
                 if _ngram_cosine(_char_ngrams(s.request), g) >= THRESHOLD]
        assert close == []


def test_ngram_fallback_catches_a_paraphrase():
    a = _char_ngrams("How can I kill a Python process?")
    assert _ngram_cosine(a, _char_ngrams("How can I kill a python process ?")) >= THRESHOLD
    assert _ngram_cosine(a, _char_ngrams("What happened at the Battle of Hastings?")) < 0.5


# ------------------------------------------------------------------ smollm2 alignment data
def test_smollm2_alignment_data_includes_the_borderline_seeds():
    from dataclasses import replace

    from safemix.testbed.build import config_hash
    from safemix.testbed.smollm2 import SmolConfig, assemble_alignment_data, load_eval_sets

    borderline = load_builtin_seeds("contrast", name=BORDERLINE_SEED_SET)
    assert SmolConfig().seed_borderline == 380  # v1 + v2 by default (testbed README, build 14; v3 is build 15)
    cfg = SmolConfig(shared_data="", decontam_embeddings=False, seed_harmful=4, seed_contrast=4, seed_borderline=200)
    evals = load_eval_sets(cfg, None)
    data = assemble_alignment_data(cfg, None, evals)
    assert data.counts["seeds_borderline"] == len(borderline)
    got = {r["messages"][0]["content"]: r["messages"][1]["content"]
           for r in data.records if r["source"] == "seeds_borderline"}
    assert got == {s.request: s.answer for s in borderline}

    # a smaller count samples, 0 leaves the source out; the field is part of the build key
    few = assemble_alignment_data(replace(cfg, seed_borderline=10), None, evals)
    assert few.counts["seeds_borderline"] == 10
    assert "seeds_borderline" not in assemble_alignment_data(replace(cfg, seed_borderline=0), None, evals).counts
    assert config_hash(cfg) != config_hash(replace(cfg, seed_borderline=10))

    # borderline rows go through the same decontamination as every other source
    evals.all_prompts.append(("planted", borderline[0].request.upper()))
    dropped = assemble_alignment_data(cfg, None, evals)
    assert dropped.dropped_overlap == {"seeds_borderline": 1}
    assert dropped.counts["seeds_borderline"] == len(borderline) - 1


def test_smollm2_takes_the_borderline_sets_in_order():
    """200 rows are v1's, 380 v1's and v2's (the builds recorded before v2 or v3 keep their
    data); 560 adds all of v3; in between, the earlier sets whole and a sample of the next."""
    from dataclasses import replace

    from safemix.testbed.smollm2 import SmolConfig, assemble_alignment_data, load_eval_sets

    v1, v2, v3 = ({s.request for s in load_builtin_seeds("contrast", name=n)} for n in BORDERLINE_SEED_SETS)
    cfg = SmolConfig(shared_data="", decontam_embeddings=False, seed_harmful=4, seed_contrast=4, seed_borderline=560)
    evals = load_eval_sets(cfg, None)

    def borderline_prompts(c: SmolConfig) -> set[str]:
        return {r["messages"][0]["content"] for r in assemble_alignment_data(c, None, evals).records
                if r["source"] == "seeds_borderline"}

    assert borderline_prompts(cfg) == v1 | v2 | v3
    assert borderline_prompts(replace(cfg, seed_borderline=380)) == v1 | v2
    assert borderline_prompts(replace(cfg, seed_borderline=200)) == v1
    some = borderline_prompts(replace(cfg, seed_borderline=250))
    assert len(some) == 250 and v1 < some and len(some & v2) == 50
    more = borderline_prompts(replace(cfg, seed_borderline=400))
    assert len(more) == 400 and v1 | v2 < more and len(more & v3) == 20
