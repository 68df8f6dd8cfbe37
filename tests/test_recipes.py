"""Shipped recipes: package data of the wheel, listed by `safemix ls`, copied by `safemix cp`
(never over a file, never through a file), found by name but never in place of a path."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from safemix.cli import main
from safemix.config import RECIPE_DIR, resolve_recipe, shipped_recipes

REPO = Path(__file__).resolve().parents[1]


def test_recipes_are_package_data():
    assert RECIPE_DIR == REPO / "safemix" / "recipes"
    names = set(shipped_recipes())
    assert {"quickstart", "train_tiny_lora", "eval_tiny"} <= names
    assert not list(REPO.glob("recipes/*.yaml")), "recipes live in safemix/recipes/ (shipped in the wheel)"


def test_a_path_is_never_swapped_for_a_shipped_recipe(tmp_path, capsys):
    assert resolve_recipe("quickstart") == shipped_recipes()["quickstart"]
    assert resolve_recipe("quickstart.yaml") == shipped_recipes()["quickstart"]
    missing = tmp_path / "quickstart.yaml"
    assert main(["validate", str(missing)]) == 2
    assert f"recipe not found: {missing}" in capsys.readouterr().err


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize(("dest", "expect"), [
    ("notes.txt", "exists; not overwriting"),
    ("notes.txt/q.yaml", "notes.txt is a file, not a folder"),
    ("notes.txt/sub/q.yaml", "notes.txt is a file, not a folder"),
    ("folder", "exists; not overwriting"),  # folder/quickstart.yaml is already there
])
def test_cp_refuses_with_a_clear_message(tmp_path, monkeypatch, capsys, dest, expect):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine\n", encoding="utf-8")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "quickstart.yaml").write_text("my edits\n", encoding="utf-8")
    before = _tree(tmp_path)
    assert main(["cp", "quickstart", dest]) == 2
    err = capsys.readouterr().err
    assert "safemix cp: error:" in err and expect in err and "Traceback" not in err
    assert _tree(tmp_path) == before


def test_cp_unknown_recipe_suggests(tmp_path, capsys):
    assert main(["cp", "quickstrat", str(tmp_path / "q.yaml")]) == 2
    assert "did you mean 'quickstart'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_wheel_ships_the_recipes(tmp_path):
    """Build the wheel (offline, from a copy of the sources), install it into a fresh venv,
    and `safemix ls` / `safemix cp quickstart q.yaml` from there, outside the repository."""
    pytest.importorskip("setuptools")
    src = tmp_path / "src"
    src.mkdir()
    for f in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / f, src / f)
    shutil.copytree(REPO / "safemix", src / "safemix", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    pip = [sys.executable, "-m", "pip"]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PIP_NO_INDEX"] = "1"
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
                    "-w", str(tmp_path / "whl"), str(src)], check=True, env=env, cwd=src,
                   capture_output=True, timeout=300)
    (wheel,) = (tmp_path / "whl").glob("safemix-*.whl")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True, env=env).stdout.strip()
    # safemix's dependencies (pyyaml, ...) from this environment; safemix itself from the wheel
    Path(purelib, "_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    subprocess.run([*pip, "--python", str(py), "install", "--no-deps", "--no-index", "-q", str(wheel)],
                   check=True, env=env, capture_output=True, timeout=300)

    work = tmp_path / "work"
    work.mkdir()
    where = subprocess.run([str(py), "-c", "import safemix; print(safemix.__file__)"], cwd=work, env=env,
                           check=True, capture_output=True, text=True).stdout.strip()
    assert Path(where).is_relative_to(venv), where  # the installed wheel, not the checkout
    exe = venv / "bin" / "safemix"
    ls = subprocess.run([str(exe), "ls"], cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert ls.returncode == 0, ls.stderr
    listed = {line.split()[0] for line in ls.stdout.splitlines() if line.strip()}
    assert listed == set(shipped_recipes())
    cp = subprocess.run([str(exe), "cp", "quickstart", "q.yaml"], cwd=work, env=env,
                        capture_output=True, text=True, timeout=120)
    assert cp.returncode == 0, cp.stderr
    assert (work / "q.yaml").read_bytes() == shipped_recipes()["quickstart"].read_bytes()
    val = subprocess.run([str(exe), "validate", "q.yaml"], cwd=work, env=env, capture_output=True,
                         text=True, timeout=120)
    assert val.returncode == 0, val.stderr
    assert sorted(p.name for p in work.iterdir()) == ["q.yaml"]
