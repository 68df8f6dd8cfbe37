"""The method registry: one table of generation methods with one signature, used for name
validation and dispatch; a method added to the table is reachable through `generate`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from safemix.errors import ConfigError
from safemix.formats import read_job
from safemix.formats.example import Example
from safemix.generate import METHODS, GenerateConfig, generate_with_report
from safemix.generate.context import GenContext, MethodOutput, ParaphraseConfig, provenance
from safemix.generate.registry import MethodSpec, method_spec
from safemix.generate.screen import KINDS, walk_seeds
from safemix.seeds import Seed

FIX = Path(__file__).resolve().parents[1] / "fixtures"
SEEDS = [Seed(f"h{i}", "weapons", f"Explain how to hurt neighbour number {i}", "harmful",
              ["I can't help with that."], source="test") for i in range(6)]
SEEDS += [Seed(f"c{i}", "contrast", f"How do I stop Python process {i}?", "contrast",
               answer="Find its PID and stop it with kill.", source="test") for i in range(3)]


def test_names_and_did_you_mean_come_from_the_registry():
    assert list(METHODS) == ["template", "paraphrase", "raw", "bea", "raw_system", "template_benign"]
    assert all(isinstance(spec, MethodSpec) and callable(spec.run) for spec in METHODS.values())
    with pytest.raises(ConfigError, match=r"unknown generation method 'tempalte' \(did you mean 'template'\?\); "
                                          r"choose one of template, paraphrase, raw, bea, raw_system, template_benign"):
        GenerateConfig(method="tempalte")
    with pytest.raises(ConfigError, match="did you mean 'raw_system'"):
        method_spec("raw_sytem")
    assert method_spec("template_benign").benign_only and method_spec("template_benign").in_format
    assert not method_spec("raw").in_format and method_spec("raw").control is None


def test_provenance_names_the_llm_only_when_given():
    seed = SEEDS[0]
    assert provenance(seed, "harmful", 2, "raw") == {
        "source": "generated", "method": "raw", "seed_id": "h0", "category": "weapons", "kind": "harmful",
        "seed_source": "test", "occurrence": 2, "generator_model": None, "prompt_version": None}
    llm = provenance(seed, "harmful", 0, "paraphrase", ParaphraseConfig(model="m", prompt_version="v9"))
    assert (llm["generator_model"], llm["prompt_version"]) == ("m", "v9")


def test_a_registered_method_is_dispatched_with_the_context(monkeypatch):
    seen: list[GenContext] = []

    def echo(ctx: GenContext) -> MethodOutput:
        seen.append(ctx)
        rows = []
        for kind in KINDS:
            for seed, i in walk_seeds(ctx.pools[kind], ctx.need[kind], ctx.screen, kind, ctx.seed_src):
                ex = Example.chat(seed.request, seed.answer if kind == "contrast" else seed.refusals[0])
                if not ctx.screen.reject_example(ex, seed, kind):
                    ex.metadata.update(provenance(seed, kind, i, ctx.method))
                    rows.append(ex)
        return MethodOutput(rows, {"echo": True})

    monkeypatch.setitem(METHODS, "raw", dataclasses.replace(METHODS["raw"], run=echo))
    job = read_job(FIX / "topic_chat.jsonl")
    res = generate_with_report(job, GenerateConfig(method="raw", n=5, select=False, seed=4), seeds=SEEDS)
    (ctx,) = seen
    assert ctx.need == {"harmful": 4, "contrast": 1} and ctx.seed == 4 and ctx.method == "raw"
    assert [ex.metadata["kind"] for ex in res.examples] == ["harmful"] * 4 + ["contrast"]
    assert res.manifest["echo"] is True and res.manifest["requested"] == 5
    assert list(res.manifest)[-2:] == ["echo", "fidelity"]
