"""`safemix eval RECIPE` and `safemix report RUN_DIR...`."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="Evaluate task performance and safety retention of a finetuned model.",
                       description="Ask harmful probes in the job's own format, as plain chat and in attacker "
                       "styles; judge refusals; score the task on validation data; compare with the base "
                       "model. Writes results.json, samples.jsonl, report.md and report.html (with plots). "
                       "An interrupted run resumes without regenerating finished samples.")
    p.add_argument("recipe", nargs="?", default=None, help="A recipe YAML; its `eval:` section is used.")
    p.add_argument("overrides", nargs="*", help="Dotted key=value overrides of the eval config "
                   "(e.g. model=runs/x/model base_model=... judges=[keyword,llm] output_dir=runs/x/eval).")
    p.add_argument("--no-resume", action="store_true", help="Discard finished samples and start over.")
    p.set_defaults(func=run_eval)

    r = sub.add_parser("report", help="Compare eval runs in one report (table, sweep and trade-off plots).",
                       description="Read the results.json of each RUN_DIR and write the report into --out: "
                       "comparison.html (self-contained), comparison.md/json, sweep.md, and sweep.png, "
                       "over_refusal.png, retention.png and pareto.png. With one run and no --out, "
                       "re-render that run's report from its results.json and samples.jsonl.")
    r.add_argument("runs", nargs="+", help="Eval output folders (or their results.json).")
    r.add_argument("--out", default=None, help="Output folder for the comparison (default: ./comparison).")
    r.add_argument("--style", default="all", help="Probe style of the headline and the trade-off plots, e.g. job "
                   "(default all: every style pooled).")
    r.set_defaults(func=run_report)


def run_eval(args: argparse.Namespace) -> int:
    from safemix.config import load_config
    from safemix.eval.config import EvalConfig
    from safemix.eval.core import evaluate_config

    ov = list(args.overrides)
    if args.recipe and "=" in args.recipe:  # no recipe, only overrides
        ov.insert(0, args.recipe)
        args.recipe = None
    if args.no_resume:
        ov.append("resume=false")
    cfg = load_config(EvalConfig, args.recipe, ov, section="eval")
    res = evaluate_config(cfg)
    print(res.summary())
    for k, v in res.paths.items():
        print(f"{k}: {v}")
    return 0


def run_report(args: argparse.Namespace) -> int:
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
