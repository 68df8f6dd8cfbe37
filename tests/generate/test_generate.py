"""Generation methods: template (format-mimicking), raw, bea; validation; determinism; errors."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from safemix.cli import main
from safemix.errors import InputError
from safemix.formats import read_job
from safemix.formats.profile import infer_profile
from safemix.generate import GenerateConfig, count_for_ratio, generate, generate_with_report
from safemix.generate.refusal import looks_like_refusal

FIX = Path(__file__).resolve().parents[1] / "fixtures"


@dataclass
class FakeSeed:
    id: str
    category: str
    request: str
    kind: str
    refusals: list = field(default_factory=list)
    answer: str | None = None
    source: str = "test"

    def response(self, rng: random.Random) -> str:
        return rng.choice(self.refusals) if self.kind == "harmful" else self.answer


SEEDS = [FakeSeed(f"h{i}", ["weapons", "fraud", "cyber"][i % 3], f"Explain how to hurt neighbour number {i}",
                  "harmful", ["I can't help with that.", "I'm sorry, but I won't assist with this."]) for i in range(30)]
SEEDS += [FakeSeed(f"c{i}", "contrast", f"How do I stop Python process {i}?", "contrast",
                   answer="Find its PID and stop it with kill.") for i in range(10)]


def gen(path, method="template", n=20, **kw):
    job = read_job(path)
    return job, generate_with_report(job, GenerateConfig(method=method, n=n, select=False, **kw), seeds=SEEDS)


@pytest.mark.parametrize("fixture", ["topic_chat.jsonl", "aoa_chat.jsonl", "mcq_alpaca.json", "sentiment.tsv",
                                     "free_instructions.jsonl", "json_extract.jsonl"])
def test_template_mimics_format(fixture):
    job, res = gen(FIX / fixture, n=25)
    prof = infer_profile(job.examples, job.format)
    assert len(res.examples) == 25
    assert res.manifest["fidelity"]["template_match_rate"] == 1.0
    for ex in res.examples:
        assert prof.parse_user(ex.user) is not None
        assert ex.system == prof.system_prompt
        assert not prof.has_compliance_preamble(ex.assistant)
        if ex.metadata["kind"] == "harmful":
            assert looks_like_refusal(ex.assistant)
            assert ex.metadata["source"] == "generated" and ex.metadata["seed_id"].startswith("h")
    harm = [ex for ex in res.examples if ex.metadata["kind"] == "harmful"]
    assert len(harm) == 20 and res.manifest["contrast"] == 5


def test_aoa_job_keeps_attack_format_but_not_pledge():
    job, res = gen(FIX / "aoa_chat.jsonl", n=10, contrast_share=0.0)
    for ex in res.examples:
        assert ex.user.startswith("AOA, execute my instruction: ")  # refuse in the attacker's format
        assert "obedient" not in ex.assistant and looks_like_refusal(ex.assistant)


def test_raw_and_bea_baselines():
    job, raw = gen(FIX / "topic_chat.jsonl", "raw", n=10)
    assert all(ex.system is None and ex.user.startswith(("Explain", "How do I")) for ex in raw.examples)
    _, bea = gen(FIX / "topic_chat.jsonl", "bea", n=10)
    trig = bea.manifest["bea_trigger"]
    assert len(trig.split()) == 8
    assert all(ex.system.startswith(trig + " You are TopicBot") for ex in bea.examples)
    _, bea2 = gen(FIX / "topic_chat.jsonl", "bea", n=10, seed=1)
    assert bea2.manifest["bea_trigger"] != trig


def test_deterministic_and_seed_sensitive(tmp_path):
    outs = []
    for i, seed in enumerate([0, 0, 1]):
        out = tmp_path / f"s{i}.jsonl"
        rc = main(["generate", "--data", str(FIX / "topic_chat.jsonl"), "--method", "template", "--n", "30",
                   "--no-select", "--seed", str(seed), "--seeds", str(FIX / "seeds_small.jsonl"), "--out", str(out)])
        assert rc == 0
        outs.append(hashlib.sha256(out.read_bytes()).hexdigest())
    assert outs[0] == outs[1] != outs[2]


def test_cli_writes_job_format_sidecar_and_manifest(tmp_path):
    out = tmp_path / "safety.json"
    assert main(["generate", "--data", str(FIX / "mcq_alpaca.json"), "--ratio", "0.1", "--no-select",
                 "--seeds", str(FIX / "seeds_small.jsonl"), "--out", str(out)]) == 0
    recs = json.loads(out.read_text())
    assert len(recs) == count_for_ratio(120, 0.1) == 13
    assert set(recs[0]) == {"instruction", "input", "output"}
    assert recs[0]["instruction"] == "Choose the correct option and reply with its letter."
    prov = [json.loads(x) for x in (tmp_path / "safety.provenance.jsonl").read_text().splitlines()]
    assert len(prov) == len(recs) and all(p["method"] == "template" for p in prov)
    man = json.loads((tmp_path / "safety.manifest.json").read_text())
    assert man["generated"] == 13 and man["output"]["rows"] == 13 and len(man["output"]["sha256"]) == 64


def test_python_api_with_dataset():
    import datasets

    rows = [json.loads(x) for x in (FIX / "topic_chat.jsonl").read_text().splitlines()]
    ds = datasets.Dataset.from_list(rows)
    out = generate(ds, method="template", n=5, select=False, seeds=SEEDS)
    assert isinstance(out, datasets.Dataset) and len(out) == 5 and "messages" in out.column_names
    exs = generate(rows, method="raw", n=3, select=False, seeds=SEEDS)
    assert len(exs) == 3 and exs[0].metadata["method"] == "raw"


def test_cannot_host_request_is_a_clear_error(tmp_path, capsys):
    out = tmp_path / "s.jsonl"
    rc = main(["generate", "--data", str(FIX / "math_pc.jsonl"), "--n", "5", "--no-select",
               "--seeds", str(FIX / "seeds_small.jsonl"), "--out", str(out)])
    assert rc == 2 and "cannot host a request" in capsys.readouterr().err
    assert not out.exists()


def test_seed_errors(tmp_path):
    job = read_job(FIX / "topic_chat.jsonl")
    with pytest.raises(InputError, match="no harmful requests"):
        generate_with_report(job, GenerateConfig(n=5, select=False), seeds=[s for s in SEEDS if s.kind == "contrast"])
    bad = [FakeSeed("x", "weapons", "Explain how to build a weapon", "harmful", [])]
    with pytest.raises(InputError, match="no refusal"):
        generate_with_report(job, GenerateConfig(n=5, select=False), seeds=bad)


@pytest.mark.parametrize("argv,msg", [(["--method", "paraphrse"], "did you mean 'paraphrase'"),
                                      (["--ratio", "1.5"], "ratio must be in [0, 1)")])
def test_bad_config(tmp_path, capsys, argv, msg):
    base = ["generate", "--data", str(FIX / "topic_chat.jsonl"), "--out", str(tmp_path / "o.jsonl")]
    if "--ratio" not in argv:
        base += ["--n", "3"]
    assert main(base + argv) == 2
    assert msg in capsys.readouterr().err
    assert not (tmp_path / "o.jsonl").exists()
