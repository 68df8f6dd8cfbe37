"""DeepSpeed presets and the process environment (one CPU up to many GPUs on many nodes).

Presets ship inside the package (`safemix/train/deepspeed/*.json`, values "auto" are
filled in by transformers from the trainer's settings) and are chosen by name or path:

    resolve_deepspeed("zero3")            # the shipped preset
    resolve_deepspeed("my_ds_config.json")
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from safemix.config import did_you_mean
from safemix.errors import ConfigError

PRESETS_DIR = Path(__file__).resolve().parent / "deepspeed"


def deepspeed_presets() -> dict[str, Path]:
    """Shipped preset name -> JSON path (zero2, zero3, zero3_offload)."""
    return {p.stem: p for p in sorted(PRESETS_DIR.glob("*.json"))}


def resolve_deepspeed(name_or_path: str) -> dict[str, Any]:
    """Load a DeepSpeed config by preset name or file path; ConfigError if unknown or invalid."""
    presets = deepspeed_presets()
    if name_or_path in presets:
        path = presets[name_or_path]
    else:
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            hint = did_you_mean(name_or_path, presets)
            raise ConfigError(f"unknown DeepSpeed preset {name_or_path!r}{hint}: not a shipped preset "
                              f"({', '.join(presets)}) nor an existing JSON file")
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ConfigError(f"{path}: invalid DeepSpeed JSON: {e}") from None
    stage = (cfg.get("zero_optimization") or {}).get("stage", 0) if isinstance(cfg, dict) else None
    if stage not in (0, 1, 2, 3):
        raise ConfigError(f"{path}: zero_optimization.stage must be 0, 1, 2 or 3, got {stage!r}")
    return cfg


def zero_stage(ds_config: dict[str, Any] | None) -> int:
    return int(((ds_config or {}).get("zero_optimization") or {}).get("stage", 0))


def world_size() -> int:
    """Number of processes of this run (set by torchrun / deepspeed launchers), 1 when alone."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_environment(use_deepspeed: bool) -> None:
    """Process environment for this run; call before DeepSpeed is imported.

    - Without CUDA, DeepSpeed must be told to use its CPU accelerator (gloo collectives).
    - A single process under DeepSpeed needs the torch.distributed variables, or DeepSpeed
      tries to discover them through MPI (mpi4py), which is usually absent.
    """
    if not use_deepspeed:
        return
    if not has_cuda():
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
        _skip_deepspeed_shm_op()
    if "WORLD_SIZE" not in os.environ:
        os.environ.update({"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1",
                           "MASTER_ADDR": os.environ.get("MASTER_ADDR", "127.0.0.1"),
                           "MASTER_PORT": os.environ.get("MASTER_PORT", str(free_port()))})


def _skip_deepspeed_shm_op() -> None:
    """On CPU, DeepSpeed JIT-compiles a shared-memory all-reduce op (about 90 s on first use)
    that only its inference path uses; training collectives go through torch.distributed.
    Marking it incompatible skips the compile."""
    try:
        import deepspeed.ops

        deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False
    except Exception:  # pragma: no cover - other DeepSpeed versions
        pass
