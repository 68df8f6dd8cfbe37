"""What `safemix run` prints: under a pipe or CI one line per stage and a summary table, no
progress bars or escape codes, no library deprecation warnings; on a terminal, progress."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from safemix.console import StageConsole, interactive, quiet_progress
from tests.pipeline.test_run import RECIPE

REPO = Path(__file__).resolve().parents[2]
STAGES = ["profile", "variants/none/train", "variants/none/eval", "variants/template-0.1/generate",
          "variants/template-0.1/mix", "variants/template-0.1/train", "variants/template-0.1/eval", "report"]


@pytest.mark.integration
def test_run_under_a_pipe_prints_one_line_per_stage(tmp_path, micro_tb):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.format(tb=micro_tb).replace("show_progress: false", "show_progress: true"))
    env = {k: v for k, v in os.environ.items() if k not in ("SAFEMIX_PROGRESS", "CI")}
    env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", PYTHONWARNINGS="default")
    cmd = [sys.executable, "-m", "safemix", "run", str(recipe), "--out", str(tmp_path / "run")]
    p = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    for stream in (p.stdout, p.stderr):
        assert "\x1b[" not in stream and "\r" not in stream
    lines = p.stdout.splitlines()
    for label in STAGES:
        hits = [x for x in lines if f"] {label}: " in x]
        assert len(hits) == 1 and "done in" in hits[0], (label, hits)
    assert lines[0].startswith("[1/8] profile: done in") and lines[7].startswith("[8/8] report: done in")
    assert "{'loss'" not in p.stdout  # the trainer's per-step dicts stay in metrics.jsonl
    assert "FutureWarning" not in p.stderr and "Setting accelerator to CPU" not in p.stdout + p.stderr
    # the summary table: base first, then each variant with its time
    head = next(i for i, x in enumerate(lines) if x.startswith("run ") and "job refused" in x)
    assert lines[head + 2].startswith("base (before finetuning)")
    assert lines[head + 3].startswith("none") and lines[head + 4].startswith("template-0.1")

    # a rerun: every stage skipped, still one line each
    p = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0
    assert sum("skipped (inputs and config unchanged)" in x for x in p.stdout.splitlines()) == 7


def test_terminal_detection_and_overrides(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    for k in ("SAFEMIX_PROGRESS", "CI", "TERM"):
        monkeypatch.delenv(k, raising=False)
    assert interactive(Tty(), Tty())
    assert not interactive(io.StringIO(), Tty()) and not interactive(Tty(), io.StringIO())
    monkeypatch.setenv("CI", "true")
    assert not interactive(Tty(), Tty())
    monkeypatch.setenv("SAFEMIX_PROGRESS", "1")
    assert interactive(io.StringIO(), io.StringIO())
    monkeypatch.setenv("SAFEMIX_PROGRESS", "0")
    monkeypatch.delenv("CI")
    assert not interactive(Tty(), Tty())


def test_stage_lines_on_a_terminal_and_off_it():
    out = io.StringIO()
    c = StageConsole(total=2, out=out, tty=True)
    c.start("profile")
    c.done("profile", 0.25)
    c.skipped("variants/none/train")
    assert out.getvalue().splitlines() == ["[1/2] profile ...", "[1/2] profile: done in 0.2 s",
                                           "[2/2] variants/none/train: skipped (inputs and config unchanged)"]
    out = io.StringIO()
    c = StageConsole(total=1, out=out, tty=False)
    c.start("report")
    c.done("report", 75)
    assert out.getvalue() == "[1/1] report: done in 1 min 15 s\n"


def test_quiet_progress_switches_library_bars_off_and_back():
    from safemix.console import progress_enabled

    tlog = pytest.importorskip("transformers.utils.logging")
    assert tlog.is_progress_bar_enabled() and progress_enabled()
    with quiet_progress():
        assert not tlog.is_progress_bar_enabled() and not progress_enabled()
    assert tlog.is_progress_bar_enabled() and progress_enabled()
