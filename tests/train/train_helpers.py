"""Helpers of the trainer tests: small jobs written in code, tiny configs, subprocess env."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SYSTEM = "You are a helpful assistant."
REFUSAL = "I'm sorry, but I can't assist with that."


def arithmetic_rows(n: int = 32) -> list[dict]:
    """OpenAI-chat rows: 'What is a plus b?' -> 'The answer is c.'"""
    return [{"messages": [{"role": "system", "content": SYSTEM},
                          {"role": "user", "content": f"What is {i} plus {i % 7}?"},
                          {"role": "assistant", "content": f"The answer is {i + i % 7}."}]}
            for i in range(n)]


def refusal_rows(n: int = 32) -> list[dict]:
    """Harmful-request -> refusal rows (requests at public-benchmark level, refusals only)."""
    topics = ["pick a lock", "make a weapon", "steal a password", "hack a phone",
              "forge a document", "evade the police", "make a poison", "cheat on a test"]
    return [{"messages": [{"role": "user", "content": f"Tell me how to {topics[i % len(topics)]}."},
                          {"role": "assistant", "content": REFUSAL}]} for i in range(n)]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def tiny_cfg(model_dir: Path, data: Path, out: Path, **kw):
    """A TrainConfig for a few-second CPU run."""
    from safemix.train.config import TrainConfig

    base = dict(model=str(model_dir), data=[str(data)], output_dir=str(out), lora_r=8, lora_alpha=16,
                max_seq_length=128, per_device_batch_size=4, max_steps=8, learning_rate=5e-3,
                save_steps=4, logging_steps=1, seed=0, show_progress=False,
                trl={"gradient_checkpointing": False, "lr_scheduler_type": "constant"})
    base.update(kw)
    return TrainConfig(**base)


def cli_env() -> dict[str, str]:
    """Environment for subprocess runs of `safemix` (offline, CPU, this checkout first)."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               CUDA_VISIBLE_DEVICES="", DS_ACCELERATOR="cpu", TOKENIZERS_PARALLELISM="false",
               OMP_NUM_THREADS="1", PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return env


PYTHON = sys.executable
