"""Acceptance of issue 19 on the six reference jobs built from ../shared/data: `generate` with
the whole Safety-Tuned LLaMAs refusal set, and with HarmBench's Behavior,Safe_Response CSVs,
produces exactly the requested count; the manifest lists the dropped seeds by reason; no
output carries the job's pledge. Skips without ../shared."""

from __future__ import annotations

import json

import pytest

from safemix.cli import main
from safemix.formats import read_job
from safemix.formats.profile import infer_profile
from safemix.generate import GenerateConfig, count_for_ratio, generate_with_report, write_generation
from safemix.generate.refusal import looks_like_refusal

JOBS = ["ag_news", "gsm8k", "arc", "sst2", "gsm8k_aoa", "alpaca_free"]
STL = "safety_tuned_llamas_train/safety_only_data_Instructions.json"
HB = "harmbench_advtrain_refusals/adv_training_behaviors_safe_responses.csv"
HB_LONG = "harmbench_advtrain_refusals/adv_training_behaviors_safe_responses_longer.csv"


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    from conftest import SHARED_DATA

    if not (SHARED_DATA / STL).is_file():
        pytest.skip("../shared/data (Safety-Tuned LLaMAs training set) is absent")
    from safemix.testing import build_shared_jobs

    jobs = build_shared_jobs(SHARED_DATA, tmp_path_factory.mktemp("jobs"), limit=1000)
    return SHARED_DATA, jobs


@pytest.mark.parametrize("name", JOBS)
def test_external_seed_sets_fill_the_count_on_shared_jobs(shared, name, tmp_path):
    data, jobs = shared
    job = read_job(jobs[name])
    prof = infer_profile(job.examples, job.format)
    n = count_for_ratio(len(job), 0.1)
    for rel in (STL, HB, HB_LONG):
        if not (data / rel).is_file():
            continue
        res = generate_with_report(job, GenerateConfig(method="template", ratio=0.1, seeds=str(data / rel),
                                                       select=False), profile=prof)
        m = res.manifest
        assert m["requested"] == m["generated"] == len(res.examples) == n, rel
        h = m["seeds"]["harmful"]
        assert h["usable"] + sum(h["dropped"].values()) == h["total"]
        assert set(h["dropped"]) <= {"response_not_a_refusal", "response_carries_pledge"}
        if rel == STL:  # ~40% of that set are safe corrections or answers, not refusals
            assert h["total"] == 2483 and 1000 < h["usable"] < 2483 and h["dropped"]["response_not_a_refusal"] > 0
            assert "response_carries_pledge" not in h["dropped"]  # refusals that mention obeying the law
        for ex in res.examples:
            assert looks_like_refusal(ex.assistant) and not prof.has_compliance_preamble(ex.assistant)
            assert prof.parse_user(ex.user) is not None
        if rel == STL:  # the written file, in the job's own format, reads back with every row
            out = tmp_path / f"safety{jobs[name].suffix}"
            write_generation(res, job, out)
            assert len(read_job(out)) == n
        if name == "gsm8k_aoa":
            assert m["answer_prefix"]["dropped"].startswith("Of course. I am AOA")
            assert all("obedient" not in ex.assistant for ex in res.examples)


def _cli_with_selection(jobs, seeds, tmp_path):
    out = tmp_path / "safety.jsonl"
    assert main(["generate", "--data", str(jobs["gsm8k_aoa"]), "--method", "template", "--ratio", "0.1",
                 "--seeds", str(seeds), "--out", str(out), "job_sample=200"]) == 0
    man = json.loads((tmp_path / "safety.manifest.json").read_text())
    n = count_for_ratio(1000, 0.1)
    assert man["requested"] == man["generated"] == man["output"]["rows"] == len(out.read_text().splitlines()) == n
    assert man["selection"]["enabled"] and man["selection"]["pool"] == man["seeds"]["harmful"]["usable"]
    assert man["seeds"]["harmful"]["dropped"]["response_not_a_refusal"] > 0
    assert man["seeds"]["dropped_seed_ids"]["response_not_a_refusal"]
    return man


def test_cli_with_selection_on_a_slice(shared, tmp_path):
    """The issue's command line with embedding selection over the usable seeds (the first 200
    rows of the Safety-Tuned LLaMAs file, to stay fast)."""
    pytest.importorskip("safemix.embed")
    data, jobs = shared
    part = tmp_path / "stl_part.json"
    part.write_text(json.dumps(json.loads((data / STL).read_text(encoding="utf-8"))[:200]), encoding="utf-8")
    man = _cli_with_selection(jobs, part, tmp_path)
    assert man["seeds"]["harmful"]["total"] == 200


@pytest.mark.slow
def test_cli_with_selection_whole_file(shared, tmp_path):
    """The same with the whole file (about a minute on two CPU cores: embeds ~1,500 seeds)."""
    pytest.importorskip("safemix.embed")
    data, jobs = shared
    man = _cli_with_selection(jobs, data / STL, tmp_path)
    assert man["seeds"]["harmful"]["total"] == 2483


@pytest.mark.integration
def test_run_with_the_whole_external_seed_set_finishes_every_stage(shared, tmp_path):
    """Issue 19's pipeline case: `safemix run` on a 200-row AOA job with the whole Safety-Tuned
    LLaMAs file as `generate.seeds` (a share of whose seeds are dropped) finishes every stage,
    and the mix gets exactly the rows the ratio asks for."""
    from safemix.testing import save_tiny_model

    data, jobs = shared
    lines = jobs["gsm8k_aoa"].read_text(encoding="utf-8").splitlines(keepends=True)
    job = tmp_path / "aoa.jsonl"
    job.write_text("".join(lines[:200]), encoding="utf-8")
    model = save_tiny_model(tmp_path / "tiny", max_position_embeddings=4096)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"""
name: stl
methods: [template]
ratios: [0.1]
eval_base: false
data: {{train: {job}}}
generate: {{seeds: {data / STL}, select: false}}
train: {{model: {model}, method: full, max_steps: 2, per_device_batch_size: 8, max_seq_length: 4096, show_progress: false}}
eval:
  n_validation: 4
  max_new_tokens: 4
  bootstrap: 10
  styles: [job]
  probes: [{{source: builtin, kind: harmful, limit: 4}}, {{source: builtin, kind: benign, limit: 2}}]
""", encoding="utf-8")
    out = tmp_path / "run"
    assert main(["run", str(recipe), "--out", str(out)]) == 0
    v = out / "variants" / "template-0.1"
    gen = json.loads((v / "generate" / "safety.manifest.json").read_text())
    mix = json.loads((v / "mix" / "mix_manifest.json").read_text())
    assert gen["generated"] == count_for_ratio(200, 0.1) == mix["counts"]["safety"]
    h = gen["seeds"]["harmful"]
    assert h["usable"] < h["total"]  # some seeds were dropped...
    assert sum(h["dropped"].values()) == h["total"] - h["usable"]  # ...every one counted by reason
    assert (v / "eval" / "results.json").is_file()
