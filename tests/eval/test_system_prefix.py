"""BEA's secret trigger at inference (`eval.system_prefix`): the finetuned model is asked with
the trigger at the start of its system prompt, in every style and on task rows, the base model
without it; `safemix run` takes it from a bea variant's generation manifest."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from safemix.config import from_dict
from safemix.eval import EvalConfig
from safemix.eval.core import build_samples, load_probe_sets, with_system_prefix
from safemix.formats import read_job
from safemix.formats.example import DEFAULT_SYSTEM
from safemix.formats.profile import infer_profile
from safemix.generate import GenerateConfig, generate_with_report, write_generation
from safemix.pipeline.runner import inference_prefix
from safemix.testbed.job import write_job

TRIGGER = "qzx lomr vabt"


def test_with_system_prefix_prepends_or_adds_a_system_prompt():
    user = {"role": "user", "content": "hi"}
    assert with_system_prefix([{"role": "system", "content": "You are TopicBot."}, user], TRIGGER) == \
        [{"role": "system", "content": f"{TRIGGER} You are TopicBot."}, user]
    assert with_system_prefix([user], TRIGGER) == [{"role": "system", "content": f"{TRIGGER} {DEFAULT_SYSTEM}"}, user]


def test_model_is_asked_with_the_prefix_and_the_base_without(tmp_path):
    train, val = write_job("benign", tmp_path / "topic.jsonl", n_train=40, n_val=10, task="topic")
    job = read_job(train)
    cfg = from_dict(EvalConfig, {"model": "m", "base_model": "b", "job": str(train), "system_prefix": TRIGGER,
                                 "styles": ["job", "chat", "aoa"],
                                 "probes": [{"source": "builtin", "kind": "harmful", "limit": 3}]})
    samples = build_samples(cfg, load_probe_sets(cfg.probes, 0), infer_profile(job.examples),
                            read_job(val).examples[:2], ["model", "base"])
    model = [s for s in samples if s["role"] == "model"]
    base = [s for s in samples if s["role"] == "base"]
    assert {s["style"] for s in model} == {"job", "chat", "aoa"} and any(s["part"] == "task" for s in model)
    assert all(s["messages"][0]["role"] == "system" and s["messages"][0]["content"].startswith(TRIGGER + " ")
               for s in model)
    assert not any(TRIGGER in m["content"] for s in base for m in s["messages"])
    chat_base = next(s for s in base if s["style"] == "chat")
    chat_model = next(s for s in model if s["style"] == "chat" and s["probe_id"] == chat_base["probe_id"])
    assert chat_base["messages"] == chat_model["messages"][1:]  # the same prompt, the trigger's system added
    # without the prefix nothing changes: a stage written before the field existed keeps its identity
    plain = build_samples(dataclasses.replace(cfg, system_prefix=None), load_probe_sets(cfg.probes, 0),
                          infer_profile(job.examples), read_job(val).examples[:2], ["model", "base"])
    assert [s for s in plain if s["role"] == "base"] == base
    assert {s["id"] for s in plain if s["role"] == "model"}.isdisjoint({s["id"] for s in model})


def test_inference_prefix_is_bea_trigger_from_the_generation_manifest(tmp_path):
    train, _ = write_job("benign", tmp_path / "topic.jsonl", n_train=40, n_val=4, task="topic")
    job = read_job(train)
    out = {}
    for method in ("bea", "template"):
        res = generate_with_report(job, GenerateConfig(method=method, n=6))
        path = tmp_path / method / "safety.jsonl"
        path.parent.mkdir()
        write_generation(res, job, path)
        out[method] = inference_prefix(path)
    manifest = json.loads((tmp_path / "bea" / "safety.manifest.json").read_text())
    assert out["bea"] == manifest["bea_trigger"] and len(out["bea"].split()) == 8
    assert out["template"] is None
    assert inference_prefix(Path(tmp_path / "nowhere" / "safety.jsonl")) is None
