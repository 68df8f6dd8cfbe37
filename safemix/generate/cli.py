"""`safemix generate`: safety examples in the job's own format."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from safemix.formats.cli import add_data_args
    from safemix.generate.registry import METHODS

    p = sub.add_parser("generate", help="Create safety examples that mimic a job's format.",
                       description="Generate safety examples for a finetuning job. Methods: template "
                       "(render seeds into the job's format), paraphrase (an LLM rewrites seeds in the "
                       "job's style), raw (plain chat turns), bea (secret-trigger system prompt); "
                       "controls: raw_system (raw rows with the job's system prompt), template_benign "
                       "(job-format rows of benign-but-sensitive requests with helpful answers, no refusals).")
    p.add_argument("--data", required=True, help="The user's job file.")
    add_data_args(p, flag=None)
    p.add_argument("--method", default="template", help=" | ".join(METHODS) + ".")
    amount = p.add_mutually_exclusive_group(required=True)
    amount.add_argument("--n", type=int, help="Number of safety examples.")
    amount.add_argument("--ratio", type=float, help="Safety share of the final mixed job.")
    p.add_argument("--out", required=True, help="Output file (written in the job's format); "
                   "a .provenance.jsonl sidecar and a .manifest.json go beside it.")
    p.add_argument("--seeds", default="builtin", help="'builtin' or a seed file path.")
    p.add_argument("--no-select", action="store_true", help="Skip embedding-based seed selection.")
    p.add_argument("--seed", type=int, default=0, help="Random seed.")
    p.add_argument("--config", default=None, help="A recipe; its `generate` section is used.")
    p.add_argument("overrides", nargs="*", help="Dotted key=value overrides of the generate config "
                   "(e.g. paraphrase.backend=openai contrast_share=0.1).")
    p.set_defaults(func=run_generate)


def run_generate(args: argparse.Namespace) -> int:
    from safemix.config import load_config
    from safemix.formats.cli import read_job_from_args
    from safemix.generate import (
        GenerateConfig,
        check_generation_outputs,
        generate_with_report,
        write_generation,
    )

    ov = [f"method={args.method}", f"seeds={args.seeds}", f"seed={args.seed}"]
    ov += [f"n={args.n}"] if args.n is not None else [f"ratio={args.ratio}"]
    if args.no_select:
        ov.append("select=false")
    cfg = load_config(GenerateConfig, args.config, ov + list(args.overrides),
                      section="generate" if args.config else None)
    check_generation_outputs(args.data, args.out, container=args.container, seeds=cfg.seeds)
    job = read_job_from_args(args, args.data)
    res = generate_with_report(job, cfg)
    paths = write_generation(res, job, args.out)
    m = res.manifest
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
    from safemix.generate.fidelity import format_fidelity

    print(format_fidelity(m["fidelity"]))
    print("fidelity: " + ", ".join(f"{k}={v}" for k, v in m["fidelity"].items() if k not in ("score", "parts")))
    lang = m.get("language") or {}
    print(f"language: job {lang.get('job')}, rows {lang.get('rows')}"
          + (f" (seed set {lang['seed_set']})" if lang.get("seed_set") else ""))
    if lang.get("warning"):
        print(f"warning: {lang['warning']}")
    for k, v in paths.items():
        print(f"{k}: {v}")
    return 0
