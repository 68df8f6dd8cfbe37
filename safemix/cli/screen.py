"""`safemix screen FILE`: the data gate. Findings per row (file:line) and per job; exits like a
linter: 0 when the job is clean, 3 when it is flagged, 2 on bad input."""

from __future__ import annotations

import argparse

from safemix.cli.common import add_data_args, parse_column_map

FLAGGED_EXIT = 3


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("screen", help="Screen a job before training: identity shift, ciphers, encodings, stego.",
                       description="Screen a finetuning job a customer sent: identity-shift and obedience "
                       "prompting, pledging answers, encoded or enciphered text (base64, hex, ROT-N, Atbash, "
                       "substitution, pipe-joined letters), last-word steganography, and the job's structure. "
                       "Prints findings as FILE:LINE: CHECK (SCORE): REASON. Exit status: 0 clean, 3 flagged, "
                       "2 bad input.")
    add_data_args(p)
    p.add_argument("--json", default=None, metavar="OUT", help="Write every finding as JSON to OUT (atomically).")
    p.add_argument("--threshold", type=float, default=None,
                   help="Score at which a finding flags its row (default 0.5).")
    p.add_argument("--harm", action="store_true",
                   help="Add the harmful-request tier (MiniLM embeddings; needs the ml extra; slower).")
    p.add_argument("--max-rows", type=int, default=20, help="Flagged rows printed (all are in --json).")
    p.add_argument("-q", "--quiet", action="store_true", help="Print the verdict line only.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from safemix.errors import ConfigError
    from safemix.provider.screen import THRESHOLD, screen
    from safemix.utils import write_json

    threshold = THRESHOLD if args.threshold is None else args.threshold
    if not 0 < threshold <= 1:
        raise ConfigError(f"--threshold must be in (0, 1], got {threshold}")
    if args.json:  # before reading: a bad --json path fails fast and writes nothing
        from safemix.outputs import OutputGuard

        OutputGuard("screen").input(args.file).file(args.json).check()
    report = screen(args.file, threshold=threshold, harm=args.harm, format=args.format,
                    container=args.container, column_map=parse_column_map(args.column_map),
                    max_line_bytes=args.max_line_bytes)
    if args.json:
        from safemix import __version__

        write_json(args.json, {**report.to_dict(), "safemix_version": __version__})
    text = report.summary(max_rows=args.max_rows)
    print(text.splitlines()[-1] if args.quiet else text)
    return FLAGGED_EXIT if report.flagged else 0
