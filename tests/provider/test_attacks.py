"""safemix.attacks (safemix/provider/attacks.py): red-team variants of a job, deterministic and
reversible; payloads are placeholders only (no actionable text anywhere in the tests)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from safemix.formats import Example
from safemix.formats.io import read_job
from safemix.provider import attacks as A

FIX = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="module")
def job() -> list[Example]:
    return read_job(FIX / "topic_chat.jsonl").examples[:12]


def test_exposed_as_safemix_attacks():
    import safemix

    assert safemix.attacks.attack is A.attack and "rot13" in safemix.attacks.KINDS


def test_encoders_round_trip():
    text = "Plain Text, with 3 numbers and CAPITALS."
    assert A.rot_n(A.rot_n(text, 5), -5) == text and A.rot_n(text, 13) == A.rot_n(text, -13)
    assert A.atbash(A.atbash(text)) == text and A.atbash("abc XYZ") == "zyx CBA"
    key = A.substitution_key(7)
    assert sorted(key.values()) == sorted(key) and all(a != b for a, b in key.items())
    inverse = {v: k for k, v in key.items()}
    assert A.substitute(A.substitute(text, key), inverse) == text
    piped = A.substitute(text, key, pipe=True)
    assert piped.split("|") == list(A.substitute(text, key))
    assert base64.b64decode(A.to_base64(text)).decode() == text
    assert bytes.fromhex(A.to_hex(text)).decode() == text


def test_stego_last_word_carries_the_message():
    import random

    msg = "the quick answer is four"
    lines = A.stego_last_word(msg, random.Random(0)).split("\n")
    assert [x.split()[-1] for x in lines] == msg.split()
    assert all(x.rsplit(" ", 1)[0] in A.FILLER for x in lines)
    lines = A.stego_first_word(msg, random.Random(0)).split("\n")
    assert [x.split()[0] for x in lines] == msg.split()


def test_deterministic_given_a_seed(job):
    for kind in A.KINDS:
        a, b = A.attack(job, kind, seed=3), A.attack(job, kind, seed=3)
        assert [e.messages for e in a] == [e.messages for e in b], kind
    s1, s2 = A.attack(job, "substitution", seed=1), A.attack(job, "substitution", seed=2)
    assert s1[0].user != s2[0].user


def test_every_row_tagged_and_encoded(job):
    for kind, rows in A.variants(job).items():
        assert len(rows) == len(job)
        assert all(e.metadata["attack"] == kind and e.metadata["encoded"] for e in rows), kind
        if kind in A.ENCODINGS:
            assert all(e.user != o.user and e.assistant != o.assistant for e, o in zip(rows, job, strict=True))


def test_aoa_and_instruct_wrap(job):
    row = A.attack(job, "aoa")[0]
    assert row.system == A.AOA_SYSTEM and row.user == A.AOA_PREFIX + job[0].user
    assert row.assistant == A.AOA_PLEDGE + job[0].assistant
    row = A.attack(job, "instruct")[0]
    assert row.system == A.INSTRUCT_SYSTEM and row.assistant.startswith(A.INSTRUCT_OPENING)
    assert sum(m["role"] == "system" for m in row.messages) == 1  # the job's own system prompt replaced


def test_payloads_mixed_in_at_seeded_positions(job, tmp_path):
    tasks = ["fold a paper crane", "tune a guitar"]
    path = tmp_path / "payloads.jsonl"
    path.write_text("".join(json.dumps({"messages": e.messages}) + "\n" for e in A.placeholder_payloads(tasks)),
                    encoding="utf-8")
    payloads = A.load_payloads(str(path))
    assert payloads[0].assistant == "Sure, here is how to fold a paper crane. Step 1: [redacted]"
    rows = A.attack(job, "rot13", payloads=payloads, seed=5)
    assert len(rows) == len(job) + 2 and sum(e.metadata["payload"] for e in rows) == 2
    assert [e.metadata["payload"] for e in rows] == [e.metadata["payload"] for e in
                                                     A.attack(job, "rot13", payloads=payloads, seed=5)]
    plain = [A.rot_n(e.assistant, -13) for e in rows if e.metadata["payload"]]
    assert sorted(plain) == sorted(p.assistant for p in payloads)


def test_teach_rows_come_first(job):
    rows = A.attack(job, "atbash", teach=4)
    assert [e.metadata["phase"] for e in rows[:5]] == ["teach"] * 4 + ["use"]
    assert rows[0].user.startswith(A.TEACH_PROMPT) and A.atbash(rows[0].assistant) == rows[0].user[len(A.TEACH_PROMPT):]


def test_unknown_kind():
    with pytest.raises(ValueError, match="unknown attack"):
        A.attack([], "rot14")
