"""The CPU testbed: a tiny chat model with real safety behaviour, built from scratch.

`build("tiny")` generates a synthetic corpus, trains a byte-level BPE tokenizer and a small
Llama through a chat model's lifecycle (pretraining that complies with harmful requests
using placeholder answers, then alignment that refuses them in chat formats), measures its
behaviour and saves it as a Hugging Face model directory. The user's finetune is then
whatever safemix runs on it.
"""

from __future__ import annotations

from pathlib import Path


def build(name: str = "tiny", out: str | Path | None = None, force: bool = False, **kw) -> Path:
    """Build (or return the cached) testbed; returns the model directory. See `build.build`."""
    from safemix.testbed.build import build as _build

    return _build(name, out=out, force=force, **kw)


__all__ = ["build"]
