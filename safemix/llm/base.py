"""What every LLM backend shares: the `chat`/`complete` interface, stats, input checks."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields
from typing import Any

from safemix.errors import InputError, SafemixError

ROLES = ("system", "user", "assistant", "tool")


class EndpointError(SafemixError):
    """An LLM endpoint could not be reached or kept failing after all retries."""


@dataclass
class GenerationStats:
    """Counters of one backend over its lifetime (all `chat`/`complete` calls).

    `requests` counts completions asked for, `completed` those answered (cache hits included),
    `failed` those given up on. Tokens and cost count real model work only: a cache hit
    costs nothing and adds no tokens.
    """

    requests: int = 0
    completed: int = 0
    failed: int = 0
    retries: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    elapsed_s: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **deltas: float) -> None:
        """Add to counters atomically (backends update stats from worker threads)."""
        with self._lock:
            for k, v in deltas.items():
                setattr(self, k, getattr(self, k) + v)

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}
        d["cost_usd"] = round(d["cost_usd"], 6)
        d["elapsed_s"] = round(d["elapsed_s"], 3)
        return d


class LLMBackend:
    """Base class: one completion per conversation (or raw prompt), in input order.

    Subclasses implement `_chat` and `_complete`; the public methods check the inputs
    so that every backend fails the same clear way on malformed conversations.
    """

    name = "base"

    def __init__(self) -> None:
        self.stats = GenerationStats()

    def chat(self, conversations: list[list[dict]], max_new_tokens: int = 256, temperature: float = 0.0,
             top_p: float = 1.0, stop: list[str] | None = None, seed: int | None = None) -> list[str]:
        """Answer each conversation (a list of `{"role", "content"}` messages) with the next
        assistant turn. Greedy when `temperature == 0`."""
        check_conversations(conversations)
        check_params(max_new_tokens, temperature, top_p, stop)
        if not conversations:
            return []
        return self._chat(conversations, max_new_tokens=max_new_tokens, temperature=temperature,
                          top_p=top_p, stop=list(stop or []), seed=seed)

    def complete(self, prompts: list[str], max_new_tokens: int = 256, temperature: float = 0.0,
                 top_p: float = 1.0, stop: list[str] | None = None, seed: int | None = None) -> list[str]:
        """Continue each raw text prompt (no chat template applied)."""
        if not isinstance(prompts, list | tuple):
            raise InputError(f"prompts must be a list of strings, got {type(prompts).__name__}")
        for i, p in enumerate(prompts):
            if not isinstance(p, str):
                raise InputError(f"prompt must be a string, got {type(p).__name__}", field=f"prompts[{i}]")
        check_params(max_new_tokens, temperature, top_p, stop)
        if not prompts:
            return []
        return self._complete(list(prompts), max_new_tokens=max_new_tokens, temperature=temperature,
                              top_p=top_p, stop=list(stop or []), seed=seed)

    def _chat(self, conversations: list[list[dict]], **params: Any) -> list[str]:
        raise NotImplementedError

    def _complete(self, prompts: list[str], **params: Any) -> list[str]:
        raise NotImplementedError(f"the {self.name} backend has no raw-text completion")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.stats.to_dict()}>"


def check_conversations(conversations: Any) -> None:
    """Raise InputError naming the conversation and message of the first malformed entry."""
    if not isinstance(conversations, list | tuple):
        raise InputError(f"conversations must be a list of message lists, got {type(conversations).__name__}")
    for i, conv in enumerate(conversations):
        if not isinstance(conv, list | tuple) or not conv:
            raise InputError("a conversation must be a non-empty list of messages", field=f"conversations[{i}]")
        for j, m in enumerate(conv):
            where = f"conversations[{i}][{j}]"
            if not isinstance(m, dict):
                raise InputError(f"a message must be a dict, got {type(m).__name__}", field=where)
            if m.get("role") not in ROLES:
                raise InputError(f"role must be one of {', '.join(ROLES)}, got {m.get('role')!r}",
                                 field=f"{where}.role")
            if not isinstance(m.get("content"), str):
                raise InputError(f"content must be a string, got {type(m.get('content')).__name__}",
                                 field=f"{where}.content")


def check_params(max_new_tokens: int, temperature: float, top_p: float, stop: list[str] | None) -> None:
    from safemix.errors import ConfigError

    if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ConfigError(f"max_new_tokens must be a positive integer, got {max_new_tokens!r}")
    if temperature < 0:
        raise ConfigError(f"temperature must be >= 0, got {temperature}")
    if not 0 < top_p <= 1:
        raise ConfigError(f"top_p must be in (0, 1], got {top_p}")
    if stop is not None and (isinstance(stop, str) or not all(isinstance(s, str) and s for s in stop)):
        raise ConfigError(f"stop must be a list of non-empty strings, got {stop!r}")


def truncate_at_stop(text: str, stop: list[str]) -> str:
    """Cut `text` at the earliest occurrence of any stop string (the stop string is dropped).

    >>> truncate_at_stop("a\\nb###c", ["###", "\\n"])
    'a'
    """
    cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=-1)
    return text if cut < 0 else text[:cut]


def last_user_message(messages: list[dict]) -> str:
    """Content of the last user turn ('' when there is none)."""
    return next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
