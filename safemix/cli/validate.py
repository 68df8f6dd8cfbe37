"""`safemix validate RECIPE [key=value ...]`: check a recipe as `safemix run` would."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    from safemix.cli.common import add_recipe_args

    p = sub.add_parser("validate", help="Check a recipe: unknown keys, types, values.")
    add_recipe_args(p, required=True, recipe_help=None, overrides_help="Dotted key=value overrides.")
    p.set_defaults(func=run)


def validate_recipe(path: str | Path, overrides: list[str] | None = None):
    """Load a recipe into the RunConfig (every section checked); returns the config."""
    from safemix.config import load_config, resolve_recipe
    from safemix.pipeline.config import RunConfig

    return load_config(RunConfig, resolve_recipe(path), overrides or [])


def run(args: argparse.Namespace) -> int:
    from safemix.cli.common import recipe_and_overrides
    from safemix.pipeline.runner import preflight

    cfg = validate_recipe(*recipe_and_overrides(args))
    # What `safemix run` checks before writing anything, as far as the recipe sets it: the run
    # directory, and the job, validation and seed files when they are given.
    preflight(cfg, require_job=False)
    print(f"{args.recipe}: OK")
    return 0
