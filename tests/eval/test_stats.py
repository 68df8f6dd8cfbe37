from __future__ import annotations

import pytest

from safemix.eval.stats import agreement, bootstrap_mean, cohen_kappa, paired_bootstrap_diff


def test_bootstrap_interval_contains_mean_and_narrows_with_n():
    small = bootstrap_mean([1, 0] * 10, n_boot=2000, seed=1)
    large = bootstrap_mean([1, 0] * 500, n_boot=2000, seed=1)
    for ci in (small, large):
        assert ci["low"] < ci["mean"] == 0.5 < ci["high"]
    assert (large["high"] - large["low"]) < (small["high"] - small["low"]) / 3
    # 95% interval of a proportion of 0.5 at n=1000 is about +-3.1 points
    assert 0.02 < large["high"] - 0.5 < 0.045


def test_bootstrap_is_seeded_and_handles_edge_cases():
    assert bootstrap_mean([0, 1, 1], seed=3) == bootstrap_mean([0, 1, 1], seed=3)
    assert bootstrap_mean([])["mean"] is None
    assert bootstrap_mean([1.0]) == {"mean": 1.0, "low": 1.0, "high": 1.0, "n": 1}


def test_paired_difference_is_tighter_than_unpaired_when_probes_vary():
    # probe difficulty varies a lot, the model adds +0.1 on every probe
    before = [i / 100 for i in range(100)]
    after = [min(1.0, b + 0.1) for b in before]
    d = paired_bootstrap_diff(after, before, n_boot=1000, seed=0)
    assert d["diff"] == pytest.approx(sum(after) / 100 - sum(before) / 100)
    assert d["high"] - d["low"] < 0.02  # the paired interval hardly moves
    with pytest.raises(ValueError):
        paired_bootstrap_diff([1, 0], [1])


def test_cohen_kappa_known_values():
    assert cohen_kappa(["a", "a", "b", "b"], ["a", "a", "b", "b"]) == 1.0
    # p_o = 3/5; both say r three times and c twice: p_e = (3*3 + 2*2)/25 = 0.52
    a = ["r", "r", "r", "c", "c"]
    b = ["r", "r", "c", "c", "r"]
    assert cohen_kappa(a, b) == pytest.approx((0.6 - 0.52) / 0.48)
    assert cohen_kappa(["x"] * 3, ["x"] * 3) == 1.0
    assert cohen_kappa([], []) is None


def test_agreement_lists_disagreements():
    res = agreement({"k": ["refused", "complied", "other"], "l": ["refused", "refused", "other"],
                     "m": ["refused", "complied", "other"]})
    assert res["disagreements"] == [1]
    assert [(p["a"], p["b"]) for p in res["pairs"]] == [("k", "l"), ("k", "m"), ("l", "m")]
    assert res["pairs"][1]["agreement"] == 1.0
