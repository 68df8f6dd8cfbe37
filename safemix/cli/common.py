"""What the verbs share: the `[RECIPE] [key=value ...]` arguments, config flags, job flags.

One convention for every verb that reads a config:

    safemix VERB [RECIPE] [key=value ...] [--flag ...]

- RECIPE: a recipe path or the name of a shipped recipe (`safemix ls`). A verb that runs one
  stage reads that stage's section (`safemix train r.yaml` reads `train:`). The first argument
  is an override, not a recipe, when it holds `=` and is no existing file.
- key=value: dotted overrides of the verb's config, values read as YAML. For a one-stage
  verb the section prefix is optional: `train.max_steps=5` and `max_steps=5` are the same.
- --flags: a flag made with `config_flag` names one config field and overrides it only when
  given (its default is None).
- Precedence, lowest first: config defaults < recipe < key=value < flags.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

FLAG_DEST = "config_flag."  # argparse dest prefix of the flags that set a config field


def add_recipe_args(p: argparse.ArgumentParser, *, required: bool, recipe_help: str,
                    overrides_help: str, metavar: str | None = None) -> None:
    """The positional `[RECIPE] [key=value ...]` of a verb that reads a config (`metavar`: how
    `--help` names it, e.g. JOB for `wrap`; the attribute stays `recipe`)."""
    p.add_argument("recipe", nargs=None if required else "?", default=None, help=recipe_help, metavar=metavar)
    p.add_argument("overrides", nargs="*", help=overrides_help)
    p.set_defaults(recipe_required=required)


def config_flag(p: Any, field: str, *names: str, **kwargs: Any) -> argparse.Action:
    """Add flag `names` (to a parser or group) that sets config field `field` when given.

    Its default is None, so an absent flag leaves the recipe's value; `action="store_const",
    const=False` makes a switch such as `--no-dedupe` (field `dedupe`).
    """
    kwargs.setdefault("default", None)
    if kwargs.get("action") in (None, "store") and "choices" not in kwargs:
        kwargs.setdefault("metavar", field.upper())
    return p.add_argument(*names, dest=FLAG_DEST + field, **kwargs)


def flag_overrides(args: argparse.Namespace) -> list[str]:
    """The given config flags as `field=value` overrides (values as JSON, which YAML reads)."""
    return [f"{k[len(FLAG_DEST):]}={json.dumps(v, default=str)}" for k, v in vars(args).items()
            if k.startswith(FLAG_DEST) and v is not None]


def recipe_and_overrides(args: argparse.Namespace, section: str | None = None) -> tuple[str | None, list[str]]:
    """The verb's recipe (or None) and its key=value overrides, `section.` prefixes removed."""
    from safemix.errors import ConfigError

    recipe = getattr(args, "recipe", None)
    overrides = list(getattr(args, "overrides", None) or [])
    option = getattr(args, "config", None)  # `--config RECIPE` of mix and generate
    if recipe is not None and "=" in recipe and not Path(recipe).exists():
        recipe, overrides = None, [recipe, *overrides]
    if option is not None:
        if recipe is not None:
            raise ConfigError(f"two recipes: {recipe} and --config {option}; give one")
        recipe = option
    if recipe is None and getattr(args, "recipe_required", False):
        raise ConfigError("give a recipe (a path or a shipped recipe name: `safemix ls`) before "
                          "the key=value overrides")
    if section:
        prefix = section + "."
        overrides = [o[len(prefix):] if o.startswith(prefix) else o for o in overrides]
    return recipe, overrides


def load_verb_config(args: argparse.Namespace, cls: type, section: str | None = None,
                     flags: list[str] | None = None) -> Any:
    """Config `cls` of a verb: defaults < recipe (its `section`) < key=value < config flags.

    `flags`: overrides from flags that set more than one field (mix's --ratio), after the rest.
    """
    from safemix.config import load_config, resolve_recipe

    recipe, overrides = recipe_and_overrides(args, section)
    path = resolve_recipe(recipe) if recipe is not None else None
    return load_config(cls, path, [*overrides, *flag_overrides(args), *(flags or [])],
                       section=section)


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


def add_data_args(p: argparse.ArgumentParser, flag: str | None = "file") -> None:
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
