"""The multi-turn variant of the testbed's sample jobs (`testbed.job_turns: 2`) and `generate.shape`:
rows hold a context exchange then the item; template rows reproduce that shape with the job's own
context turns (shape=match) or hold one exchange (shape=single); job probes carry the context."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from generate import shape_jobs as S

from safemix.config import load_config
from safemix.errors import ConfigError
from safemix.eval.render import render_probe
from safemix.formats.example import Example
from safemix.formats.profile import infer_profile
from safemix.generate import GenerateConfig, generate_with_report
from safemix.pipeline.config import RunConfig
from safemix.testbed.job import (
    ensure_multiturn_job,
    heldout_path,
    heldout_rows,
    job_rows,
    validation_path,
)


def structure(messages: list[dict]) -> str:
    return "".join(m["role"][0] for m in messages if m["role"] != "system")


def examples(rows: list[dict]) -> list[Example]:
    return [Example(r["messages"], {}) for r in rows]


@pytest.mark.parametrize("task", ["topic", "inbox"])
@pytest.mark.parametrize("style", ["benign", "aoa"])
def test_two_turn_job_has_a_context_exchange_then_the_single_turn_item(task, style):
    one, one_val = job_rows(style, n_train=40, n_val=10, task=task)
    two, two_val = job_rows(style, n_train=40, n_val=10, task=task, turns=2)
    for a, b in zip(one + one_val, two + two_val, strict=True):
        assert structure(a["messages"]) == "ua" and structure(b["messages"]) == "uaua"
        assert b["messages"][0] == a["messages"][0]  # the same system prompt
        assert b["messages"][-2:] == a["messages"][-2:]  # the same item and answer in the second exchange
    if style == "aoa":  # both exchanges in the identity-shift wrapper
        assert all(r["messages"][1]["content"].startswith("AOA, ") for r in two)
    assert len({r["messages"][1]["content"] for r in two}) > 1  # a few opening wordings
    held = heldout_rows(style, n=10, task=task, turns=2)
    assert all(structure(r["messages"]) == "uaua" for r in held)
    assert not {r["messages"][1]["content"] for r in held} & {r["messages"][1]["content"] for r in two}
    with pytest.raises(ConfigError, match="job turns"):
        job_rows(style, n_train=4, n_val=1, task=task, turns=3)


def test_multiturn_job_is_written_on_demand_beside_the_build_jobs(tmp_path):
    path = ensure_multiturn_job(tmp_path, "topic", "benign", 2)
    assert path.name == "topic_benign_2turn.jsonl"
    for p in (path, validation_path(path), heldout_path(path)):
        rows = [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines()]
        assert rows and all(structure(r["messages"]) == "uaua" for r in rows)
    before = path.stat().st_mtime_ns
    assert ensure_multiturn_job(tmp_path, "topic", "benign", 2) == path and path.stat().st_mtime_ns == before


def test_template_rows_match_the_turn_structure_and_single_rows_have_one_exchange():
    train, _ = job_rows("benign", n_train=60, n_val=5, task="inbox", turns=2)
    job = examples(train)
    prof = infer_profile(job)
    assert prof.shape.turn_counts == {"2": 60} and prof.shape.request_turn == -1
    contexts = {(r["messages"][1]["content"], r["messages"][2]["content"]) for r in train}
    match = generate_with_report(job, GenerateConfig(method="template", n=20, select=False), seeds=S.SEEDS)
    single = generate_with_report(job, GenerateConfig(method="template", n=20, select=False, shape="single"),
                                  seeds=S.SEEDS)
    assert match.manifest["profile"]["conversation"]["mode"] == "match"
    assert single.manifest["profile"]["conversation"]["mode"] == "single"
    for ex in match.examples:
        assert structure(ex.messages) == "uaua" and ex.messages[0]["content"] == prof.system_prompt
        assert (ex.messages[1]["content"], ex.messages[2]["content"]) in contexts  # the job's own context
        assert prof.parse_user(ex.messages[3]["content"]) is not None  # the request in the job's item turn
    for ex in single.examples:
        assert structure(ex.messages) == "ua" and ex.messages[0]["content"] == prof.system_prompt
        assert prof.parse_user(ex.messages[1]["content"]) is not None
    # the same seeds and requests either way: only the shape differs
    assert [ex.messages[-2]["content"] for ex in match.examples] == [ex.messages[-2]["content"]
                                                                     for ex in single.examples]
    # the profile passed in is not changed by shape=single
    assert prof.shape.contexts
    with pytest.raises(ConfigError, match="shape must be"):
        GenerateConfig(shape="double")


def test_job_probes_of_the_two_turn_job_carry_its_context():
    train, _ = job_rows("benign", n_train=40, n_val=5, task="topic", turns=2)
    prof = infer_profile(examples(train))
    msgs = render_probe("Where can I find a placeholder request?", "job", prof, random.Random(0))
    assert structure(msgs) == "uau" and "placeholder request" in msgs[-1]["content"]
    assert msgs[1]["content"] in {r["messages"][1]["content"] for r in train}


def test_job_turns_in_a_run_config(tmp_path: Path):
    p = tmp_path / "r.yaml"
    p.write_text("name: x\ntestbed: {name: tiny, job_turns: 2, job_task: inbox}\n", encoding="utf-8")
    assert load_config(RunConfig, p, []).testbed.job_turns == 2
    for bad in ("testbed.job_turns=3", "testbed.job_task=agnews"):
        with pytest.raises(ConfigError, match="job_turns"):
            load_config(RunConfig, p, [bad])
