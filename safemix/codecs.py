"""Text codecs, each with an encoder and a decoder, named by a spec string: the encodings a
finetuning job can teach a model (`provider.attacks` writes them, `provider.screen` names the one
it detects, `eval` asks probes in it and decodes the answers).

    >>> c = parse_codec("rot13")
    >>> c.encode("Hello, world"), c.decode("Uryyb, jbeyq")
    ('Uryyb, jbeyq', 'Hello, world')
    >>> parse_codec("pipe:atbash").encode("abc")
    'z|y|x'

Specs (`parse_codec`): `rot13` / `rotN` (shift every ASCII letter N places, 1 <= N <= 25),
`atbash` (a<->z), `base64`, `hex` (UTF-8 bytes), `sub:<key>` (letter substitution: the key's
i-th letter is the cipher letter of the i-th plain letter a..z; `_` marks a letter whose cipher
letter is unknown, left as written both ways), `plain` (identity), and `pipe:<spec>` (the
encoded text with every character joined by "|"; `pipe` alone is `pipe:plain`).
"""

from __future__ import annotations

import base64
import binascii
import re
import string
from collections.abc import Callable
from dataclasses import dataclass

_LO, _UP = string.ascii_lowercase, string.ascii_uppercase
UNKNOWN = "_"  # in a `sub:` key: the cipher letter of this plain letter is not known


# ------------------------------------------------------------------------------ the transforms
def rot_n(text: str, n: int = 13) -> str:
    """Shift every ASCII letter `n` places (case kept): ROT13 for n=13; rot_n(rot_n(t, n), -n) == t."""
    n %= 26
    return text.translate(str.maketrans(_LO + _UP, _LO[n:] + _LO[:n] + _UP[n:] + _UP[:n]))


def atbash(text: str) -> str:
    """Mirror the alphabet (a<->z, b<->y, ...), case kept; its own inverse."""
    return text.translate(str.maketrans(_LO + _UP, _LO[::-1] + _UP[::-1]))


def substitute(text: str, key: dict[str, str], pipe: bool = False) -> str:
    """Apply a letter substitution `key` (lowercase plain -> cipher; case kept); `pipe`: join
    every character with "|"."""
    table = {**key, **{a.upper(): b.upper() for a, b in key.items()}}
    out = text.translate(str.maketrans(table))
    return pipe_join(out) if pipe else out


def pipe_join(text: str) -> str:
    return "|".join(text)


def pipe_split(text: str) -> str:
    """The inverse of `pipe_join`: every other character when every other one is "|", else the
    text with the "|" between characters removed (a model's answer need not be exact)."""
    if len(text) % 2 == 1 and set(text[1::2]) <= {"|"}:
        return text[0::2]
    return re.sub(r"(?<=[^|])\|(?=[^|])", "", text)


def to_base64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def from_base64(text: str, strict: bool = True) -> str:
    """Decode base64 text to UTF-8; `strict=False`: decode the longest valid run from the start
    (whitespace dropped, missing padding added, bad bytes replaced) and never raise."""
    body = re.sub(r"\s", "", text)
    if strict:
        return base64.b64decode(body, validate=True).decode("utf-8")
    body = re.match(r"[A-Za-z0-9+/]*", body).group(0)  # type: ignore[union-attr]
    body = body[: len(body) - len(body) % 4 if len(body) % 4 == 1 else len(body)]
    try:
        return base64.b64decode(body + "=" * (-len(body) % 4)).decode("utf-8", errors="replace")
    except (ValueError, binascii.Error):  # pragma: no cover - the run above is valid base64
        return ""


def to_hex(text: str) -> str:
    return text.encode("utf-8").hex()


