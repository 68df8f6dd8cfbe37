"""What `safemix run` hands each stage: the sweep's method and ratio, and the seeds the
recipe asked for (a section's own seed if it sets one, else the run's `seed`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from safemix.config import load_config
from safemix.generate.config import GenerateConfig
from safemix.mix.config import MixConfig
from safemix.pipeline.config import RunConfig
from safemix.pipeline.runner import Runner, Variant
from safemix.train.config import TrainConfig

V = Variant("template", 0.05)


def stage_seeds(cfg: RunConfig, tmp: Path) -> tuple[int, int, int]:
    r = Runner(cfg, tmp / "run")
    return (r.generate_config(V).seed, r.mix_config(V, tmp / "s.jsonl").seed,
            r.train_config(tmp / "m.jsonl", tmp / "t").seed)


def recipe(tmp: Path, text: str, overrides: list[str] | None = None) -> RunConfig:
    p = tmp / "r.yaml"
    p.write_text(text, encoding="utf-8")
    return load_config(RunConfig, p, overrides or [])


# (recipe, overrides, expected (generate, mix, train) seeds)
SEED_CASES = [
    ("name: x\n", [], (0, 0, 0)),
    ("name: x\nseed: 3\n", [], (3, 3, 3)),
    ("name: x\nseed: 3\n", ["generate.seed=5", "mix.seed=7"], (5, 7, 3)),
    ("name: x\nseed: 3\ngenerate: {seed: 5}\nmix: {seed: 7}\ntrain: {seed: 11}\n", [], (5, 7, 11)),
    # a section's seed equal to the default still wins when the recipe sets it
    ("name: x\nseed: 3\ngenerate: {seed: 0}\ntrain: {seed: 42}\n", [], (0, 3, 42)),
    ("name: x\n", ["seed=9", "train.seed=1"], (9, 9, 1)),
]


@pytest.mark.parametrize(("text", "overrides", "expected"), SEED_CASES)
def test_stage_seeds_from_a_recipe(tmp_path, text, overrides, expected):
    assert stage_seeds(recipe(tmp_path, text, overrides), tmp_path) == expected


def test_stage_seeds_in_code(tmp_path):
    assert stage_seeds(RunConfig(seed=4), tmp_path) == (4, 4, 4)
    cfg = RunConfig(seed=4, train=TrainConfig(seed=9), mix=MixConfig(seed=2))
    assert stage_seeds(cfg, tmp_path) == (4, 2, 9)
    # a changed run seed reaches the sections that do not set their own, and only those
    assert stage_seeds(dataclasses.replace(cfg, seed=6), tmp_path) == (6, 2, 9)
    from_recipe = recipe(tmp_path, "name: x\nseed: 3\ngenerate: {seed: 0}\n")
    assert stage_seeds(dataclasses.replace(from_recipe, seed=8), tmp_path) == (0, 8, 8)


def test_run_config_json_records_the_resolved_seeds(tmp_path):
    cfg = recipe(tmp_path, "name: x\nseed: 3\nmix: {seed: 7}\n")
    d = dataclasses.asdict(cfg)
    assert (d["generate"]["seed"], d["mix"]["seed"], d["train"]["seed"]) == (3, 7, 3)


def test_sweep_fields_come_from_the_variant(tmp_path):
    cfg = recipe(tmp_path, "name: x\nmethods: [raw]\nratios: [0.2]\ngenerate: {contrast_share: 0.3}\n"
                           "mix: {strategy: append}\n")
    r = Runner(cfg, tmp_path / "run")
    g = r.generate_config(Variant("raw", 0.2))
    assert (g.method, g.ratio, g.n, g.contrast_share) == ("raw", 0.2, None, 0.3)
    m = r.mix_config(Variant("raw", 0.2), tmp_path / "safety.jsonl")
    assert (m.ratio, m.count, m.safety, m.strategy) == (0.2, None, str(tmp_path / "safety.jsonl"), "append")


@pytest.mark.parametrize(("section", "value", "field"), [
    (GenerateConfig, {"method": "raw"}, "generate.method"),
    (GenerateConfig, {"n": 10}, "generate.n"),
    (MixConfig, {"ratio": 0.3}, "mix.ratio"),
    (MixConfig, {"count": 5}, "mix.count"),
])
def test_sweep_owned_fields_rejected_in_code(section, value, field):
    from safemix.errors import ConfigError

    key = field.split(".")[0]
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        RunConfig(**{key: section(**value)})


def test_sweep_owned_fields_left_unset_explicitly_are_fine(tmp_path):
    cfg = recipe(tmp_path, "name: x\nmix: {ratio: null, count: null}\ngenerate: {n: null}\n")
    assert cfg.mix.ratio is None and cfg.generate.n is None


def test_the_help_says_what_is_true():
    from safemix.config import field_help

    h = field_help(RunConfig)
    assert "unless the recipe" in h["seed"] and "win" in h["seed"]
    assert "`methods`" in h["generate"] and "`ratios`" in h["mix"]
