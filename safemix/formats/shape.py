"""Conversation shape: how many exchanges a job's rows hold, which user turn carries the
varying request, and which assistant turns the job trains (OpenAI per-message `weight`).

    shape = infer_shape(job.examples)
    shape.turn_counts      # {"2": 40, "3": 20}: user turns per row -> rows
    shape.request_turn     # -1: the last user turn carries the varying request (0: the first, ...)
    shape.context_weight   # 0: the job trains only the final answer (earlier assistant turns weight 0)

The request turn is the user turn whose content varies most across rows (`variation_score`:
length and vocabulary of the words that are not shared by most rows); turns before it are
context. Positions are counted from the end (-1, -2, ...) and from the start (0, 1, ...), so
that both "the last turn asks" and "the first turn holds the document" are found when rows
have different numbers of exchanges; a position only some rows have is scored by its share.
Ties go to the last user turn (what chat jobs train on).

Generated rows reproduce the shape with `contexts`: the turns before the request turn, taken
from a deterministic sample of the job's own rows (system turns excluded: the profile's system
prompt is added separately). A job whose rows have no turns before the request turn has no
contexts, and nothing about its generated rows changes.

Language-independent: a word is a run of word characters, or one CJK character.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from safemix.formats.example import Example

_CJK = "\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uac00-\ud7af"
_WORD_RE = re.compile(f"[{_CJK}]|[^\\W{_CJK}]+")  # a word, or one CJK character


def words(text: str) -> list[str]:
    """Lower-cased words (runs of word characters; each CJK character is one)."""
    return _WORD_RE.findall(text.lower())


def variation_score(values: list[str], common_share: float = 0.5) -> float:
    """How much free text a field carries per row: the entropy (bits) of its varying words times
    how many varying words a row holds, i.e. length and vocabulary diversity together. Words
    present in more than `common_share` of the values are the field's constant wording and do not
    count. A one-word fill-in from a small set scores low; varied sentences score high.

    >>> variation_score(["Remember 12.", "Remember 7."]) < variation_score(["Why is the sky blue?", "Name a bird."])
    True
    """
    docs = [words(v) for v in values]
    if not docs:
        return 0.0
    df = Counter(w for d in docs for w in set(d))
    common = {w for w, c in df.items() if c > common_share * len(docs)} if len(docs) > 1 else set()
    varying = Counter(w for d in docs for w in d if w not in common)
    total = sum(varying.values())
    if not total:
        return 0.0
    entropy = -sum(c / total * math.log2(c / total) for c in varying.values())
    return entropy * total / len(docs)


@dataclass
class ConversationShape:
    """What a row of the job looks like as a conversation (see the module docstring)."""

    turn_counts: dict[str, int] = field(default_factory=dict)  # user turns per row -> rows
    request_turn: int = -1  # user turn carrying the request: < 0 from the end, >= 0 from the start
    turn_scores: dict[str, float] = field(default_factory=dict)  # variation score per position
    continues_share: float = 0.0  # rows with turns after the answer to the request turn
    context_weight: int | None = None  # weight of earlier assistant turns (None: the job has no weights)
    answer_weight: int | None = None  # weight of the answer to the request turn (None: no weights)
    contexts: list[list[dict[str, Any]]] = field(default_factory=list)  # turns before the request

    @property
    def multi_turn(self) -> bool:
        return any(int(k) > 1 for k in self.turn_counts)

    @property
    def weights(self) -> str:
        """none | final_only (earlier assistant turns weight 0, the answer 1) | all | mixed."""
        if self.context_weight is None and self.answer_weight is None:
            return "none"
        if self.answer_weight == 1 and self.context_weight in (0, None):
            return "final_only" if self.context_weight == 0 else "all"
        return "all" if self.context_weight == self.answer_weight == 1 else "mixed"

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ConversationShape:
        return cls(**d)


def user_turns(messages: list[dict[str, Any]]) -> list[int]:
    """Indices of the user messages."""
    return [i for i, m in enumerate(messages) if m.get("role") == "user"]


def request_index(messages: list[dict[str, Any]], request_turn: int) -> int | None:
    """Message index of the user turn at position `request_turn` (None when the row has no such turn)."""
    us = user_turns(messages)
    if -len(us) <= request_turn < len(us):
        return us[request_turn]
    return None


def answer_index(messages: list[dict[str, Any]], request_at: int | None) -> int | None:
    """Message index of the assistant turn answering the user turn at `request_at`."""
    if request_at is None:
        return None
    for j in range(request_at + 1, len(messages)):
        role = messages[j].get("role")
        if role == "assistant":
            return j
        if role == "user":
            return None
    return None


def _score_positions(examples: list[Example], max_turns: int) -> dict[int, float]:
    """Variation score of each user-turn position, times the share of rows that have it."""
    n = len(examples)
    scores: dict[int, float] = {}
    for p in [-k for k in range(1, max_turns + 1)] + list(range(max_turns)):
        texts = []
        for ex in examples:
            i = request_index(ex.messages, p)
            if i is not None:
                texts.append(ex.messages[i].get("content") or "")
        if texts:
            scores[p] = variation_score(texts) * len(texts) / n
    return scores


def choose_request_turn(examples: list[Example]) -> tuple[int, dict[int, float]]:
    """The position of the user turn that varies most (ties: the last turn) and every position's score."""
    counts = [len(user_turns(ex.messages)) for ex in examples]
    if max(counts, default=1) <= 1:
        return -1, {}
    scores = _score_positions(examples, min(max(counts), 8))
    best = max(scores, key=lambda p: (round(scores[p], 6), p < 0, p))
    return best, scores


