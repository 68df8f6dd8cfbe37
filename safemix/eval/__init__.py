"""Evaluation: probes, rendering styles, judges, task metrics, retention and reports.

    from safemix.eval import evaluate
    res = evaluate("runs/x/model", base_model="base-model", job="train.jsonl",
                   validation="val.jsonl", output_dir="runs/x/eval")

Names are imported lazily so that `import safemix.eval` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "evaluate": "safemix.eval.core", "evaluate_config": "safemix.eval.core", "EvalResult": "safemix.eval.core",
    "EvalConfig": "safemix.eval.config", "ProbeSetConfig": "safemix.eval.config",
    "KeywordJudge": "safemix.eval.keyword", "Judgment": "safemix.eval.keyword",
    "get_judge": "safemix.eval.judges", "ClassifierJudge": "safemix.eval.judges", "LLMJudge": "safemix.eval.judges",
    "judge_accuracy": "safemix.eval.judges", "EmbeddingJudge": "safemix.eval.embedding_judge",
    "render_probe": "safemix.eval.render", "compare_runs": "safemix.eval.report",
    "load_builtin_probes": "safemix.eval.probes", "load_probe_file": "safemix.eval.probes",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'safemix.eval' has no attribute {name!r}")
