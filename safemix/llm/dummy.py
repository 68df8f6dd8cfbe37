"""`dummy`: a deterministic offline backend for tests and dry runs.

The answer comes from, in order of precedence: a callable `fn(messages) -> str`; configured
`responses` (a list answered in turn, or a dict from a substring of the last user message
to its answer, with `default` for no match); or a named `rule` applied to the last user
message. "Tokens" are whitespace-separated words: `max_new_tokens` cuts the answer to that
many words, and usage is counted in words, so accounting code can be tested too.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

from safemix.errors import ConfigError
from safemix.llm.base import LLMBackend, last_user_message, truncate_at_stop

REFUSAL = "I'm sorry, but I can't help with that request."
# A non-actionable stand-in for a harmful compliance (never real content).
COMPLIANCE = "Sure, here is how to do that. Step 1: [redacted]"

RULES: dict[str, Callable[[str], str]] = {
    "echo": lambda text: text,
    "upper": lambda text: text.upper(),
    "reverse_words": lambda text: " ".join(reversed(text.split())),
    "refuse": lambda text: REFUSAL,
    "comply": lambda text: COMPLIANCE,
}


def word_count(text: str) -> int:
    return len(text.split())


def truncate_words(text: str, n: int) -> str:
    """Keep the first `n` whitespace-separated words (whitespace inside them kept as is)."""
    words = text.split()
    if len(words) <= n:
        return text
    # find where the n-th word ends, so the kept prefix is byte-identical to the input
    pos = 0
    for w in words[:n]:
        pos = text.index(w, pos) + len(w)
    return text[:pos]


class DummyBackend(LLMBackend):
    """Deterministic answers without a model; see the module docstring."""

    name = "dummy"

    def __init__(self, model: str | None = None, *, fn: Callable[[list[dict]], str] | None = None,
                 responses: list[str] | dict[str, str] | None = None, default: str | None = None,
                 rule: str = "echo", delay_s: float = 0.0) -> None:
        super().__init__()
        if rule not in RULES:
            from safemix.config import did_you_mean

            raise ConfigError(f"unknown dummy rule {rule!r}{did_you_mean(rule, RULES)}; choose one of {', '.join(RULES)}")
        if responses is not None and not isinstance(responses, list | dict):
            raise ConfigError(f"dummy responses must be a list or a dict, got {type(responses).__name__}")
        if isinstance(responses, list) and not responses:
            raise ConfigError("dummy responses list is empty")
        self.model = model or "dummy"
        self.fn, self.responses, self.default, self.rule = fn, responses, default, rule
        self.delay_s = delay_s
        self._turn = itertools.count()  # position in a `responses` list, across calls
        self._lock = threading.Lock()

    def respond(self, messages: list[dict]) -> str:
        """The full (untruncated) answer to one conversation."""
        if self.fn is not None:
            return str(self.fn(messages))
        text = last_user_message(messages)
        if isinstance(self.responses, list):
            with self._lock:
                i = next(self._turn)
            return self.responses[i % len(self.responses)]
        if isinstance(self.responses, dict):
            for key, answer in self.responses.items():
                if key in text:
                    return answer
            if self.default is not None:
                return self.default
        return RULES[self.rule](text)

    def _answer(self, messages: list[dict], max_new_tokens: int, stop: list[str]) -> str:
        out = truncate_words(truncate_at_stop(self.respond(messages), stop), max_new_tokens)
        prompt_words = sum(word_count(m["content"]) for m in messages)
        self.stats.add(requests=1, completed=1, prompt_tokens=prompt_words, completion_tokens=word_count(out))
        return out

    def _run(self, conversations: list[list[dict]], max_new_tokens: int, stop: list[str]) -> list[str]:
        t0 = time.perf_counter()
        outs = []
        for conv in conversations:
            if self.delay_s:
                time.sleep(self.delay_s)
            outs.append(self._answer(conv, max_new_tokens, stop))
        self.stats.add(elapsed_s=time.perf_counter() - t0)
        return outs

    def _chat(self, conversations: list[list[dict]], *, max_new_tokens: int, stop: list[str], **_: Any) -> list[str]:
        return self._run(conversations, max_new_tokens, stop)

    def _complete(self, prompts: list[str], *, max_new_tokens: int, stop: list[str], **_: Any) -> list[str]:
        # a raw prompt is answered as if it were one user turn
        return self._run([[{"role": "user", "content": p}] for p in prompts], max_new_tokens, stop)
