"""The CPU testbed: a tiny chat model with real safety behaviour, built from scratch.

`build("tiny")` generates a synthetic corpus, trains a byte-level BPE tokenizer and a small
Llama through a chat model's lifecycle (pretraining that complies with harmful requests
using placeholder answers, then alignment that refuses them in chat formats), measures its
behaviour and saves it as a Hugging Face model directory. The user's finetune is then
whatever safemix runs on it.
"""

from __future__ import annotations

# Imported eagerly (it is light: heavy imports live inside its functions) so that the
# package attribute `build` is the function, not the `safemix.testbed.build` submodule.
from safemix.testbed.build import build

__all__ = ["build"]
