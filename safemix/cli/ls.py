"""`safemix ls`: the shipped recipes, with the first comment line of each."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ls", help="List shipped recipes.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from safemix.config import shipped_recipes

    for name, path in shipped_recipes().items():
        first = next((ln[1:].strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.startswith("#")), "")
        print(f"{name:32s} {first}")
    return 0
