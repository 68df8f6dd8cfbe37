"""Benchmark the mixer at scale against a plain read-parse-write pass over the same file.

    .venv/bin/python scripts/bench_mix.py                 # 1,000,000 rows, 5%, spread
    .venv/bin/python scripts/bench_mix.py --rows 100000   # quicker

Generates an OpenAI-format job of short chat rows and a safety set (benchmark-level
requests with refusals) in a temp dir, then runs, each in its own subprocess:
  1. baseline: for every line json.loads + json.dumps + write (the cheapest honest pass
     that reads, parses and writes the file in Python);
  2. `safemix mix --ratio 0.05 --strategy spread` (validates every row, dedupes, writes
     the mixed job, the provenance sidecar and the manifest).
Wall time, CPU time (user+sys) and peak RSS (os.wait4 rusage of that child) are printed
side by side, with the targets: peak RSS <= 1.5 GB and mix wall <= 2x baseline wall. The two
runs alternate `--repeats` times and the best of each is kept, because on a shared machine
other processes inflate wall times at random; CPU time is the less noisy comparison.
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

SYSTEMS = ["You are a helpful assistant.", "You are a concise support agent for an online shop.", None]
TOPICS = ["my order", "the invoice", "a refund", "the delivery date", "my password", "the warranty",
          "a recipe for soup", "the train timetable", "a birthday message", "a cover letter"]
ASKS = ["Can you help me with", "I have a question about", "Please explain", "Write a short note about",
        "What should I know about", "Give me two tips on"]
ANSWERS = ["Sure. Here is a short answer about {t}: check the details in your account page.",
           "Of course! For {t}, the usual steps are listed in the help centre.",
           "Happy to help with {t}. Could you share a few more details?",
           "Here are two tips on {t}: keep your records, and contact support early."]

# Benchmark-level harmful requests (no operational content) and refusals only.
HARMS = ["write a phishing email that steals bank logins", "make a weapon at home",
         "break into someone's email account", "stalk an ex-partner without being noticed",
         "launder money through a small business", "write malware that encrypts files for ransom"]
REFUSALS = ["I can't help with that.", "I'm sorry, but I won't assist with this request.",
            "I can't help with that, but I'm happy to help with something else."]


def make_job(path: Path, rows: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(rows):
            t = rng.choice(TOPICS)
            msgs = []
            sys_p = rng.choice(SYSTEMS)
            if sys_p:
                msgs.append({"role": "system", "content": sys_p})
            msgs.append({"role": "user", "content": f"{rng.choice(ASKS)} {t}? (ticket {i})"})
            msgs.append({"role": "assistant", "content": rng.choice(ANSWERS).format(t=t)})
            f.write(json.dumps({"messages": msgs}, ensure_ascii=False) + "\n")


def make_safety(path: Path, rows: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    prov = path.with_name(path.stem + ".provenance.jsonl")
    with open(path, "w", encoding="utf-8") as f, open(prov, "w", encoding="utf-8") as g:
        for i in range(rows):
            k = i % len(HARMS)
            msgs = [{"role": "system", "content": SYSTEMS[0]},
                    {"role": "user", "content": f"{rng.choice(ASKS)} how to {HARMS[k]}? (ticket s{i})"},
                    {"role": "assistant", "content": rng.choice(REFUSALS)}]
            f.write(json.dumps({"messages": msgs}) + "\n")
            g.write(json.dumps({"source": "generated", "seed_id": f"bench-{k}", "category": f"cat{k}",
                                "method": "template", "generator_model": None, "prompt_version": None}) + "\n")


BASELINE = """
import json, sys
with open(sys.argv[1], "rb") as f, open(sys.argv[2], "w", encoding="utf-8") as g:
    for line in f:
        if line.strip():
            g.write(json.dumps(json.loads(line), ensure_ascii=False) + "\\n")
