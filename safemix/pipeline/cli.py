"""`safemix run RECIPE`: the whole pipeline, with an optional method x ratio sweep."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="Run every stage: profile, generate, mix, train, eval, report.",
                       description="Run a recipe end to end in one run directory. Stages are "
                       "content-addressed: a rerun skips finished stages and resumes an interrupted one.")
    p.add_argument("recipe", help="A recipe path or the name of a shipped recipe (`safemix ls`).")
    p.add_argument("overrides", nargs="*", help="Dotted key=value overrides (e.g. train.max_steps=20).")
    p.add_argument("--methods", default=None, help="Comma list overriding `methods`: none,raw,template,paraphrase,bea,raw_system,template_benign.")
    p.add_argument("--ratios", default=None, help="Comma list overriding `ratios`, e.g. 0.05,0.1.")
    p.add_argument("--out", default=None, help="Run directory (default runs/<name>).")
    p.set_defaults(func=run_cli)


def run_cli(args: argparse.Namespace) -> int:
    import contextlib

    from safemix.config import load_config
    from safemix.console import StageConsole, interactive, quiet_progress
    from safemix.eval.report import summary_table_text
    from safemix.pipeline.config import RunConfig
    from safemix.pipeline.runner import Runner
    from safemix.recipes_cli import resolve_recipe

    ov = list(args.overrides)
    if args.methods:
        ov.append(f"methods=[{args.methods}]")
    if args.ratios:
        ov.append(f"ratios=[{args.ratios}]")
    cfg = load_config(RunConfig, resolve_recipe(args.recipe), ov)
    # On a terminal each stage shows its progress bars; under a pipe or CI there are none (no
    # \r redraws or escape codes in the log), only one line per stage and the summary below.
    tty = interactive()
    runner = Runner(cfg, args.out)
    runner.console = StageConsole(total=runner.n_stages(), tty=tty)
    with contextlib.nullcontext() if tty else quiet_progress():
        summary = runner.run()
    print(f"run directory: {summary['run_dir']}")
    print(f"stages run: {len(summary['ran'])}, skipped (unchanged): {len(summary['skipped'])}, "
          f"total {summary['total_seconds']:.0f} s")
    for k, v in summary["report"].items():
        print(f"{k}: {v}")
    if summary.get("eval_dirs"):
        print("\nharmful probes refused per style, over-refusal of benign probes in the job's format, task metric:")
        print(summary_table_text(summary["eval_dirs"], summary["stage_seconds"]))
    return 0
