"""`safemix run` end to end on the micro testbed: every stage, the report, and resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import kill_when

from safemix.cli import main

REPO = Path(__file__).resolve().parents[2]

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
def test_run_pipeline_report_and_resume(tmp_path, micro_tb, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.format(tb=micro_tb))
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


@pytest.mark.integration
def test_killed_run_resumes_at_the_stage_it_was_in(tmp_path, micro_tb):
    """SIGKILL `safemix run` while a variant trains; the rerun skips the finished stages and
    the training stage continues from its last checkpoint."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.format(tb=micro_tb).replace("max_steps: 3", "max_steps: 400")
                      .replace("save_steps: 2", "save_steps: 10")
                      .replace("methods: [none, template]", "methods: [none]"))
    out = tmp_path / "run"
    train = out / "variants/none/train"
    kill_when(["run", str(recipe), "--out", str(out)], (train / "checkpoint-20" / "trainer_state.json").exists,
              "a training checkpoint")
    assert not (train / "stage_manifest.json").exists(), "training finished before the kill"
    assert (out / "profile/stage_manifest.json").exists()

    assert main(["run", str(recipe), "--out", str(out)]) == 0
    summary = json.loads((out / "run_summary.json").read_text())
    assert summary["skipped"] == ["profile"]
    assert summary["ran"] == ["variants/none/train", "variants/none/eval"]
    manifest = json.loads((train / "model/manifest.json").read_text())
    assert manifest["global_step"] == 400
    assert int(Path(manifest["resumed_from"]).name.split("-")[1]) >= 20

    # as if killed after its last checkpoint (started, never finished), then rerun with another
    # training config: the stale checkpoints are not resumed from, the stage starts clean
    key = json.loads((train / "stage_manifest.json").read_text())["key"]
    (train / "stage_manifest.json").unlink()
    (train / "stage_started.json").write_text(json.dumps({"name": "train", "key": key}))
    assert main(["run", str(recipe), "--out", str(out), "train.learning_rate=0.002"]) == 0
    assert json.loads((train / "model/manifest.json").read_text()).get("resumed_from") is None
