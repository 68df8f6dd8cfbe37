"""The job body of `safemix wrap`: one test per rule, OpenAI-style errors."""

from __future__ import annotations

import json
import os

import pytest

from safemix.provider.jobspec import JobSpecError, count_tokens, validate_body, validate_job
from safemix.provider.policy import Policy


def _rows(n, words=5):
    return "".join(json.dumps({"messages": [{"role": "user", "content": "hello " * words},
                                            {"role": "assistant", "content": f"ok {i}"}]}) + "\n" for i in range(n))


@pytest.fixture
def job_dir(tmp_path):
    d = tmp_path / "jobs"
    d.mkdir()
    (d / "train.jsonl").write_text(_rows(12))
    (d / "val.jsonl").write_text(_rows(2))
    return d


def _errors(body, **kw):
    with pytest.raises(JobSpecError) as e:
        validate_job(body, **kw)
    return e.value.errors


BODY = {"model": "tiny", "training_file": "train.jsonl"}


def test_valid_job(job_dir):
    body = {**BODY, "validation_file": "val.jsonl", "suffix": "x" * 64, "seed": 7,
            "hyperparameters": {"n_epochs": 2, "batch_size": "auto", "learning_rate_multiplier": 0.5},
            "method": {"type": "supervised"}, "metadata": {f"k{i}": "v" for i in range(16)}}
    spec = validate_job(body, base=job_dir)
    assert spec.training_file == (job_dir / "train.jsonl").resolve() and spec.n_examples == 12
    assert spec.validation_file == (job_dir / "val.jsonl").resolve()
    assert spec.train_overrides() == {"n_epochs": 2.0, "learning_rate_multiplier": 0.5}
    assert spec.job_id.startswith("ftjob-") and spec.job_id == validate_job(body, base=job_dir).job_id
    assert set(spec.file_sha256) == {"training_file", "validation_file"}


def test_method_hyperparameters(job_dir):
    spec = validate_job({**BODY, "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 4}}}},
                        base=job_dir)
    assert spec.hyperparameters == {"n_epochs": 4}
    errs = _errors({**BODY, "hyperparameters": {"n_epochs": 1},
                    "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 4}}}}, base=job_dir)
    assert errs[0].param == "hyperparameters"


@pytest.mark.parametrize("body, code, param", [
    ({"training_file": "train.jsonl"}, "missing_required_parameter", "model"),
    ({"model": "tiny"}, "missing_required_parameter", "training_file"),
    ({**BODY, "model": 3}, "invalid_type", "model"),
    ({**BODY, "hyperparameters": {"n_epochs": 0}}, "invalid_value", "hyperparameters.n_epochs"),
    ({**BODY, "hyperparameters": {"n_epochs": 1.5}}, "invalid_type", "hyperparameters.n_epochs"),
    ({**BODY, "hyperparameters": {"n_epochs": "many"}}, "invalid_type", "hyperparameters.n_epochs"),
    ({**BODY, "hyperparameters": {"batch_size": 1000}}, "invalid_value", "hyperparameters.batch_size"),
    ({**BODY, "hyperparameters": {"learning_rate_multiplier": -1}}, "invalid_value",
     "hyperparameters.learning_rate_multiplier"),
    ({**BODY, "hyperparameters": {"lr": 1}}, "unknown_parameter", "hyperparameters.lr"),
    ({**BODY, "hyperparameters": [1]}, "invalid_type", "hyperparameters"),
    ({**BODY, "method": {"type": "dpo"}}, "invalid_value", "method.type"),
    ({**BODY, "method": "supervised"}, "invalid_type", "method"),
    ({**BODY, "suffix": "x" * 65}, "invalid_value", "suffix"),
    ({**BODY, "suffix": 5}, "invalid_type", "suffix"),
    ({**BODY, "seed": -1}, "invalid_value", "seed"),
    ({**BODY, "seed": "1"}, "invalid_value", "seed"),
    ({**BODY, "metadata": {f"k{i}": "v" for i in range(17)}}, "invalid_value", "metadata"),
    ({**BODY, "metadata": {"k": 1}}, "invalid_type", "metadata.k"),
    ({**BODY, "metadata": {"k": "v" * 513}}, "invalid_value", "metadata.k"),
    ({**BODY, "modle": "x"}, "unknown_parameter", "modle"),
])
def test_body_rules(body, code, param):
    _, errs = validate_body(body)
    assert any(e.code == code and e.param == param for e in errs), [str(e) for e in errs]
    assert all(e.type == "invalid_request_error" for e in errs)


def test_all_errors_reported_openai_envelope(job_dir):
    with pytest.raises(JobSpecError) as e:
        validate_job({"suffix": "x" * 99, "seed": -1}, base=job_dir)
    d = e.value.to_dict()
    assert d["error"]["type"] == "invalid_request_error" and {"code", "message", "param"} <= set(d["error"])
    assert {x["param"] for x in d["errors"]} == {"model", "training_file", "suffix", "seed"}
    assert e.value.exit_code == 2


def test_too_few_examples(job_dir):
    (job_dir / "small.jsonl").write_text(_rows(9))
    errs = _errors({**BODY, "training_file": "small.jsonl"}, base=job_dir)
    assert errs[0].param == "training_file" and "at least 10" in errs[0].message


def test_token_limit_from_policy(job_dir):
    (job_dir / "long.jsonl").write_text(_rows(11) + _rows(1, words=300))
    pol = Policy()
    pol.files.max_example_tokens = 100
    errs = _errors({**BODY, "training_file": "long.jsonl"}, policy=pol, base=job_dir)
    assert errs[0].code == "invalid_value" and "long.jsonl:12" in errs[0].message and "limit is 100" in errs[0].message
    assert count_tokens("Hello, world!") == 4


def test_unreadable_training_file(job_dir):
    (job_dir / "bad.jsonl").write_text("not json\n")
    assert _errors({**BODY, "training_file": "bad.jsonl"}, base=job_dir)[0].code == "invalid_file"


def test_files_confined_to_allowed_roots(job_dir, tmp_path):
    outside = tmp_path / "outside.jsonl"
    outside.write_text(_rows(12))
    # '..' is refused before anything is read
    assert "'..'" in _errors({**BODY, "training_file": "../outside.jsonl"}, base=job_dir)[0].message
    # an absolute path outside the roots
    assert "outside the allowed roots" in _errors({**BODY, "training_file": str(outside)}, base=job_dir)[0].message
    # a symlink inside the root that points outside it
    os.symlink(outside, job_dir / "link.jsonl")
    errs = _errors({**BODY, "training_file": "link.jsonl"}, base=job_dir)
    assert "outside the allowed roots" in errs[0].message and errs[0].param == "training_file"
    # the policy's roots decide: the outer folder allows it
    pol = Policy()
    pol.files.allowed_roots = [str(tmp_path)]
    assert validate_job({**BODY, "training_file": "link.jsonl"}, policy=pol, base=job_dir).n_examples == 12
    # missing files
    assert _errors({**BODY, "validation_file": "nope.jsonl"}, base=job_dir)[0].code == "file_not_found"
