"""`safemix validate|ls|cp|env`: shipped recipes and environment report."""

from __future__ import annotations

import argparse
from pathlib import Path

RECIPE_DIRS = (Path(__file__).resolve().parent / "recipes",  # installed package data
               Path(__file__).resolve().parents[1] / "recipes")  # source checkout


def shipped_recipes() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for d in RECIPE_DIRS:
        if d.is_dir():
            for p in sorted(d.glob("*.yaml")):
                out.setdefault(p.stem, p)
    return out


def resolve_recipe(name_or_path: str) -> Path:
    """A path, or the name of a shipped recipe (with or without .yaml)."""
    from safemix.errors import ConfigError

    p = Path(name_or_path)
    if p.exists():
        return p
    recipes = shipped_recipes()
    key = p.stem if p.suffix == ".yaml" else name_or_path
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
    validate_recipe(args.recipe, args.overrides)
    print(f"{args.recipe}: OK")
    return 0


def _ls(args: argparse.Namespace) -> int:
    for name, path in shipped_recipes().items():
        first = next((ln[1:].strip() for ln in path.read_text().splitlines() if ln.startswith("#")), "")
        print(f"{name:32s} {first}")
    return 0


def _cp(args: argparse.Namespace) -> int:
    from safemix.errors import ConfigError
    from safemix.utils import atomic_write

    src = resolve_recipe(args.recipe)
    dest = Path(args.dest)
    if dest.is_dir():
        dest = dest / src.name
    if dest.exists():
        raise ConfigError(f"{dest} exists; not overwriting")
    with atomic_write(dest) as f:
        f.write(src.read_text())
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
