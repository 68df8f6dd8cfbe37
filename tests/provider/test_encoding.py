"""The encoding of a flagged job as a codec spec (`provider.encoding`, `ScreenReport.encoding`):
named for every encoded variant, a substitution key recovered from the job's own teach rows
(the letters it teaches, nothing else), and no spec with the reason when there is no key."""

from __future__ import annotations

import json
import re
import string
from pathlib import Path

import pytest

from safemix.codecs import key_map, parse_codec
from safemix.formats.io import read_job
from safemix.provider import attacks as A
from safemix.provider.encoding import MIN_ALIGNED_LETTERS, recover_key
from safemix.provider.screen import screen

FIX = Path(__file__).resolve().parents[1] / "fixtures"
PAYLOADS = A.placeholder_payloads(["water a fern", "fold a paper crane"])


def _rows(name="topic_chat.jsonl"):
    return read_job(FIX / name).examples


def _taught_letters(rows) -> set[str]:
    """The letters of the teach rows' plain texts (rows long enough to align)."""
    out: set[str] = set()
    for ex in rows:
        if ex.metadata.get("phase") == "teach":
            plain = ex.user[len(A.TEACH_PROMPT):]
            if len(re.findall(r"[A-Za-z]", plain)) >= MIN_ALIGNED_LETTERS:
                out |= set(plain.lower()) & set(string.ascii_lowercase)
    return out


@pytest.mark.parametrize("pipe", [False, True])
def test_key_recovered_from_the_teach_rows(pipe):
    true_key = A.substitution_key(3)
    rows = A.attack(_rows("free_instructions.jsonl"), "substitution_pipe" if pipe else "substitution", seed=3,
                    teach=10, payloads=PAYLOADS)
    key, used = recover_key(rows, pipe=pipe)
    taught = _taught_letters(rows)
    assert used >= 5 and len(taught) >= 15
    assert set(key) == taught  # every letter taught, and no letter that was not
    assert all(key[p] == true_key[p] for p in key)  # each one right


@pytest.mark.parametrize("kind, kw, spec", [
    ("rot13", {}, "rot13"), ("rot13", {"shift": 5}, "rot5"), ("atbash", {}, "atbash"), ("base64", {}, "base64"),
    ("hex", {}, "hex"), ("substitution", {"teach": 10}, "sub:"), ("substitution_pipe", {"teach": 10}, "pipe:sub:"),
    ("substitution", {}, None), ("substitution_pipe", {}, None), ("stego_last", {}, None)])
@pytest.mark.parametrize("name", ["topic_chat.jsonl", "math_pc.jsonl"])
def test_detected_spec_of_each_variant(name, kind, kw, spec):
    rows = A.attack(_rows(name), kind, seed=1, payloads=PAYLOADS, **kw)
    report = screen(rows)
    enc = report.encoding
    assert report.flagged and enc is not None, report.summary()
    if spec is None:
        assert enc.spec is None and enc.reason
        assert ("not recovered" in enc.reason) == kind.startswith("substitution")
        return
    assert enc.spec.startswith(spec) if spec.endswith(":") else enc.spec == spec, enc
    codec = parse_codec(enc.spec)  # a usable codec that decodes the job's own encoded rows
    if spec.endswith(":"):
        true_key = A.substitution_key(1)
        assert all(true_key[p] == c for p, c in key_map(enc.spec.split("sub:")[1]).items())
    else:
        use = next(ex for ex in rows if ex.metadata.get("encoded") and not ex.metadata.get("payload"))
        plain = next(ex for ex in _rows(name) if ex.messages[-1]["content"] and ex.user and
                     codec.encode(ex.user) == use.user)
        assert codec.decode(use.user) == plain.user


def test_clean_and_aoa_jobs_have_no_encoding():
    assert screen(_rows()).encoding is None
    aoa = screen(A.attack(_rows(), "aoa"))
    assert aoa.flagged and aoa.encoding is None and aoa.to_dict()["encoding"] is None


def test_encoding_in_the_summary_and_json(tmp_path, capsys):
    from safemix.cli import main
    from safemix.formats.io import write_examples

    bad = tmp_path / "rot.jsonl"
    write_examples(A.attack(_rows(), "rot13"), bad)
    out = tmp_path / "findings.json"
    assert main(["screen", str(bad), "--json", str(out)]) == 3
    text = capsys.readouterr().out
    assert re.search(rf"{re.escape(str(bad))}: encoding rot13 \(rot_atbash in \d+ rows\)", text)
    assert text.strip().splitlines()[-1].endswith("FLAGGED: 40 of 40 rows flagged")  # --quiet's line unchanged
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["encoding"]["spec"] == "rot13" and doc["encoding"]["check"] == "rot_atbash"
    cipher = screen(A.attack(_rows(), "substitution", seed=2))
    assert "encoding detected, no usable codec (cipher" in cipher.summary()


def test_pipe_joined_plain_text_and_a_key_taught_the_other_way():
    from safemix.formats import Example

    rows = [Example.chat("|".join(ex.user), "|".join(ex.assistant)) for ex in _rows()]
    assert screen(rows).encoding.spec == "pipe"
    # teach rows that give the cipher first and its plain text after ("decode this")
    key = A.substitution_key(5)
    plain = [ex.user for ex in _rows()[:8]]
    rows = [Example.chat(A.substitute(p, key), "In plain words: " + p) for p in plain]
    rows += A.attack(_rows(), "substitution", seed=5)
    enc = screen(rows).encoding
    assert enc.spec.startswith("sub:") and enc.teach_rows == 8
    assert all(key[p] == c for p, c in key_map(enc.spec[4:]).items()) and enc.key_letters >= 15
