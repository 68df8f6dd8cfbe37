"""Bad recipe values fail in `safemix train` before any training step, with a clear message."""

from __future__ import annotations

import pytest
import yaml

from safemix.cli import main


@pytest.mark.parametrize(("override", "message"), [
    ("deepspeed=zero4", "unknown DeepSpeed preset 'zero4' (did you mean"),
    ("lora_target_modules=[q_proj,qkv_proj]", "['qkv_proj'] match no module of the model; module names are:"),
    ("batch_size=10", "batch_size=10 is not a multiple of per_device_batch_size (4)"),
    ("model=/no/such/model", "model path does not exist: /no/such/model"),
    ("model=missing.gguf", "model path does not exist: missing.gguf"),
    ("data=[/no/such/job.jsonl]", "/no/such/job.jsonl: training data file does not exist"),
    ("trl.lr_scheduler_typ=constant", "train.trl.lr_scheduler_typ is not an SFTConfig argument (did you mean 'lr_scheduler_type'?)"),
    ("trl.learning_rate=0.1", "train.trl.learning_rate: set it with train.learning_rate"),
    ("method=qlora", "method=qlora needs bitsandbytes and a CUDA GPU"),
    ("resume=true", "resume=true but"),
])
def test_bad_value_fails_before_training(tmp_path, tiny_model_dir, chat_job, capsys, override, message):
    out = tmp_path / "run"
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"train": {
        "model": str(tiny_model_dir), "data": [str(chat_job)], "output_dir": str(out),
        "per_device_batch_size": 4, "max_steps": 2, "show_progress": False}}))
    if override == "method=qlora":
        try:
            import bitsandbytes  # noqa: F401
            import torch

            if torch.cuda.is_available():
                pytest.skip("QLoRA is available here")
        except ImportError:
            pass
    assert main(["train", str(recipe), override]) == 2
    assert message in capsys.readouterr().err
    assert not list(out.glob("checkpoint-*")) and not (out / "model").exists()
    assert not (out / "metrics.jsonl").exists()


def test_bad_data_line_is_named(tmp_path, tiny_model_dir, capsys):
    job = tmp_path / "job.jsonl"
    job.write_text('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n'
                   '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x", "weight": 0}]}\n')
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"train": {"model": str(tiny_model_dir), "data": [str(job)],
                                                "output_dir": str(tmp_path / "run")}}))
    assert main(["train", str(recipe)]) == 2
    assert f"{job}:2: loss masking check failed: no token is trained" in capsys.readouterr().err
