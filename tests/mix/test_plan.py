"""Planning maths: exact counts, the spread window property, seeded selection and positions."""

from __future__ import annotations

import math
from collections import Counter
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safemix.errors import ConfigError
from safemix.mix.config import MixConfig
from safemix.mix.plan import (
    count_for_ratio,
    count_for_token_ratio,
    normalise_prompt,
    positions,
    selection,
    shuffle_positions,
    spread_positions,
)

ratios = st.integers(0, 999).map(lambda k: k / 1000)


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 2_000_000), r=ratios)
def test_count_for_ratio_is_within_one_example(n, r):
    s = count_for_ratio(n, r)
    # realised share S/(N+S) is r up to less than one example of the mixed job
    assert abs(s - Fraction(repr(r)) * (n + s)) < 1
    # and S is the closest integer: one more or one fewer is never strictly better
    exact = Fraction(repr(r)) * n / (1 - Fraction(repr(r)))
    assert abs(s - exact) <= Fraction(1, 2)


def test_count_for_ratio_known_values():
    assert count_for_ratio(95, 0.05) == 5
    assert count_for_ratio(1_000_000, 0.05) == 52632  # 52631.58 -> 52632
    assert count_for_ratio(1_000_000, 0) == 0
    assert count_for_ratio(3, 0.5) == 3
    with pytest.raises(ConfigError):
        count_for_ratio(10, 1.0)


@settings(max_examples=300, deadline=None)
@given(total=st.integers(1, 400), data=st.data())
def test_spread_window_property(total, data):
    s = data.draw(st.integers(0, total))
    pos = spread_positions(total, s)
    assert pos == sorted(set(pos)) and all(0 <= p < total for p in pos) and len(pos) == s
    is_safety = [0] * total
    for p in pos:
        is_safety[p] = 1
    prefix = [0]
    for x in is_safety:
        prefix.append(prefix[-1] + x)
    r = Fraction(s, total)
    k = data.draw(st.integers(1, total))
    for a in range(total - k + 1):  # every window of k consecutive rows
        got = prefix[a + k] - prefix[a]
        assert math.floor(k * r) <= got <= math.ceil(k * r), (total, s, k, a, got)


def test_spread_large_is_exact_and_distinct():
    total, s = 1_052_632, 52_632
    pos = spread_positions(total, s)
    assert len(set(pos)) == s and pos[-1] < total
    gaps = Counter(b - a for a, b in zip(pos, pos[1:], strict=False))
    assert set(gaps) <= {19, 20}  # T/S = 20.0000...: every batch of 20 sees one safety row


def test_shuffle_and_append_positions():
    a = shuffle_positions(1000, 50, seed=1)
    assert a == shuffle_positions(1000, 50, seed=1) and a != shuffle_positions(1000, 50, seed=2)
    assert len(set(a)) == 50 and a == sorted(a)
    assert positions("append", 10, 3, 0) == [7, 8, 9]
    with pytest.raises(ConfigError, match="unknown mix strategy"):
        positions("random", 10, 3, 0)


def test_selection_nests_and_repeats_evenly():
    small, big = selection(100, 10, seed=3), selection(100, 40, seed=3)
    assert big[:10] == small  # a 1% mix's rows are a subset of a 5% mix's
    assert len({i for i, _ in big}) == 40
    with pytest.raises(ConfigError, match="only 100 available"):
        selection(100, 101, seed=3)
    rep = selection(7, 30, seed=0, allow_repeat=True)
    uses = Counter(i for i, _ in rep)
    assert set(uses) == set(range(7)) and set(uses.values()) <= {4, 5}  # floor/ceil of 30/7
    assert selection(7, 30, seed=0, allow_repeat=True) == rep


@settings(max_examples=200, deadline=None)
@given(user=st.integers(1, 100_000), toks=st.lists(st.integers(1, 300), min_size=1, max_size=200), r=ratios)
def test_token_ratio_within_one_example(user, toks, r):
    s = count_for_token_ratio(user, toks, r)
    target = Fraction(repr(r)) * user / (1 - Fraction(repr(r)))
    if s < 0:
        assert sum(toks) < target
        return
    got = sum(toks[:s])
    assert abs(got - target) <= max(toks[: s + 1]) / 2 + Fraction(1, 10**9)


def test_normalise_prompt():
    assert normalise_prompt("  Hello\tWORLD \n") == normalise_prompt("hello world")
    assert normalise_prompt("ｆｕｌｌ width") == "full width"  # NFKC
    assert normalise_prompt("hello, world") != normalise_prompt("hello world")


