"""`safemix run RECIPE [key=value ...]`: the whole pipeline, with an optional method x ratio sweep."""

from __future__ import annotations

import argparse

from safemix.cli.common import add_recipe_args, config_flag


def _comma_list(text: str) -> list | None:
    """--methods/--ratios: `a,b` -> [a, b] (items read as YAML); empty: not given."""
    import yaml

    if not text:
        return None
    try:
        return yaml.safe_load(f"[{text}]")
    except yaml.YAMLError:
        return f"[{text}]"  # the config check names the field and what it expected


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="Run every stage: profile, generate, mix, train, eval, report.",
                       description="Run a recipe end to end in one run directory. Stages are "
                       "content-addressed: a rerun skips finished stages and resumes an interrupted one.")
    add_recipe_args(p, required=True, recipe_help="A recipe path or the name of a shipped recipe (`safemix ls`).",
                    overrides_help="Dotted key=value overrides (e.g. train.max_steps=20).")
    config_flag(p, "methods", "--methods", type=_comma_list, help="Comma list overriding `methods`: "
                "none,raw,template,paraphrase,bea,raw_system,template_benign.")
    config_flag(p, "ratios", "--ratios", type=_comma_list, help="Comma list overriding `ratios`, e.g. 0.05,0.1.")
    p.add_argument("--out", default=None, help="Run directory (default runs/<name>).")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import contextlib

    from safemix.cli.common import load_verb_config
    from safemix.console import StageConsole, interactive, quiet_progress
    from safemix.eval.report import summary_table_text
    from safemix.pipeline.config import RunConfig
    from safemix.pipeline.runner import Runner

    cfg = load_verb_config(args, RunConfig)
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
