"""Fixtures of the LLM backend tests: a tiny real model whose answers depend on the prompt."""

from __future__ import annotations

import pytest


def varied_tiny_llama(tok, seed: int = 0):
    """The tiny random Llama with its non-embedding weights scaled up, so that greedy answers
    differ from prompt to prompt (at the default scale every prompt gets the same answer,
    which would make batched-vs-single comparisons meaningless)."""
    import torch

    from safemix.testing import tiny_llama

    model = tiny_llama(tok, seed=seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2 and "embed" not in name:
                p.mul_(10)
    return model.eval()


@pytest.fixture(scope="session")
def tiny_lm():
    """(model, tokenizer), shared read-only by the tests of this folder."""
    from safemix.testing import tiny_tokenizer

    tok = tiny_tokenizer()
    return varied_tiny_llama(tok), tok


def conversations(n: int) -> list[list[dict]]:
    """n user prompts of varied length (so batches need padding)."""
    return [[{"role": "user", "content": f"item {i}: " + "tell me more " * (i % 5)}] for i in range(n)]


@pytest.fixture
def make_convs():
    return conversations


@pytest.fixture
def make_varied_llama():
    return varied_tiny_llama
