"""`safemix generate --data JOB --n N --out FILE [RECIPE] [key=value ...]`: safety examples in
the job's own format (the recipe's `generate:` section, then overrides, then flags)."""

from __future__ import annotations

import argparse

from safemix.cli.common import add_data_args, add_recipe_args, config_flag


def register(sub: argparse._SubParsersAction) -> None:
    from safemix.generate.registry import METHODS

    p = sub.add_parser("generate", help="Create safety examples that mimic a job's format.",
                       description="Generate safety examples for a finetuning job. Methods: template "
                       "(render seeds into the job's format), paraphrase (an LLM rewrites seeds in the "
                       "job's style), raw (plain chat turns), bea (secret-trigger system prompt); "
                       "controls: raw_system (raw rows with the job's system prompt), template_benign "
                       "(job-format rows of benign-but-sensitive requests with helpful answers, no refusals).")
    p.add_argument("--data", required=True, help="The user's job file.")
    add_data_args(p, flag=None)
    config_flag(p, "method", "--method", help=" | ".join(METHODS) + ".")
    amount = p.add_mutually_exclusive_group(required=True)
    config_flag(amount, "n", "--n", type=int, help="Number of safety examples.")
    config_flag(amount, "ratio", "--ratio", type=float, help="Safety share of the final mixed job.")
    p.add_argument("--out", required=True, help="Output file (written in the job's format); "
                   "a .provenance.jsonl sidecar and a .manifest.json go beside it.")
    config_flag(p, "seeds", "--seeds", help="'builtin' or a seed file path.")
    config_flag(p, "select", "--no-select", action="store_const", const=False,
                help="Skip embedding-based seed selection.")
    config_flag(p, "seed", "--seed", type=int, help="Random seed.")
    p.add_argument("--config", default=None, help="A recipe; its `generate` section is used.")
    add_recipe_args(p, required=False, recipe_help="A recipe (same as --config); its `generate` section is used.",
                    overrides_help="Dotted key=value overrides of the generate config "
                    "(e.g. paraphrase.backend=openai contrast_share=0.1).")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from safemix.cli.common import load_verb_config, read_job_from_args
    from safemix.generate import (
        GenerateConfig,
        check_generation_outputs,
        generate_with_report,
        write_generation,
    )

    cfg = load_verb_config(args, GenerateConfig, "generate")
    check_generation_outputs(args.data, args.out, container=args.container, seeds=cfg.seeds)
    job = read_job_from_args(args, args.data)
    res = generate_with_report(job, cfg)
    paths = write_generation(res, job, args.out)
    _print_summary(res.manifest)
    for k, v in paths.items():
        print(f"{k}: {v}")
    return 0


def _print_summary(m: dict) -> None:
    from safemix.generate.fidelity import format_fidelity

    print(f"generated {m['generated']} examples ({m['harmful']} harmful -> refusal, {m['contrast']} contrast) "
          f"with method {m['method']}")
    sd = m["seeds"]["harmful"]
    print(f"seeds: {sd['usable']} of {sd['total']} harmful seeds usable"
          + (f", dropped by reason: {sd['dropped']}" if sd["dropped"] else ""))
    other = {k: v for k, v in m["dropped"].items() if not k.startswith("seed_")}
    if other:
        print(f"dropped: {other}")
    ap = m.get("answer_prefix") or {}
    if ap.get("dropped") and ap.get("rows_with_job_prefix"):
        print(f"kept the job's answer prefix {ap['dropped']!r} before the refusal on {ap['rows_with_job_prefix']} "
              f"rows (answer_prefix={ap['mode']}: recovery examples)")
    elif ap.get("dropped"):
        print(f"left out the job's answer prefix {ap['dropped']!r} (not a neutral answer marker)")
    print(format_fidelity(m["fidelity"]))
    print("fidelity: " + ", ".join(f"{k}={v}" for k, v in m["fidelity"].items() if k not in ("score", "parts")))
    lang = m.get("language") or {}
    print(f"language: job {lang.get('job')}, rows {lang.get('rows')}"
          + (f" (seed set {lang['seed_set']})" if lang.get("seed_set") else ""))
    if lang.get("warning"):
        print(f"warning: {lang['warning']}")
