"""`safemix mix`: blend a safety set into a job, exactly and traceably.

    safemix mix --data train.jsonl --safety safety.jsonl --ratio 0.05 --strategy spread --out mixed/
    safemix mix --data train.jsonl --safety safety.jsonl --ratio 0,0.01,0.05,0.1 --out sweep/
"""

from __future__ import annotations

import argparse

from safemix.cli.common import add_data_args, add_recipe_args, config_flag


def _number_list(text: str, flag: str, kind: type) -> list:
    from safemix.errors import ConfigError

    try:
        return [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        what = "numbers" if kind is float else "integers"
        raise ConfigError(f"{flag} expects {what} separated by commas, got {text!r}") from None


def _amount_overrides(args: argparse.Namespace) -> list[str]:
    """--ratio or --count as overrides: the one given also clears the recipe's other one."""
    import json

    for flag, other, kind in (("ratio", "count", float), ("count", "ratio", int)):
        text = getattr(args, flag)
        if text is not None:
            vals = _number_list(text, f"--{flag}", kind)
            return [f"{other}=null", f"{flag}={json.dumps(vals if len(vals) > 1 else vals[0]) if vals else 'null'}"]
    return []


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mix", help="Blend safety examples into a job (ratio/count, spread/shuffle/append).",
                       description="Mix a safety set into a finetuning job. The mixed job keeps the "
                       "job's format (user rows of JSONL jobs are copied byte for byte); a row-aligned "
                       "<name>.provenance.jsonl sidecar and mix_manifest.json are written beside it.")
    p.add_argument("--data", required=True, help="The user's job file.")
    add_data_args(p, flag=None)
    config_flag(p, "safety", "--safety", help="Safety set file (any supported format), e.g. from "
                "`safemix generate`; converted into the job's format.")
    config_flag(p, "safety_provenance", "--safety-provenance", help="Provenance sidecar of the safety set "
                "(default: <safety stem>.provenance.jsonl when it exists).")
    config_flag(p, "safety_format", "--safety-format", help="Schema of the safety file (auto-detected).")
    amount = p.add_mutually_exclusive_group()
    amount.add_argument("--ratio", default=None, help="Safety share of the mixed job in [0, 1); "
                        "comma-separated values write one mixed job per value (a sweep).")
    amount.add_argument("--count", default=None, help="Absolute number of safety rows (comma-separated: a sweep).")
    config_flag(p, "ratio_unit", "--ratio-unit", choices=("rows", "tokens"),
                help="Ratio of rows (default) or of training tokens (needs --tokenizer).")
    config_flag(p, "tokenizer", "--tokenizer", help="Tokenizer name/path for --ratio-unit tokens "
                "('tiny': safemix's built-in test tokenizer).")
    config_flag(p, "strategy", "--strategy", help="spread (default) | shuffle | append.")
    config_flag(p, "seed", "--seed", type=int, help="Random seed (default 0).")
    p.add_argument("--out", required=True, help="Output file (same format as the job) or folder; a "
                   "sweep writes one sub-folder per value (ratio-0.05/ ...).")
    config_flag(p, "allow_repeat", "--allow-repeat", action="store_const", const=True,
                help="Reuse safety rows when the set is smaller than needed.")
    config_flag(p, "require_same_format", "--require-same-format", action="store_const", const=True,
                help="Error if the safety set's schema differs from the job's (default: convert).")
    config_flag(p, "dedupe", "--no-dedupe", action="store_const", const=False,
                help="Keep safety rows whose prompt duplicates a job prompt.")
    config_flag(p, "inline_provenance", "--inline-provenance", action="store_const", const=True,
                help="Also write provenance into each row (breaks strict schema checks).")
    config_flag(p, "show_progress", "--quiet", action="store_const", const=False, help="No progress bars.")
    p.add_argument("--config", default=None, help="A recipe; its `mix` section is used.")
    add_recipe_args(p, required=False, recipe_help="A recipe (same as --config); its `mix` section is used.",
                    overrides_help="Dotted key=value overrides of the mix config (e.g. dedupe=false inline_key=meta).")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from safemix.cli.common import load_verb_config, parse_column_map
    from safemix.mix import MixConfig, mix_files

    cfg = load_verb_config(args, MixConfig, "mix", flags=_amount_overrides(args))
    reports = mix_files(args.data, args.out, cfg, job_format=args.format, container=args.container,
                        column_map=parse_column_map(args.column_map), max_line_bytes=args.max_line_bytes)
    for rep in reports:
        print(rep.summary())
        for d in rep.dropped[:5]:
            print(f"  dropped safety row {d['safety_line'] or d['safety_index']}: duplicates job line "
                  f"{d['job_line']}: {d['user'][:80]!r}")
        if len(rep.dropped) > 5:
            print(f"  ... {len(rep.dropped) - 5} more in the manifest")
        for k, v in rep.paths.items():
            print(f"  {k}: {v}")
    return 0
