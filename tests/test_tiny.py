"""safemix.tiny: the one builder of the tiny tokenizer and Llama (tests reach it via safemix.testing)."""

import pytest

pytest.importorskip("transformers")


def test_testing_reexports_the_one_builder():
    import safemix.testing as T
    import safemix.tiny as tiny

    assert T.tiny_tokenizer is tiny.tiny_tokenizer and T.tiny_llama is tiny.tiny_llama
    assert T.save_tiny_model is tiny.save_tiny_model and T.CHAT_TEMPLATE == tiny.CHAT_TEMPLATE


def test_bpe_tokenizer_is_deterministic_and_byte_level():
    from safemix.tiny import BOS, EOT, PAD, bpe_tokenizer

    texts = [f"Question {i}: what is {i} plus {i}? Answer: {2 * i}." for i in range(50)]
    a = bpe_tokenizer(texts, 300, min_frequency=2, model_max_length=1024)
    b = bpe_tokenizer(texts, 300, min_frequency=2, model_max_length=1024)
    assert a.backend_tokenizer.to_str() == b.backend_tokenizer.to_str()
    assert (a.bos_token, a.eos_token, a.pad_token, a.model_max_length) == (BOS, EOT, PAD, 1024)
    text = "Ünïcode never seen: ∑ 🙂"
    assert a.decode(a(text, add_special_tokens=False)["input_ids"]) == text


def test_tiny_llama_takes_the_tokenizers_vocabulary_and_is_seeded():
    from safemix.tiny import tiny_llama, tiny_tokenizer

    tok = tiny_tokenizer()
    m1, m2 = tiny_llama(tok, seed=3), tiny_llama(tok, seed=3)
    assert m1.config.vocab_size == len(tok) and m1.config.pad_token_id == tok.pad_token_id
    assert all((p == q).all() for p, q in zip(m1.parameters(), m2.parameters(), strict=True))
