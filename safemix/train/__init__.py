"""Training: TRL SFTTrainer + PEFT + DeepSpeed ZeRO, with verified loss masking.

    from safemix.train import TrainConfig, build_trainer, run_training, SafetyRetentionCallback

Names are imported lazily so that `import safemix.train` (and `safemix --help`) stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TrainConfig": "safemix.train.config",
    "ProbeConfig": "safemix.train.config",
    "build_trainer": "safemix.train.trainer",
    "run_training": "safemix.train.trainer",
    "SafetyRetentionCallback": "safemix.train.callbacks",
    "JsonlMetricsCallback": "safemix.train.callbacks",
    "is_refusal": "safemix.train.callbacks",
    "resolve_deepspeed": "safemix.train.distributed",
    "deepspeed_presets": "safemix.train.distributed",
    "launch_command": "safemix.train.launch",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'safemix.train' has no attribute {name!r}")
