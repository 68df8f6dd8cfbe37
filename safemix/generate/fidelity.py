"""Form fidelity: how hard it is to tell the safety rows from the job's rows by their form alone.

Each part is 1 minus a distance in [0, 1] between the generated rows and a sample of the job's
rows (1: indistinguishable on that aspect, 0: fully distinguishable); `score` is their mean over
the parts that can be computed:

| part | distance |
|---|---|
| `turns` | total variation between the distributions of the rows' turn structure (the sequence of user/assistant turns) |
| `lengths` | mean Kolmogorov-Smirnov statistic of the lengths (chars) of the request turn, the answer turn and the whole row |
| `template` | 1 - the share of generated request turns the job's user templates parse, relative to the job's own share |
| `system` | 1 - the share of generated rows whose system prompt is the job's (or, like the job, have none) |
| `chars` | mean total variation between the character-class distributions (letters, non-ASCII letters, digits, spaces, line breaks, punctuation, other) of the request turns and of the answers |
| `language` | 1 - the share of generated rows in the job's main language; left out (None) while `language_of` detects nothing |

Only form is measured, never content: a refusal is long next to a label answer, and that
distance is in `lengths` for every method alike. The request turn of a job row is the profile's
(`FormatProfile.request_text`); of a generated row, its last user turn (rows end with the
answer to the request).
"""

from __future__ import annotations

import random
import statistics
import unicodedata
from collections import Counter
from typing import Any

from safemix.formats.example import Example
from safemix.formats.profile import FormatProfile
from safemix.generate.screen import last_user

PARTS = ("turns", "lengths", "template", "system", "chars", "language")


def language_of(text: str) -> str | None:
    """The language of `text` (an ISO 639-1 code, by `safemix.formats.language`), or None when
    it is undetermined (too few letters: labels, numbers, code); such texts are left out."""
    from safemix.formats.language import UNDETERMINED, detect_language

    lang = detect_language(text)[0]
    return None if lang == UNDETERMINED else lang


def _structure(ex: Example) -> str:
    return " ".join(m.get("role", "?")[0] for m in ex.messages if m.get("role") != "system")


def _tv(a: Counter, b: Counter) -> float:
    """Total variation distance between two count distributions."""
    na, nb = sum(a.values()) or 1, sum(b.values()) or 1
    return 0.5 * sum(abs(a[k] / na - b[k] / nb) for k in set(a) | set(b))


def _ks(a: list[float], b: list[float]) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the empirical CDFs."""
    if not a or not b:
        return 1.0
    a, b = sorted(a), sorted(b)
    i = j = 0
    gap = 0.0
    while i < len(a) and j < len(b):
        x = min(a[i], b[j])
        while i < len(a) and a[i] == x:
            i += 1
        while j < len(b) and b[j] == x:
            j += 1
        gap = max(gap, abs(i / len(a) - j / len(b)))
    return gap


def _char_class(c: str) -> str:
    if c == "\n":
        return "newline"
    if c.isspace():
        return "space"
    if c.isdigit():
        return "digit"
    if c.isalpha():
        return "letter" if c.isascii() else "letter_non_ascii"
    return "punct" if unicodedata.category(c).startswith("P") else "other"


def _classes(texts: list[str]) -> Counter:
    return Counter(_char_class(c) for t in texts for c in t)


def _row_chars(ex: Example) -> int:
    return sum(len(m.get("content") or "") for m in ex.messages if m.get("role") != "system")


def _language_part(gen_texts: list[str], job_texts: list[str]) -> float | None:
    job_langs = Counter(x for x in map(language_of, job_texts) if x)
    if not job_langs:
        return None
    main = job_langs.most_common(1)[0][0]
    return sum(language_of(t) == main for t in gen_texts) / max(1, len(gen_texts))


def form_parts(examples: list[Example], job_rows: list[Example], profile: FormatProfile) -> dict[str, float | None]:
    """Every part of the form fidelity (see the module docstring), rounded to 4 digits."""
    g_req, j_req = [last_user(ex) for ex in examples], [profile.request_text(ex) or "" for ex in job_rows]
    g_ans, j_ans = [ex.assistant or "" for ex in examples], [profile.answer_text(ex) or "" for ex in job_rows]
    job_rate = sum(profile.parse_user(u) is not None for u in j_req) / max(1, len(j_req))
    gen_rate = sum(profile.parse_user(u) is not None for u in g_req) / max(1, len(g_req))
    system = Counter(ex.system for ex in job_rows).most_common(1)[0][0] if job_rows else None
    parts: dict[str, float | None] = {
        "turns": 1 - _tv(Counter(map(_structure, examples)), Counter(map(_structure, job_rows))),
        "lengths": 1 - statistics.mean([_ks([len(u) for u in g_req], [len(u) for u in j_req]),
                                        _ks([len(a) for a in g_ans], [len(a) for a in j_ans]),
                                        _ks(list(map(_row_chars, examples)), list(map(_row_chars, job_rows)))]),
        "template": min(1.0, gen_rate / job_rate) if job_rate else None,
        "system": sum(ex.system == system for ex in examples) / max(1, len(examples)),
        "chars": 1 - statistics.mean([_tv(_classes(g_req), _classes(j_req)), _tv(_classes(g_ans), _classes(j_ans))]),
        "language": _language_part([u + "\n" + a for u, a in zip(g_req, g_ans, strict=True)],
                                   [u + "\n" + a for u, a in zip(j_req, j_ans, strict=True)]),
    }
    return {k: (None if v is None else round(float(v), 4)) for k, v in parts.items()}


def form_fidelity(examples: list[Example], job_rows: list[Example], profile: FormatProfile, *,
                  seed: int = 0, sample: int = 1000) -> dict[str, Any]:
    """{"score": mean of the parts, "parts": {...}}; job rows and generated rows sampled to `sample`."""
    rng = random.Random(seed)
    job_s = job_rows if len(job_rows) <= sample else rng.sample(job_rows, sample)
    gen_s = examples if len(examples) <= sample else rng.sample(examples, sample)
    if not gen_s or not job_s:
        return {"score": None, "parts": {k: None for k in PARTS}}
    parts = form_parts(gen_s, job_s, profile)
    known = [v for v in parts.values() if v is not None]
    return {"score": round(statistics.mean(known), 4) if known else None, "parts": parts}


def format_fidelity(fid: dict[str, Any]) -> str:
    """One line for the terminal: the score and its parts."""
    parts = ", ".join(f"{k} {v:.2f}" for k, v in (fid.get("parts") or {}).items() if v is not None)
    score = fid.get("score")
    return f"form fidelity {score:.2f} ({parts})" if score is not None else "form fidelity n/a"


__all__ = ["PARTS", "form_fidelity", "form_parts", "format_fidelity", "language_of"]
