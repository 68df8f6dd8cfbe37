"""The run report (`compare_runs`): what a reader sees, from results.json alone."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest

from safemix.eval.report import BASE_NAME, box_inside, boxes_overlap, compare_runs, place_labels
from tests.eval.report_fixtures import BASE_MODEL, SWEEP, write_sweep


def _no_overlap(geo: dict) -> None:
    boxes = [lab["box"] for lab in geo["labels"]]
    for a, b in itertools.combinations(boxes, 2):
        assert not boxes_overlap(a, b), (a, b)
    for b in boxes:
        assert box_inside(b, geo["axes"]), (b, geo["axes"])


@pytest.fixture
def report(tmp_path) -> Path:
    dirs = write_sweep(tmp_path / "run")
    compare_runs(dirs, tmp_path / "run" / "report", style="job", title="safemix run: test")
    return tmp_path / "run" / "report"


def test_report_files_and_self_contained_html(report):
    for f in ("comparison.html", "comparison.md", "comparison.json", "sweep.md", "sweep.png", "over_refusal.png",
              "retention.png", "pareto.png"):
        assert (report / f).is_file(), f
    page = (report / "comparison.html").read_text(encoding="utf-8")
    for sec in ("headline", "sweep", "plots", "outcomes", "runs", "examples", "setup"):
        assert f"<section id='{sec}'>" in page, sec
    srcs = re.findall(r"""src=["']([^"']*)""", page)
    assert len(srcs) == 4 and all(s.startswith("data:image/png;base64,") for s in srcs)  # opens offline, from disk
    assert "<link" not in page and "http://" not in page and "https://" not in page


def test_base_first_readable_names_and_tags(report):
    page = (report / "comparison.html").read_text(encoding="utf-8")
    md = (report / "comparison.md").read_text(encoding="utf-8")
    sweep = page[page.index("<section id='sweep'>"):page.index("<section id='plots'>")]
    names = re.findall(r"<tr><td>([^<]*)</td>", sweep)
    assert names == [BASE_NAME, "none", "template-0.05", "template-0.1", "raw-0.05", "raw-0.1", "raw_system-0.1"]
    assert BASE_MODEL not in page and BASE_MODEL not in md  # the base model is named by role, by folder elsewhere
    assert "method template, ratio 0.1" in page and '{"method"' not in page and '{&quot;method' not in page
    # the per-style table carries intervals, and so does the sweep table's refusal
    assert "89 [83, 95] / 0 / 11" in sweep


def test_headline_sentences_are_computed_from_the_numbers(report):
    doc = json.loads((report / "comparison.json").read_text())
    assert doc["lead"].startswith("In the job's format, the base model refuses 88% of harmful probes, "
                                  "finetuning without safety rows leaves 0%.")
    assert "template 89% [83, 95] at 10%" in doc["lead"]
    assert len(doc["headlines"]) == 1 + len(SWEEP)
    assert doc["headlines"][0].startswith("Before finetuning, the base model refuses 88% [82, 94]")
    t10 = next(h for h in doc["headlines"] if "(template-0.1)" in h)
    assert "refuses 89% [83, 95] of harmful probes in the job's format" in t10
    assert "+1 pp vs the base model" in t10 and "without safety rows 0%" in t10
    # comparison.json keeps its table as before: runs in the order given, each base model once
    assert [r["run"] for r in doc["runs"]][:2] == ["none", f"base: {BASE_MODEL}"]
    assert {r["name"] for r in doc["runs"]} >= {BASE_NAME, "none", "template-0.1"}


def test_sweep_plot_has_every_style_and_method(report):
    doc = json.loads((report / "comparison.json").read_text())
    sweep = doc["plots"]["sweep"]
    assert sweep["styles"] == ["job", "job_heldout", "chat", "aoa"]
    assert sweep["methods"] == ["template", "raw", "raw_system"] and sweep["ratios"] == [0.0, 0.05, 0.1]
    assert doc["plots"]["over_refusal"]["styles"] == ["job", "chat"]


def test_trade_off_labels_never_overlap_or_leave_the_axes(report):
    doc = json.loads((report / "comparison.json").read_text())
    for name in ("retention", "pareto"):
        geo = doc["plots"][name]
        assert len(geo["labels"]) == 1 + len(SWEEP) and not geo["unplaced"], name
        _no_overlap(geo)


def test_labels_of_coincident_points_fan_out(tmp_path):
    """The issue's case: every point in one corner (attack success 0%, task 100%)."""
    from safemix.eval.report import _plt

    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.6), dpi=110)
    ax.set_xlim(-0.05, 1.05)
    ax.set_ylim(-0.05, 1.05)
    names = ["base (before finetuning)", "none", "raw-0.05", "raw-0.1", "raw_system-0.1", "template-0.05",
             "template-0.1", "template_benign-0.1"]
    anchors = [(0.0, 1.0)] * len(names)
    ax.scatter(*zip(*anchors, strict=True))
    fig.tight_layout()
    geo = place_labels(fig, ax, anchors, names)
    plt.close(fig)
    assert [lab["text"] for lab in geo["labels"]] == names and not geo["unplaced"]
    _no_overlap(geo)


