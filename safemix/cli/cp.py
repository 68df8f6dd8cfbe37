"""`safemix cp RECIPE DEST`: copy a shipped recipe to edit it (never over a file)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cp", help="Copy a shipped recipe to edit it.")
    p.add_argument("recipe")
    p.add_argument("dest")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from safemix.config import resolve_recipe
    from safemix.errors import ConfigError
    from safemix.outputs import OutputGuard
    from safemix.utils import atomic_write

    src = resolve_recipe(args.recipe)
    dest = Path(args.dest)
    if dest.is_dir():
        dest = dest / src.name
    if dest.exists() or dest.is_symlink():
        raise ConfigError(f"{dest} exists; not overwriting")
    OutputGuard("cp").input(src, sidecars=False).file(dest).check()  # e.g. a parent that is a file
    text = src.read_text(encoding="utf-8")
    with atomic_write(dest) as f:  # OS errors reach the user through the CLI's one boundary
        f.write(text)
    print(f"copied {src} -> {dest}")
    return 0
