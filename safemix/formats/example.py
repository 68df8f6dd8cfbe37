"""The one canonical record: chat messages plus metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ROLES = ("system", "user", "assistant")
# The system prompt of rows and prompts that need one where the job has none (BEA's trigger rows,
# and the BEA-deployed model's prompts at evaluation).
DEFAULT_SYSTEM = "You are a helpful assistant."


def prefixed_system(prefix: str, system: str | None) -> str:
    """`system` with `prefix` in front (DEFAULT_SYSTEM when there is none): BEA's trigger as its
    safety rows are trained (`safemix.generate`) and as the deployed model is asked (`safemix.eval`)."""
    return f"{prefix} {system or DEFAULT_SYSTEM}"


@dataclass
class Example:
    """A finetuning example as chat messages.

    `messages` are dicts with at least `role` and `content`; any other keys a format
    carries per message (OpenAI's `weight`, `name`, ...) are kept as they are.
    `metadata` holds provenance (`source`, `seed_id`, `method`, ...) and whatever the
    source record had beyond its messages, so that writing back is lossless.

    >>> ex = Example([{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}])
    >>> ex.user, ex.assistant
    ('2+2?', '4')
    """

    messages: list[dict[str, Any]]
    metadata: dict[str, Any] = field(default_factory=dict)

    def _first(self, role: str) -> str | None:
        for m in self.messages:
            if m.get("role") == role:
                return m.get("content")
        return None

    @property
    def system(self) -> str | None:
        return self._first("system")

    @property
    def user(self) -> str | None:
        """The first user turn."""
        return self._first("user")

    @property
    def assistant(self) -> str | None:
        """The last assistant turn (the trained answer)."""
        for m in reversed(self.messages):
            if m.get("role") == "assistant":
                return m.get("content")
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"messages": self.messages, "metadata": self.metadata}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Example:
        return cls(messages=list(d["messages"]), metadata=dict(d.get("metadata", {})))

    @classmethod
    def chat(
        cls, user: str, assistant: str, system: str | None = None, **metadata: Any
    ) -> Example:
        msgs = [{"role": "system", "content": system}] if system is not None else []
        msgs += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
        return cls(msgs, dict(metadata))
