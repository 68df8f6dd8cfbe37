"""scripts/ablation_table.py: the 'changed' column is read from the runs' configs."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import load_script


def _load():
    return load_script("ablation_table")


def _run(d: Path, cfg: dict, refusal: float) -> None:
    ci = {"mean": refusal, "low": refusal - 0.1, "high": refusal + 0.1, "n": 100}
    res = {"metrics": {"model": {"safety": {"job": {"refusal_rate": ci}}, "over_refusal": {"job": ci},
                                 "task": {"mean": 0.7, "low": 0.6, "high": 0.8, "n": 100}}}}
    (d / "variants" / "template-0.1").mkdir(parents=True)
    (d / "run_config.json").write_text(json.dumps(cfg))
    (d / "variants" / "template-0.1" / "results.json").write_text(json.dumps(res))


def test_changed_column_is_the_config_diff(tmp_path):
    mod = _load()
    ref = {"generate": {"contrast_share": 0.2}, "mix": {"strategy": "spread"}, "train": {"n_epochs": 2.0}}
    abl = {"generate": {"contrast_share": 0.2, "answer_prefix": "drop"}, "mix": {"strategy": "spread"},
           "train": {"n_epochs": 3.0, "output_dir": "elsewhere"}}
    assert mod.changed(ref, abl) == "train.n_epochs=3.0"  # a newer key at its default is no change
    abl["generate"]["answer_prefix"] = "keep"
    assert mod.changed(ref, abl) == "generate.answer_prefix=keep, train.n_epochs=3.0"
    _run(tmp_path / "ref", ref, 0.65)
    _run(tmp_path / "ep3", abl, 0.87)
    lines = mod.rows(tmp_path / "ref", [tmp_path / "ep3"])
    assert "| ref | template-0.1 | reference | 65 [55, 75] |" in lines[2]
    assert lines[3].startswith("| ep3 | template-0.1 | generate.answer_prefix=keep, train.n_epochs=3.0 | 87 [77, 97] |")
    assert mod.main([str(tmp_path / "missing")]) == 2
