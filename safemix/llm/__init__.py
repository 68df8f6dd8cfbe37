"""LLM chat backends chosen by name: `hf` (local transformers model), `openai` (any
OpenAI-compatible endpoint), `dummy` (deterministic, offline).

    backend = get_backend("hf", model="path/to/model.gguf", batch_size=16)
    answers = backend.chat([[{"role": "user", "content": "Hi"}]], max_new_tokens=32)
    backend.stats.to_dict()

Every backend returns one answer per conversation, in input order; greedy by default.
"""

from __future__ import annotations

import importlib
from typing import Any

from safemix.config import did_you_mean
from safemix.errors import ConfigError
from safemix.llm.base import EndpointError, GenerationStats, LLMBackend, truncate_at_stop
from safemix.llm.fetch import smollm2_path

# name -> "module:class"; modules are imported on use so that no heavy import happens here
BACKENDS = {
    "hf": "safemix.llm.hf:HFBackend",
    "openai": "safemix.llm.openai:OpenAIBackend",
    "dummy": "safemix.llm.dummy:DummyBackend",
}


def backend_class(name: str) -> type[LLMBackend]:
    if name not in BACKENDS:
        hint = did_you_mean(name, BACKENDS, cutoff=0.4)
        raise ConfigError(f"unknown LLM backend {name!r}{hint}; choose one of {', '.join(BACKENDS)}")
    module, cls = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def get_backend(name: str, **kwargs: Any) -> LLMBackend:
    """Build the backend registered as `name` with its keyword arguments.

    An unknown argument is a ConfigError naming the backend's accepted arguments.
    """
    import inspect

    cls = backend_class(name)
    params = inspect.signature(cls.__init__).parameters
    unknown = sorted(k for k in kwargs if k not in params)
    if unknown:
        accepted = [p for p in params if p != "self"]
        raise ConfigError(f"unknown argument(s) {', '.join(unknown)} for the {name} backend; "
                          f"accepted: {', '.join(accepted)}")
    return cls(**kwargs)


__all__ = ["BACKENDS", "EndpointError", "GenerationStats", "LLMBackend", "backend_class", "get_backend",
           "smollm2_path", "truncate_at_stop"]
