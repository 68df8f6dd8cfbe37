"""Two processes on CPU (torchrun, gloo) under DeepSpeed ZeRO-2 and ZeRO-3, via `safemix launch`.

Each run shows the loss going down and the parameters changing; under ZeRO-3 the LoRA
adapter must be saved non-empty and trained (the failure of TRL issue 4416).
"""

from __future__ import annotations

import json

import pytest
from train.test_train_integration import (
    assert_lora_trained,
    assert_loss_goes_down,
    load_tensors,
    recipe,
)

from safemix.cli import main

pytestmark = pytest.mark.integration


def launch(r: str, *overrides: str) -> None:
    rc = main(["launch", "--nproc", "2", r, *overrides])
    assert rc == 0, f"2-process run failed with exit code {rc}"


def manifest(run) -> dict:
    return json.loads((run / "model" / "manifest.json").read_text())


def test_zero2_full_finetune_two_processes(tmp_path, tiny_model_dir, chat_job, capfd):
    # 32 examples, 2 processes x 4 per step: 4 steps per epoch
    r = recipe(tmp_path, tiny_model_dir, chat_job, method="full", deepspeed="zero2", max_steps=8,
               batch_size=8, save_steps=4)
    launch(r)
    run = tmp_path / "run"
    m = manifest(run)
    assert m["world_size"] == 2 and m["deepspeed_stage"] == 2 and m["global_step"] == 8
    assert "--nproc_per_node 2 -m safemix train" in capfd.readouterr().out
    assert_loss_goes_down(run)
    before = load_tensors(tiny_model_dir / "model.safetensors")
    after = load_tensors(run / "model" / "model.safetensors")
    assert sum(not before[k].equal(after[k]) for k in before) >= len(before) // 2
    assert (run / "checkpoint-8" / "trainer_state.json").exists()


def test_zero3_lora_two_processes_saves_a_trained_adapter(tmp_path, tiny_model_dir, chat_job):
    # probes too: generation under ZeRO-3 needs every rank in each forward pass
    r = recipe(tmp_path, tiny_model_dir, chat_job, deepspeed="zero3", max_steps=8, batch_size=8,
               save_steps=4, probe={"every_n_steps": 4, "limit": 2, "max_new_tokens": 4, "render": "chat"})
    launch(r)
    run = tmp_path / "run"
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "safety/refusal_rate" in r] == [0, 4, 8]
    m = manifest(run)
    assert m["world_size"] == 2 and m["deepspeed_stage"] == 3 and m["saved"] == "adapter"
    assert m["adapter_tensors"] >= 2 * 7 * 2  # lora_A and lora_B of 7 linear layers x 2 blocks
    assert_loss_goes_down(run)
    assert_lora_trained(run / "model")
