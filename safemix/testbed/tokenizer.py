"""The testbed's tokenizer: a byte-level BPE trained on the corpus, as a PreTrainedTokenizerFast.

Byte-level means any text encodes and decodes back exactly (nothing is ever unknown).
"""

from __future__ import annotations

from collections.abc import Iterable

from safemix.tiny import SPECIAL_TOKENS, bpe_tokenizer

__all__ = ["SPECIAL_TOKENS", "train_tokenizer"]


def train_tokenizer(texts: Iterable[str], vocab_size: int):
    """Train a byte-level BPE on `texts` and wrap it with the chat template and pad token
    (`safemix.tiny.bpe_tokenizer`; pairs seen once are not merged, 1024-token context).

    Deterministic for the same texts and vocabulary size.
    """
    return bpe_tokenizer(texts, vocab_size, min_frequency=2, model_max_length=1024)
