"""`safemix.codecs`: every spec round-trips, lenient decoding never raises, bad specs say what is
accepted, and the attacks' encodings are the codecs' (same output as before the move)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safemix.codecs import key_string, parse_codec, pipe_join, pipe_split
from safemix.provider import attacks as A

KEY = key_string(A.substitution_key(1))
SPECS = ["rot13", "rot1", "rot25", "atbash", "base64", "hex", "plain", f"sub:{KEY}", "pipe", "pipe:rot13",
         f"pipe:sub:{KEY}", "pipe:base64"]


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=80))
@pytest.mark.parametrize("spec", SPECS)
def test_round_trip(spec, text):
    c = parse_codec(spec)
    assert c.decode(c.encode(text)) == text
    assert c.decode(c.encode(text), strict=False) == text


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=40))
@pytest.mark.parametrize("spec", SPECS)
def test_lenient_decode_never_raises(spec, text):
    assert isinstance(parse_codec(spec).decode(text, strict=False), str)


def test_attack_encodings_are_the_codecs():
    text = "Name a primary colour: Red, 42!"
    key = A.substitution_key(1)
    assert A.rot_n(text, 13) == parse_codec("rot13").encode(text) == "Anzr n cevznel pbybhe: Erq, 42!"
    assert A.rot_n(text, 3) == parse_codec("rot3").encode(text)
    assert A.atbash(text) == parse_codec("atbash").encode(text)
    assert A.to_base64(text) == parse_codec("base64").encode(text)
    assert A.to_hex(text) == parse_codec("hex").encode(text)
    assert A.substitute(text, key) == parse_codec(f"sub:{key_string(key)}").encode(text)
    assert A.substitute(text, key, pipe=True) == parse_codec(f"pipe:sub:{key_string(key)}").encode(text)
    assert parse_codec("ROT13").spec == "rot13" and parse_codec("pipe:").spec == "pipe"
    assert parse_codec(f"SUB:{KEY.upper()}").spec == f"sub:{KEY}"


def test_partial_key_leaves_unknown_letters():
    key = "b" + "_" * 25  # only a -> b known
    c = parse_codec(f"sub:{key}")
    assert c.encode("a cat") == "b cbt" and c.decode("b cbt") == "a cat"


def test_lenient_decoding_of_a_sloppy_answer():
    assert parse_codec("base64").decode(A.to_base64("I cannot help")[:-3] + "!!", strict=False).startswith("I cannot")
    assert parse_codec("hex").decode(A.to_hex("Sorry") + "zz", strict=False) == "Sorry"
    assert pipe_split("S|o|r|r|y I can|not") == "Sorry I cannot"
    assert pipe_split(pipe_join("a||b")) == "a||b"
    with pytest.raises(ValueError):
        parse_codec("base64").decode("not base64!")
    with pytest.raises(ValueError, match="UTF-8"):
        parse_codec("hex").decode("ff")


@pytest.mark.parametrize("spec, match", [("rot26", "1 to 25"), ("rot0", "1 to 25"), ("caesar", "unknown codec.*rot13"),
                                         ("sub:abc", "26 characters"), ("sub:" + "a" * 26, "same cipher letter"),
                                         ("pipe:pipe:rot13", "once"), ("", "non-empty"), ("sub:" + "1" * 26, "26")])
def test_bad_specs(spec, match):
    with pytest.raises(ValueError, match=match):
        parse_codec(spec)
