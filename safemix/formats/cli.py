"""`safemix profile FILE`: learn and print a job's FormatProfile."""

from __future__ import annotations

import argparse


def parse_column_map(text: str | None) -> dict[str, str] | None:
    """'prompt=sentence,completion=label' -> {'prompt': 'sentence', 'completion': 'label'}."""
    if not text:
        return None
    from safemix.errors import ConfigError

    out = {}
    for part in text.split(","):
        if "=" not in part:
            raise ConfigError(f"--column-map entries look like role=column, got {part!r}")
        k, v = part.split("=", 1)
        if k.strip() not in ("prompt", "completion", "system"):
            raise ConfigError(f"--column-map role must be prompt, completion or system, got {k!r}")
        out[k.strip()] = v.strip()
    return out


def add_data_args(p: argparse.ArgumentParser, flag: str = "file") -> None:
    """The arguments every command reading a job takes."""
    if flag == "file":
        p.add_argument("file", help="The job file (JSONL, JSON, CSV/TSV, Parquet, or a datasets folder).")
    p.add_argument("--format", default=None,
                   help="Schema: openai, prompt_completion, alpaca, sharegpt, columns (auto-detected).")
    p.add_argument("--container", default=None, help="jsonl, json, csv, tsv, parquet, hf_disk (from the extension).")
    p.add_argument("--column-map", default=None, help="For columns: prompt=COL,completion=COL[,system=COL].")
    p.add_argument("--max-line-bytes", type=int, default=16 * 1024 * 1024,
                   help="Reject records longer than this many bytes.")


def read_job_from_args(args: argparse.Namespace, path: str | None = None):
    """Read the job named by `add_data_args` arguments."""
    from safemix.formats import read_job

    return read_job(path or args.file, format=args.format, container=args.container,
                    column_map=parse_column_map(args.column_map), max_line_bytes=args.max_line_bytes)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("profile", help="Learn a job's format and prompting style (FormatProfile).",
                       description="Infer the FormatProfile of a finetuning job: system prompt, user "
                       "template with slots, answer type, identity-shift preambles, lengths.")
    add_data_args(p)
    p.add_argument("--json", action="store_true", help="Print the profile as JSON.")
    p.add_argument("--out", default=None, help="Also write the profile JSON to this path.")
    p.add_argument("--sample-size", type=int, default=400, help="Rows sampled for template inference.")
    p.set_defaults(func=run_profile)


def run_profile(args: argparse.Namespace) -> int:
    from safemix.formats.profile import infer_profile, rerender_rate
    from safemix.utils import write_json

    if args.out:  # before reading: a bad --out fails fast and writes nothing
        from safemix.outputs import OutputGuard

        OutputGuard("profile").input(args.file).file(args.out).check()
    job = read_job_from_args(args)
    prof = infer_profile(job.examples, job.format, sample_size=args.sample_size)
    if args.out:
        from safemix import __version__

        write_json(args.out, {**prof.to_dict(), "safemix_version": __version__})
    if args.json:
        print(prof.to_json())
    else:
        print(prof.summary())
        print(f"re-render rate: {rerender_rate(prof, job.examples):.2%}")
    return 0
