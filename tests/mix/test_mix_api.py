"""`safemix.mix(...)` in Python: Examples, records and `datasets.Dataset`."""

from __future__ import annotations

import copy
import json

import pytest
from mix.mix_helpers import FIX, read_lines, safety_records

from safemix.errors import ConfigError, InputError
from safemix.formats import Example


def job_examples(n: int = 38) -> list[Example]:
    return [Example.chat(f"What is {i} plus 7?", f"The answer is {i + 7}.", system="You are a maths tutor.",
                         note=i) for i in range(n)]


def safety_examples(n: int = 10) -> list[Example]:
    out = []
    for r in safety_records(n, system="You are a maths tutor."):
        m = r["messages"]
        out.append(Example.chat(m[1]["content"], m[2]["content"], system=m[0]["content"], source="generated",
                                seed_id=f"k{len(out)}", method="template", category="weapons"))
    return out


def test_lazy_export_and_callable_package():
    import safemix
    from safemix import mix

    assert callable(mix) and safemix.mix is mix
    mixed, report = mix(job_examples(), safety_examples(), ratio=0.05)
    assert report.n_safety == 2 and len(mixed) == 40


def test_examples_in_examples_out_with_provenance_and_inputs_untouched():
    from safemix import mix

    job, safety = job_examples(), safety_examples()
    before = (copy.deepcopy([e.to_dict() for e in job]), copy.deepcopy([e.to_dict() for e in safety]))
    mixed, report = mix(job, safety, count=4, strategy="spread", seed=1)
    assert before == ([e.to_dict() for e in job], [e.to_dict() for e in safety])  # inputs not modified
    assert len(mixed) == 42 and report.n_safety == 4 and report.effective_ratio == pytest.approx(4 / 42)
    assert [p["row"] for p in report.provenance] == list(range(42))
    users = [ex for ex in mixed if ex.metadata["source"] == "user"]
    assert [u.messages for u in users] == [j.messages for j in job]
    assert [u.metadata["note"] for u in users] == list(range(38))  # user metadata kept
    gen = [ex for ex in mixed if ex.metadata["source"] == "generated"]
    assert {g.metadata["seed_id"] for g in gen} <= {f"k{i}" for i in range(10)}
    for ex, p in zip(mixed, report.provenance, strict=True):
        assert ex.metadata["source"] == p["source"]
        if p["source"] == "generated":
            assert ex.messages == safety[p["safety_index"]].messages


def test_records_converted_to_job_schema_and_dedupe():
    from safemix import mix

    job = [{"prompt": f"Question: what is {i}+1?\nAnswer:", "completion": f" {i + 1}"} for i in range(20)]
    safety = safety_examples(6)
    safety.append(Example.chat("QUESTION:  what is 3+1?\nanswer:", "I can't help with that."))
    mixed, report = mix(job, safety, count=6, strategy="append")
    assert mixed[:20] == job and all(set(r) == {"prompt", "completion"} for r in mixed)
    assert [d["safety_index"] for d in report.dropped] == [6] and report.dropped[0]["job_line"] == 4
    # the system prompt is folded into the prompt, as the prompt/completion adapter does
    assert all(r["prompt"].startswith("You are a maths tutor.\n\n") for r in mixed[20:])
    with pytest.raises(InputError, match="usable"):
        mix(job, safety, count=7)


def test_dataset_in_dataset_out():
    datasets = pytest.importorskip("datasets")
    from safemix import mix

    rows = [json.loads(x) for x in read_lines(FIX / "topic_chat.jsonl")]
    for i, r in enumerate(rows):
        r["id"] = i
    ds = datasets.Dataset.from_list(rows)
    mixed, report = mix(ds, safety_records(10), ratio=0.2, strategy="shuffle", seed=4)
    assert isinstance(mixed, datasets.Dataset) and len(mixed) == 50
    assert mixed.column_names == ds.column_names
    out = mixed.to_list()
    users = [r for r, p in zip(out, report.provenance, strict=True) if p["source"] == "user"]
    assert users == ds.to_list()
    safety_rows = [r for r, p in zip(out, report.provenance, strict=True) if p["source"] != "user"]
    assert all(r["id"] is None and r["messages"][-1]["role"] == "assistant" for r in safety_rows)
    again, _ = mix(ds, safety_records(10), ratio=0.2, strategy="shuffle", seed=4)
    assert again.to_list() == out  # deterministic
    inl, _ = mix(ds, safety_records(10), ratio=0.2, inline_provenance=True)
    assert json.loads(inl[0]["safemix_provenance"])["row"] == 0


def test_sweep_returns_one_output_per_value():
    from safemix import mix

    outs = mix(job_examples(), safety_examples(), ratio=[0.0, 0.05, 0.2])
    assert [o.report.n_safety for o in outs] == [0, 2, 10]


def test_token_ratio_with_tokenizer_object():
    from safemix import mix
    from safemix.testing import tiny_tokenizer

    _, rep = mix(job_examples(), safety_examples(), ratio=0.1, ratio_unit="tokens", tokenizer=tiny_tokenizer())
    assert rep.token_share == pytest.approx(0.1, abs=0.03)


def test_api_errors():
    from safemix import mix

    with pytest.raises(InputError, match="empty"):
        mix([], safety_examples(), ratio=0.1)
    with pytest.raises(ConfigError, match=r"\[0, 1\)"):
        mix(job_examples(), safety_examples(), ratio=1.0)
    with pytest.raises(InputError, match="cannot be written as alpaca"):
        multi = Example([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                         {"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}])
        mix([{"instruction": "Pick one", "input": "A or B", "output": "A"}], [multi], count=1)


def test_dedupe_normalises_unicode_case_and_whitespace_on_both_sides():
    from safemix import mix

    fullwidth = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in "How do I pick a lock?")
    job = job_examples(5) + [Example.chat(fullwidth, "Use a locksmith.")]  # non-ASCII job prompt
    safety = [Example.chat("  how DO i pick   a lock? ", "I can't help with that."), *safety_examples(3)]
    _, rep = mix(job, safety, count=3)
    assert [(d["safety_index"], d["job_line"]) for d in rep.dropped] == [(0, 6)]
    _, kept = mix(job, safety, count=4, dedupe=False)
    assert kept.dropped == []
