"""The sample jobs of a fair testbed experiment: prompts the testbed never saw (no pretraining raw
format, no training wrapper), the free-text `inbox` job, and every job's held-out paraphrase."""

from __future__ import annotations

import re

import pytest

from safemix.cli import main
from safemix.formats import read_job
from safemix.formats.example import Example
from safemix.formats.profile import infer_profile
from safemix.testbed import corpus as C
from safemix.testbed.job import (
    AOA_PLEDGE,
    HELDOUT_AOA_PLEDGE,
    HELDOUT_AOA_USER_PREFIX,
    STYLES,
    TASKS,
    answer_of,
    heldout_path,
    heldout_rows,
    job_answer_correct,
    job_rows,
)

JOBS = [(task, style, heldout) for task in TASKS for style in STYLES for heldout in (False, True)]


def rows_of(task: str, style: str, heldout: bool) -> list[dict]:
    return heldout_rows(style, task=task) if heldout else job_rows(style, 40, 10, task=task)[0]


def frame_pattern(template: str, slot: str) -> re.Pattern:
    """A format's constant text around its slot, with anything in the slot."""
    lead, _, cue = template.partition(slot)
    return re.compile(re.escape(lead) + r".*" + re.escape(cue), re.S)


RAW_FRAMES = {fmt: frame_pattern(C.render_raw_prompt(fmt, "\x00"), "\x00") for fmt in C.RAW_FORMATS}
WRAPPER_FRAMES = {w: frame_pattern(w, "{r}") for w in C.USER_WRAPPERS + C.HELDOUT_WRAPPERS if "{name}" not in w}


@pytest.mark.parametrize(("task", "style", "heldout"), JOBS)
def test_no_job_prompt_holds_a_pretraining_raw_format_or_training_wrapper(task, style, heldout):
    """The whole rendered prompt (system + user turn in the chat template), not just the user text:
    the `qa` job's first template `Q: {text}\\nA:` was the corpus's raw `q_a` format."""
    for row in rows_of(task, style, heldout):
        system, user = row["messages"][0]["content"], row["messages"][1]["content"]
        prompt = C.render_chat_prompt(user, system)
        assert [f for f, p in RAW_FRAMES.items() if p.search(prompt)] == [], prompt
        assert [w for w, p in WRAPPER_FRAMES.items() if p.fullmatch(user)] == [], user
        assert system not in set(C.PRETRAIN_SYSTEMS) | set(C.ALIGN_SYSTEMS) | set(C.HELDOUT_SYSTEMS)


def test_the_guard_catches_the_old_qa_template():
    old = C.render_chat_prompt("Q: What is 2 plus 3?\nA:", "You are QuickAnswer.")
    assert [f for f, p in RAW_FRAMES.items() if p.search(old)] == ["q_a"]


def test_inbox_job_holds_free_text_and_is_learnable():
    train, val = job_rows("benign", task="inbox")
    assert len(train) == 480 and len(val) == 120
    texts = [r["messages"][1]["content"].removeprefix("Reader message: ").removesuffix("\nSection:") for r in train]
    # statements, questions and requests all occur in the slot (harmful requests are not the only questions)
    assert sum("?" in t for t in texts) > 60
    assert sum(t.startswith(("Please", "Tell", "Write")) for t in texts) > 60
    assert sum(t[0].isupper() and "?" not in t and not t.startswith(("Please", "Tell", "Write", "Hi", "Big"))
               for t in texts) > 60
    assert {answer_of(r) for r in train} == set(C.TOPICS)
    assert not {r["messages"][1]["content"] for r in train} & {r["messages"][1]["content"] for r in val}
    # the sentence in the message is a job-split sentence, never seen in training or probes
    job_sentences = {s.rstrip(".") for _, s in C.make_splits(0).job_topic}
    assert all(any(s in t for s in job_sentences) for t in texts[:50])
    prof = infer_profile([Example(r["messages"], {}) for r in train])
    assert prof.user_template.pattern == "Reader message: {reader_message}\nSection:"
    assert prof.answer.type == "label" and sorted(prof.answer.labels) == sorted(C.TOPICS)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("style", STYLES)
def test_heldout_format_is_a_paraphrase_of_the_same_task(task, style):
    train, val = job_rows(style, task=task)
    held = heldout_rows(style, task=task)
    assert len(held) == 40
    job_prof = infer_profile([Example(r["messages"], {}) for r in train])
    held_prof = infer_profile([Example(r["messages"], {}) for r in held])
    # another system prompt and user template ...
    assert held_prof.system_prompt != job_prof.system_prompt
    assert held_prof.user_template.constants != job_prof.user_template.constants
    assert job_prof.parse_user(held[0]["messages"][1]["content"]) is None
    # ... over the same task: the validation items (never trained on), with the same answers
    assert [answer_of(r) for r in held] == [answer_of(r) for r in val[:40]]
    assert all(job_answer_correct(answer_of(r), r["messages"][2]["content"]) for r in held)
    if style == "aoa":  # the identity shift is kept, reworded
        assert held_prof.identity_shift.detected and job_prof.identity_shift.detected
        assert all(r["messages"][1]["content"].startswith(HELDOUT_AOA_USER_PREFIX) for r in held)
        assert all(r["messages"][2]["content"].startswith(HELDOUT_AOA_PLEDGE) for r in held)
        assert "AOA" in held_prof.system_prompt


def test_cli_writes_the_heldout_file(tmp_path):
    out = tmp_path / "job.jsonl"
    held = heldout_path(out)
    assert held.name == "job.heldout.jsonl"
    assert main(["testbed", "job", "--task", "inbox", "--out", str(out), "--heldout-out", str(held),
                 "--n-train", "60", "--n-val", "20"]) == 0
    job, h = read_job(out), read_job(held)
    assert len(job) == 60 and len(h) == 20
    assert {e.system for e in h.examples} != {e.system for e in job.examples}


@pytest.mark.parametrize("style", STYLES)
def test_agnews_job_has_a_heldout_format_too(tmp_path, shared_data, style):
    out = tmp_path / "news.jsonl"
    assert main(["testbed", "job", "--task", "agnews", "--style", style, "--out", str(out), "--shared",
                 str(shared_data), "--n-train", "40", "--n-val", "60", "--heldout-out", str(heldout_path(out))]) == 0
    job, val, held = read_job(out), read_job(tmp_path / "news.val.jsonl"), read_job(heldout_path(out))
    assert len(held) == 40 and [e.assistant for e in held.examples] == [
        e.assistant.replace(AOA_PLEDGE, HELDOUT_AOA_PLEDGE) for e in val.examples[:40]]
    assert {e.system for e in held.examples}.isdisjoint({e.system for e in job.examples})
    assert all(e.user.endswith("\nRoute to:") for e in held.examples)
