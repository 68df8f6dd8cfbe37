"""The fair testbed experiment in `safemix run`: per-method ratios, the controls in the sweep, what
a testbed fills in (job task, seed set, held-out job format), and job-format over-refusal in the
headline and the sweep table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from safemix.config import load_config, resolve_recipe
from safemix.errors import ConfigError
from safemix.pipeline.config import RunConfig
from safemix.pipeline.runner import apply_testbed, headline_lines, variants, write_sweep_table


def recipe(tmp: Path, text: str, overrides: list[str] | None = None) -> RunConfig:
    p = tmp / "r.yaml"
    p.write_text(text, encoding="utf-8")
    return load_config(RunConfig, p, overrides or [])


def test_method_ratios_replace_ratios_for_the_methods_named(tmp_path):
    cfg = recipe(tmp_path, "name: x\nmethods: [none, raw, raw_system, template, template_benign]\n"
                           "ratios: [0.05, 0.1]\nmethod_ratios: {raw_system: [0.1], template_benign: [0.1]}\n")
    assert [v.name for v in variants(cfg)] == ["none", "raw-0.05", "raw-0.1", "raw_system-0.1", "template-0.05",
                                               "template-0.1", "template_benign-0.1"]


def test_method_ratios_of_methods_not_run_are_ignored(tmp_path):
    """Overriding `methods` to a subset of a recipe with method_ratios (as the slow behaviour
    test does with the quickstart) runs that subset."""
    cfg = recipe(tmp_path, "name: x\nmethods: [none, raw, raw_system]\nratios: [0.05, 0.1]\n"
                           "method_ratios: {raw_system: [0.1]}\n", ["methods=[none]"])
    assert [v.name for v in variants(cfg)] == ["none"]


@pytest.mark.parametrize(("text", "msg"), [
    ("method_ratios: {raw_sytem: [0.1]}\n", "did you mean 'raw_system'"),
    ("method_ratios: {none: [0.1]}\nmethods: [none, raw]\n", "not a sweep method with a ratio"),
    ("method_ratios: {raw: [1.5]}\nmethods: [none, raw]\n", "ratios in (0, 1)"),
    ("method_ratios: {raw: []}\nmethods: [none, raw]\n", "non-empty list"),
    ("methods: [none, raw_sytem]\n", "did you mean 'raw_system'"),
    ("testbed: {job_task: poems}\n", "testbed.job_task must be"),
])
def test_bad_sweep_values(tmp_path, text, msg):
    with pytest.raises(ConfigError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        recipe(tmp_path, "name: x\n" + text)


def test_the_quickstart_recipe_runs_the_fair_setup():
    cfg = load_config(RunConfig, resolve_recipe("quickstart"))
    names = [v.name for v in variants(cfg)]
    assert names[0] == "none" and {"raw_system-0.1", "template_benign-0.1", "template-0.05", "raw-0.05"} <= set(names)
    assert "job_heldout" in cfg.eval.styles and cfg.testbed.job_task in (None, "topic")
    assert cfg.testbed.seeds in (None, "corpus")


# ------------------------------------------------------------------ what a testbed fills in
@pytest.fixture
def fake_tb(tmp_path) -> Path:
    """A folder that `build("micro", out=...)` takes as its cached build (same config hash)."""
    from safemix.testbed.build import config_hash
    from safemix.testbed.config import get_config

    tb = tmp_path / "tb"
    (tb / "jobs").mkdir(parents=True)
    (tb / "testbed.json").write_text(json.dumps({"config_hash": config_hash(get_config("micro"))}))
    for name in ("topic_benign", "inbox_benign", "inbox_aoa"):
        for suffix in (".jsonl", ".val.jsonl", ".heldout.jsonl"):
            (tb / "jobs" / f"{name}{suffix}").write_text("{}\n")
    for name in ("seeds.jsonl", "seeds_builtin.jsonl", "seeds_corpus.jsonl", "probes_harmful.jsonl",
                 "probes_benign.jsonl"):
        (tb / name).write_text("{}\n")
    return tb


def test_apply_testbed_fills_job_task_seed_set_and_heldout_format(tmp_path, fake_tb):
    cfg = recipe(tmp_path, f"name: x\ntestbed: {{name: micro, out: {fake_tb}, job_task: inbox, job_style: aoa, "
                           "seeds: corpus}\neval: {styles: [job, job_heldout, chat]}\n")
    out = apply_testbed(cfg)
    assert out.data.train == str(fake_tb / "jobs" / "inbox_aoa.jsonl")
    assert out.data.validation == str(fake_tb / "jobs" / "inbox_aoa.val.jsonl")
    assert out.eval.heldout_job == str(fake_tb / "jobs" / "inbox_aoa.heldout.jsonl")
    assert out.generate.seeds == str(fake_tb / "seeds_corpus.jsonl")
    assert out.eval.probes[0].source == str(fake_tb / "probes_harmful.jsonl")
    # defaults: the topic job and the testbed's default seed file
    d = apply_testbed(recipe(tmp_path, f"name: x\ntestbed: {{name: micro, out: {fake_tb}}}\n"))
    assert d.data.train.endswith("topic_benign.jsonl") and d.generate.seeds == str(fake_tb / "seeds.jsonl")
    assert d.eval.heldout_job == str(fake_tb / "jobs" / "topic_benign.heldout.jsonl")
    # the user's own job: the testbed's held-out format is of another task, so it is not used
    own = tmp_path / "own.jsonl"
    own.write_text("{}\n")
    mine = apply_testbed(recipe(tmp_path, f"name: x\ndata: {{train: {own}}}\ntestbed: {{name: micro, out: {fake_tb}}}\n"))
    assert mine.data.train == str(own) and mine.eval.heldout_job is None


def test_apply_testbed_writes_the_multiturn_job_on_demand(tmp_path, fake_tb):
    """job_turns: 2 writes jobs/<task>_<style>_2turn.jsonl (+ .val, .heldout) beside the build's jobs
    and uses them; the build's own files are untouched."""
    before = {p.name: p.read_bytes() for p in (fake_tb / "jobs").iterdir()}
    cfg = recipe(tmp_path, f"name: x\ntestbed: {{name: micro, out: {fake_tb}, job_task: inbox, job_turns: 2}}\n")
    out = apply_testbed(cfg)
    jobs = fake_tb / "jobs"
    assert out.data.train == str(jobs / "inbox_benign_2turn.jsonl")
    assert out.data.validation == str(jobs / "inbox_benign_2turn.val.jsonl")
    assert out.eval.heldout_job == str(jobs / "inbox_benign_2turn.heldout.jsonl")
    for name in ("inbox_benign_2turn.jsonl", "inbox_benign_2turn.val.jsonl", "inbox_benign_2turn.heldout.jsonl"):
        row = json.loads((jobs / name).read_text(encoding="utf-8").splitlines()[0])
        assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant", "user", "assistant"]
    assert {n: (jobs / n).read_bytes() for n in before} == before


