"""The one `safemix` command: one verb per stage.

Every stage module registers its own sub-commands (`safemix/<stage>/cli.py: register`),
and imports its heavy dependencies only when run, so `safemix --help` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# Modules that add sub-commands; each has `register(subparsers)`.
COMMAND_MODULES = (
    "safemix.formats.cli",     # profile
    "safemix.recipes_cli",     # validate, ls, cp, env
    "safemix.seeds.cli",       # seeds stats, decontam
    "safemix.generate.cli",    # generate
    "safemix.mix.cli",         # mix
    "safemix.train.cli",       # train, launch
    "safemix.eval.cli",        # eval, report
    "safemix.pipeline.cli",    # run
    "safemix.testbed.cli",     # testbed
)


def build_parser() -> argparse.ArgumentParser:
    from safemix import __version__

    parser = argparse.ArgumentParser(
        prog="safemix",
        description="Format-mimicking safety data for LLM finetuning jobs: "
        "profile, generate, mix, train, eval, run.",
    )
    parser.add_argument("--version", action="version", version=f"safemix {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="Debug logging.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:  # stage not built into this version
                continue
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from safemix.errors import SafemixError, as_safemix_error

    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # key=value overrides may come after options (`run r.yaml --out d train.max_steps=5`)
    if extra and isinstance(getattr(args, "overrides", None), list) and all(
            "=" in x and not x.startswith("-") for x in extra):
        args.overrides += extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    from safemix.console import QuietLibraryLogs, quiet_known_warnings

    before = list(logging.root.handlers)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:  # libraries' INFO chatter off (their warnings stay); -v shows everything
        for h in logging.root.handlers:
            if h not in before:
                h.addFilter(QuietLibraryLogs())
        quiet_known_warnings()
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        rc = args.func(args)
    except SafemixError as e:
        print(f"safemix {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except (OSError, RecursionError, UnicodeError) as e:  # the one boundary for OS/decoding errors
        err = as_safemix_error(e)
        if err is None:
            raise
        logging.getLogger("safemix").debug("error detail", exc_info=True)
        print(f"safemix {args.command}: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
