"""The testbed's tokenizer: a byte-level BPE trained on the corpus, as a PreTrainedTokenizerFast.

Byte-level means any text encodes and decodes back exactly (nothing is ever unknown).
"""

from __future__ import annotations

from collections.abc import Iterable

from safemix.testbed.corpus import BOS, EOS, EOT, PAD

SPECIAL_TOKENS = [EOS, BOS, EOT, PAD]


def train_tokenizer(texts: Iterable[str], vocab_size: int):
    """Train a byte-level BPE on `texts` and wrap it with the chat template and pad token.

    Deterministic for the same texts and vocabulary size.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from safemix.testing import CHAT_TEMPLATE

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), min_frequency=2,
    )
    bpe.train_from_iterator(texts, trainer=trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token=BOS, eos_token=EOT, pad_token=PAD,
                                  unk_token=EOS)
    tok.chat_template = CHAT_TEMPLATE
    tok.padding_side = "right"
    tok.model_max_length = 1024
    return tok
