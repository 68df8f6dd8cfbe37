"""`safemix mix`: blend a safety set into a job, exactly and traceably.

    safemix mix --data train.jsonl --safety safety.jsonl --ratio 0.05 --strategy spread --out mixed/
    safemix mix --data train.jsonl --safety safety.jsonl --ratio 0,0.01,0.05,0.1 --out sweep/
"""

from __future__ import annotations

import argparse


def _number_list(text: str, flag: str, kind: type) -> list:
    from safemix.errors import ConfigError

    try:
        return [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        what = "numbers" if kind is float else "integers"
        raise ConfigError(f"{flag} expects {what} separated by commas, got {text!r}") from None


def register(sub: argparse._SubParsersAction) -> None:
    from safemix.formats.cli import add_data_args

    p = sub.add_parser("mix", help="Blend safety examples into a job (ratio/count, spread/shuffle/append).",
                       description="Mix a safety set into a finetuning job. The mixed job keeps the "
                       "job's format (user rows of JSONL jobs are copied byte for byte); a row-aligned "
                       "<name>.provenance.jsonl sidecar and mix_manifest.json are written beside it.")
    p.add_argument("--data", required=True, help="The user's job file.")
    add_data_args(p, flag=None)
    p.add_argument("--safety", default=None, help="Safety set file (any supported format), e.g. from "
                   "`safemix generate`; converted into the job's format.")
    p.add_argument("--safety-provenance", default=None, help="Provenance sidecar of the safety set "
                   "(default: <safety stem>.provenance.jsonl when it exists).")
    p.add_argument("--safety-format", default=None, help="Schema of the safety file (auto-detected).")
    amount = p.add_mutually_exclusive_group()
    amount.add_argument("--ratio", default=None, help="Safety share of the mixed job in [0, 1); "
                        "comma-separated values write one mixed job per value (a sweep).")
    amount.add_argument("--count", default=None, help="Absolute number of safety rows (comma-separated: a sweep).")
    p.add_argument("--ratio-unit", default=None, choices=("rows", "tokens"),
                   help="Ratio of rows (default) or of training tokens (needs --tokenizer).")
    p.add_argument("--tokenizer", default=None, help="Tokenizer name/path for --ratio-unit tokens "
                   "('tiny': safemix's built-in test tokenizer).")
    p.add_argument("--strategy", default=None, help="spread (default) | shuffle | append.")
    p.add_argument("--seed", type=int, default=None, help="Random seed (default 0).")
    p.add_argument("--out", required=True, help="Output file (same format as the job) or folder; a "
                   "sweep writes one sub-folder per value (ratio-0.05/ ...).")
    p.add_argument("--allow-repeat", action="store_true", default=None,
                   help="Reuse safety rows when the set is smaller than needed.")
    p.add_argument("--require-same-format", action="store_true", default=None,
                   help="Error if the safety set's schema differs from the job's (default: convert).")
    p.add_argument("--no-dedupe", action="store_true", help="Keep safety rows whose prompt duplicates a job prompt.")
    p.add_argument("--inline-provenance", action="store_true", default=None,
                   help="Also write provenance into each row (breaks strict schema checks).")
    p.add_argument("--quiet", action="store_true", help="No progress bars.")
    p.add_argument("--config", default=None, help="A recipe; its `mix` section is used.")
    p.add_argument("overrides", nargs="*", help="Dotted key=value overrides of the mix config "
                   "(e.g. dedupe=false inline_key=meta).")
    p.set_defaults(func=run_mix)


def _overrides(args: argparse.Namespace) -> list[str]:
    """Command-line flags as config overrides; only flags actually given override the recipe."""
    import json

    ov = []
    if args.ratio is not None:
        vals = _number_list(args.ratio, "--ratio", float)
        ov += ["count=null", f"ratio={json.dumps(vals if len(vals) > 1 else vals[0]) if vals else 'null'}"]
    if args.count is not None:
        vals = _number_list(args.count, "--count", int)
        ov += ["ratio=null", f"count={json.dumps(vals if len(vals) > 1 else vals[0]) if vals else 'null'}"]
    for name in ("safety", "safety_provenance", "safety_format", "ratio_unit", "tokenizer", "strategy",
                 "seed", "allow_repeat", "require_same_format", "inline_provenance"):
        value = getattr(args, name)
        if value is not None:
            ov.append(f"{name}={json.dumps(value)}")
    if args.no_dedupe:
        ov.append("dedupe=false")
    if args.quiet:
        ov.append("show_progress=false")
    return ov


def run_mix(args: argparse.Namespace) -> int:
    from safemix.config import load_config
    from safemix.formats.cli import parse_column_map
    from safemix.mix import MixConfig, mix_files

    cfg = load_config(MixConfig, args.config, list(args.overrides) + _overrides(args),
                      section="mix" if args.config else None)
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
