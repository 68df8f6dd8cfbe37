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


# ------------------------------------------------------------------ the LM head on CPU
@pytest.mark.parametrize("setting", ["auto", "off"])
def test_cpu_uses_the_models_own_loss_with_the_same_value(tmp_path, tiny_model_dir, chat_job, setting):
    """On CPU (auto) the trainer computes the model's own loss instead of TRL's fused LM head
    (whose torch fallback is slow there); the loss of a batch is the fused head's to 1e-5."""
    import torch

    from safemix.train import build_trainer
    from tests.train.train_helpers import tiny_cfg

    torch.manual_seed(0)
    plain = build_trainer(tiny_cfg(tiny_model_dir, chat_job, tmp_path / "a", fused_lm_head=setting, lora_dropout=0.0))
    fused = build_trainer(tiny_cfg(tiny_model_dir, chat_job, tmp_path / "b", fused_lm_head="on", lora_dropout=0.0))
    assert type(plain).__name__ == "PlainHeadSFTTrainer" and type(fused).__name__ == "SFTTrainer"
    batch = next(iter(plain.get_train_dataloader()))
    fused.model.load_state_dict(plain.model.state_dict())
    losses = []
    for tr in (plain, fused):
        tr.model.train()
        losses.append(tr.compute_loss(tr.model, dict(batch)).item())
    assert losses[0] == pytest.approx(losses[1], abs=1e-5)
    assert plain._metrics["train"]["num_tokens"] == [int(batch["attention_mask"].sum())]
    assert 0.0 <= plain._metrics["train"]["mean_token_accuracy"][0] <= 1.0


def test_fused_lm_head_setting_is_checked():
    from safemix.errors import ConfigError

    with pytest.raises(ConfigError, match="fused_lm_head"):
        TrainConfig(model="m", data=["d.jsonl"], fused_lm_head="yes")


def test_old_checkpointing_name_moves_to_the_new_one_without_a_warning():
    """Recipes say `trl: {gradient_checkpointing: false}`; transformers 5 calls that name
    deprecated and warns once per trainer (every stage of a sweep). safemix passes the value
    under the new name, so the setting holds and nothing warns."""
    import warnings

    from trl import SFTConfig

    if "activation_checkpointing" not in SFTConfig.__dataclass_fields__:
        pytest.skip("this transformers has no activation_checkpointing")
    for value in (False, True):
        args, _ = _resolved({"gradient_checkpointing": value}, cuda=True)
        assert args["activation_checkpointing"] is value and "gradient_checkpointing" not in args
        with warnings.catch_warnings():
            warnings.simplefilter("error", FutureWarning)
            assert SFTConfig(**{**args, "use_cpu": True, "bf16": False}).gradient_checkpointing is value
    args, _ = _resolved({"gradient_checkpointing": True, "activation_checkpointing": False}, cuda=True)
    assert args["gradient_checkpointing"] is True and args["activation_checkpointing"] is False  # both given: as given
