"""Tiny real models and tokenizers built in code, for tests and CPU examples.

Nothing is downloaded: the tokenizer is a byte-level BPE trained in milliseconds on a
fixed built-in corpus (deterministic), the model a randomly initialised Llama.
"""

from __future__ import annotations

import functools
from pathlib import Path

# A ChatML-style template: simple, and it marks the assistant turn for completion-only loss.
CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "{{ '<|im_start|>' + m['role'] + '\n' }}"
    "{% if m['role'] == 'assistant' %}{% generation %}{{ m['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\n' }}{% else %}{{ m['content'] + '<|im_end|>\n' }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<pad>"]

_CORPUS = """The quick brown fox jumps over the lazy dog. Question: Answer: Topic: Label:
I cannot help with that request. I'm sorry, but I can't assist with that. Sure, here is
how to do it. Step 1: [redacted]. Classify the sentiment of this review: positive negative
What is 12 plus 7? The answer is 19. #### 19 A. B. C. D. system user assistant
You are a helpful assistant. Please answer the following question carefully.
Sports World Business Science Technology news article headline market team game
0123456789 + - * / = ( ) [ ] { } " ' , . ; : ! ? \\n the of and to in is it that for
"""


@functools.lru_cache(maxsize=4)
def _tokenizer_json(vocab_size: int) -> str:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator([_CORPUS] * 4, trainer=trainer)
    return tok.to_str()


def tiny_tokenizer(vocab_size: int = 512):
    """A real `PreTrainedTokenizerFast` (byte-level BPE, chat template, pad token)."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(_tokenizer_json(vocab_size)),
        bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<pad>",
        unk_token="<|endoftext|>",
    )
    tok.chat_template = CHAT_TEMPLATE
    tok.padding_side = "right"
    return tok


def tiny_llama(tokenizer=None, hidden_size: int = 64, layers: int = 2, heads: int = 4,
               intermediate_size: int = 128, max_position_embeddings: int = 1024, seed: int = 0):
    """A randomly initialised Llama-shaped causal LM (about 0.1M parameters by default)."""
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
