"""Evaluator benchmarks: judge agreement and speed, end-to-end eval time, a real small model.

    python scripts/bench_eval.py judge                 # keyword judge vs the labelled sets, responses/s
    python scripts/bench_eval.py tiny                  # tiny random model end to end; batch 1 vs 16
    python scripts/bench_eval.py smollm2 --harmful 28  # SmolLM2-135M-Instruct (GGUF) on CPU, real refusals

`smollm2` needs the GGUF (`python scripts/fetch_smollm2.py`); it prints the rates and where the
samples are, so that the keyword judge's verdicts on real outputs can be read by hand.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def bench_judge(repeat: int) -> None:
    from safemix.eval.keyword import KeywordJudge

    judge = KeywordJudge()
    for name in ("judge_labels.jsonl", "judge_labels_dev2.jsonl"):
        rows = [json.loads(x) for x in (REPO / "tests" / "data" / name).read_text().splitlines() if x.strip()]
        wrong = [r["id"] for r in rows if judge.judge_one(r["request"], r["response"], r.get("labels")).outcome != r["label"]]
        print(f"{name}: agreement {1 - len(wrong) / len(rows):.3f} ({len(rows) - len(wrong)}/{len(rows)}); "
              f"disagreements {wrong}")
    rows = [json.loads(x) for x in (REPO / "tests" / "data" / "judge_labels.jsonl").read_text().splitlines()]
    t0 = time.perf_counter()
    for _ in range(repeat):
        for r in rows:
            judge.judge_one(r["request"], r["response"], r.get("labels"))
    dt = time.perf_counter() - t0
    print(f"keyword judge: {repeat * len(rows) / dt:,.0f} responses/s ({repeat * len(rows)} in {dt:.2f} s)")


def bench_tiny(harmful: int, benign: int, max_new_tokens: int) -> None:
    from safemix import evaluate
    from safemix.testing import save_tiny_model

    with tempfile.TemporaryDirectory() as tmp:
        model = save_tiny_model(Path(tmp) / "tiny")
        for bs in (1, 16):
            t0 = time.perf_counter()
            res = evaluate(str(model), job=str(REPO / "tests/fixtures/topic_chat.jsonl"),
                           validation=str(REPO / "tests/fixtures/topic_chat.jsonl"), n_validation=16,
                           probes=[{"source": "builtin", "kind": "harmful", "limit": harmful},
                                   {"source": "builtin", "kind": "benign", "limit": benign}],
                           max_new_tokens=max_new_tokens, batch_size=bs, bootstrap=1000,
                           output_dir=str(Path(tmp) / f"eval_bs{bs}"))
            dt = time.perf_counter() - t0
            g = res.results["generation"]["model"]
            n = res.results["counts"]["samples"]
            print(f"batch_size {bs:>2}: {n} samples in {dt:.1f} s wall; generation {g['elapsed_s']:.1f} s "
                  f"({n / max(g['elapsed_s'], 1e-9):.1f} prompts/s, {g['completion_tokens']} new tokens)")


def bench_smollm2(harmful: int, benign: int, max_new_tokens: int, out: str, styles: list[str]) -> None:
    from safemix import evaluate
    from safemix.llm import smollm2_path

    gguf = smollm2_path(download=False)
    if gguf is None:
        raise SystemExit("SmolLM2 GGUF not found: run python scripts/fetch_smollm2.py first")
    t0 = time.perf_counter()
    res = evaluate(str(gguf), job=str(REPO / "tests/fixtures/topic_chat.jsonl"), styles=styles,
                   probes=[{"source": "builtin", "kind": "harmful", "limit": harmful},
                           {"source": "builtin", "kind": "benign", "limit": benign}],
                   max_new_tokens=max_new_tokens, batch_size=16, output_dir=out, label="smollm2-135m")
    print(res.summary())
    g = res.results["generation"].get("model")
    if g:
        print(f"generation {g['elapsed_s']:.1f} s for {g['completed']} prompts, {g['completion_tokens']} new tokens")
    print(f"wall {time.perf_counter() - t0:.1f} s; samples: {res.paths['samples']}; report: {res.paths['report_html']}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["judge", "tiny", "smollm2"])
    p.add_argument("--repeat", type=int, default=50, help="judge: passes over the labelled set")
    p.add_argument("--harmful", type=int, default=28, help="harmful probes (spread over categories)")
    p.add_argument("--benign", type=int, default=14, help="benign probes")
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--styles", default="job,chat,aoa,job_aoa")
    p.add_argument("--out", default="runs/bench_eval_smollm2")
    a = p.parse_args()
    if a.what == "judge":
        bench_judge(a.repeat)
    elif a.what == "tiny":
        bench_tiny(a.harmful, a.benign, a.max_new_tokens)
    else:
        bench_smollm2(a.harmful, a.benign, a.max_new_tokens, a.out, a.styles.split(","))


if __name__ == "__main__":
    main()
