"""The run report over several seeds (`seeds: [..]` in a recipe): each seed's row keeps its
bootstrap interval over probes, and each (method, ratio) adds a row with the mean over seeds
and its spread (sd, min-max) in comparison.html/.md, sweep.md, comparison.json and the plot."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from safemix.eval.report import (
    SEEDS_NOTE,
    compare_runs,
    seed_groups,
    spread,
    spread_text,
    sweep_rows,
)
from tests.eval.report_fixtures import BASE, write_run

SEEDED = [  # label, method, ratio, seed, job refusal
    ("none", "none", 0.0, 0, 0.10), ("none-s1", "none", 0.0, 1, 0.20),
    ("template-0.1", "template", 0.1, 0, 0.80), ("template-0.1-s1", "template", 0.1, 1, 0.60),
    ("template-0.1-s2", "template", 0.1, 2, 0.70),
]


def _write(root: Path) -> list[Path]:
    dirs = []
    for label, method, ratio, seed, job in SEEDED:
        d = write_run(root / "variants" / label / "eval", label, method, ratio,
                      {"job": job, "job_heldout": job / 2, "chat": 0.9, "aoa": 0.5}, BASE)
        res = json.loads((d / "results.json").read_text())
        res["tags"]["seed"] = seed
        (d / "results.json").write_text(json.dumps(res))
        dirs.append(d)
    return dirs


@pytest.fixture
def seeded(tmp_path) -> tuple[Path, list[Path]]:
    dirs = _write(tmp_path / "run")
    compare_runs(dirs, tmp_path / "run" / "report", style="job", title="seeds")
    return tmp_path / "run" / "report", dirs


def test_spread_over_seeds():
    sp = spread([0.8, 0.6, 0.7])
    assert sp["mean"] == pytest.approx(0.7) and sp["sd"] == pytest.approx(0.1)
    assert (sp["min"], sp["max"], sp["n"]) == (0.6, 0.8, 3)
    assert spread_text(sp) == "70 ± 10 (60–80)" and spread_text(sp, sd=False) == "70"
    assert spread([0.5])["sd"] is None and spread_text(spread([0.5])) == "50"


def test_groups_by_method_and_ratio(seeded):
    _, dirs = seeded
    groups = {g["name"]: g for g in seed_groups(sweep_rows(dirs))}
    assert set(groups) == {"none", "template-0.1"}
    t = groups["template-0.1"]
    assert t["seeds"] == [0, 1, 2] and t["runs"] == ["template-0.1", "template-0.1-s1", "template-0.1-s2"]
    assert t["styles"]["job"]["refusal_rate"]["mean"] == pytest.approx(0.7)
    assert (t["styles"]["job"]["refusal_rate"]["min"], t["styles"]["job"]["refusal_rate"]["max"]) == (0.6, 0.8)
    assert t["task"]["metric"] == "accuracy" and t["task"]["sd"] == pytest.approx(0.0)
    # runs without a seed tag are not grouped, even with the same method and ratio
    for d in dirs:
        res = json.loads((d / "results.json").read_text())
        res["tags"].pop("seed")
        (d / "results.json").write_text(json.dumps(res))
    assert seed_groups(sweep_rows(dirs)) == []


def test_report_shows_mean_and_spread_next_to_each_seed(seeded):
    report, _ = seeded
    page = (report / "comparison.html").read_text(encoding="utf-8")
    sweep = page[page.index("<section id='sweep'>"):page.index("<section id='plots'>")]
    names = re.findall(r"<tr><td>([^<]*)</td>", sweep)
    assert names[1:] == ["none", "none-s1", "none: mean of 2 seeds", "template-0.1", "template-0.1-s1",
                         "template-0.1-s2", "template-0.1: mean of 3 seeds"]
    assert "80 [74, 86] / 0 / 20" in sweep  # one seed: its bootstrap interval over probes
    assert "70 ± 10 (60–80) / 0 / 30" in sweep  # the seeds: mean ± sd (min-max)
    assert "seeds-note" in sweep and "min-max across seeds" in page
    md = (report / "comparison.md").read_text(encoding="utf-8")
    assert "| template-0.1: mean of 3 seeds |" in md and SEEDS_NOTE in md
    sweep_md = (report / "sweep.md").read_text(encoding="utf-8")
    assert "| template-0.1: mean of 3 seeds | accuracy 100.0 ± 0.0 | 70 ± 10 (60–80) / 0 / 30 |" in sweep_md
    assert "| none: mean of 2 seeds |" in sweep_md and SEEDS_NOTE in sweep_md
    doc = json.loads((report / "comparison.json").read_text())
    assert [g["name"] for g in doc["seed_groups"]] == ["none", "template-0.1"]
    assert doc["plots"]["sweep"]["seeded"] is True


def test_one_seed_report_has_no_seed_rows(tmp_path):
    label, method, ratio, _, job = SEEDED[2]
    d = write_run(tmp_path / "variants" / label / "eval", label, method, ratio,
                  {"job": job, "job_heldout": 0.4, "chat": 0.9, "aoa": 0.5}, BASE)
    compare_runs([d], tmp_path / "report", style="job")
    page = (tmp_path / "report" / "comparison.html").read_text(encoding="utf-8")
    assert "mean of" not in page and "seeds-note" not in page
    doc = json.loads((tmp_path / "report" / "comparison.json").read_text())
    assert doc["seed_groups"] == [] and "seeded" not in doc["plots"]["sweep"]


def test_lead_sentence_uses_the_mean_over_seeds(seeded):
    report, _ = seeded
    lead = json.loads((report / "comparison.json").read_text())["lead"]
    # the seeds of one (method, ratio) are one run in the lead: their mean ± sd (min-max), not the best seed
    assert "finetuning without safety rows leaves 15 ± 7% (10–20), mean of 2 seeds." in lead
    assert "Best refusal per method: template 70 ± 10% (60–80) at 10%, mean of 3 seeds (over-refusal 2%)." in lead
    assert "template 80%" not in lead
    assert f"**{lead}**" in (report / "comparison.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("job, expected", [
    (0.75, "template 75% [69, 81] at 5% (over-refusal 2%)"),  # an unseeded run, as before: beats the mean
    (0.65, "template 70 ± 10% (60–80) at 10%, mean of 3 seeds"),
])
def test_lead_sentence_weighs_an_unseeded_run_against_the_mean(tmp_path, job, expected):
    dirs = _write(tmp_path / "run")
    dirs.append(write_run(tmp_path / "run" / "variants" / "template-0.05" / "eval", "template-0.05", "template",
                          0.05, {"job": job, "job_heldout": 0.3, "chat": 0.9, "aoa": 0.5}, BASE))
    compare_runs(dirs, tmp_path / "report", style="job")
    assert f"Best refusal per method: {expected}" in json.loads((tmp_path / "report" / "comparison.json").read_text())["lead"]
