"""TrainConfig: recipe loading, OpenAI-style hyperparameter mapping, bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from safemix.config import load_config
from safemix.errors import ConfigError
from safemix.train.config import TrainConfig

REPO = Path(__file__).resolve().parents[2]
TRAIN_RECIPES = sorted((REPO / "safemix" / "recipes").glob("train_*.yaml"))


@pytest.mark.parametrize("recipe", TRAIN_RECIPES, ids=lambda p: p.name)
def test_every_shipped_train_recipe_loads(recipe):
    cfg = load_config(TrainConfig, recipe, section="train")
    assert cfg.model and cfg.data
    assert recipe.read_text().startswith("#"), "a recipe starts with the command that runs it"


def test_overrides_and_unknown_keys():
    cfg = load_config(TrainConfig, TRAIN_RECIPES[0], ["max_steps=3", "probe.every_n_steps=2"], section="train")
    assert cfg.max_steps == 3 and cfg.probe.every_n_steps == 2
    with pytest.raises(ConfigError, match="did you mean 'max_steps'"):
        load_config(TrainConfig, TRAIN_RECIPES[0], ["max_step=3"], section="train")
    with pytest.raises(ConfigError, match="did you mean 'lora'"):
        TrainConfig(method="lorra")


@pytest.mark.parametrize(("batch_size", "per_device", "world", "accum"),
                         [(16, 4, 1, 4), (16, 4, 2, 2), (8, 8, 1, 1), (24, 2, 3, 4)])
def test_openai_batch_size_maps_to_accumulation(batch_size, per_device, world, accum):
    cfg = TrainConfig(batch_size=batch_size, per_device_batch_size=per_device)
    assert cfg.accumulation_steps(world) == accum
    assert cfg.global_batch_size(world) == batch_size


@pytest.mark.parametrize(("batch_size", "per_device", "world"), [(10, 4, 1), (8, 4, 3), (2, 4, 1)])
def test_batch_size_that_does_not_divide_is_an_error(batch_size, per_device, world):
    with pytest.raises(ConfigError, match="not a multiple of per_device_batch_size"):
        TrainConfig(batch_size=batch_size, per_device_batch_size=per_device).accumulation_steps(world)


def test_batch_size_contradicting_accumulation_is_an_error():
    with pytest.raises(ConfigError, match="contradicts"):
        TrainConfig(batch_size=16, per_device_batch_size=4, gradient_accumulation_steps=2).accumulation_steps(1)
    assert TrainConfig(batch_size="auto", gradient_accumulation_steps=3).accumulation_steps(2) == 3


def test_learning_rate_multiplier_and_epochs():
    assert TrainConfig(method="lora").effective_learning_rate == pytest.approx(2e-4)
    assert TrainConfig(method="full", learning_rate_multiplier=0.5).effective_learning_rate == pytest.approx(1e-5)
    assert TrainConfig(learning_rate=1e-3, learning_rate_multiplier=2).effective_learning_rate == pytest.approx(2e-3)
    assert TrainConfig(n_epochs="auto").epochs == 3.0
    with pytest.raises(ConfigError, match="n_epochs"):
        TrainConfig(n_epochs="many")


@pytest.mark.parametrize("kw", [{"learning_rate_multiplier": 0}, {"per_device_batch_size": 0},
                                {"max_steps": 0}, {"lora_dropout": 1.0}, {"lora_target_modules": []},
                                {"masking": "prompt"}, {"on_untrainable": "skip"}])
def test_bad_values(kw):
    with pytest.raises(ConfigError):
        TrainConfig(**kw)


def test_resume_key_ignores_bookkeeping_fields():
    a, b = TrainConfig(output_dir="a", save_steps=5), TrainConfig(output_dir="b", save_steps=50)
    assert a.resume_key() == b.resume_key()
    assert a.resume_key() != TrainConfig(learning_rate=1.0).resume_key()


def test_every_field_has_help():
    import dataclasses

    from safemix.train.config import ProbeConfig

    for cls in (TrainConfig, ProbeConfig):
        missing = [f.name for f in dataclasses.fields(cls) if not f.metadata.get("help")]
        assert not missing, f"{cls.__name__} fields without help: {missing}"
