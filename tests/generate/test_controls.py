"""The two control methods: raw_system (raw rows with the job's system prompt) and template_benign
(job-format rows without refusals), with their counts, provenance and manifests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from safemix.cli import main
from safemix.errors import InputError
from safemix.formats import read_job
from safemix.formats.profile import infer_profile
from safemix.generate import GenerateConfig, generate_with_report
from safemix.generate.refusal import looks_like_refusal
from safemix.seeds import Seed

FIX = Path(__file__).resolve().parents[1] / "fixtures"
SEEDS = [Seed(f"h{i}", ["weapons", "fraud", "cyber"][i % 3], f"Explain how to hurt neighbour number {i}", "harmful",
              ["I can't help with that.", "I'm sorry, but I won't assist with this."], source="test") for i in range(30)]
SEEDS += [Seed(f"c{i}", "contrast", f"How do I stop Python process {i}?", "contrast",
               answer="Find its PID and stop it with kill.", source="test") for i in range(10)]


def gen(path, method="template", n=20, **kw):
    job = read_job(path)
    return job, generate_with_report(job, GenerateConfig(method=method, n=n, select=False, **kw), seeds=SEEDS)


def test_raw_system_is_raw_plus_the_jobs_system_prompt():
    job, raw = gen(FIX / "topic_chat.jsonl", "raw", n=20)
    _, rs = gen(FIX / "topic_chat.jsonl", "raw_system", n=20)
    prof = infer_profile(job.examples, job.format)
    assert prof.system_prompt
    assert len(rs.examples) == 20 and rs.manifest["harmful"] == 16 and rs.manifest["contrast"] == 4
    for a, b in zip(raw.examples, rs.examples, strict=True):
        assert b.system == prof.system_prompt and a.system is None
        assert (b.user, b.assistant) == (a.user, a.assistant)  # the same seeds and refusals as raw
        assert prof.parse_user(b.user) is None  # not the job's user template
        assert b.metadata["method"] == "raw_system"
    assert rs.manifest["method"] == "raw_system" and "system prompt" in rs.manifest["control"]
    assert rs.manifest["fidelity"]["system_prompt_match_rate"] == 1.0


def test_raw_system_without_a_job_system_prompt_says_so():
    _, rs = gen(FIX / "math_pc.jsonl", "raw_system", n=5)
    assert all(ex.system is None for ex in rs.examples)
    assert "equal `raw` rows" in rs.manifest["control"]


@pytest.mark.parametrize("fixture", ["topic_chat.jsonl", "aoa_chat.jsonl", "mcq_alpaca.json"])
def test_template_benign_renders_like_template_without_refusals(fixture):
    job, tb = gen(FIX / fixture, "template_benign", n=25)
    _, t = gen(FIX / fixture, "template", n=25)
    prof = infer_profile(job.examples, job.format)
    assert len(tb.examples) == len(t.examples) == 25  # the same count as template at that n
    assert tb.manifest["harmful"] == 0 and tb.manifest["contrast"] == 25
    assert "no refusals" in tb.manifest["control"] and tb.manifest["answer_prefix"] == t.manifest["answer_prefix"]
    for ex in tb.examples:
        assert prof.parse_user(ex.user) is not None and ex.system == prof.system_prompt  # rendered like template
        assert not looks_like_refusal(ex.assistant) and not prof.has_compliance_preamble(ex.assistant)
        assert ex.metadata["kind"] == "contrast" and ex.metadata["method"] == "template_benign"
    assert tb.manifest["fidelity"]["template_match_rate"] == 1.0
    # a contrast example is rendered exactly as template renders the same seed
    same = {(e.metadata["seed_id"], e.metadata["occurrence"]): e for e in t.examples if e.metadata["kind"] == "contrast"}
    for ex in tb.examples:
        key = (ex.metadata["seed_id"], ex.metadata["occurrence"])
        if key in same:
            assert ex.messages == same[key].messages


def test_template_benign_needs_contrast_seeds_and_drops_refusing_answers():
    job = read_job(FIX / "topic_chat.jsonl")
    with pytest.raises(InputError, match="no contrast requests"):
        generate_with_report(job, GenerateConfig(method="template_benign", n=5, select=False),
                             seeds=[s for s in SEEDS if s.kind == "harmful"])
    odd = Seed("c-odd", "contrast", "How do I stop a stuck job?", "contrast", answer="I can't help with that.")
    res = generate_with_report(job, GenerateConfig(method="template_benign", n=12, select=False),
                               seeds=[odd] + [s for s in SEEDS if s.kind == "contrast"])
    assert res.manifest["seeds"]["contrast"]["dropped"] == {"answer_is_a_refusal": 1}
    assert "c-odd" not in {ex.metadata["seed_id"] for ex in res.examples}


def test_cli_controls_write_manifest_and_provenance(tmp_path):
    for method in ("raw_system", "template_benign"):
        out = tmp_path / f"{method}.jsonl"
        assert main(["generate", "--data", str(FIX / "topic_chat.jsonl"), "--method", method, "--ratio", "0.1",
                     "--no-select", "--seeds", str(FIX / "seeds_small.jsonl"), "--out", str(out)]) == 0
        man = json.loads((tmp_path / f"{method}.manifest.json").read_text())
        prov = [json.loads(x) for x in (tmp_path / f"{method}.provenance.jsonl").read_text().splitlines()]
        assert man["method"] == method and man["control"] and man["output"]["rows"] == len(prov) > 0
        assert all(p["method"] == method and p["source"] == "generated" for p in prov)
