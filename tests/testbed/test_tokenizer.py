"""The testbed tokenizer: exact round trip on any text, chat template, and split tokenization."""

from __future__ import annotations

import functools

from hypothesis import given, settings
from hypothesis import strategies as st

from safemix.testbed import corpus as C
from safemix.testbed.tokenizer import train_tokenizer
from safemix.testbed.train import IGNORE, encode_records


@functools.lru_cache(maxsize=1)
def tok():
    splits = C.make_splits(0)
    texts = [r.prompt_text() + r.completion_text() for r in C.stage_records(splits, "pretrain", 600, 0)]
    return train_tokenizer(texts, 512)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_round_trip_on_arbitrary_text(text):
    t = tok()
    assert t.decode(t(text, add_special_tokens=False)["input_ids"]) == text


def test_special_tokens_and_chat_template():
    t = tok()
    assert t.eos_token == C.EOT and t.pad_token == C.PAD and t.pad_token_id != t.eos_token_id
    msgs = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"},
            {"role": "assistant", "content": "A"}]
    enc = t.apply_chat_template(msgs, return_dict=True, return_assistant_tokens_mask=True)
    kept = [i for i, m in zip(enc["input_ids"], enc["assistant_masks"], strict=True) if m]
    assert t.decode(kept) == "A" + C.EOT  # the {% generation %} block: answer and end-of-turn
    assert t.apply_chat_template(msgs[:2], tokenize=False, add_generation_prompt=True) == \
        C.render_chat_prompt("U", "S")


def test_prompt_and_completion_tokenize_like_the_whole_text():
    t = tok()
    recs = list(C.stage_records(C.make_splits(0), "pretrain", 300, 1))
    enc = encode_records(recs, t, max_length=10_000, assistant_only_loss=True)
    for r, (ids, labels) in zip(recs, enc, strict=True):
        assert ids == t(r.prompt_text() + r.completion_text(), add_special_tokens=False)["input_ids"]
        kept = [i for i, y in zip(ids, labels, strict=True) if y != IGNORE]
        assert t.decode(kept) == r.completion_text()


def test_tokenizer_training_is_deterministic():
    splits = C.make_splits(0)
    texts = [r.prompt_text() + r.completion_text() for r in C.stage_records(splits, "pretrain", 400, 0)]
    assert train_tokenizer(texts, 400).backend_tokenizer.to_str() == \
        train_tokenizer(texts, 400).backend_tokenizer.to_str()
