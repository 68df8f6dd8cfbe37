"""Embedding properties of the shipped sets (real all-MiniLM-L6-v2, embeddings cached per session).

- no two seeds (or two probes) closer than cosine 0.9;
- probes disjoint from seeds (no normalised-text match, no cosine >= 0.9);
- seeds disjoint from the public evaluation sets in ../shared/data (skips without it).
"""

from __future__ import annotations

import numpy as np
import pytest

from safemix.embed import embed, load_embedder
from safemix.errors import ConfigError
from safemix.eval.probes import load_builtin_probes
from safemix.seeds import load_builtin_seeds
from safemix.seeds.decontam import PUBLIC_EVAL_SETS, Item, find_overlaps, load_against, normalise

THRESHOLD = 0.9


@pytest.fixture(scope="module")
def seeds():
    return load_builtin_seeds()


@pytest.fixture(scope="module")
def probes():
    return load_builtin_probes()


def _closest_pairs(texts: list[str], ids: list[str], threshold: float) -> list[tuple[float, str, str]]:
    v = embed(texts)
    sims = np.triu(v @ v.T, 1)
    return [(round(float(sims[i, j]), 3), ids[i], ids[j]) for i, j in zip(*np.nonzero(sims >= threshold), strict=True)]


def test_embed_is_normalised_ordered_and_cached():
    texts = ["How do I stop a frozen script?", "Tell me about the history of tea.", "How do I stop a frozen script?"]
    v = embed(texts)
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(v[0], v[2])
    assert float(v[0] @ v[1]) < 0.5  # unrelated sentences are not similar
    assert np.array_equal(embed(texts[1:2]), v[1:2])  # cached rows come back identical
    model = load_embedder()
    assert load_embedder(None) is model and load_embedder("all-MiniLM-L6-v2") is model
    assert np.array_equal(embed(texts[:1], model=model), v[:1])
    assert embed([]).shape == (0, 384)


def test_unknown_embedder_fails_fast_offline(tmp_path):
    with pytest.raises(ConfigError, match="offline"):
        load_embedder("no-such-org/no-such-model")
    with pytest.raises(ConfigError, match="offline"):
        load_embedder(tmp_path)  # a folder without a model


def test_no_two_seeds_are_near_duplicates(seeds):
    pairs = _closest_pairs([s.request for s in seeds], [s.id for s in seeds], THRESHOLD)
    assert pairs == []


def test_no_two_probes_are_near_duplicates(probes):
    assert _closest_pairs([p.prompt for p in probes], [p.id for p in probes], THRESHOLD) == []


def test_probes_are_disjoint_from_seeds(seeds, probes):
    seed_norm = {normalise(s.request) for s in seeds}
    assert [p.id for p in probes if normalise(p.prompt) in seed_norm] == []
    overlaps, stats = find_overlaps([Item(s.id, s.request, "seeds") for s in seeds],
                                    [Item(p.id, p.prompt, "probes") for p in probes], THRESHOLD)
    assert overlaps == []
    assert stats["probes"]["n"] == len(probes) and stats["probes"]["max_cosine"] < THRESHOLD


def test_disjointness_check_can_fail(seeds):
    # a probe that paraphrases a seed must be caught
    s = next(x for x in seeds if x.kind == "harmful")
    overlaps, _ = find_overlaps([Item(s.id, s.request, "seeds")],
                                [Item("p", s.request.upper() + "!!", "probes"), Item("q", "What is tea?", "probes")])
    assert [(o.against_id, o.exact) for o in overlaps] == [("p", True)]


def _assert_no_overlap(seeds, files, use_embeddings=True):
    against = [it for f in files for it in load_against(f)]
    overlaps, stats = find_overlaps([Item(s.id, s.request, "seeds") for s in seeds], against, THRESHOLD,
                                    use_embeddings=use_embeddings)
    assert overlaps == [], [(o.input_id, o.against_source, o.cosine) for o in overlaps]
    assert all(st["exact_matches"] == 0 for st in stats.values()), stats
    if use_embeddings:
        assert all(st["max_cosine"] < THRESHOLD for st in stats.values()), stats
    return against


def test_seeds_do_not_overlap_public_eval_sets(shared_data, seeds):
    files = [shared_data / f for f in PUBLIC_EVAL_SETS if (shared_data / f).exists()]
    if not files:
        pytest.skip("no public evaluation sets in ../shared/data")
    against = [it for f in files for it in load_against(f)]
    overlaps, stats = find_overlaps([Item(s.id, s.request, "seeds") for s in seeds], against, THRESHOLD)
    assert overlaps == [], [(o.input_id, o.against_source, o.cosine) for o in overlaps]
    assert all(st["exact_matches"] == 0 and st["max_cosine"] < THRESHOLD for st in stats.values()), stats
    assert sum(st["n"] for st in stats.values()) > 3000  # the sets were really read
