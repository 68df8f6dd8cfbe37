"""`seeds: [..]` in a recipe: one variant per (method, ratio, seed), the first seed under the
plain name, each seed reaching the sections that do not set their own; `seed` and `seeds`
together is an error; the report shows the mean and spread over seeds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from safemix.cli import main
from safemix.config import load_config
from safemix.errors import ConfigError
from safemix.pipeline.config import RunConfig
from safemix.pipeline.runner import Runner, Variant, variants


def recipe(tmp: Path, text: str, overrides: list[str] | None = None) -> RunConfig:
    p = tmp / "r.yaml"
    p.write_text(text, encoding="utf-8")
    return load_config(RunConfig, p, overrides or [])


def test_one_variant_per_seed_the_first_keeps_its_name(tmp_path):
    cfg = recipe(tmp_path, "name: x\nmethods: [none, template]\nratios: [0.1]\nseeds: [3, 1]\ntrain: {seed: 9}\n")
    vs = variants(cfg)
    assert [v.name for v in vs] == ["none", "none-s1", "template-0.1", "template-0.1-s1"]
    r = Runner(cfg, tmp_path / "run")
    t1, t2 = vs[2], vs[3]
    assert (r.generate_config(t1).seed, r.mix_config(t1, "s").seed) == (3, 3)
    assert (r.generate_config(t2).seed, r.mix_config(t2, "s").seed) == (1, 1)
    # a section that sets its own seed keeps it for every seed of the run
    assert r.train_config("d", "o", t1).seed == r.train_config("d", "o", t2).seed == 9
    assert t2.tags() == {"method": "template", "ratio": 0.1, "seed": 1}
    # the resolved sections (run_config.json) hold the first seed
    assert (cfg.generate.seed, cfg.mix.seed) == (3, 3)


@pytest.mark.parametrize("text", ["name: x\n", "name: x\nseed: 4\n", "name: x\nseeds: [4]\n"])
def test_one_seed_keeps_the_names_and_tags_of_before(tmp_path, text):
    vs = variants(recipe(tmp_path, text + "methods: [none, template]\n"))
    assert [v.name for v in vs] == ["none", "template-0.1"]
    assert vs[1].tags() == {"method": "template", "ratio": 0.1} and vs[1] == Variant("template", 0.1)


@pytest.mark.parametrize("text, overrides, message", [
    ("name: x\nseed: 0\nseeds: [1, 2]\n", [], "both `seed` and `seeds`"),
    ("name: x\nseed: 5\nseeds: [1, 2]\n", [], "both `seed` and `seeds`"),
    ("name: x\nseeds: [1, 2]\n", ["seed=0"], "both `seed` and `seeds`"),
    ("name: x\nseeds: [1, 1]\n", [], "more than once"),
    ("name: x\nseeds: []\n", [], "non-empty list"),
    ("name: x\nseeds: [-1]\n", [], "integers >= 0"),
    ("name: x\nseeds: [1, 2]\ngenerate: {seed: 1}\nmix: {seed: 1}\ntrain: {seed: 1}\n", [], "no effect"),
])
def test_bad_seeds_are_config_errors(tmp_path, text, overrides, message):
    with pytest.raises(ConfigError, match=message):
        recipe(tmp_path, text, overrides)


@pytest.mark.parametrize("text", ["name: x\nseed: 0\n", "name: x\nseed: 3\n", "name: x\nseed: 3\nseeds: null\n"])
def test_a_seeds_override_replaces_the_recipes_seed(tmp_path, text):
    cfg = recipe(tmp_path, text + "methods: [template]\ntrain: {seed: 9}\n", ["seeds=[0, 1, 2]"])
    assert cfg.seeds == [0, 1, 2] and cfg.run_seeds() == [0, 1, 2]
    assert [v.name for v in variants(cfg)] == ["template-0.1", "template-0.1-s1", "template-0.1-s2"]
    assert (cfg.generate.seed, cfg.mix.seed, cfg.train.seed) == (0, 0, 9)
    # `seeds=null` unsets `seeds` and leaves the recipe's seed alone
    assert recipe(tmp_path, "name: x\nseed: 3\n", ["seeds=null"]).run_seeds() == [3]


def test_seeds_on_the_command_line_of_a_shipped_recipe(tmp_path, monkeypatch, capsys):
    import safemix

    quickstart = Path(safemix.__file__).parent / "recipes" / "quickstart.yaml"
    assert "\nseed: 0\n" in quickstart.read_text(encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # `validate` checks the run folder runs/quickstart
    assert main(["validate", "quickstart", "seeds=[0,1,2]"]) == 0
    assert load_config(RunConfig, quickstart, ["seeds=[0,1,2]"]).run_seeds() == [0, 1, 2]
    with pytest.raises(ConfigError, match="both `seed` and `seeds`"):  # both in one source: still an error
        load_config(RunConfig, quickstart, ["seed=1", "seeds=[0,1,2]"])


def test_seed_and_seeds_in_code():
    with pytest.raises(ConfigError, match="both `seed` and `seeds`"):
        RunConfig(seed=2, seeds=[1, 2])
    assert [v.name for v in variants(RunConfig(methods=["template"], seeds=[0, 7]))] == \
        ["template-0.1", "template-0.1-s7"]


RECIPE = """
name: seeds
methods: [template]
ratios: [0.1]
seeds: [0, 1]
testbed: {{name: micro, out: {tb}}}
train: {{method: full, max_steps: 2, per_device_batch_size: 8, save_steps: 2, max_seq_length: 320, show_progress: false}}
eval:
  n_validation: 4
  max_new_tokens: 6
  batch_size: 32
  bootstrap: 20
  styles: [job, chat]
  probes: [{{source: builtin, kind: harmful, limit: 4}}, {{source: builtin, kind: benign, limit: 2}}]
"""


@pytest.mark.integration
def test_two_seeds_run_and_report(tmp_path, micro_tb):
    (tmp_path / "r.yaml").write_text(RECIPE.format(tb=micro_tb))
    out = tmp_path / "run"
    assert main(["run", str(tmp_path / "r.yaml"), "--out", str(out)]) == 0
    summary = json.loads((out / "run_summary.json").read_text())
    assert summary["variants"] == ["template-0.1", "template-0.1-s1"]
    seeds = []
    for v in summary["variants"]:
        man = json.loads((out / "variants" / v / "generate" / "stage_manifest.json").read_text())
        res = json.loads((out / "variants" / v / "eval" / "results.json").read_text())
        seeds.append((man["config"]["seed"], res["tags"]["seed"]))
    assert seeds == [(0, 0), (1, 1)]
    doc = json.loads((out / "report" / "comparison.json").read_text())
    assert [(g["name"], g["seeds"]) for g in doc["seed_groups"]] == [("template-0.1", [0, 1])]
    assert "template-0.1: mean of 2 seeds" in (out / "report" / "comparison.html").read_text()
    assert "| template-0.1: mean of 2 seeds |" in (out / "report" / "sweep.md").read_text()
