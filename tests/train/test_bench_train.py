"""scripts/bench_train.py: the bare PyTorch loop trains what `safemix train` trains."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_train.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_train", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.integration
def test_bare_side_matches_safemix(bench, tmp_path):
    out = tmp_path / "bench.json"
    assert bench.main(["--sides", "bare,safemix", "--hidden", "64", "--layers", "2", "--examples", "16",
                       "--batch", "4", "--seq-len", "96", "--steps", "2", "--repeats", "1", "--threads", "1",
                       "--out", str(out)]) == 0
    s = json.loads(out.read_text())
    assert set(s["median_tokens_per_s"]) == {"bare", "safemix"}
    assert s["ratio_safemix_vs_bare"] > 0 and s["step_time_ratio_bare_over_safemix"] > 0
    assert "ratio_safemix_over_plain" not in s
    [bare], [safemix] = s["runs"]["bare"], s["runs"]["safemix"]
    assert len(bare["losses"]) == len(bare["step_s"]) == len(bare["step_tokens"]) == 2
    assert all(math.isfinite(x) and x > 0 for x in bare["losses"])
    assert bare["tokens"] == sum(bare["step_tokens"]) > 0 and bare["loop_s"] > 0
    assert all(4 * 60 <= n <= 4 * 96 for n in bare["step_tokens"])  # 4 examples of ~72-93 tokens
    # Same tokenized examples and label masks as the trainer trained on, same batches, and the
    # same loss curve (same initial weights, LoRA init, optimizer and schedule).
    assert bare["dataset_sha256"] == safemix["dataset_sha256"]
    assert s["checks"] == {"labels_match": True, "step_tokens_match": True,
                           "max_loss_diff": pytest.approx(0, abs=1e-3)}
    assert bare["tokens"] == safemix["tokens"]


def test_seq_len_sizes_the_examples(bench, tmp_path):
    from safemix.testing import tiny_tokenizer

    tok = tiny_tokenizer()
    rows = bench.make_job(tmp_path / "job.jsonl", 12, tok, 96)
    lengths = [len(tok(tok.apply_chat_template(r["messages"], tokenize=False), add_special_tokens=False)["input_ids"])
               for r in rows]
    assert all(70 <= n <= 96 for n in lengths), lengths
    assert len((tmp_path / "job.jsonl").read_text().splitlines()) == 12


def test_sides_are_checked(bench):
    with pytest.raises(SystemExit):
        bench.main(["--sides", "bare,nope"])
