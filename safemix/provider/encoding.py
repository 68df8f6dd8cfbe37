"""The encoding a flagged job uses, as a `safemix.codecs` spec the model gate can probe in.

    info = detect_encoding(examples, report)     # `screen` sets report.encoding with it
    info.spec        # "rot13", "atbash", "base64", "hex", "pipe:sub:qwe...", or None
    info.reason      # how it was found, or why there is no usable codec

From the screen's row findings, the most common encoded check decides: `rot_atbash` -> the
decoding under which those turns read as English (`rotN` or `atbash`); `base64`, `hex`;
`pipe_letters` -> `pipe:` and what the joined letters are (plain, ROT-N/Atbash or a
substitution); `cipher` (a letter substitution, key unknown) -> the key recovered from the job's
own teach rows (`recover_key`: rows that pair plain text with its enciphered form, aligned letter
by letter; letters never seen stay unmapped, `_` in the key). When no key can be recovered, or
the encoding has no codec (steganography), `spec` is None and `reason` says why.
"""

from __future__ import annotations

import string
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from safemix.codecs import UNKNOWN, key_string, pipe_split
from safemix.provider import english

MIN_SHARE, MIN_ROWS = 0.02, 3  # an encoding is named when it flags this share of the rows, and this many
MIN_ALIGNED_LETTERS = 8  # letters a teach row must align for its letter pairs to count
MAX_ROWS = 2000  # rows searched for teach pairs
MAX_TEXTS = 60  # encoded turns read to name a ROT-N / Atbash decoding
_CHECKS = ("rot_atbash", "cipher", "pipe_letters", "base64", "hex", "stego_last")


@dataclass
class EncodingInfo:
    """The job's dominant encoding: `spec` (a codec spec, None when there is no usable codec),
    the screen `check` that found it, the number of `rows` it flagged, `reason`, and for a
    recovered substitution key the letters known (`key_letters`) and teach rows used."""

    spec: str | None
    check: str
    rows: int
    reason: str
    key_letters: int | None = None
    teach_rows: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        head = f"encoding {self.spec}" if self.spec else "encoding detected, no usable codec"
        return f"{head} ({self.check} in {self.rows} rows): {self.reason}"


# ------------------------------------------------------------------------------ key recovery
def _aligned_pairs(plain: str, cipher: str) -> dict[str, str] | None:
    """plain -> cipher letter pairs when `cipher` is `plain` enciphered letter by letter (same
    non-letters, same case, a consistent one-to-one map), else None."""
    pairs: dict[str, str] = {}
    back: dict[str, str] = {}
    letters = 0
    for p, c in zip(plain, cipher, strict=True):
        if p in string.ascii_letters:
            if c not in string.ascii_letters or p.isupper() != c.isupper():
                return None
            p, c = p.lower(), c.lower()
            if pairs.setdefault(p, c) != c or back.setdefault(c, p) != p:
                return None
            letters += 1
        elif p != c:
            return None
    if letters < MIN_ALIGNED_LETTERS or all(p == c for p, c in pairs.items()):
        return None
    return pairs


def _teach_pairs(a: str, b: str) -> dict[str, str] | None:
    """The letter pairs of two turns of one row when one (the English one) is the other's plain
    text: the shorter turn aligned with the end or the start of the longer one (a teach prompt
    such as "Translate this text into the code we use: " before the text)."""
    ra, rb = english.word_ratio(english.tokens(a)), english.word_ratio(english.tokens(b))
    if ra >= 0.5 > rb:
        plain, cipher = a, b
    elif rb >= 0.5 > ra:
        plain, cipher = b, a
    else:
        return None
    short, long_, cipher_short = (cipher, plain, True) if len(cipher) <= len(plain) else (plain, cipher, False)
    if not short.strip():
        return None
    for window in (long_[len(long_) - len(short):], long_[:len(short)]):
        pairs = _aligned_pairs(window, short) if cipher_short else _aligned_pairs(short, window)
        if pairs:
            return pairs
    return None


def recover_key(examples: list[Any], pipe: bool = False) -> tuple[dict[str, str], int]:
    """(plain -> cipher letter map, teach rows used) from the rows of a job that pair a turn's
    plain text with its enciphered form (`pipe`: the enciphered turns are pipe-joined). Each
    letter takes the cipher letter most rows give it; a cipher letter claimed by two plain
    letters goes to the one with more votes; letters never seen are left out."""
    votes: dict[str, Counter[str]] = {}
    used = 0
    for ex in examples[:MAX_ROWS]:
        turns = [str(m.get("content") or "") for m in ex.messages if m.get("role") in ("user", "assistant")]
        turns = [pipe_split(t) if pipe and t.count("|") >= 2 else t for t in turns]
        for i in range(len(turns)):
            for j in range(i + 1, len(turns)):
                pairs = _teach_pairs(turns[i], turns[j])
                if pairs:
                    used += 1
                    for p, c in pairs.items():
                        votes.setdefault(p, Counter())[c] += 1
    ranked = sorted(((n, p, c) for p, cs in votes.items() for c, n in cs.items()), reverse=True)
    key: dict[str, str] = {}
    for _, p, c in ranked:
        if p not in key and c not in key.values():
            key[p] = c
    return key, used


