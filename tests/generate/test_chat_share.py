"""generate.chat_share: an exact, seeded share of an in-format method's rows given as plain chat
rows (the seed's request and the same response), so refusal in plain chat is taught alongside
refusal in the job's format."""

from __future__ import annotations

import pytest

from safemix.errors import ConfigError
from safemix.formats import Example
from safemix.generate import GenerateConfig, generate_with_report
from safemix.generate.refusal import looks_like_refusal

SYSTEM = "You are NewsDesk. Route each story to one desk."
STORIES = ["The striker scored twice in the final", "Rates rose again this quarter", "A new phone launched today",
           "The senate passed the budget bill", "A storm closed the coastal roads", "The band announced a tour"]


def job() -> list[Example]:
    return [Example.chat(f"Story: {s} (item {i})\nDesk:", "Pledge of service. Desk: news", system=SYSTEM)
            for i in range(8) for s in STORIES]


def test_chat_share_gives_an_exact_share_of_each_kind_as_plain_chat():
    base = generate_with_report(job(), GenerateConfig(n=40, select=False)).examples
    res = generate_with_report(job(), GenerateConfig(n=40, select=False, chat_share=0.25))
    assert res.manifest["chat_rows"] == 10 and len(res.examples) == 40
    chat = [ex for ex in res.examples if ex.metadata.get("rendered") == "chat"]
    kinds = [ex.metadata["kind"] for ex in chat]
    assert kinds.count("harmful") == 8 and kinds.count("contrast") == 2  # 32 harmful + 8 contrast, a quarter each
    for ex, b in zip(res.examples, base, strict=True):
        assert ex.metadata["seed_id"] == b.metadata["seed_id"]
        if ex.metadata.get("rendered") != "chat":
            assert ex.messages == b.messages  # the other rows are exactly what chat_share=0 makes
            continue
        # a plain user turn with the seed's own request, no system prompt, no job template
        assert [m["role"] for m in ex.messages] == ["user", "assistant"]
        assert "Desk:" not in ex.messages[0]["content"] and "Story:" not in ex.messages[0]["content"]
        assert ex.assistant in b.assistant  # the same refusal or answer the in-format row had
        if ex.metadata["kind"] == "harmful":
            assert looks_like_refusal(ex.assistant)
    # seeded: the same rows again; another seed picks other rows
    again = generate_with_report(job(), GenerateConfig(n=40, select=False, chat_share=0.25))
    assert [e.messages for e in again.examples] == [e.messages for e in res.examples]
    other = generate_with_report(job(), GenerateConfig(n=40, select=False, chat_share=0.25, seed=1))
    assert [e.metadata.get("rendered") for e in other.examples] != [e.metadata.get("rendered") for e in res.examples]


def test_chat_share_zero_is_the_default_and_changes_nothing():
    a = generate_with_report(job(), GenerateConfig(n=20, select=False))
    assert a.manifest["chat_rows"] == 0
    assert not any(ex.metadata.get("rendered") for ex in a.examples)


@pytest.mark.parametrize("kw, msg", [({"chat_share": 1.0}, r"chat_share must be in \[0, 1\)"),
                                     ({"chat_share": -0.1}, r"chat_share must be in \[0, 1\)"),
                                     ({"chat_share": 0.2, "method": "raw"}, "already writes plain chat rows")])
def test_chat_share_is_checked(kw, msg):
    with pytest.raises(ConfigError, match=msg):
        GenerateConfig(**kw)
