"""The one `safemix` command: `safemix VERB [RECIPE] [key=value ...] [--flag ...]`.

Verb `X` lives in `safemix/cli/X.py`, which has `register(subparsers)`; the arguments every
verb shares, and the precedence of recipe, overrides and flags, are in `safemix/cli/common.py`.
Verb modules import the stage they run only when run, so `safemix --help` is instant.

    profile   learn a job's format             generate  safety rows in the job's format
    validate  check a recipe                   mix       blend safety rows into a job
    ls        list shipped recipes             train     finetune (LoRA/full, DeepSpeed)
    cp        copy a shipped recipe            launch    `train` in several processes
    env       versions, for bug reports        eval      safety retention and task score
    seeds     inspect/export built-in seeds    report    compare eval runs
    decontam  seeds vs evaluation sets         run       every stage from one recipe
    testbed   the tiny CPU testbed model       screen    the data gate: flag attacks in a job
    wrap      gate a customer's job end to end (screen, mitigate, train, model gate, audit log)
    keys      API keys of the fine-tuning service (`safemix serve`)
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# `safemix --help` lists the verbs in this order; verb X is the module safemix.cli.X.
VERBS = ("profile", "validate", "ls", "cp", "env", "seeds", "decontam", "generate", "mix", "train",
         "launch", "eval", "report", "run", "testbed", "screen", "wrap",
         "keys")


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
    for verb in VERBS:
        importlib.import_module(f"safemix.cli.{verb}").register(sub)
    return parser


def _take_late_positionals(args: argparse.Namespace, extra: list[str]) -> bool:
    """Words argparse left over because they came after options (`run r.yaml --out d
    train.max_steps=5`, `eval --no-resume r.yaml`): the recipe, when none was given, then
    key=value overrides. False when they are not that."""
    if not isinstance(getattr(args, "overrides", None), list) or any(x.startswith("-") for x in extra):
        return False
    words = list(extra)
    if getattr(args, "recipe", "") is None and "=" not in words[0]:
        args.recipe = words.pop(0)
    if not all("=" in x for x in words):
        return False
    args.overrides += words
    return True


def _setup_logging(verbose: bool) -> None:
    from safemix.console import QuietLibraryLogs, quiet_known_warnings

    before = list(logging.root.handlers)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    if not verbose:  # libraries' INFO chatter off (their warnings stay); -v shows everything
        for h in logging.root.handlers:
            if h not in before:
                h.addFilter(QuietLibraryLogs())
        quiet_known_warnings()


def main(argv: list[str] | None = None) -> int:
    from safemix.errors import SafemixError, as_safemix_error

    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not _take_late_positionals(args, extra):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    _setup_logging(args.verbose)
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