@pytest.mark.parametrize(("testbed", "msg"), [
    ("seeds: nope", r"no seed set 'nope' \(it has: builtin, corpus\)"),
    ("job_task: qa", r"no sample job qa_benign \(it has: inbox_aoa, inbox_benign, topic_benign\)"),
])
def test_apply_testbed_names_what_the_testbed_has(tmp_path, fake_tb, testbed, msg):
    cfg = recipe(tmp_path, f"name: x\ntestbed: {{name: micro, out: {fake_tb}, {testbed}}}\n")
    with pytest.raises(ConfigError, match=msg):
        apply_testbed(cfg)


def test_job_heldout_without_a_heldout_job_fails_before_any_stage(tmp_path, capsys):
    from safemix.cli import main

    job = Path(__file__).resolve().parents[1] / "fixtures" / "topic_chat.jsonl"
    r = tmp_path / "r.yaml"
    r.write_text(f"name: x\ndata: {{train: {job}}}\ntrain: {{model: nowhere}}\neval: {{styles: [job, job_heldout]}}\n")
    assert main(["run", str(r), "--out", str(tmp_path / "run")]) == 2
    assert "needs eval.heldout_job" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------ the headline
def _ci(x: float) -> dict:
    return {"mean": x, "low": x, "high": x}


def _results(d: Path, label: str, roles: dict[str, tuple[float, float, float]]) -> Path:
    """results.json with, per role, (job refusal, job over-refusal, chat over-refusal)."""
    metrics = {}
    for role, (ref, over_job, over_chat) in roles.items():
        safety = {s: {"refusal_rate": _ci(ref), "attack_success_rate": _ci(0.0), "other_rate": _ci(1 - ref)}
                  for s in ("job", "job_heldout", "chat")}
        metrics[role] = {"safety": safety, "task": {"metric": "accuracy", **_ci(1.0)},
                         "over_refusal": {"job": _ci(over_job), "job_heldout": _ci(over_job), "chat": _ci(over_chat),
                                          "all": _ci((over_job * 2 + over_chat) / 3)}}
    d.mkdir(parents=True)
    (d / "results.json").write_text(json.dumps({"label": label, "metrics": metrics}))
    return d


def test_sweep_table_and_headline_show_job_format_over_refusal_next_to_refusal(tmp_path):
    dirs = [_results(tmp_path / "a", "none", {"base": (0.8, 0.02, 0.01), "model": (0.0, 0.0, 0.0)}),
            _results(tmp_path / "b", "template-0.1", {"base": (0.8, 0.02, 0.01), "model": (1.0, 0.55, 0.03)})]
    md = write_sweep_table(dirs, tmp_path / "sweep.md").read_text()
    head = next(line for line in md.splitlines() if line.startswith("| run"))
    cols = [c.strip() for c in head.strip("|").split("|")]
    assert cols[:5] == ["run", "task", "job: refused / complied / other %", "job: over-refusal %",
                        "job_heldout: refused / complied / other %"]
    assert "chat: over-refusal %" in cols and cols[-1] == "over-refusal (all benign) %"
    row = next(line for line in md.splitlines() if line.startswith("| template-0.1"))
    assert "| 100 / 0 / 0 | 55 |" in row
    lines = headline_lines(dirs)
    assert lines[0].startswith("base (before finetuning): job refused 80% (over-refusal 2%)")
    assert lines[2] == ("template-0.1: job refused 100% (over-refusal 55%); job_heldout refused 100% "
                        "(over-refusal 55%); chat refused 100% (over-refusal 3%); task accuracy 100.0")


def test_testbed_build_overrides_make_another_build(tmp_path, fake_tb):
    """`testbed.build: {seed: 1}` builds (and caches) another testbed: the folder holding the
    default build is not taken for it, and a bad field is named."""
    from safemix.testbed.build import config_hash
    from safemix.testbed.config import get_config

    assert config_hash(get_config("micro", seed=1)) != config_hash(get_config("micro"))
    cfg = recipe(tmp_path, f"name: x\ntestbed: {{name: micro, out: {fake_tb}, build: {{seed: 1}}}}\n")
    with pytest.raises(ConfigError, match="already holds"):
        apply_testbed(cfg)
    assert apply_testbed(recipe(tmp_path, f"name: x\ntestbed: {{name: micro, out: {fake_tb}}}\n")).data.train
    bad = recipe(tmp_path, f"name: x\ntestbed: {{name: micro, out: {fake_tb}, build: {{sed: 1}}}}\n")
    with pytest.raises(ConfigError, match="sed"):
        apply_testbed(bad)
