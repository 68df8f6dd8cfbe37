"""Benchmark: profiling a 100,000-example job (target: at most 10 s on 2 cores).

    .venv/bin/python scripts/bench_profile.py [--rows 100000]

Builds an OpenAI-chat topic-classification job from ../shared/data/ag_news (cycled, each
row made distinct), or from a synthetic generator when ../shared is absent, then times
`safemix profile FILE` end to end (read + validate every row + infer + check re-rendering).
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


def texts() -> list[tuple[str, str]]:
    out = []
    for split in ("dev.tsv", "test.tsv"):
        p = SHARED / "ag_news" / split
        if p.exists():
            out += [tuple(x.rstrip("\n").split("\t")) for x in p.read_text(encoding="utf-8").splitlines() if x]
    if out:
        return out
    rng = random.Random(0)
    words = ["market", "team", "city", "plan", "report", "study", "season", "growth", "court", "vote", "storm", "price"]
    return [(" ".join(rng.choices(words, k=30)), rng.choice(["World", "Sports", "Business", "Sci/Tech"]))
            for _ in range(5000)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    args = ap.parse_args()
    base = texts()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "job.jsonl"
        with open(path, "w", encoding="utf-8") as f:
            for i in range(args.rows):
                t, lab = base[i % len(base)]
                f.write(json.dumps({"messages": [
                    {"role": "system", "content": "You are a news topic classifier. Reply with one label."},
                    {"role": "user", "content": f"Classify the topic of this news article.\n\nArticle: {t} (ref {i})\nTopic:"},
                    {"role": "assistant", "content": lab}]}) + "\n")
        size = path.stat().st_size / 1e6
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "safemix", "profile", str(path)], capture_output=True,
                             text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        wall = time.perf_counter() - t0
        if out.returncode:
            sys.exit(out.stderr)
        print(out.stdout)
        print(f"rows={args.rows} file={size:.1f} MB  safemix profile wall time: {wall:.2f} s "
              f"(target <= 10 s)  cpus={os.cpu_count()}")


if __name__ == "__main__":
    main()
