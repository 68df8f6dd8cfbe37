"""`safemix eval [RECIPE] [key=value ...]`: task performance and safety retention of a finetuned
model (the recipe's `eval:` section, then overrides; `eval.` prefixes are optional)."""

from __future__ import annotations

import argparse

from safemix.cli.common import add_recipe_args, config_flag


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="Evaluate task performance and safety retention of a finetuned model.",
                       description="Ask harmful probes in the job's own format, as plain chat and in attacker "
                       "styles; judge refusals; score the task on validation data; compare with the base "
                       "model. Writes results.json, samples.jsonl, report.md and report.html (with plots). "
                       "An interrupted run resumes without regenerating finished samples.")
    add_recipe_args(p, required=False, recipe_help="A recipe YAML; its `eval:` section is used.",
                    overrides_help="Dotted key=value overrides of the eval config (e.g. model=runs/x/model "
                    "base_model=... judges=[keyword,llm] output_dir=runs/x/eval).")
    config_flag(p, "resume", "--no-resume", action="store_const", const=False,
                help="Discard finished samples and start over.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from safemix.cli.common import load_verb_config
    from safemix.eval.config import EvalConfig
    from safemix.eval.core import evaluate_config

    res = evaluate_config(load_verb_config(args, EvalConfig, "eval"))
    print(res.summary())
    for k, v in res.paths.items():
        print(f"{k}: {v}")
    return 0
