"""`safemix validate|ls|cp|env`: shipped recipes and environment report."""

from __future__ import annotations

import argparse
from pathlib import Path

RECIPE_DIR = Path(__file__).resolve().parent / "recipes"  # package data (pyproject package-data)


def shipped_recipes() -> dict[str, Path]:
    """Name -> path of every recipe shipped in the package (`safemix/recipes/*.yaml`)."""
    return {p.stem: p for p in sorted(RECIPE_DIR.glob("*.yaml"))} if RECIPE_DIR.is_dir() else {}


def resolve_recipe(name_or_path: str) -> Path:
    """A path, or the name of a shipped recipe (with or without .yaml)."""
    from safemix.errors import ConfigError

    p = Path(name_or_path)
    if p.exists():
        return p
    if len(p.parts) != 1:  # a path (with a folder): never swapped for a shipped recipe
        raise ConfigError(f"recipe not found: {name_or_path}")
    recipes = shipped_recipes()
    key = p.stem if p.suffix in (".yaml", ".yml") else name_or_path
    if key in recipes:
        return recipes[key]
    import difflib

    close = difflib.get_close_matches(key, list(recipes), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ConfigError(f"recipe not found: {name_or_path}{hint}; `safemix ls` lists shipped recipes")


def validate_recipe(path: str | Path, overrides: list[str] | None = None):
    """Load a recipe into the RunConfig (every section checked); returns the config."""
    from safemix.config import load_config
    from safemix.pipeline.config import RunConfig

    return load_config(RunConfig, resolve_recipe(str(path)), overrides or [])


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="Check a recipe: unknown keys, types, values.")
    p.add_argument("recipe")
    p.add_argument("overrides", nargs="*", help="Dotted key=value overrides.")
    p.set_defaults(func=_validate)
    p = sub.add_parser("ls", help="List shipped recipes.")
    p.set_defaults(func=_ls)
    p = sub.add_parser("cp", help="Copy a shipped recipe to edit it.")
    p.add_argument("recipe")
    p.add_argument("dest")
    p.set_defaults(func=_cp)
    p = sub.add_parser("env", help="Versions of safemix and its dependencies (for bug reports).")
    p.set_defaults(func=_env)


def _validate(args: argparse.Namespace) -> int:
    from safemix.pipeline.runner import preflight

    cfg = validate_recipe(args.recipe, args.overrides)
    # What `safemix run` checks before writing anything, as far as the recipe sets it: the run
    # directory, and the job, validation and seed files when they are given.
    preflight(cfg, require_job=False)
    print(f"{args.recipe}: OK")
    return 0


def _ls(args: argparse.Namespace) -> int:
    for name, path in shipped_recipes().items():
        first = next((ln[1:].strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.startswith("#")), "")
        print(f"{name:32s} {first}")
    return 0


def _cp(args: argparse.Namespace) -> int:
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


def environment() -> dict[str, str]:
    import platform
    from importlib import metadata

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("safemix", "torch", "transformers", "trl", "peft", "datasets", "deepspeed",
                "accelerate", "sentence-transformers", "pyarrow", "numpy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    try:
        import torch

        out["cuda"] = str(torch.cuda.is_available()) + (f" ({torch.cuda.get_device_name(0)})"
                                                        if torch.cuda.is_available() else "")
    except ImportError:
        pass
    return out


def _env(args: argparse.Namespace) -> int:
    for k, v in environment().items():
        print(f"{k:24s} {v}")
    return 0