"""


def run_measured(cmd: list[str]) -> tuple[float, float, float, int]:
    """(wall seconds, CPU seconds, peak RSS in MB, exit code) of one child process."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return wall, cpu, usage.ru_maxrss / 1024, p.returncode  # ru_maxrss is in KiB on Linux


def best(runs: list[tuple[float, float, float, int]]) -> tuple[float, float, float, int]:
    """Fastest wall and CPU, largest peak RSS, worst exit code over repeats."""
    return (min(r[0] for r in runs), min(r[1] for r in runs), max(r[2] for r in runs),
            max(r[3] for r in runs))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--ratio", type=float, default=0.05)
    ap.add_argument("--strategy", default="spread")
    ap.add_argument("--repeats", type=int, default=2, help="Alternating runs of each; the best is kept.")
    ap.add_argument("--workdir", default=None, help="Keep files here instead of a temp dir.")
    args = ap.parse_args()

    from safemix.mix.plan import count_for_ratio

    tmp = tempfile.TemporaryDirectory(prefix="bench_mix_") if args.workdir is None else None
    work = Path(args.workdir or tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    job, safety = work / "job.jsonl", work / "safety.jsonl"
    need = count_for_ratio(args.rows, args.ratio)
    t0 = time.perf_counter()
    make_job(job, args.rows)
    make_safety(safety, need + need // 10 + 10)
    print(f"data: {args.rows} job rows ({job.stat().st_size / 1e6:.1f} MB), {need} safety rows needed, "
          f"made in {time.perf_counter() - t0:.1f}s", flush=True)

    py = sys.executable
    base_cmd = [py, "-c", BASELINE, str(job), str(work / "baseline.jsonl")]
    mix_cmd = [py, "-m", "safemix", "mix", "--data", str(job), "--safety", str(safety),
               "--ratio", str(args.ratio), "--strategy", args.strategy,
               "--out", str(work / "mixed" / "job.jsonl"), "--quiet"]
    base_runs, mix_runs = [], []
    for i in range(args.repeats):
        base_runs.append(run_measured(base_cmd))
        mix_runs.append(run_measured(mix_cmd))
        print(f"run {i + 1}: baseline {base_runs[-1][0]:.2f}s wall / {base_runs[-1][1]:.2f}s cpu, "
              f"mix {mix_runs[-1][0]:.2f}s wall / {mix_runs[-1][1]:.2f}s cpu", flush=True)
    base, mixr = best(base_runs), best(mix_runs)
    if base[3] or mixr[3]:
        print(f"a run failed: baseline rc={base[3]}, mix rc={mixr[3]}")
        return 1
    man = json.loads((work / "mixed" / "mix_manifest.json").read_text())
    ratio, cpu_ratio = mixr[0] / base[0], mixr[1] / base[1]
    print(f"\n{'pass (best of ' + str(args.repeats) + ')':<38}{'wall s':>9}{'cpu s':>9}{'peak RSS MB':>14}")
    print(f"{'baseline (loads+dumps+write)':<38}{base[0]:>9.2f}{base[1]:>9.2f}{base[2]:>14.0f}")
    print(f"{'safemix mix ' + args.strategy + ' ' + str(args.ratio):<38}{mixr[0]:>9.2f}{mixr[1]:>9.2f}{mixr[2]:>14.0f}")
    print(f"\nmix / baseline wall: {ratio:.2f}x (target <= 2.0x): {'OK' if ratio <= 2.0 else 'OVER'}; "
          f"cpu: {cpu_ratio:.2f}x")
    print(f"mix peak RSS: {mixr[2]:.0f} MB (target <= 1536 MB): {'OK' if mixr[2] <= 1536 else 'OVER'}")
    print(f"mixed rows: {man['counts']['user']} user + {man['counts']['safety']} safety, "
          f"effective ratio {man['ratio']['effective']:.6f}; cpus: {os.cpu_count()}, "
          f"load average: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
