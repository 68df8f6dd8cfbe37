"""`safemix run` end to end on the micro testbed: every stage, the report, and resume."""

from __future__ import annotations

import json

import pytest

from safemix.cli import main

RECIPE = """
name: it
methods: [none, template]
ratios: [0.1]
testbed: {{name: micro, out: {tb}}}
train: {{method: full, max_steps: 3, per_device_batch_size: 8, save_steps: 2, max_seq_length: 320, show_progress: false}}
eval:
  n_validation: 8
  max_new_tokens: 8
  batch_size: 32
  bootstrap: 20
  styles: [job, chat]
  probes: [{{source: builtin, kind: harmful, limit: 6}}, {{source: builtin, kind: benign, limit: 4}}]
"""


@pytest.mark.integration
def test_run_pipeline_report_and_resume(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.format(tb=tmp_path / "tb"))
    out = tmp_path / "run"
    assert main(["run", str(recipe), "--out", str(out)]) == 0
    summary = json.loads((out / "run_summary.json").read_text())
    assert summary["variants"] == ["none", "template-0.1"]
    assert set(summary["ran"]) == {"profile", "variants/none/train", "variants/none/eval",
                                   "variants/template-0.1/generate", "variants/template-0.1/mix",
                                   "variants/template-0.1/train", "variants/template-0.1/eval"}
    for f in ["profile/profile.json", "variants/template-0.1/generate/safety.jsonl",
              "variants/template-0.1/mix/train.jsonl", "variants/template-0.1/mix/mix_manifest.json",
              "variants/none/eval/results.json", "report/comparison.md", "report/comparison.html",
              "report/sweep.md", "report/retention.png",
              "report/pareto.png"]:
        assert (out / f).exists(), f
    html = (out / "report" / "comparison.html").read_text()
    assert "none" in html and "template-0.1" in html and "data:image/png;base64" in html
    # the base model's answers were generated once and reused by the second variant's eval
    base = [json.loads(x) for x in (out / "base_samples.jsonl").read_text().splitlines()]
    assert base and all(r["role"] == "base" for r in base)

    # a rerun skips every finished stage
    assert main(["run", str(recipe), "--out", str(out)]) == 0
    again = json.loads((out / "run_summary.json").read_text())
    assert again["ran"] == [] and len(again["skipped"]) == 7

    # a run killed during the last eval (no stage manifest) redoes only that stage
    (out / "variants/template-0.1/eval/stage_manifest.json").unlink()
    assert main(["run", str(recipe), "--out", str(out)]) == 0
    assert json.loads((out / "run_summary.json").read_text())["ran"] == ["variants/template-0.1/eval"]

    # a changed config reruns the stages that depend on it, and only those
    assert main(["run", str(recipe), "--out", str(out), "eval.max_new_tokens=6"]) == 0
    ran = json.loads((out / "run_summary.json").read_text())["ran"]
    assert ran == ["variants/none/eval", "variants/template-0.1/eval"]


def test_bad_recipe_values(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: x\nmethods: [none, tempalte]\n")
    assert main(["run", str(recipe)]) == 2
    assert "did you mean 'template'" in capsys.readouterr().err
    recipe.write_text("name: x\nratios: [1.5]\n")
    assert main(["validate", str(recipe)]) == 2
    assert "ratios must be in (0, 1)" in capsys.readouterr().err
