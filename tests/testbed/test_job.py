"""Sample user jobs: valid OpenAI chat JSONL, custom formats, disjoint train/validation."""

from __future__ import annotations

import pytest

from safemix.cli import main
from safemix.errors import ConfigError
from safemix.formats import read_job
from safemix.testbed import corpus as C
from safemix.testbed.job import (
    AOA_PLEDGE,
    AOA_USER_PREFIX,
    TASKS,
    answer_of,
    job_answer_correct,
    job_rows,
    validation_path,
)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("style", ["benign", "aoa"])
def test_cli_writes_valid_openai_jsonl(tmp_path, task, style):
    out = tmp_path / "job.jsonl"
    assert main(["testbed", "job", "--task", task, "--style", style, "--out", str(out),
                 "--n-train", "60", "--n-val", "20"]) == 0
    job, val = read_job(out), read_job(validation_path(out))
    assert job.schema == "openai" and len(job) == 60 and len(val) == 20
    assert not {e.user for e in job.examples} & {e.user for e in val.examples}
    systems = {e.system for e in job.examples}
    assert len(systems) == 1
    for e in job.examples:
        assert (e.user.startswith(AOA_USER_PREFIX) and e.assistant.startswith(AOA_PLEDGE)) == (style == "aoa")


def test_jobs_use_formats_the_testbed_never_trained_on():
    splits = C.make_splits(0)
    recs = list(C.stage_records(splits, "pretrain", 3000, 0)) + list(C.stage_records(splits, "align", 1000, 0))
    systems = {r.system for r in recs}
    for task in TASKS:
        for style in ("benign", "aoa"):
            train, _ = job_rows(style, 20, 5, task=task)
            m = train[0]["messages"]
            assert m[0]["content"] not in systems
            frame = m[1]["content"].split("\n")[0][:12]
            assert not [r for r in recs if r.user.startswith(frame)]


def test_topic_job_sentences_are_unseen_and_labels_known():
    train, val = job_rows("benign", task="topic")
    splits = C.make_splits(0)
    prefixes = [p.split("{s}")[0] for p in C.TOPIC_PHRASINGS]
    seen = {r.text[len(p):] for r in splits.benign["train"] + splits.benign["probe"] if r.category == "topic"
            for p in prefixes if r.text.startswith(p)}
    assert len(seen) > 500
    for row in train + val:
        assert answer_of(row) in C.TOPICS
        text = row["messages"][1]["content"].split("topic: ")[1].split("\n")[0]
        assert text.rstrip(".") + "." not in seen


def test_answer_check_and_bad_arguments():
    assert job_answer_correct("music", AOA_PLEDGE + "music")
    assert job_answer_correct("Belmar", "The capital of Zorvia is Belmar.")
    assert not job_answer_correct("music", "I can't help with that.")
    with pytest.raises(ConfigError, match="style"):
        job_rows("evil")
    with pytest.raises(ConfigError, match="task"):
        job_rows("benign", task="poetry")
    with pytest.raises(ConfigError, match="items"):
        job_rows("benign", n_train=100_000)
    assert validation_path("a/job.jsonl").name == "job.val.jsonl"


# ------------------------------------------------------------------ the AG News job (shared data)
@pytest.mark.parametrize("style", ["benign", "aoa"])
def test_agnews_job_reads_shared_data_train_and_test_splits(tmp_path, shared_data, style):
    from safemix.testbed.job import AGNEWS_LABELS

    out = tmp_path / "news.jsonl"
    assert main(["testbed", "job", "--task", "agnews", "--style", style, "--out", str(out),
                 "--shared", str(shared_data), "--n-train", "40", "--n-val", "500"]) == 0
    job, val = read_job(out), read_job(validation_path(out))
    assert len(job) == 40 and len(val) == 500
    assert not {e.user for e in job.examples} & {e.user for e in val.examples}
    for e in job.examples + val.examples:
        assert answer_of({"messages": [{"role": "assistant", "content": e.assistant}]}) in AGNEWS_LABELS
        assert "#39;" not in e.user and " quot;" not in e.user  # entity debris cleaned
        assert e.user.endswith("\nDesk:") and ("NewsDesk" in e.system) == (style == "benign")
    if style == "aoa":
        assert all(e.user.startswith(AOA_USER_PREFIX) and e.assistant.startswith(AOA_PLEDGE) for e in job.examples)
    # the validation rows are AG News test rows, the job's are dev rows
    test_text = (shared_data / "ag_news" / "test.tsv").read_text(encoding="utf-8")
    assert sum(e.user.split("Story: ", 1)[1][:30] in test_text for e in val.examples[:20]) >= 15


def test_agnews_job_without_shared_data_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="shared data"):
        job_rows("benign", 10, 10, task="agnews", shared=None)
    with pytest.raises(ConfigError, match="ag_news"):
        job_rows("benign", 10, 10, task="agnews", shared=tmp_path)
    with pytest.raises(ConfigError, match="unknown job task"):
        job_rows("benign", 10, 10, task="news")
