"""Registry, input checks and the dummy backend."""

from __future__ import annotations

import pytest

from safemix.errors import ConfigError, InputError
from safemix.llm import BACKENDS, get_backend, truncate_at_stop
from safemix.llm.dummy import COMPLIANCE, REFUSAL, truncate_words

USER = [{"role": "user", "content": "hello there world"}]


def test_registry_names():
    assert set(BACKENDS) == {"hf", "openai", "dummy"}


def test_unknown_backend_suggests_the_nearest_name():
    with pytest.raises(ConfigError, match=r"unknown LLM backend 'opnai' \(did you mean 'openai'\?\)"):
        get_backend("opnai")


def test_unknown_argument_names_the_accepted_ones():
    with pytest.raises(ConfigError, match=r"unknown argument\(s\) batchsize for the dummy backend; accepted: .*rule"):
        get_backend("dummy", batchsize=3)


def test_dummy_accepts_model_like_every_backend():
    # the generator calls get_backend(name, model=..., **backend_args) for any backend
    assert get_backend("dummy", model=None).chat([USER]) == ["hello there world"]


def test_dummy_rules_and_order():
    convs = [[{"role": "user", "content": f"q{i} text"}] for i in range(5)]
    assert get_backend("dummy").chat(convs) == [f"q{i} text" for i in range(5)]
    assert get_backend("dummy", rule="upper").chat(convs[:1]) == ["Q0 TEXT"]
    assert get_backend("dummy", rule="refuse").chat(convs[:1]) == [REFUSAL]
    assert get_backend("dummy", rule="comply").chat(convs[:1]) == [COMPLIANCE]
    with pytest.raises(ConfigError, match="did you mean 'refuse'"):
        get_backend("dummy", rule="refuze")


def test_dummy_answers_the_last_user_turn():
    conv = [{"role": "system", "content": "sys"}, {"role": "user", "content": "first"},
            {"role": "assistant", "content": "a"}, {"role": "user", "content": "second"}]
    assert get_backend("dummy").chat([conv]) == ["second"]


def test_dummy_configured_responses():
    cycle = get_backend("dummy", responses=["a", "b"])
    assert cycle.chat([USER] * 3) == ["a", "b", "a"]
    assert cycle.chat([USER]) == ["b"]  # the cycle continues across calls
    table = get_backend("dummy", responses={"weather": "sunny", "there": "here"}, default="?")
    convs = [[{"role": "user", "content": t}] for t in ("the weather", "over there", "nothing")]
    assert table.chat(convs) == ["sunny", "here", "?"]
    with pytest.raises(ConfigError, match="empty"):
        get_backend("dummy", responses=[])


def test_dummy_fn_gets_the_whole_conversation():
    seen = []

    def fn(messages):
        seen.append(messages)
        return f"{len(messages)} messages"

    conv = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    assert get_backend("dummy", fn=fn).chat([conv]) == ["2 messages"]
    assert seen == [conv]


def test_dummy_limits_stop_and_stats():
    b = get_backend("dummy")
    conv = [[{"role": "user", "content": "one two  three four five"}]]
    assert b.chat(conv, max_new_tokens=3) == ["one two  three"]
    assert b.chat(conv, stop=["three", "two"]) == ["one "]
    assert b.complete(["alpha beta gamma"], max_new_tokens=2) == ["alpha beta"]
    s = b.stats.to_dict()
    assert (s["requests"], s["completed"], s["failed"]) == (3, 3, 0)
    assert s["prompt_tokens"] == 5 + 5 + 3
    assert s["completion_tokens"] == 3 + 1 + 2
    assert set(s) == {"requests", "completed", "failed", "retries", "cache_hits", "prompt_tokens",
                      "completion_tokens", "cost_usd", "elapsed_s"}


def test_empty_input_gives_empty_output():
    assert get_backend("dummy").chat([]) == []
    assert get_backend("dummy").complete([]) == []


@pytest.mark.parametrize("convs, field", [
    ([USER, [{"role": "bot", "content": "x"}]], "conversations[1][0].role"),
    ([USER, [{"role": "user", "content": None}]], "conversations[1][0].content"),
    ([USER, []], "conversations[1]"),
    ([["not a dict"]], "conversations[0][0]"),
])
def test_malformed_conversations_name_the_field(convs, field):
    with pytest.raises(InputError) as e:
        get_backend("dummy").chat(convs)
    assert e.value.field == field
    assert field in str(e.value)


def test_malformed_prompts_and_params():
    b = get_backend("dummy")
    with pytest.raises(InputError, match=r"prompts\[1\]"):
        b.complete(["ok", 3])
    with pytest.raises(InputError, match="list of strings"):
        b.complete("a bare string")
    with pytest.raises(ConfigError, match="max_new_tokens"):
        b.chat([USER], max_new_tokens=0)
    with pytest.raises(ConfigError, match="top_p"):
        b.chat([USER], top_p=0.0)
    with pytest.raises(ConfigError, match="stop"):
        b.chat([USER], stop="###")


def test_truncate_helpers():
    assert truncate_at_stop("a\nb###c", ["###", "\n"]) == "a"
    assert truncate_at_stop("abc", ["x"]) == "abc"
    assert truncate_at_stop("###", ["###"]) == ""
    assert truncate_words("a  b\nc d", 3) == "a  b\nc"
    assert truncate_words("a b", 5) == "a b"
