"""DeepSpeed presets ship in the package and are chosen by name or path."""

from __future__ import annotations

import json

import pytest

from safemix.errors import ConfigError
from safemix.train.distributed import deepspeed_presets, resolve_deepspeed, zero_stage


def test_shipped_presets():
    presets = deepspeed_presets()
    assert {"zero2", "zero3", "zero3_offload"} <= set(presets)
    assert zero_stage(resolve_deepspeed("zero2")) == 2
    z3 = resolve_deepspeed("zero3")
    assert zero_stage(z3) == 3
    # the setting whose absence saves empty LoRA adapters under ZeRO-3 (TRL issue 4416)
    assert z3["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True
    off = resolve_deepspeed("zero3_offload")["zero_optimization"]
    assert off["offload_param"]["device"] == off["offload_optimizer"]["device"] == "cpu"


def test_preset_by_path(tmp_path):
    p = tmp_path / "ds.json"
    p.write_text(json.dumps({"zero_optimization": {"stage": 1}}))
    assert zero_stage(resolve_deepspeed(str(p))) == 1


def test_unknown_preset_names_the_choices():
    with pytest.raises(ConfigError, match=r"unknown DeepSpeed preset 'zero4'.*did you mean") as e:
        resolve_deepspeed("zero4")
    assert "zero3_offload" in str(e.value)


def test_invalid_preset_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="invalid DeepSpeed JSON"):
        resolve_deepspeed(str(bad))
    bad.write_text(json.dumps({"zero_optimization": {"stage": 5}}))
    with pytest.raises(ConfigError, match="stage must be"):
        resolve_deepspeed(str(bad))
