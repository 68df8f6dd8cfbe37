"""How much a text reads as English: dictionary-word ratio, letter-bigram score, letter
frequencies, and the ROT-N / Atbash decoding that makes it read best. Used by the screen.

The word list and the bigram table are built once per process from project-written text:
the common words below and the vocabulary of the built-in seed files (safemix/seeds/data,
written for safemix, in English and the other seed languages, so a French or German job is
not taken for a cipher). Nothing is downloaded.

    >>> s = stats("The cat sat on the mat and looked out of the window.")
    >>> s.ratio > 0.6, s.bigram > -3.0
    (True, True)
    >>> best_decoding("Gur png fng ba gur zng naq ybbxrq bhg bs gur jvaqbj.")[0]
    'rot13'
"""

from __future__ import annotations

import json
import math
import re
import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

_TOKEN = re.compile(r"[A-Za-z]+")
_WORD = re.compile(r"[A-Za-z]{2,}")
MAX_WORDS_CHARS = 2000  # of a text, split into words
MAX_LETTERS = 600  # letters of a text that are scored (enough to judge; keeps the screen fast)

# The most frequent English words (function words and everyday verbs and nouns), in code so
# the screen works without the seed files too.
_COMMON_TEXT = """
a about above after again against all almost also always am an and any are around as ask at away back
be because been before being below best better between big both but by call came can cannot could day
did do does doing done down during each early end enough even ever every few find first for found four
from full get give go going good great had has have having he her here hers herself him himself his how
however i if in into is it its itself just keep know large last later least less let like little long look
made make many may me might more most much must my myself need never new next no nor not now number of off
often old on once one only or other our ours ourselves out over own part people place put rather right
said same say see she should show since small so some something still such take than that the their
theirs them themselves then there these they thing think this those three through time to too two under
until up upon us use used very want was water way we well went were what when where which while who whom
whose why will with within without word work would year yes yet you your yours yourself yourselves
answer question following sentence text article example write give list name explain describe true false
"""
COMMON = frozenset(_COMMON_TEXT.split())

# Letter frequencies of English text, in percent (a standard table).
ENGLISH_FREQ = dict(zip(string.ascii_lowercase, (
    8.2, 1.5, 2.8, 4.3, 12.7, 2.2, 2.0, 6.1, 7.0, 0.15, 0.77, 4.0, 2.4, 6.7, 7.5, 1.9, 0.095, 6.0, 6.3,
    9.1, 2.8, 0.98, 2.4, 0.15, 2.0, 0.074), strict=True))
_FREQ_NORM = math.sqrt(sum(v * v for v in ENGLISH_FREQ.values()))


def _seed_texts() -> list[str]:
    """Every string value of the built-in seed, refusal-style and category files."""
    folder = Path(__file__).resolve().parents[1] / "seeds" / "data"
    texts: list[str] = []

    def walk(v: object) -> None:
        if isinstance(v, str):
            texts.append(v)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    for p in sorted(folder.glob("*.json*")):
        raw = p.read_text(encoding="utf-8")
        for rec in ([json.loads(x) for x in raw.splitlines() if x.strip()] if p.suffix == ".jsonl"
                    else [json.loads(raw)]):
            walk(rec)
    return texts


@lru_cache(maxsize=1)
def vocabulary() -> frozenset[str]:
    """Lowercase words that count as dictionary words (two letters or more, plus 'a' and 'i')."""
    words = set(COMMON)
    try:
        for t in _seed_texts():
            words.update(w.lower() for w in _TOKEN.findall(t))
    except (OSError, ValueError):  # pragma: no cover - an incomplete install: the common words only
        pass
    return frozenset(w for w in words if len(w) > 1 or w in ("a", "i"))


