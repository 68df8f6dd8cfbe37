"""scripts/sweep_range.py: min-max per cell over run folders (the README's quickstart ranges)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import load_script


def _load():
    return load_script("sweep_range")


def _m(refused: float, complied: float, orr: float) -> dict:
    c = lambda v: {"mean": v, "low": v, "high": v, "n": 100}  # noqa: E731
    return {"safety": {"job": {"refusal_rate": c(refused), "attack_success_rate": c(complied),
                               "other_rate": c(1 - refused - complied)}},
            "over_refusal": {"job": c(orr)}}


def _run(d: Path, base: float, tmpl: float) -> Path:
    for v, m in (("none", _m(0.0, 0.5, 0.0)), ("template-0.1", _m(tmpl, 0.0, 0.1))):
        (d / "variants" / v / "eval").mkdir(parents=True)
        (d / "variants" / v / "eval" / "results.json").write_text(
            json.dumps({"metrics": {"model": m, "base": _m(base, 0.0, 0.0)}}))
    (d / "run_summary.json").write_text(json.dumps({"variants": ["none", "template-0.1"]}))
    return d


def test_ranges_over_runs(tmp_path):
    mod = _load()
    runs = [_run(tmp_path / "a", 0.74, 0.89), _run(tmp_path / "b", 0.88, 0.65), _run(tmp_path / "c", 0.80, 0.70)]
    lines = mod.table(runs, ("job",))
    assert lines[0] == "| model (3 runs) | job refused | job complied | job other | job OR |"
    assert lines[2] == "| base | 74-88 | 0 | 12-26 | 0 |"  # base first
    assert lines[3] == "| none | 0 | 50 | 50 | 0 |"
    assert lines[4] == "| template-0.1 | 65-89 | 0 | 11-35 | 10 |"
    assert mod.main([str(tmp_path / "nothing")]) == 2


def test_kinds_select_cells(tmp_path, capsys):
    mod = _load()
    runs = [_run(tmp_path / "a", 0.74, 0.89), _run(tmp_path / "b", 0.88, 0.65)]
    assert mod.table(runs, ("job",), ("refused", "OR"))[0] == "| model (2 runs) | job refused | job OR |"
    assert mod.main([str(tmp_path / "a"), str(tmp_path / "b"), "--styles", "job", "--kinds", "refused"]) == 0
    assert capsys.readouterr().out.splitlines()[2] == "| base | 74-88 |"
    assert mod.main([str(tmp_path / "a"), "--kinds", "refusd"]) == 2


def test_committed_copies_read_like_runs(tmp_path):
    """scripts/collect_benchmark.py keeps variants/V/results.json (no eval/): same table."""
    mod = _load()
    run = _run(tmp_path / "a", 0.74, 0.89)
    copy = tmp_path / "copy"
    for v in ("none", "template-0.1"):
        (copy / "variants" / v).mkdir(parents=True)
        (copy / "variants" / v / "results.json").write_bytes((run / "variants" / v / "eval" / "results.json").read_bytes())
    (copy / "run_summary.json").write_bytes((run / "run_summary.json").read_bytes())
    assert mod.table([copy], ("job",)) == mod.table([run], ("job",))
