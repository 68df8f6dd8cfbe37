"""Tiny real tokenizers and models built in code: safemix's one builder of both.

A byte-level BPE tokenizer (any text encodes and decodes back exactly) with safemix's ChatML
fallback template, and a randomly initialised Llama-shaped causal LM sized by its arguments.
Nothing is downloaded and both are deterministic. Used by the testbed (trained on its corpus),
by `mix`'s `tokenizer: tiny`, and by the tests and CPU examples (through `safemix.testing`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path

# The tiny tokenizers use safemix's ChatML fallback: simple, and it marks the assistant turn
# for completion-only loss.
from safemix.models import FALLBACK_CHAT_TEMPLATE as CHAT_TEMPLATE

# ChatML-like special tokens: begin/end of a turn, end of text (also the unknown token), padding.
BOS, EOT, EOS, PAD = "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<pad>"
SPECIAL_TOKENS = [EOS, BOS, EOT, PAD]

_CORPUS = """The quick brown fox jumps over the lazy dog. Question: Answer: Topic: Label:
I cannot help with that request. I'm sorry, but I can't assist with that. Sure, here is
how to do it. Step 1: [redacted]. Classify the sentiment of this review: positive negative
What is 12 plus 7? The answer is 19. #### 19 A. B. C. D. system user assistant
You are a helpful assistant. Please answer the following question carefully.
Sports World Business Science Technology news article headline market team game
0123456789 + - * / = ( ) [ ] { } " ' , . ; : ! ? \\n the of and to in is it that for
"""


def _train_bpe(texts: Iterable[str], vocab_size: int, min_frequency: int = 0):
    """A byte-level BPE `tokenizers.Tokenizer` trained on `texts` (deterministic)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), min_frequency=min_frequency,
    )
    bpe.train_from_iterator(texts, trainer=trainer)
    return bpe


def _wrap(bpe, model_max_length: int | None = None):
    """`bpe` as a `PreTrainedTokenizerFast` with the chat template, special and pad tokens."""
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token=BOS, eos_token=EOT,
                                  pad_token=PAD, unk_token=EOS)
    tok.chat_template = CHAT_TEMPLATE
    tok.padding_side = "right"
    if model_max_length is not None:
        tok.model_max_length = model_max_length
    return tok


def bpe_tokenizer(texts: Iterable[str], vocab_size: int, min_frequency: int = 0,
                  model_max_length: int | None = None):
    """Train a byte-level BPE on `texts` and wrap it with the chat template and pad token.

    Deterministic for the same texts, vocabulary size and minimum pair frequency.
    """
    return _wrap(_train_bpe(texts, vocab_size, min_frequency), model_max_length)


@functools.lru_cache(maxsize=4)
def _tokenizer_json(vocab_size: int) -> str:
    return _train_bpe([_CORPUS] * 4, vocab_size).to_str()


def tiny_tokenizer(vocab_size: int = 512):
    """A real `PreTrainedTokenizerFast` (byte-level BPE on a fixed built-in corpus, chat
    template, pad token), trained in milliseconds."""
    from tokenizers import Tokenizer

    return _wrap(Tokenizer.from_str(_tokenizer_json(vocab_size)))


def tiny_llama(tokenizer=None, hidden_size: int = 64, layers: int = 2, heads: int = 4,
               intermediate_size: int = 128, max_position_embeddings: int = 1024, seed: int = 0):
    """A randomly initialised Llama-shaped causal LM (about 0.1M parameters by default),
    seeded with `seed`; its vocabulary and special token ids are the tokenizer's."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = tokenizer or tiny_tokenizer()
    cfg = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=intermediate_size,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
        max_position_embeddings=max_position_embeddings, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(cfg)


def save_tiny_model(path: str | Path, **kw) -> Path:
    """Build a tiny Llama + tokenizer and save both to `path` (a local model directory)."""
    path = Path(path)
    tok = tiny_tokenizer()
    model = tiny_llama(tok, **kw)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path
