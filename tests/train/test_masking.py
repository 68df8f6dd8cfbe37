"""Loss masking: exact per-token labels for any chat template, checked before training."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safemix.errors import InputError
from safemix.testing import tiny_tokenizer
from safemix.train.data import (
    IGNORE,
    Located,
    masking_problem,
    render_masking,
    token_table,
    tokenize_examples,
    verify_masking,
)

TOK = tiny_tokenizer()
# A template with no {% generation %} markers and no generation prompt (Mistral-like).
INST_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}[INST] {{ m['content'] }} [/INST]"
    "{% elif m['role'] == 'assistant' %} {{ m['content'] }}{{ eos_token }}"
    "{% else %}{{ m['content'] }}\n\n{% endif %}{% endfor %}")
# Renders the last assistant turn differently from earlier ones: prefixes do not line up.
LAST_TURN_TEMPLATE = (
    "{% for m in messages %}{% if loop.last and m['role'] == 'assistant' %}<final>{% endif %}"
    "{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<final>assistant: {% endif %}")


def tok_with(template: str | None):
    t = tiny_tokenizer()
    if template:
        t.chat_template = template
    return t


def ex(*turns, weights=None, system=None, line=1) -> Located:
    msgs = [{"role": "system", "content": system}] if system else []
    for i, text in enumerate(turns):
        m = {"role": "user" if i % 2 == 0 else "assistant", "content": text}
        if weights and m["role"] == "assistant" and weights[i // 2] is not None:
            m["weight"] = weights[i // 2]
        msgs.append(m)
    return Located(msgs, "job.jsonl", line)


def trained_ids(t) -> list[int]:
    return [i for i, lab in zip(t.input_ids, t.labels, strict=True) if lab != IGNORE]


def ids(tok, text: str) -> list[int]:
    return tok(text, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize(("template", "lead"), [(None, ""), (INST_TEMPLATE, " ")],
                         ids=["chatml-generation-markers", "no-markers"])
def test_completion_only_trains_exactly_the_answers(template, lead):
    tok = tok_with(template)
    e = ex("What is 12 plus 7?", "The answer is 19.", "And 1 plus 1?", "2", system="You are a helpful assistant.")
    (t,) = tokenize_examples(tok, [e])
    end = "<|im_end|>"  # the eos/end-of-turn token of both templates
    # `lead`: the INST template puts a space between "[/INST]" and the answer
    assert trained_ids(t) == ids(tok, lead + "The answer is 19." + end) + ids(tok, lead + "2" + end)
    assert masking_problem(tok, e, t, "completion_only") is None
    text = tok.decode(t.input_ids)
    assert "What is 12 plus 7?" in text and "helpful assistant" in text  # the prompt is there...
    prompt_labels = t.labels[:len(ids(tok, tok.apply_chat_template(e.messages[:2], tokenize=False,
                                                                    add_generation_prompt=True)))]
    assert set(prompt_labels) == {IGNORE}  # ...and not trained


def test_weight_zero_turn_is_not_trained_in_either_mode():
    e = ex("q1", "first answer", "q2", "second answer", weights=[0, 1])
    for masking in ("completion_only", "all"):
        (t,) = tokenize_examples(TOK, [e], masking)
        trained = TOK.decode(trained_ids(t))
        assert "second answer" in trained and "first answer" not in trained
        assert masking_problem(TOK, e, t, masking) is None


def test_all_masking_trains_every_token():
    e = ex("What is 2 plus 2?", "4")
    (t,) = tokenize_examples(TOK, [e], "all")
    assert t.labels == t.input_ids


def test_template_whose_prefixes_do_not_line_up_is_an_error():
    tok = tok_with(LAST_TURN_TEMPLATE)
    single = ex("hi", "hello")
    (t,) = tokenize_examples(tok, [single])  # one turn: the cut is still exact
    assert tok.decode(trained_ids(t)).strip() == "hello"
    with pytest.raises(InputError, match=r"job.jsonl:7: field 'messages\[1\]'.*masking=all"):
        tokenize_examples(tok, [ex("q1", "a1", "q2", "a2", line=7)])
    tokenize_examples(tok, [ex("q1", "a1", "q2", "a2")], "all")  # all: no cut needed


def test_example_with_nothing_to_train_fails_with_its_line():
    long_prompt = "word " * 200
    examples = [ex("fine", "ok", line=1), ex(long_prompt, "answer", line=2), ex("q", "a", weights=[0], line=3)]
    toks = tokenize_examples(TOK, examples, max_seq_length=64)
    with pytest.raises(InputError, match=r"job.jsonl:2: .*no token is trained.*max_seq_length=64"):
        verify_masking(TOK, examples, toks, "completion_only", 64)
    keep = verify_masking(TOK, examples, toks, "completion_only", 64, on_untrainable="drop")
    assert keep == [0]


def test_the_check_catches_a_trained_prompt_token():
    e = ex("What is 3 plus 4?", "7")
    (t,) = tokenize_examples(TOK, [e])
    t.labels[2] = t.input_ids[2]  # corrupt: train one prompt token
    assert "prompt token" in masking_problem(TOK, e, t, "completion_only")
    (t,) = tokenize_examples(TOK, [e], "all")  # labels of `all` are not completion-only
    assert "prompt token" in masking_problem(TOK, e, t, "completion_only")
    with pytest.raises(InputError, match="loss masking check failed"):
        verify_masking(TOK, [e], [t], "completion_only")


def test_other_formats_tokenize(tmp_path):
    from pathlib import Path

    from safemix.train.data import read_training_examples

    fx = Path(__file__).resolve().parents[1] / "fixtures"
    examples = read_training_examples([str(fx / "math_pc.jsonl"), str(fx / "mcq_alpaca.json")])
    toks = tokenize_examples(TOK, examples, max_seq_length=512)
    assert len(verify_masking(TOK, examples, toks, "completion_only", 512)) == len(examples)
    assert {e.path for e in examples} == {str(fx / "math_pc.jsonl"), str(fx / "mcq_alpaca.json")}


def test_debug_views():
    (t,) = tokenize_examples(TOK, [ex("What is 1 plus 1?", "2")])
    coloured = render_masking(TOK, t)
    assert "\x1b[42;30m2<|im_end|>\x1b[0m" in coloured
    assert "«2<|im_end|>»" in render_masking(TOK, t, color=False)
    table = token_table(TOK, t)
    assert table.count("\n") + 1 == len(t.input_ids) and " -100 " in table


TEXT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789 .,?!:", min_size=1, max_size=30)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(turns=st.lists(st.tuples(TEXT, TEXT, st.sampled_from([None, 0, 1])), min_size=1, max_size=3),
       system=st.one_of(st.none(), TEXT))
def test_property_trained_tokens_are_the_trainable_answers(turns, system):
    flat = [x for u, a, _ in turns for x in (u, a)]
    e = ex(*flat, weights=[w for _, _, w in turns], system=system)
    (t,) = tokenize_examples(TOK, [e])
    expected = [i for u, a, w in turns if w != 0 for i in ids(TOK, a + "<|im_end|>")]
    assert trained_ids(t) == expected
    if expected:
        assert masking_problem(TOK, e, t, "completion_only") is None