def test_examples_are_collapsed_and_escaped(report):
    page = (report / "comparison.html").read_text(encoding="utf-8")
    ex = page[page.index("<section id='examples'>"):page.index("<section id='setup'>")]
    assert ex.count("<details>") == 1 + 2 * len(SWEEP)  # base: refused; every run: refused, other
    assert "sports &lt;b&gt;&amp;&lt;/b&gt;" in ex and "<b>&</b>" not in ex
    md = (report / "comparison.md").read_text(encoding="utf-8")
    assert "<details><summary>none: harmful probes judged <b>other</b> (3)</summary>" in md


def test_report_without_samples_or_tags(tmp_path):
    """Benchmark copies ship results.json only; runs from `safemix eval` may have no tags."""
    dirs = write_sweep(tmp_path / "run", samples=False)
    for d in dirs:
        res = json.loads((d / "results.json").read_text())
        res["tags"] = {}
        (d / "results.json").write_text(json.dumps(res))
    paths = compare_runs(dirs, tmp_path / "cmp", style="job")
    page = paths["html"].read_text(encoding="utf-8")
    assert "No samples.jsonl beside these results.json files" in page
    assert "sweep_plot" in paths  # method and ratio read from the labels


def test_report_of_runs_without_a_sweep_says_why(tmp_path):
    dirs = write_sweep(tmp_path / "run", sweep=[("a", "x", 0.1, SWEEP[1][3])])
    for d in dirs:
        res = json.loads((d / "results.json").read_text())
        res["tags"], res["label"] = {}, "my eval"
        (d / "results.json").write_text(json.dumps(res))
    paths = compare_runs(dirs, tmp_path / "cmp", style="job")
    assert "sweep_plot" not in paths and not (tmp_path / "cmp" / "sweep.png").exists()
    assert "No sweep plot: no run has a method and a mixing ratio" in paths["html"].read_text(encoding="utf-8")


def test_sweep_caption_says_where_lines_start(tmp_path, report):
    """With a `none` run every line starts at ratio 0 and the caption says so; without one (a run
    folder holding only some variants) it must not claim that."""
    md = (report / "comparison.md").read_text(encoding="utf-8")
    assert "(none), where every line starts" in md and "these runs have none" not in md
    dirs = write_sweep(tmp_path / "part", sweep=[s for s in SWEEP if s[1] != "none"])
    md = compare_runs(dirs, tmp_path / "part" / "report", style="job")["md"].read_text(encoding="utf-8")
    assert "where every line starts" not in md
    assert "these runs have none, so the lines start at their lowest ratio" in md
    doc = json.loads((tmp_path / "part" / "report" / "comparison.json").read_text())
    assert doc["plots"]["sweep"]["has_none"] is False and doc["plots"]["sweep"]["ratios"][0] == 0.0
