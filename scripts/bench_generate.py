"""Benchmark: `template` generation with embedding-based seed selection, 10,000 safety
examples for a 100,000-example job (target: at most 60 s on 2 cores).

    .venv/bin/python scripts/bench_generate.py [--rows 100000] [--n 10000]

The job is GSM8K-style prompt/completion built from ../shared/data/gsm8k (cycled, each
row distinct) or synthetic when ../shared is absent. Timed end to end through the CLI
(read + profile + select + render + validate + fidelity + write).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def questions() -> list[tuple[str, str]]:
    p = SHARED / "gsm8k" / "train.jsonl"
    if p.exists():
        return [(r["question"], r["answer"]) for r in map(json.loads, p.read_text().splitlines())]
    rng = random.Random(0)
    return [(f"Tom has {a} apples and buys {b} more bags of {c}. How many apples now?", f"{a}+{b*c}\n#### {a+b*c}")
            for a, b, c in ((rng.randint(1, 99), rng.randint(1, 9), rng.randint(2, 12)) for _ in range(5000))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--n", type=int, default=10_000)
    args = ap.parse_args()
    qs = questions()
    with tempfile.TemporaryDirectory() as d:
        job = Path(d) / "job.jsonl"
        with open(job, "w") as f:
            for i in range(args.rows):
                q, a = qs[i % len(qs)]
                f.write(json.dumps({"prompt": f"Question: {q} (#{i})\nAnswer:", "completion": " " + a}) + "\n")
        out = Path(d) / "safety.jsonl"
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "safemix", "generate", "--data", str(job), "--method", "template",
                            "--n", str(args.n), "--out", str(out)], capture_output=True, text=True,
                           env={**os.environ, "HF_HUB_OFFLINE": "1"})
        wall = time.perf_counter() - t0
        if r.returncode:
            sys.exit(r.stderr)
        print(r.stdout)
        man = json.loads((Path(d) / "safety.manifest.json").read_text())
        print(f"job rows={args.rows}  generated={man['generated']}  selection={man['selection']['enabled']}  "
              f"wall time: {wall:.1f} s (target <= 60 s)  cpus={os.cpu_count()}")


if __name__ == "__main__":
    main()
