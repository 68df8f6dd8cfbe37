"""The `hf` backend on a tiny real Llama: batching, left padding, order, eos, stop strings."""

from __future__ import annotations

import re

import pytest

from safemix.errors import ConfigError
from safemix.llm import get_backend
from safemix.llm.hf import cut_at_eos, left_pad

MAX_NEW = 12


def backend(tiny_lm, **kw):
    model, tok = tiny_lm
    return get_backend("hf", model=model, tokenizer=tok, progress=False, **kw)


def test_batched_equals_per_sample_greedy(tiny_lm, make_convs):
    convs = make_convs(10)
    batched = backend(tiny_lm, batch_size=4).chat(convs, max_new_tokens=MAX_NEW)
    single = backend(tiny_lm, batch_size=1).chat(convs, max_new_tokens=MAX_NEW)
    assert batched == single
    # the comparison means something only if the answers depend on the prompt
    assert len(set(batched)) >= 8


def test_order_is_preserved(tiny_lm, make_convs):
    convs = make_convs(9)
    b = backend(tiny_lm, batch_size=3)
    out = b.chat(convs, max_new_tokens=MAX_NEW)
    perm = [4, 0, 8, 2, 6, 1, 7, 3, 5]
    assert b.chat([convs[i] for i in perm], max_new_tokens=MAX_NEW) == [out[i] for i in perm]


def test_a_prompt_answers_the_same_alone_and_beside_much_longer_ones(tiny_lm):
    short = [{"role": "user", "content": "hi"}]
    long = [{"role": "user", "content": "tell me more about the quick brown fox " * 6}]
    b = backend(tiny_lm, batch_size=4)
    alone = b.chat([short], max_new_tokens=MAX_NEW)[0]
    padded = b.chat([long, short, long], max_new_tokens=MAX_NEW)
    assert padded[1] == alone


def test_left_padding():
    ids, mask = left_pad([[5, 6, 7], [8], []], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8], [0, 0, 0]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1], [0, 0, 0]]


def test_the_tokenizer_is_left_untouched(tiny_lm, make_convs):
    _, tok = tiny_lm
    side = tok.padding_side
    backend(tiny_lm, batch_size=4).chat(make_convs(4), max_new_tokens=2)
    assert tok.padding_side == side


def test_only_new_tokens_are_returned_and_counted(tiny_lm, make_convs):
    convs = make_convs(4)
    b = backend(tiny_lm, batch_size=2)
    out = b.chat(convs, max_new_tokens=MAX_NEW)
    prompt_lens = [len(b.encode_chat(c)) for c in convs]
    s = b.stats
    assert (s.requests, s.completed, s.failed) == (4, 4, 0)
    assert s.prompt_tokens == sum(prompt_lens)
    assert s.completion_tokens == 4 * MAX_NEW  # a random model never says eos here
    for c, o in zip(convs, out, strict=True):
        assert c[0]["content"] not in o and "assistant" not in o


def test_generation_stops_at_eos(tiny_lm, make_convs, make_varied_llama):
    """Make the first greedy token of prompt 0 the eos token: its answer is empty, the
    others (whose answers do not contain it) run to max_new_tokens."""
    import torch

    _, tok = tiny_lm
    convs = make_convs(4)
    probe = backend(tiny_lm)
    ids = torch.tensor([probe.encode_chat(convs[0])])
    with torch.no_grad():
        first = int(probe.model(input_ids=ids).logits[0, -1].argmax())
    model = make_varied_llama(tok)
    model.generation_config.eos_token_id = first
    b = get_backend("hf", model=model, tokenizer=tok, batch_size=4, progress=False)
    out = b.chat(convs, max_new_tokens=MAX_NEW)
    assert out[0] == ""
    assert b.stats.completion_tokens < 4 * MAX_NEW
    assert cut_at_eos([3, 9, 2, 0, 0], [2]) == [3, 9]
    assert cut_at_eos([3, 9], [2]) == [3, 9]


def test_stop_strings_cut_the_answer(tiny_lm, make_convs):
    convs = make_convs(6)
    b = backend(tiny_lm, batch_size=3)
    full = b.chat(convs, max_new_tokens=MAX_NEW)
    # a stop string that occurs inside one of the answers, after its start
    target = next(o for o in full if re.search(r"[A-Za-z]{2}", o[1:]))
    stop = re.search(r"[A-Za-z]{2}", target[1:]).group(0)
    cut = b.chat(convs, max_new_tokens=MAX_NEW, stop=[stop])
    assert all(stop not in o for o in cut)
    assert cut == [o[: o.index(stop)] if stop in o else o for o in full]


def test_sampling_is_reproducible_with_a_seed(tiny_lm, make_convs):
    convs = make_convs(4)
    b = backend(tiny_lm, batch_size=4)
    a = b.chat(convs, max_new_tokens=MAX_NEW, temperature=1.0, seed=3)
    assert b.chat(convs, max_new_tokens=MAX_NEW, temperature=1.0, seed=3) == a
    assert b.chat(convs, max_new_tokens=MAX_NEW, temperature=1.0, seed=4) != a


def test_complete_uses_the_raw_prompt(tiny_lm):
    _, tok = tiny_lm
    b = backend(tiny_lm, batch_size=2)
    prompts = ["Question: What is 12 plus 7?\nAnswer:", "Topic:"]
    out = b.complete(prompts, max_new_tokens=5)
    assert len(out) == 2 and all(isinstance(o, str) for o in out)
    assert b.stats.prompt_tokens == sum(len(tok(p)["input_ids"]) for p in prompts)
    # the chat template was not applied: a templated prompt is longer and answers differently
    assert b.stats.prompt_tokens < sum(len(b.encode_chat([{"role": "user", "content": p}])) for p in prompts)


def test_loads_a_model_directory(tmp_path, make_convs):
    from safemix.testing import save_tiny_model

    path = save_tiny_model(tmp_path / "tiny")
    b = get_backend("hf", model=str(path), batch_size=2, progress=False)
    out = b.chat(make_convs(3), max_new_tokens=4)
    assert len(out) == 3 and b.stats.completion_tokens == 12


def test_configuration_errors(tiny_lm, tmp_path):
    model, _ = tiny_lm
    with pytest.raises(ConfigError, match="needs a model"):
        get_backend("hf")
    with pytest.raises(ConfigError, match="without its tokenizer"):
        get_backend("hf", model=model)
    with pytest.raises(ConfigError, match="model path does not exist"):
        get_backend("hf", model=str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="cannot load model"):
        get_backend("hf", model="no-such-org/no-such-model")
    with pytest.raises(ConfigError, match="batch_size"):
        backend(tiny_lm, batch_size=0)


def test_a_training_model_is_put_back_in_training_mode(tiny_lm, make_convs):
    model, _ = tiny_lm
    b = backend(tiny_lm)
    model.train()
    try:
        b.chat(make_convs(1), max_new_tokens=2)
        assert model.training
    finally:
        model.eval()
