"""Seed and row validation shared by every generation method: `SeedScreen` (what is usable,
what was dropped and why) and `walk_seeds` (the order in which a method takes seeds)."""

from __future__ import annotations

import re
from typing import Any

from safemix.errors import InputError
from safemix.formats.example import Example
from safemix.formats.profile import FormatProfile
from safemix.generate.refusal import looks_like_refusal

KINDS = ("harmful", "contrast")  # the two kinds of generated rows, in the order they are made

REASONS = {
    "response_not_a_refusal": "the harmful seed's response does not read as a refusal",
    "response_carries_pledge": "the response carries the job's constant answer prefix or opens with a pledge",
    "response_breaks_answer_format": "the response does not fit the job's answer format (e.g. invalid JSON)",
    "request_breaks_user_format": "the request, put in the job's user format, no longer parses with it",
    "paraphrase_failed": "the LLM rewrite failed validation on every attempt",
    "text_breaks_container": "a tab or line break in a one-line container (TSV) would break the row",
    "answer_is_a_refusal": "(template_benign) the contrast seed's answer reads as a refusal",
}
_BREAKS = re.compile(r"\s*[\t\r\n]+\s*")


class SeedScreen:
    """Validates seeds and generated examples; counts what it drops, by reason.

    `in_format`: rows are in the job's format (validated against its profile); `benign_only`:
    the contrast answers must not read as refusals (the `template_benign` control).

    `keep` screens a seed pool up front: refusal variants that are unusable are removed and
    seeds with none left are dropped. `reject_example` checks a rendered example; a rejected
    seed is skipped from then on (the walk moves to the next seed of the selection).
    """

    MAX_IDS = 20

    def __init__(self, profile: FormatProfile, *, in_format: bool, benign_only: bool = False,
                 one_line: bool = False) -> None:
        self.profile, self.benign_only, self.one_line = profile, benign_only, one_line
        self.flattened = 0
        self.total = {"harmful": 0, "contrast": 0}
        self.usable = {"harmful": 0, "contrast": 0}
        self.accepted = {"harmful": 0, "contrast": 0}
        self.seed_drops: dict[str, dict[str, int]] = {"harmful": {}, "contrast": {}}
        self.variant_drops: dict[str, int] = {}
        self.dropped_ids: dict[str, list[str]] = {}
        self.item_drops: dict[str, int] = {}
        self.bad: set[int] = set()
        self._in_format = in_format
        self._json = self._in_format and (profile.answer.type == "json"
                                          or profile.safety_answer_shape()["json_string"])

    def answer_text(self, response: str) -> str:
        """The assistant turn a response becomes with this method."""
        return self.profile.render_assistant(response, neutral_only=True) if self._in_format else response

    def problem(self, assistant: str, kind: str) -> str | None:
        """Why a rendered assistant turn is unusable, or None."""
        if kind == "harmful" and not looks_like_refusal(assistant):
            return "response_not_a_refusal"
        if kind == "contrast" and self.benign_only and looks_like_refusal(assistant):
            return "answer_is_a_refusal"
        if self.profile.has_compliance_preamble(assistant):
            return "response_carries_pledge"
        if self._json and not self._fits_json(assistant):
            return "response_breaks_answer_format"
        return None

    def _fits_json(self, assistant: str) -> bool:
        """Parseable JSON; for JSON-object jobs, valid against the job's inferred schema."""
        import json

        from safemix.formats.structured import fits_schema

        if self.profile.answer.type == "json" and self.profile.answer.json_schema:
            return fits_schema(assistant, self.profile.answer.json_schema)
        try:
            json.loads(assistant)
        except ValueError:
            return False
        return True

    def _drop_seed(self, seed: Any, kind: str, reason: str) -> None:
        d = self.seed_drops[kind]
        d[reason] = d.get(reason, 0) + 1
        key = f"seed_{reason}"
        self.item_drops[key] = self.item_drops.get(key, 0) + 1
        ids = self.dropped_ids.setdefault(reason, [])
        if len(ids) < self.MAX_IDS:
            ids.append(str(seed.id))

    def keep(self, seeds: list, kind: str) -> list:
        """The usable seeds of `seeds`, in order (copies with only their usable refusals)."""
        import copy

        out = []
        self.total[kind] += len(seeds)
        for seed in seeds:
            seed = self._flatten(seed)
            if kind == "contrast":
                reason = self.problem(self.answer_text(seed.answer or ""), kind) if seed.answer else \
                    "response_breaks_answer_format"
                if reason:
                    self._drop_seed(seed, kind, reason)
                else:
                    out.append(seed)
                continue
            reasons = [self.problem(self.answer_text(r), kind) for r in seed.refusals]
            ok = [r for r, why in zip(seed.refusals, reasons, strict=True) if why is None]
            if not ok:
                self._drop_seed(seed, kind, next(why for why in reasons if why))
                continue
            if len(ok) < len(seed.refusals):
                for why in reasons:
                    if why:
                        self.variant_drops[why] = self.variant_drops.get(why, 0) + 1
                seed = copy.copy(seed)
                seed.refusals = ok
            out.append(seed)
        self.usable[kind] += len(out)
        return out

    def _flatten(self, seed: Any) -> Any:
        """For one-line containers (TSV): a copy of the seed with tabs and line breaks as spaces."""
        import copy

        texts = [seed.request, seed.answer or "", *seed.refusals]
        if not self.one_line or not any(_BREAKS.search(t) for t in texts):
            return seed
        self.flattened += 1
        seed = copy.copy(seed)
        seed.request = _BREAKS.sub(" ", seed.request).strip()
        seed.refusals = [_BREAKS.sub(" ", r).strip() for r in seed.refusals]
        if seed.answer:
            seed.answer = _BREAKS.sub(" ", seed.answer).strip()
        return seed

    def reject_example(self, ex: Example, seed: Any, kind: str) -> bool:
        """Check a generated example; True (and the seed is skipped from now on) if unusable."""
        reason = self.problem(ex.assistant or "", kind)
        if reason is None and self.one_line and any(_BREAKS.search(m["content"] or "") for m in ex.messages
                                                    if m["role"] != "system"):
            reason = "text_breaks_container"
        if reason is None and self._in_format and self.profile.parse_user(last_user(ex)) is None:
            reason = "request_breaks_user_format"
        if reason is None:
            self.accepted[kind] += 1
            return False
        self.reject_seed(seed, kind, reason)
        return True

    def reject_seed(self, seed: Any, kind: str, reason: str) -> None:
        """Drop a seed that passed `keep` but failed later (rendering, paraphrase)."""
        self.bad.add(id(seed))
        self.usable[kind] -= 1
        self._drop_seed(seed, kind, reason)

    def report(self) -> dict[str, Any]:
        """The manifest's `seeds` block: pool sizes, usable counts and drops by reason."""
        return {"harmful": {"total": self.total["harmful"], "usable": self.usable["harmful"],
                            "dropped": dict(sorted(self.seed_drops["harmful"].items()))},
                "contrast": {"total": self.total["contrast"], "usable": self.usable["contrast"],
                             "dropped": dict(sorted(self.seed_drops["contrast"].items()))},
                "dropped_refusal_variants": dict(sorted(self.variant_drops.items())),
                "flattened_to_one_line": self.flattened,
                "dropped_seed_ids": {k: v for k, v in sorted(self.dropped_ids.items())},
                "reasons": {k: REASONS[k] for k in sorted(set(self.dropped_ids) | set(self.variant_drops))}}

    def exhausted_message(self, kind: str, got: int, need: int | None = None) -> str:
        drops = self.seed_drops[kind]
        why = "; ".join(f"{v} {REASONS.get(k, k)} ({k})" for k, v in sorted(drops.items(), key=lambda kv: -kv[1]))
        head = (f"the seed set ran out of usable {kind} seeds: {got} of {need} {kind} safety examples made"
                if need is not None else f"the seed set has no usable {kind} seeds")
        return (f"{head}; {self.usable[kind]} of {self.total[kind]} {kind} seeds are usable"
                + (f", dropped: {why}" if why else "")
                + ". Use a seed set whose responses are refusals (e.g. --seeds builtin) or a smaller n/ratio.")


def last_user(ex: Example) -> str:
    """The last user turn: the request of a generated row (rows end with its answer)."""
    return next((m.get("content") or "" for m in reversed(ex.messages) if m.get("role") == "user"), "")


def walk_seeds(pool: list, need: int, screen: SeedScreen, kind: str, seed_src: str):
    """Yield (seed, occurrence) walking `pool` in order, wrapping around, until `need` items
    were accepted (the caller tells `screen` about rejects, whose seeds are then skipped).

    Raises InputError when every seed of the pool was rejected before `need` was met.
    """
    k = 0
    start = screen.accepted[kind]
    while screen.accepted[kind] - start < need:
        if k % max(1, len(pool)) == 0 and all(id(s) in screen.bad for s in pool):
            raise InputError(screen.exhausted_message(kind, screen.accepted[kind] - start, need), path=seed_src)
        seed, i = pool[k % len(pool)], k // len(pool)
        k += 1
        if id(seed) in screen.bad:
            continue
        yield seed, i
