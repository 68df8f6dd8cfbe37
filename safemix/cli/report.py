"""`safemix report RUN_DIR...`: compare eval runs in one report, or re-render one run's report."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("report", help="Compare eval runs in one report (table, sweep and trade-off plots).",
                       description="Read the results.json of each RUN_DIR and write the report into --out: "
                       "comparison.html (self-contained), comparison.md/json, sweep.md, and sweep.png, "
                       "over_refusal.png, retention.png and pareto.png. With one run and no --out, "
                       "re-render that run's report from its results.json and samples.jsonl.")
    r.add_argument("runs", nargs="+", help="Eval output folders (or their results.json).")
    r.add_argument("--out", default=None, help="Output folder for the comparison (default: ./comparison).")
    r.add_argument("--style", default="all", help="Probe style of the headline and the trade-off plots, e.g. job "
                   "(default all: every style pooled).")
    r.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from safemix.eval.report import compare_runs, load_results, write_reports
    from safemix.utils import read_jsonl

    if len(args.runs) == 1 and args.out is None:
        d = Path(args.runs[0])
        res = load_results(d)
        samples = d / "samples.jsonl"
        records = read_jsonl(samples) if samples.exists() else []
        paths = write_reports(res, records, d)
    else:
        paths = compare_runs(args.runs, args.out or "comparison", style=args.style)
    for k, v in paths.items():
        print(f"{k}: {v}")
    return 0