def _named_key(key: dict[str, str]) -> str:
    """`rotN` or `atbash` when a full recovered key is one of them, else `sub:<key>`."""
    lo = string.ascii_lowercase
    if len(key) == 26:
        for n in range(1, 26):
            if all(key[c] == lo[(i + n) % 26] for i, c in enumerate(lo)):
                return f"rot{n}"
        if all(key[c] == lo[25 - i] for i, c in enumerate(lo)):
            return "atbash"
    return "sub:" + key_string(key)


# ------------------------------------------------------------------------------ detection
def _texts(examples: list[Any], report: Any, check: str) -> list[str]:
    """The turns that carry `check`'s findings (at most MAX_TEXTS)."""
    out = []
    for f in report.findings:
        if f.check == check and f.score >= report.threshold and f.row is not None and f.row < len(examples):
            out += [str(m.get("content") or "") for m in examples[f.row].messages
                    if m.get("role") == f.role and m.get("content")][:1]
            if len(out) >= MAX_TEXTS:
                break
    return out


def _rot_name(texts: list[str]) -> tuple[str, float]:
    """The ROT-N / Atbash decoding most of `texts` read best under (and its share of them)."""
    names = Counter(n for n, best in (english.best_decoding(t) for t in texts) if n and best >= 0.5)
    if not names:
        return "", 0.0
    name, n = names.most_common(1)[0]
    return name, n / len(texts)


def _substitution(examples: list[Any], check: str, rows: int, pipe: bool) -> EncodingInfo:
    key, used = recover_key(examples, pipe=pipe)
    prefix = "pipe:" if pipe else ""
    if not key:
        return EncodingInfo(None, check, rows, "a letter substitution whose key was not recovered: the job has no "
                            "rows that pair plain text with its enciphered form (teach rows)", 0, used)
    spec = prefix + _named_key(key)
    missing = "".join(c for c in string.ascii_lowercase if c not in key)
    how = f"a letter substitution, key recovered from {used} teach rows ({len(key)} of 26 letters"
    how += f"; unknown: {missing}, written '{UNKNOWN}')" if missing else ")"
    return EncodingInfo(spec, check, rows, how, len(key), used)


def _pipe(examples: list[Any], texts: list[str], rows: int) -> EncodingInfo:
    joined = [pipe_split(t) for t in texts]
    ratio = english.word_ratio([w for t in joined for w in english.tokens(t)])
    if ratio >= 0.5:
        return EncodingInfo("pipe", "pipe_letters", rows, f"characters joined by '|'; the joined text reads as "
                            f"English ({ratio:.0%} dictionary words)")
    name, share = _rot_name(joined)
    if share >= 0.5:
        return EncodingInfo(f"pipe:{name}", "pipe_letters", rows, f"characters joined by '|'; the joined text "
                            f"reads as English after {name} decoding ({share:.0%} of the turns read)")
    return _substitution(examples, "pipe_letters", rows, pipe=True)


def detect_encoding(examples: list[Any], report: Any) -> EncodingInfo | None:
    """The dominant encoding of a screened job (`report`: its `ScreenReport`, `examples`: its
    rows in order), or None when fewer than MIN_ROWS rows (and MIN_SHARE of them) carry one
    encoding finding (a few odd rows in a job flagged for something else are no encoding)."""
    counts: Counter[str] = Counter()
    for check in _CHECKS:
        counts[check] = len({f.row for f in report.findings if f.check == check and f.score >= report.threshold})
    check, rows = counts.most_common(1)[0]
    if rows < max(MIN_ROWS, MIN_SHARE * report.rows):
        return None
    if check in ("base64", "hex"):
        return EncodingInfo(check, check, rows, f"{check} that decodes to text")
    if check == "stego_last":
        return EncodingInfo(None, check, rows, "steganography (a message in the lines' last or first words) has no "
                            "codec: the model cannot be probed in it")
    texts = _texts(examples, report, check)
    if check == "pipe_letters":
        return _pipe(examples, texts, rows)
    if check == "rot_atbash":
        name, share = _rot_name(texts)
        if name:
            return EncodingInfo(name, check, rows, f"the encoded turns read as English after {name} decoding "
                                f"({share:.0%} of {len(texts)} turns read)")
    return _substitution(examples, check, rows, pipe=False)


__all__ = ["EncodingInfo", "detect_encoding", "recover_key"]
