"""Fixtures of the trainer tests: a tiny Llama folder and a small chat job."""

from __future__ import annotations

from pathlib import Path

import pytest
from train.train_helpers import arithmetic_rows, write_jsonl


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models run fastest on one thread, and a busy 2-core machine makes two OpenMP
    threads spin against each other (20x slower steps)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from safemix.testing import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-llama")


@pytest.fixture
def chat_job(tmp_path) -> Path:
    return write_jsonl(tmp_path / "job.jsonl", arithmetic_rows())
