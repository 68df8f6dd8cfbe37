"""CPU-sensible trainer defaults: no gradient (activation) checkpointing unless asked."""

from __future__ import annotations

import pytest

from safemix.train import TrainConfig
from safemix.train.trainer import _sft_args


def _resolved(trl: dict, cuda: bool):
    from trl import SFTConfig

    cfg = TrainConfig(model="m", data=["d.jsonl"], output_dir="/tmp/safemix-test-cpu-defaults", trl=trl)
    args = _sft_args(cfg, 1, 2e-4, None, cuda=cuda, has_eval=False)
    if cuda:
        return args, None
    return args, SFTConfig(**args)


def test_cpu_turns_checkpointing_off():
    _, sft = _resolved({}, cuda=False)
    assert sft.gradient_checkpointing is False
    assert getattr(sft, "activation_checkpointing", False) is False


@pytest.mark.parametrize("name", ["gradient_checkpointing", "activation_checkpointing"])
def test_asking_for_it_on_cpu_wins(name):
    from trl import SFTConfig

    if name not in SFTConfig.__dataclass_fields__:
        pytest.skip(f"this transformers has no {name}")
    _, sft = _resolved({name: True}, cuda=False)
    assert sft.gradient_checkpointing is True


def test_gpu_keeps_trl_default():
    args, _ = _resolved({}, cuda=True)
    assert "gradient_checkpointing" not in args and "activation_checkpointing" not in args
