"""The `safemix` command: --help for every sub-command, recipes, env."""

from __future__ import annotations

import subprocess
import sys

import pytest

from safemix.cli import build_parser, main
from safemix.cli.validate import validate_recipe
from safemix.config import shipped_recipes


def subcommands() -> list[str]:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return sorted(sub.choices)


def test_expected_commands_present():
    assert {"profile", "generate", "mix", "train", "eval", "report", "run", "validate", "ls", "cp", "env",
            "testbed", "decontam", "seeds", "launch"} <= set(subcommands())


@pytest.mark.parametrize("cmd", subcommands())
def test_help_for_every_subcommand(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        main([cmd, "--help"])
    assert e.value.code == 0
    assert "usage: safemix" in capsys.readouterr().out


def test_help_is_fast_and_imports_no_torch():
    code = "import sys; from safemix.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("name", sorted(shipped_recipes()))
def test_every_shipped_recipe_validates(name):
    validate_recipe(name)


def test_validate_rejects_unknown_key_with_did_you_mean(tmp_path, capsys):
    p = tmp_path / "r.yaml"
    p.write_text("name: x\ntrain:\n  n_epocs: 2\n")
    assert main(["validate", str(p)]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'train.n_epocs'" in err and "did you mean 'n_epochs'" in err


def test_validate_override_type_error(capsys):
    name = sorted(shipped_recipes())[0]
    assert main(["validate", name, "seed=notanint"]) == 2
    assert "expected an integer" in capsys.readouterr().err


def test_exponent_numbers_are_numbers(capsys):
    """YAML 1.1 reads `5e-4` (no dot) as a string; a float field takes it as the number."""
    from safemix.config import load_config
    from safemix.pipeline.config import RunConfig

    name = sorted(shipped_recipes())[0]
    cfg = load_config(RunConfig, shipped_recipes()[name], ["train.learning_rate=5e-4"])
    assert cfg.train.learning_rate == 0.0005
    assert main(["validate", name, "train.learning_rate=fast"]) == 2
    assert "expected a number, got 'fast'" in capsys.readouterr().err
    assert main(["validate", name, "train.learning_rate=nan"]) == 2


def test_ls_cp_env(tmp_path, capsys):
    assert main(["ls"]) == 0
    listed = capsys.readouterr().out
    name = sorted(shipped_recipes())[0]
    assert name in listed
    assert main(["cp", name, str(tmp_path)]) == 0
    assert (tmp_path / f"{name}.yaml").read_text() == shipped_recipes()[name].read_text()
    assert main(["cp", name, str(tmp_path)]) == 2  # never overwrites
    assert main(["env"]) == 0
    assert "transformers" in capsys.readouterr().out