def _weights(examples: list[Example], request_turn: int) -> tuple[int | None, int | None]:
    """(majority weight of assistant turns before the answer, majority weight of the answer);
    (None, None) when no message of the job carries a weight."""
    if not any("weight" in m for ex in examples for m in ex.messages):
        return None, None
    before: Counter = Counter()
    answer: Counter = Counter()
    for ex in examples:
        a = answer_index(ex.messages, request_index(ex.messages, request_turn))
        for j, m in enumerate(ex.messages):
            if m.get("role") != "assistant":
                continue
            if j == a:
                answer[m.get("weight", 1)] += 1
            elif a is None or j < a:
                before[m.get("weight", 1)] += 1
    ctx = before.most_common(1)[0][0] if before else None
    return ctx, (answer.most_common(1)[0][0] if answer else 1)


def _context(ex: Example, request_turn: int) -> list[dict[str, Any]] | None:
    """The turns of `ex` before its request turn (no system turns, no weights), or None."""
    i = request_index(ex.messages, request_turn)
    if i is None:
        return None
    return [{"role": m["role"], "content": m.get("content") or ""} for m in ex.messages[:i]
            if m.get("role") != "system"]


def infer_shape(examples: list[Example], seed: int = 0, max_contexts: int = 64) -> ConversationShape:
    """The ConversationShape of a job (see the module docstring)."""
    counts = Counter(len(user_turns(ex.messages)) for ex in examples)
    turn, scores = choose_request_turn(examples)
    shape = ConversationShape(turn_counts={str(k): v for k, v in sorted(counts.items())}, request_turn=turn,
                              turn_scores={str(k): round(v, 4) for k, v in scores.items()})
    shape.context_weight, shape.answer_weight = _weights(examples, turn)
    cont = 0
    for ex in examples:
        a = answer_index(ex.messages, request_index(ex.messages, turn))
        cont += a is not None and any(m.get("role") in ("user", "assistant") for m in ex.messages[a + 1:])
    shape.continues_share = round(cont / max(1, len(examples)), 4)
    rows = [ex for ex in examples if request_index(ex.messages, turn) is not None]
    if any(_context(ex, turn) for ex in rows):
        pick = rows if len(rows) <= max_contexts else random.Random(seed).sample(rows, max_contexts)
        shape.contexts = [_context(ex, turn) or [] for ex in pick]
    return shape


def with_context(shape: ConversationShape, rng: random.Random, weights: bool = True) -> list[dict[str, Any]]:
    """Copies of the turns of one sampled context (drawn with `rng`; [] when the job has none).
    With `weights`, context assistant turns carry the job's `context_weight` where the job uses weights."""
    if not shape.contexts:
        return []
    ctx = [dict(m) for m in rng.choice(shape.contexts)]
    if weights and shape.context_weight is not None:
        for m in ctx:
            if m["role"] == "assistant":
                m["weight"] = shape.context_weight
    return ctx


__all__ = ["ConversationShape", "answer_index", "choose_request_turn", "infer_shape", "request_index",
           "user_turns", "variation_score", "with_context", "words"]