@pytest.mark.parametrize("kw, msg", [
    ({"ratio": 1.0}, "ratio must be in"), ({"ratio": -0.1}, "ratio must be in"),
    ({"ratio": [0.1, 1.5]}, "ratio must be in"), ({"count": -1}, "count must be"),
    ({"ratio": 0.1, "count": 3}, "either ratio or count"), ({"strategy": "spred", "ratio": 0.1}, "did you mean 'spread'"),
    ({"ratio": 0.1, "ratio_unit": "tokens"}, "needs a tokenizer"),
])
def test_config_rejects_bad_values(kw, msg):
    with pytest.raises(ConfigError, match=msg):
        MixConfig(**kw)


def test_config_needs_an_amount_and_loads_from_recipe(tmp_path):
    from safemix.config import load_config

    with pytest.raises(ConfigError, match="give a ratio"):
        MixConfig().amounts()
    recipe = tmp_path / "r.yaml"
    recipe.write_text("mix:\n  ratio: [0, 0.01, 0.05]\n  strategy: shuffle\n")
    cfg = load_config(MixConfig, recipe, ["seed=3"], section="mix")
    assert cfg.amounts() == [("ratio", 0.0), ("ratio", 0.01), ("ratio", 0.05)] and cfg.seed == 3
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(MixConfig, recipe, ["ratoi=0.1"], section="mix")


@settings(max_examples=40, deadline=None)
@given(n_user=st.integers(1, 30), data=st.data())
def test_streaming_writer_places_rows_at_planned_positions(n_user, data):
    """The block-wise JSONL writer (tiny read blocks, blank lines, no final newline) puts every
    safety row at its planned position and copies user rows byte for byte, in order."""
    import json
    import tempfile
    from pathlib import Path

    from safemix.mix import core

    strategy = data.draw(st.sampled_from(["spread", "shuffle", "append"]))
    count = data.draw(st.integers(0, 12))
    block = data.draw(st.integers(1, 200))
    blanks = data.draw(st.lists(st.booleans(), min_size=n_user, max_size=n_user))
    lines = []
    for i in range(n_user):
        lines.append(json.dumps({"messages": [{"role": "user", "content": f"question {i}"},
                                              {"role": "assistant", "content": f"answer {i}"}]}).encode())
        if blanks[i]:
            lines.append(b"  ")
    with tempfile.TemporaryDirectory() as d:
        job, safety = Path(d) / "job.jsonl", Path(d) / "safety.jsonl"
        job.write_bytes(b"\n".join(lines))  # no final newline
        safety.write_text("".join(json.dumps({"messages": [
            {"role": "user", "content": f"Tell me how to steal a car ({k})"},
            {"role": "assistant", "content": "I can't help with that."}]}) + "\n" for k in range(12)))
        cfg = MixConfig(count=count, strategy=strategy, seed=5, safety=str(safety), show_progress=False)
        old, core._READ_BLOCK = core._READ_BLOCK, block
        try:
            core.mix_files(job, Path(d) / "out.jsonl", cfg)
        finally:
            core._READ_BLOCK = old
        out = (Path(d) / "out.jsonl").read_bytes().split(b"\n")
        prov = [json.loads(x) for x in (Path(d) / "out.provenance.jsonl").read_text().splitlines()]
        assert out[-1] == b"" and len(out) - 1 == len(prov) == n_user + count
        expect = positions(strategy, n_user + count, count, 5)
        assert [p["row"] for p in prov if p["source"] != "user"] == expect
        job_lines = job.read_bytes().split(b"\n")
        users = [(p["job_line"], out[p["row"]]) for p in prov if p["source"] == "user"]
        assert [u for u, _ in users] == sorted(u for u, _ in users)
        assert all(row == job_lines[ln - 1] for ln, row in users)


def test_runs_is_the_order_of_the_positions():
    """plan.runs (the one interleave every writer follows) puts safety row k at positions[k]."""
    import random

    from safemix.mix.plan import positions, runs

    rng = random.Random(0)
    for _ in range(300):
        n_user, n_safety = rng.randrange(0, 30), rng.randrange(0, 12)
        pos = positions(rng.choice(["spread", "shuffle", "append"]), n_user + n_safety, n_safety, rng.randrange(9))
        order = [(kind, i) for kind, a, b in runs(n_user, pos) for i in range(a, b)]
        assert [r for r, (kind, _) in enumerate(order) if kind == "safety"] == pos
        assert [i for kind, i in order if kind == "user"] == list(range(n_user))
        assert [i for kind, i in order if kind == "safety"] == list(range(n_safety))
        assert all(b > a for _, a, b in runs(n_user, pos))
