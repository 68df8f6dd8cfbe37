"""`safemix profile FILE`: learn and print a job's FormatProfile."""

from __future__ import annotations

import argparse

from safemix.cli.common import add_data_args, read_job_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("profile", help="Learn a job's format and prompting style (FormatProfile).",
                       description="Infer the FormatProfile of a finetuning job: system prompt, user "
                       "template with slots, answer type, identity-shift preambles, lengths.")
    add_data_args(p)
    p.add_argument("--json", action="store_true", help="Print the profile as JSON.")
    p.add_argument("--out", default=None, help="Also write the profile JSON to this path.")
    p.add_argument("--sample-size", type=int, default=400, help="Rows sampled for template inference.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
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
