"""Recipes: one config dataclass per stage, loaded from YAML with dotted overrides.

Every field carries `metadata={"help": ...}`. Unknown keys are errors with a
did-you-mean; values are type-checked against the annotations. A dataclass built by
`from_dict` remembers which keys the recipe gave (`given_keys`), so a config can tell a value
the user set from a default. Shipped recipes (`safemix/recipes/*.yaml`) are found by name
(`resolve_recipe`); `did_you_mean` is the typo hint of every "unknown name" error in safemix.

    cfg = load_config(RunConfig, "safemix/recipes/quickstart.yaml", ["train.max_steps=10"])
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

from safemix.errors import ConfigError

T = TypeVar("T")

_GIVEN = "_safemix_given_keys"
RECIPE_DIR = Path(__file__).resolve().parent / "recipes"  # package data (pyproject package-data)


def given_keys(cfg: Any) -> frozenset[str] | None:
    """The keys the recipe (or overrides) gave for dataclass `cfg`, when it was built by
    `from_dict` (or marked with `mark_given`); None when it was built in code."""
    return getattr(cfg, _GIVEN, None)


def mark_given(cfg: Any, keys: frozenset[str] | set[str]) -> Any:
    """Record the keys that were set explicitly on `cfg` (what `given_keys` returns)."""
    with contextlib.suppress(AttributeError, TypeError):  # a slots dataclass: nothing recorded
        object.__setattr__(cfg, _GIVEN, frozenset(keys))
    return cfg


def did_you_mean(value: Any, options: Iterable[Any], cutoff: float = 0.6) -> str:
    """`" (did you mean 'x'?)"` for the option closest to `value`, or "" when none is close.

    The one did-you-mean of safemix: every "unknown name" error appends this to its message.
    """
    close = difflib.get_close_matches(str(value), [str(o) for o in options], n=1, cutoff=cutoff)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check/convert `value` to annotation `tp` (dataclasses, Optional, list, dict, scalars)."""
    origin = typing.get_origin(tp)
    if tp is Any or tp is object:
        return value
    if origin in (typing.Union, types.UnionType):
        return _coerce_union(value, typing.get_args(tp), where)
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(f"{where}: expected one of {list(typing.get_args(tp))}, got {value!r}"
                              + did_you_mean(value, typing.get_args(tp)))
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return from_dict(tp, value, where)
    if origin in (list, tuple):
        return _coerce_list(value, tp, where)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return dict(value)
    return _coerce_scalar(value, tp, where)


def _coerce_union(value: Any, args: tuple, where: str) -> Any:
    """The first member of a Union/Optional that accepts `value` (None when it is optional)."""
    if value is None and type(None) in args:
        return None
    errors = []
    for a in args:
        if a is type(None):
            continue
        try:
            return _coerce(value, a, where)
        except ConfigError as e:
            errors.append(str(e))
    raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")


def _coerce_list(value: Any, tp: Any, where: str) -> list:
    """A list (or a comma-separated string of YAML scalars), each item coerced."""
    if isinstance(value, str) and value.strip() and not value.strip().startswith("["):
        import yaml

        value = [yaml.safe_load(v.strip()) for v in value.split(",") if v.strip()]
    if not isinstance(value, list | tuple):
        raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
    (inner,) = typing.get_args(tp)[:1] or (Any,)
    return [_coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]


def _coerce_scalar(value: Any, tp: Any, where: str) -> Any:
    """bool, int, float (ints widen), str (numbers convert); other types pass unchecked."""
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        number = _number_text(value)
        if number is not None:  # YAML 1.1 reads 5e-4 (no dot) as a string
            return number
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value


def _number_text(value: Any) -> float | None:
    """`value` as a float when it is a string holding a finite decimal number ("5e-4", "1E3")."""
    import math

    if not isinstance(value, str):
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def from_dict(cls: type[T], data: dict[str, Any], where: str = "") -> T:
    """Build dataclass `cls` from a mapping; unknown keys are errors."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for k, v in (data or {}).items():
        key = f"{where}.{k}" if where else k
        if k not in fields:
            raise ConfigError(f"unknown key {key!r}{did_you_mean(k, fields)}; "
                              f"valid keys: {', '.join(fields)}")
        kwargs[k] = _coerce(v, hints[k], key)
    try:
        obj = cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where or cls.__name__}: {e}") from None
    obj = mark_given(obj, set(kwargs))
    check = getattr(obj, "check_given", None)
    if callable(check):  # checks that need to know which keys were given (e.g. RunConfig's seeds)
        check(frozenset(kwargs))
    return obj


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `a.b.c=value` strings (value parsed as YAML) to a nested dict."""
    import yaml

    data = dict(data)
    for ov in overrides:
        if "=" not in ov:
            raise ConfigError(f"override {ov!r} must look like key=value (e.g. train.max_steps=10)")
        key, raw = ov.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        node = data
        parts = key.strip().split(".")
        for p in parts[:-1]:
            nxt = node.get(p)
            if nxt is None:
                nxt = node[p] = {}
            elif not isinstance(nxt, dict):
                raise ConfigError(f"override {key!r}: {p!r} is not a section")
            else:
                nxt = node[p] = dict(nxt)
            node = nxt
        node[parts[-1]] = value
    return data


def load_yaml(path: str | Path) -> dict[str, Any]:
    import yaml

    p = Path(path)
    if not p.exists():
        raise ConfigError(f"recipe not found: {p}")
    if p.is_dir():
        raise ConfigError(f"{p}: is a directory, not a recipe file")
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise ConfigError(f"{p}: cannot read the recipe: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise ConfigError(f"{p}:{line}: the recipe is not UTF-8 text (byte {raw[e.start]:#04x} "
                          f"at offset {e.start}); save it as UTF-8") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: invalid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: a recipe must be a mapping of sections")
    return data


def shipped_recipes() -> dict[str, Path]:
    """Name -> path of every recipe shipped in the package (`safemix/recipes/*.yaml`)."""
    return {p.stem: p for p in sorted(RECIPE_DIR.glob("*.yaml"))} if RECIPE_DIR.is_dir() else {}


def resolve_recipe(name_or_path: str | Path) -> Path:
    """A path, or the name of a shipped recipe (with or without .yaml)."""
    p = Path(name_or_path)
    if p.exists():
        return p
    if len(p.parts) != 1:  # a path (with a folder): never swapped for a shipped recipe
        raise ConfigError(f"recipe not found: {name_or_path}")
    recipes = shipped_recipes()
    key = p.stem if p.suffix in (".yaml", ".yml") else str(name_or_path)
    if key in recipes:
        return recipes[key]
    raise ConfigError(f"recipe not found: {name_or_path}{did_you_mean(key, recipes)}; "
                      "`safemix ls` lists shipped recipes")


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None,
                section: str | None = None) -> T:
    """Load `cls` from a YAML recipe (optionally one `section` of it) plus overrides."""
    data = load_yaml(path) if path else {}
    if section is not None:
        data = data.get(section) or {}
    merge = getattr(cls, "merge_overrides", apply_overrides)  # a config whose keys interact (RunConfig: seeds)
    data = merge(data, overrides or [])
    try:
        return from_dict(cls, data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}" if path else str(e)) from None


def field_help(cls: type) -> dict[str, str]:
    return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}
