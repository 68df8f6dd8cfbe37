"""One CLI convention for every verb: `safemix VERB [RECIPE] [key=value ...] [--flag ...]`,
verb X in safemix/cli/X.py, config flags that name config fields, one precedence
(defaults < recipe < key=value < flags), and the one did-you-mean helper."""

from __future__ import annotations

import dataclasses
import importlib
import re
from pathlib import Path

import pytest

from safemix.cli import VERBS, _take_late_positionals, build_parser
from safemix.cli.common import FLAG_DEST, load_verb_config, recipe_and_overrides
from safemix.config import did_you_mean
from safemix.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]

# verb -> (config class, recipe section) for the verbs that read a config
CONFIGS = {"generate": ("safemix.generate.config:GenerateConfig", "generate"),
           "mix": ("safemix.mix.config:MixConfig", "mix"),
           "train": ("safemix.train.config:TrainConfig", "train"),
           "launch": ("safemix.train.config:TrainConfig", "train"),
           "eval": ("safemix.eval.config:EvalConfig", "eval"),
           "run": ("safemix.pipeline.config:RunConfig", None),
           "validate": ("safemix.pipeline.config:RunConfig", None)}


def _cls(spec: str) -> type:
    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


def _subparsers() -> dict:
    return next(a for a in build_parser()._actions if a.dest == "command").choices


def test_did_you_mean():
    assert did_you_mean("sprad", ("spread", "shuffle", "append")) == " (did you mean 'spread'?)"
    assert did_you_mean("zzz", ("spread", "shuffle")) == ""
    assert did_you_mean(3, [1, 2, 3]) == " (did you mean '3'?)"  # any value, any options
    assert did_you_mean("ab", ["abcd"], cutoff=0.9) == "" and did_you_mean("ab", ["abcd"], cutoff=0.5)


def test_one_difflib_in_the_library():
    """Every "unknown name" error takes its hint from config.did_you_mean."""
    users = [str(p.relative_to(REPO)) for p in (REPO / "safemix").rglob("*.py")
             if "get_close_matches" in p.read_text(encoding="utf-8")]
    assert users == ["safemix/config.py"]


def test_every_verb_is_the_module_named_after_it():
    assert list(_subparsers()) == list(VERBS)
    for verb in VERBS:
        assert (REPO / "safemix" / "cli" / f"{verb}.py").is_file(), verb


def test_only_the_cli_imports_the_cli():
    """The stages never import a CLI module (the old recipes_cli <-> pipeline/cli cycle)."""
    pat = re.compile(r"^\s*(from|import) safemix\.cli\b", re.M)
    offenders = [str(p.relative_to(REPO)) for p in (REPO / "safemix").rglob("*.py")
                 if p.relative_to(REPO / "safemix").parts[0] not in ("cli", "__main__.py")
                 and pat.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


@pytest.mark.parametrize("verb", [v for v in CONFIGS if v in ("generate", "mix", "train", "eval", "run")])
def test_config_flags_name_fields_of_the_verbs_config(verb):
    fields = {f.name for f in dataclasses.fields(_cls(CONFIGS[verb][0]))}
    flags = [a.dest[len(FLAG_DEST):] for a in _subparsers()[verb]._actions if a.dest.startswith(FLAG_DEST)]
    assert flags and set(flags) <= fields, (verb, set(flags) - fields)


def _args(argv: list[str]):
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    assert not extra or _take_late_positionals(args, extra)
    return args


def test_precedence_defaults_recipe_overrides_flags(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("mix: {strategy: append, seed: 1, inline_key: from_recipe, ratio: 0.2}\n", encoding="utf-8")
    args = _args(["mix", "--data", "j.jsonl", "--out", "o", "--strategy", "shuffle", str(recipe),
                  "strategy=spread", "seed=3", "mix.seed=4"])
    cfg = load_verb_config(args, _cls(CONFIGS["mix"][0]), "mix")
    assert cfg.strategy == "shuffle"            # the flag beats the override and the recipe
    assert cfg.seed == 4                        # overrides beat the recipe; the later one wins
    assert cfg.inline_key == "from_recipe"      # the recipe beats the default
    assert cfg.dedupe is True and cfg.ratio == 0.2  # defaults and recipe where nothing else is given
    args = _args(["mix", "--data", "j.jsonl", "--out", "o", "--count", "7", "--config", str(recipe)])
    cfg = load_verb_config(args, _cls(CONFIGS["mix"][0]), "mix", flags=["ratio=null", "count=7"])
    assert (cfg.ratio, cfg.count) == (None, 7)


def test_section_prefix_is_optional_for_eval_like_train(tmp_path):
    args = _args(["eval", "eval.model=m", "backend=dummy", f"eval.output_dir={tmp_path}"])
    assert recipe_and_overrides(args, "eval") == (None, ["model=m", "backend=dummy", f"output_dir={tmp_path}"])
    cfg = load_verb_config(args, _cls(CONFIGS["eval"][0]), "eval")
    assert (cfg.model, cfg.backend, cfg.output_dir) == ("m", "dummy", str(tmp_path))
    args = _args(["train", "train_tiny_lora", "train.max_steps=3", "seed=5"])
    cfg = load_verb_config(args, _cls(CONFIGS["train"][0]), "train")
    assert (cfg.max_steps, cfg.seed) == (3, 5)


def test_recipe_after_options_and_overrides_first(tmp_path):
    recipe = tmp_path / "e.yaml"
    recipe.write_text("eval: {model: from_recipe}\n", encoding="utf-8")
    args = _args(["eval", "--no-resume", str(recipe), "eval.batch_size=2"])
    cfg = load_verb_config(args, _cls(CONFIGS["eval"][0]), "eval")
    assert (cfg.model, cfg.batch_size, cfg.resume) == ("from_recipe", 2, False)


def test_a_recipe_verb_without_recipe_says_so():
    args = _args(["train", "max_steps=3"])
    with pytest.raises(ConfigError, match="give a recipe"):
        recipe_and_overrides(args, "train")


def test_stage_packages_are_their_functions():
    import safemix.generate.core  # noqa: F401  (the package imported before the name is used)
    import safemix.mix.core  # noqa: F401
    from safemix import generate, mix

    assert callable(generate) and callable(mix)
    assert generate.GenerateConfig is safemix.generate.config.GenerateConfig  # still the package