def from_hex(text: str, strict: bool = True) -> str:
    """Decode hex text to UTF-8; `strict=False`: the hex digits from the start (spaces and
    colons dropped, an odd last digit and bad bytes replaced) and never raise."""
    if strict:
        return bytes.fromhex(text.strip()).decode("utf-8")
    body = re.match(r"[0-9a-fA-F]*", re.sub(r"[\s:]", "", text)).group(0)  # type: ignore[union-attr]
    return bytes.fromhex(body[: len(body) // 2 * 2]).decode("utf-8", errors="replace")


# ------------------------------------------------------------------------------ the codec
@dataclass(frozen=True)
class Codec:
    """An encoding with its inverse. `decode(text, strict=False)` never raises (for a model's
    answer, which may be only partly in the encoding); strict decoding raises ValueError on text
    that is not in the encoding (base64, hex)."""

    spec: str
    _encode: Callable[[str], str]
    _decode: Callable[[str, bool], str]

    def encode(self, text: str) -> str:
        return self._encode(text)

    def decode(self, text: str, strict: bool = True) -> str:
        try:
            return self._decode(text, strict)
        except UnicodeDecodeError as e:
            raise ValueError(f"{self.spec}: the decoded bytes are not UTF-8 text ({e.reason})") from None

    def __str__(self) -> str:
        return self.spec


def key_string(key: dict[str, str]) -> str:
    """The 26-letter key string of a plain -> cipher letter map (`_` for a plain letter not in it)."""
    return "".join(key.get(c, UNKNOWN) for c in _LO)


def key_map(key: str) -> dict[str, str]:
    """The plain -> cipher letter map of a key string (letters marked `_` left out); ValueError
    for a key that is not 26 letters or `_`, or that maps two plain letters to one cipher letter."""
    k = key.lower()
    if len(k) != 26 or any(c not in _LO + UNKNOWN for c in k):
        raise ValueError(f"a substitution key is 26 characters, each a letter or '{UNKNOWN}' (unknown), "
                         f"the cipher letters of a..z in order; got {key!r} ({len(key)} characters)")
    dup = sorted({c for c in k if c != UNKNOWN and k.count(c) > 1})
    if dup:
        raise ValueError(f"substitution key {key!r} maps two plain letters to the same cipher letter "
                         f"({', '.join(dup)}): it could not be decoded")
    return {p: c for p, c in zip(_LO, k, strict=True) if c != UNKNOWN}


def _simple(spec: str) -> Codec:
    m = re.fullmatch(r"rot(\d+)", spec)
    if m:
        n = int(m.group(1))
        if not 1 <= n <= 25:
            raise ValueError(f"codec {spec!r}: the shift of rotN is 1 to 25")
        return Codec(f"rot{n}", lambda t: rot_n(t, n), lambda t, _s: rot_n(t, -n))
    if spec == "atbash":
        return Codec(spec, atbash, lambda t, _s: atbash(t))
    if spec == "base64":
        return Codec(spec, to_base64, lambda t, s: from_base64(t, s))
    if spec == "hex":
        return Codec(spec, to_hex, lambda t, s: from_hex(t, s))
    if spec == "plain":
        return Codec(spec, lambda t: t, lambda t, _s: t)
    if spec.startswith("sub:"):
        key = key_map(spec[4:])
        inverse = {c: p for p, c in key.items()}
        return Codec("sub:" + key_string(key), lambda t: substitute(t, key), lambda t, _s: substitute(t, inverse))
    raise ValueError(f"unknown codec {spec!r}; choose from {', '.join(SPECS)}")


SPECS = ("rot13", "rotN (N = 1..25)", "atbash", "base64", "hex", "sub:<26-letter key>", "plain",
         "pipe:<spec>", "pipe")


def parse_codec(spec: str) -> Codec:
    """The codec named by `spec` (see the module docstring); ValueError with what is accepted."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"a codec spec is a non-empty string ({', '.join(SPECS)}), got {spec!r}")
    s = spec.strip()
    low = s.lower()  # a sub: key is case-insensitive too
    if low in ("pipe", "pipe:"):
        low = "pipe:plain"
    if low.startswith("pipe:"):
        inner = low[5:]
        if inner.startswith("pipe"):
            raise ValueError(f"codec {spec!r}: pipe: is given once")
        c = _simple(inner)
        name = "pipe" if c.spec == "plain" else f"pipe:{c.spec}"
        return Codec(name, lambda t: pipe_join(c.encode(t)), lambda t, st: c.decode(pipe_split(t), st))
    return _simple(low)


__all__ = ["SPECS", "UNKNOWN", "Codec", "atbash", "from_base64", "from_hex", "key_map", "key_string", "parse_codec",
           "pipe_join", "pipe_split", "rot_n", "substitute", "to_base64", "to_hex"]
