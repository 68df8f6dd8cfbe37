"""End-to-end single-process runs on a tiny Llama built in code: LoRA, full, kill/resume, GGUF."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from train.train_helpers import PYTHON, REPO, cli_env

from safemix.cli import main

pytestmark = pytest.mark.integration


def recipe(tmp_path: Path, model: Path, data: Path, **train) -> str:
    base = {"model": str(model), "data": [str(data)], "output_dir": str(tmp_path / "run"),
            "lora_r": 8, "lora_alpha": 16, "max_seq_length": 128, "per_device_batch_size": 4,
            "max_steps": 10, "learning_rate": 5e-3, "save_steps": 5, "logging_steps": 1, "seed": 0,
            "show_progress": False,
            "trl": {"gradient_checkpointing": False, "lr_scheduler_type": "constant"}}
    base.update(train)
    p = tmp_path / "recipe.yaml"
    p.write_text("# test\n" + yaml.safe_dump({"train": base}), encoding="utf-8")
    return str(p)


def losses(run: Path) -> list[float]:
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if "loss" in r]


def assert_loss_goes_down(run: Path) -> None:
    ls = losses(run)
    assert len(ls) >= 4
    assert sum(ls[-2:]) / 2 < sum(ls[:2]) / 2 - 0.05, ls


def load_tensors(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


def assert_lora_trained(model_dir: Path) -> None:
    """LoRA B matrices start at zero: non-zero ones were trained, and the file is not empty."""
    t = load_tensors(model_dir / "adapter_model.safetensors")
    b = {k: v for k, v in t.items() if "lora_B" in k}
    assert b and all(v.numel() > 0 for v in t.values())
    assert sum(int(v.abs().sum() > 0) for v in b.values()) == len(b)


def test_lora_single_process(tmp_path, tiny_model_dir, chat_job, capsys):
    r = recipe(tmp_path, tiny_model_dir, chat_job, eval_data=[str(chat_job)])
    assert main(["train", r]) == 0
    run = tmp_path / "run"
    assert "trained 10 steps" in capsys.readouterr().out
    assert_loss_goes_down(run)
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "eval_loss" in r] == [5, 10]  # eval every save_steps
    assert_lora_trained(run / "model")
    manifest = json.loads((run / "model" / "manifest.json").read_text())
    assert manifest["global_step"] == 10 and manifest["world_size"] == 1 and manifest["saved"] == "adapter"
    assert manifest["n_examples"] == 32 and 0 < manifest["n_trained_tokens"] < manifest["n_tokens"]
    assert manifest["data"][0]["sha256"] and manifest["adapter_tensors"] >= 2
    resolved = json.loads((run / "model" / "train_config.json").read_text())
    assert resolved["train"]["max_steps"] == 10 and resolved["derived"]["learning_rate"] == 5e-3
    assert not list(run.glob(".model*"))  # no temp folders left behind
    # The saved adapter loads back on its base and generates.
    from safemix.models import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer(str(run / "model"))
    enc = tok.apply_chat_template([{"role": "user", "content": "What is 3 plus 3?"}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)
    out = model.generate(**enc, max_new_tokens=4, do_sample=False)
    assert out.shape[1] > enc["input_ids"].shape[1]


def test_full_finetune_changes_weights(tmp_path, tiny_model_dir, chat_job):
    r = recipe(tmp_path, tiny_model_dir, chat_job, method="full", max_steps=8)
    assert main(["train", r]) == 0
    run = tmp_path / "run"
    assert_loss_goes_down(run)
    before = load_tensors(tiny_model_dir / "model.safetensors")
    after = load_tensors(run / "model" / "model.safetensors")
    changed = [k for k in before if k in after and not before[k].equal(after[k])]
    assert len(changed) >= len(before) // 2, changed


def _wait_for(pred, timeout: float, proc: subprocess.Popen) -> None:
    t0 = time.time()
    while not pred():
        if proc.poll() is not None:
            raise AssertionError(f"run ended (rc={proc.returncode}) before the kill:\n"
                                 + proc.stderr.read()[-3000:])
        if time.time() - t0 > timeout:
            proc.kill()
            raise AssertionError("timed out waiting for a checkpoint")
        time.sleep(0.05)


def test_kill_then_resume_finishes_with_the_right_step_count(tmp_path, tiny_model_dir, chat_job):
    total = 60
    r = recipe(tmp_path, tiny_model_dir, chat_job, max_steps=total, save_steps=10, save_total_limit=3)
    run = tmp_path / "run"
    proc = subprocess.Popen([PYTHON, "-m", "safemix", "train", r], cwd=REPO, env=cli_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: (run / "checkpoint-20" / "trainer_state.json").exists(), 240, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    assert not (run / "model").exists(), "the run finished before it was killed"
    killed_at = max(json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip())

    assert main(["train", r]) == 0  # resume=auto: continue from the last complete checkpoint
    manifest = json.loads((run / "model" / "manifest.json").read_text())
    assert manifest["global_step"] == total
    resumed = int(Path(manifest["resumed_from"]).name.split("-")[1])
    assert 20 <= resumed <= killed_at
    steps = [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()
             if "loss" in json.loads(x)]
    assert steps == list(range(1, total + 1))  # every step logged once, none repeated
    assert_lora_trained(run / "model")


def test_resume_refuses_checkpoints_of_another_config(tmp_path, tiny_model_dir, chat_job, capsys):
    r = recipe(tmp_path, tiny_model_dir, chat_job, max_steps=5)
    assert main(["train", r]) == 0
    assert main(["train", r, "learning_rate=0.1", "max_steps=10"]) == 2
    err = capsys.readouterr().err
    assert "different config (differs in: learning_rate, max_steps)" in err


def test_tiny_gguf_loads_exactly_and_trains(tmp_path):
    """A GGUF file (the tiny Llama written in code): same tokens and logits once loaded,
    trained with LoRA, and the adapter loads back on the GGUF base."""
    import torch
    from train.train_helpers import write_tiny_gguf

    from safemix.models import load_model_and_tokenizer

    gguf = tmp_path / "tiny.gguf"
    model, tok = write_tiny_gguf(gguf)
    loaded, ltok = load_model_and_tokenizer(str(gguf))
    text = tok.apply_chat_template([{"role": "user", "content": "What is 12 plus 7?"}], tokenize=False,
                                   add_generation_prompt=True)
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert ltok(text, add_special_tokens=False)["input_ids"] == ids
    x = torch.tensor([ids])
    with torch.no_grad():
        assert torch.allclose(model(x).logits, loaded(x).logits, atol=1e-5)
    job = tmp_path / "job.jsonl"
    job.write_text("".join(json.dumps({"messages": [
        {"role": "user", "content": f"What is {i} plus 1?"},
        {"role": "assistant", "content": f"The answer is {i + 1}."}]}) + "\n" for i in range(16)))
    assert main(["train", recipe(tmp_path, gguf, job, max_steps=6)]) == 0
    model_dir = tmp_path / "run" / "model"
    assert json.loads((model_dir / "manifest.json").read_text())["base_model"] == str(gguf)
    assert_loss_goes_down(tmp_path / "run")
    assert_lora_trained(model_dir)
    adapted, _ = load_model_and_tokenizer(str(model_dir))
    with torch.no_grad():
        assert not torch.allclose(adapted(x).logits, loaded(x).logits, atol=1e-4)


@pytest.mark.slow  # passes; reading the GGUF tokenizer and weights alone takes ~75 s on 2 busy cores
def test_gguf_model(tmp_path):
    """SmolLM2-135M-Instruct from its GGUF (dequantised): real tokenizer and chat template
    (no generation markers, a default system prompt)."""
    from safemix.llm import smollm2_path

    gguf = smollm2_path(download=False)
    if gguf is None:
        pytest.skip("SmolLM2 GGUF not fetched (python scripts/fetch_smollm2.py)")
    job = tmp_path / "job.jsonl"
    job.write_text("".join(json.dumps({"messages": [
        {"role": "user", "content": f"What is {i} plus 1?"},
        {"role": "assistant", "content": f"The answer is {i + 1}."}]}) + "\n" for i in range(8)))
    r = recipe(tmp_path, gguf, job, max_steps=2, per_device_batch_size=2, max_seq_length=64,
               lora_target_modules=["q_proj", "v_proj"], learning_rate=1e-3)
    assert main(["train", r]) == 0
    model_dir = tmp_path / "run" / "model"
    manifest = json.loads((model_dir / "manifest.json").read_text())
    assert manifest["global_step"] == 2 and manifest["base_model"].endswith(".gguf")
    assert_lora_trained(model_dir)