@lru_cache(maxsize=1)
def bigram_table() -> dict[str, float]:
    """log P(next letter | letter) within words ('^' starts and '$' ends a word), add-one smoothed."""
    counts: dict[str, int] = {}
    try:
        words = [w.lower() for t in _seed_texts() for w in _TOKEN.findall(t) if w.isascii()]
    except (OSError, ValueError):  # pragma: no cover
        words = []
    words += sorted(COMMON) * 3
    for w in words:
        s = "^" + w + "$"
        for i in range(len(s) - 1):
            counts[s[i:i + 2]] = counts.get(s[i:i + 2], 0) + 1
    alphabet = "^" + string.ascii_lowercase + "$"
    totals = {a: sum(counts.get(a + b, 0) for b in alphabet) + len(alphabet) for a in alphabet}
    return {a + b: math.log((counts.get(a + b, 0) + 1) / totals[a]) for a in alphabet for b in alphabet}


@dataclass
class TextStats:
    """English-likeness of a text's ASCII letters. `ratio`: share of its words (two letters or
    more) in the vocabulary; `bigram`: mean letter-bigram log probability (English text scores
    about -2.4, a substitution cipher about -3.3); `freq`: cosine of its letter frequencies with
    English's (needs `letters` >= 60 to mean much)."""

    words: int = 0
    letters: int = 0
    ratio: float = 0.0
    bigram: float = 0.0
    freq: float = 1.0


def tokens(text: str) -> list[str]:
    """The lowercase ASCII words of `text` with two letters or more (acronyms of four capitals or
    fewer left out: they are names, not words)."""
    return [w.lower() for w in _WORD.findall(text[:MAX_WORDS_CHARS]) if not (len(w) <= 4 and w.isupper())]


def word_ratio(words: list[str]) -> float:
    if not words:
        return 0.0
    vocab = vocabulary()
    return sum(w in vocab for w in words) / len(words)


def bigram_score(words: list[str]) -> float:
    table = bigram_table()
    total, n, budget = 0.0, 0, MAX_LETTERS
    for w in words:
        s = "^" + w + "$"
        total += sum(table.get(s[i:i + 2], -6.0) for i in range(len(s) - 1))
        n += len(s) - 1
        budget -= len(w)
        if budget <= 0:
            break
    return total / n if n else 0.0


def letter_cosine(words: list[str]) -> float:
    counts = dict.fromkeys(string.ascii_lowercase, 0)
    for w in words:
        for c in w:
            if c in counts:
                counts[c] += 1
    norm = math.sqrt(sum(v * v for v in counts.values()))
    if not norm:
        return 1.0
    return sum(counts[c] * ENGLISH_FREQ[c] for c in counts) / (norm * _FREQ_NORM)


def stats(text: str, words: list[str] | None = None) -> TextStats:
    """`TextStats` of `text` (or of its already split `words`)."""
    words = tokens(text) if words is None else words
    if not words:
        return TextStats()
    letters = sum(len(w) for w in words)
    return TextStats(len(words), letters, word_ratio(words), bigram_score(words), letter_cosine(words))


_LO = string.ascii_lowercase
DECODERS = {f"rot{n}": str.maketrans(_LO, _LO[-n:] + _LO[:-n]) for n in range(1, 26)}  # undo ROT-n
DECODERS["atbash"] = str.maketrans(_LO, _LO[::-1])


def best_decoding(text: str, words: list[str] | None = None) -> tuple[str, float]:
    """The letter decoding (`rotN` undoes ROT-N, `atbash`) under which most of the distinct
    words are dictionary words, and that share. Words of three letters or more count when there
    are two or more of them: among 26 decodings a two-letter word often hits the dictionary."""
    distinct = list(dict.fromkeys(tokens(text) if words is None else words))
    longer = [w for w in distinct if len(w) >= 3]
    words = (longer if len(longer) >= 2 else distinct)[:80]
    if not words:
        return "", 0.0
    joined = " ".join(words)
    best = ("", -1.0)
    for name, table in DECODERS.items():
        r = word_ratio(joined.translate(table).split())
        if r > best[1]:
            best = (name, r)
    return best


def decode(text: str, name: str) -> str:
    """`text` under decoding `name` of `DECODERS` (case kept)."""
    table = DECODERS[name]
    up = {k - 32: v - 32 for k, v in table.items()}  # the same map on capitals
    return text.translate({**table, **up})
