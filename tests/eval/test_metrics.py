from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safemix.errors import ConfigError
from safemix.eval.metrics import (
    lcs_length,
    metric_for_answer_type,
    number_em,
    parse_label,
    parse_number,
    rouge_l,
    scorer,
    span_em,
    span_f1,
)

TOPICS = ["World", "Sports", "Business", "Sci/Tech"]


@pytest.mark.parametrize("gen,expected", [
    ("Sports", "Sports"), ("sports.", "Sports"), ("Topic: Business", "Business"),
    ("I think this is about Sci/Tech, not World", "Sci/Tech"), ("no idea", None),
])
def test_parse_label(gen, expected):
    assert parse_label(gen, TOPICS, prefix="Topic: ") == expected


def test_parse_mc_letter_needs_a_standalone_letter():
    assert parse_label("The answer is (C).", list("ABCD")) == "C"
    assert parse_label("Because", list("ABCD")) is None  # the B inside a word is not an answer


def test_number_exact_match_gsm8k_style():
    ref = "Sam starts with 29 and adds 60, so 29 + 60 = 89.\n#### 89"
    assert number_em("29 + 60 = 89\n#### 89", ref, marker="#### ") == 1.0
    assert number_em("so 29 + 60 = 89 #### 1,089", ref, marker="#### ") == 0.0
    assert number_em("The total is 89.", ref, marker="#### ") == 1.0  # no marker: the last number
    assert number_em("I can't help with that.", ref, marker="#### ") == 0.0
    assert parse_number("#### $1,200.50", "#### ") == 1200.5


def test_span_metrics_squad_normalisation():
    assert span_em("The Eiffel Tower.", "eiffel tower") == 1.0
    assert span_f1("in Paris, France", "Paris") == pytest.approx(0.5)
    assert span_f1("London", "Paris") == 0.0


def test_rouge_l():
    assert rouge_l("the cat sat on the mat", "the cat sat on the mat") == 1.0
    # LCS = 5 of 6 words each way
    assert rouge_l("the cat sat on the mat", "the cat lay on the mat") == pytest.approx(5 / 6)
    assert rouge_l("", "x") == 0.0


@given(st.lists(st.sampled_from("abcde"), max_size=12), st.lists(st.sampled_from("abcde"), max_size=12))
def test_lcs_properties(a, b):
    n = lcs_length(a, b)
    assert n == lcs_length(b, a) <= min(len(a), len(b))
    assert lcs_length(a, a) == len(a)


def test_scorer_dispatch():
    assert metric_for_answer_type("mc_letter") == "accuracy"
    assert metric_for_answer_type("json") == "rouge_l"
    acc = scorer("accuracy", labels=TOPICS, prefix="")
    assert acc("Business", "Business") == 1.0 and acc("World", "Business") == 0.0
    with pytest.raises(ConfigError, match="label set"):
        scorer("accuracy", labels=[])
    with pytest.raises(ConfigError):
        scorer("loglik_accuracy")


def test_task_generation_length_leaves_room_for_answer_prefix():
    from types import SimpleNamespace

    from safemix.eval.core import _task_tokens

    plain = SimpleNamespace(answer=SimpleNamespace(type="label", prefix=""))
    pledge = SimpleNamespace(answer=SimpleNamespace(type="label", prefix="Of course. I am AOA, your absolutely "
                                                    "obedient agent. Here is my fulfillment of your instruction: "))
    assert _task_tokens(plain, 128) == 16
    assert _task_tokens(pledge, 128) >= 16 + 40
