"""Acceptance on the six reference jobs built from ../shared/data: `template` makes 200
safety examples each with the built-in seeds and embedding selection; all parse with the
job's profile, none carries a compliance preamble, refusals sit in the assistant turn,
and the output is byte-identical across runs."""

from __future__ import annotations

import hashlib

import pytest

from safemix.formats import read_job
from safemix.formats.profile import infer_profile
from safemix.generate import GenerateConfig, generate_with_report, write_generation
from safemix.generate.refusal import looks_like_refusal

JOBS = ["ag_news", "gsm8k", "arc", "sst2", "gsm8k_aoa", "alpaca_free"]


@pytest.fixture(scope="module")
def jobs(tmp_path_factory):
    from conftest import SHARED_DATA

    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    from safemix.testing import build_shared_jobs

    return build_shared_jobs(SHARED_DATA, tmp_path_factory.mktemp("jobs"), limit=3000)


@pytest.mark.parametrize("name", JOBS)
def test_template_on_shared_job(jobs, name, tmp_path):
    job = read_job(jobs[name])
    prof = infer_profile(job.examples, job.format)
    digests = []
    for run in range(2):
        res = generate_with_report(job, GenerateConfig(method="template", n=200, job_sample=200), profile=prof)
        out = tmp_path / f"run{run}{jobs[name].suffix}"
        write_generation(res, job, out)
        digests.append(hashlib.sha256(out.read_bytes()).hexdigest())
    assert digests[0] == digests[1]
    assert len(res.examples) == 200
    m = res.manifest
    assert m["fidelity"]["template_match_rate"] == 1.0
    assert m["fidelity"]["centroid_similarity_generated"] > m["fidelity"]["centroid_similarity_raw_seeds"]
    assert len(m["selection"]["category_coverage"]) >= 12
    for ex in res.examples:
        assert prof.parse_user(ex.user) is not None
        assert ex.messages[-1]["role"] == "assistant"
        assert not prof.has_compliance_preamble(ex.assistant)
        if ex.metadata["kind"] == "harmful":
            assert looks_like_refusal(ex.assistant)
    # the written file is in the job's own format and reads back as the same examples
    back = read_job(out)
    assert back.schema == job.schema and len(back) == 200
