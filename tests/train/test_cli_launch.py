"""`safemix train` / `safemix launch` command lines (no training here)."""

from __future__ import annotations

import sys

import pytest
import yaml

from safemix.cli import main
from safemix.errors import ConfigError
from safemix.train.launch import launch_command


def write_recipe(path, **train) -> str:
    path.write_text("# test recipe\n" + yaml.safe_dump({"train": train}), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("cmd", ["train", "launch"])
def test_help(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        main([cmd, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: safemix {cmd}") and "overrides" in out


def test_torchrun_commands():
    one = launch_command("r.yaml", ["max_steps=5"], nproc=2)
    assert one[:4] == [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    assert one[4:] == ["--nproc_per_node", "2", "-m", "safemix", "train", "r.yaml", "max_steps=5"]
    multi = launch_command("r.yaml", nproc=8, nnodes=2, node_rank=1, master_addr="head")
    assert multi[3:11] == ["--nnodes", "2", "--node_rank", "1", "--master_addr", "head", "--master_port", "29500"]
    with pytest.raises(ConfigError, match="node-rank"):
        launch_command("r.yaml", nproc=8, nnodes=2)


def test_deepspeed_command(tmp_path):
    hf = tmp_path / "hostfile"
    hf.write_text("node1 slots=8\nnode2 slots=8\n")
    cmd = launch_command("r.yaml", ["deepspeed=zero3"], nproc=8, launcher="deepspeed", hostfile=str(hf))
    assert cmd[-5:] == ["--module", "safemix", "train", "r.yaml", "deepspeed=zero3"]
    assert "--hostfile" in cmd and str(hf) in cmd
    with pytest.raises(ConfigError, match="hostfile not found"):
        launch_command("r.yaml", launcher="deepspeed", hostfile=str(tmp_path / "none"))
    with pytest.raises(ConfigError, match="unknown launcher"):
        launch_command("r.yaml", launcher="mpirun")


def test_launch_dry_run_prints_the_command(tmp_path, tiny_model_dir, chat_job, capsys):
    recipe = write_recipe(tmp_path / "r.yaml", model=str(tiny_model_dir), data=[str(chat_job)],
                          batch_size=8, per_device_batch_size=4)
    assert main(["launch", "--nproc", "2", "--dry-run", recipe, "train.max_steps=3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("+ ") and "--nproc_per_node 2 -m safemix train" in out and "max_steps=3" in out


@pytest.mark.parametrize(("override", "message"), [
    ("batch_size=12", "not a multiple of per_device_batch_size"),  # 12 / (4 x 2 processes)
    ("deepspeed=zero5", "unknown DeepSpeed preset"),
    ("model=/nonexistent/model", "model path does not exist"),
])
def test_launch_checks_the_recipe_before_starting_processes(tmp_path, tiny_model_dir, chat_job, capsys,
                                                            override, message):
    recipe = write_recipe(tmp_path / "r.yaml", model=str(tiny_model_dir), data=[str(chat_job)],
                          per_device_batch_size=4)
    assert main(["launch", "--nproc", "2", recipe, override]) == 2
    err = capsys.readouterr()
    assert message in err.err and "+ " not in err.out


def test_debug_masking_cli(tmp_path, tiny_model_dir, chat_job, capsys):
    recipe = write_recipe(tmp_path / "r.yaml", model=str(tiny_model_dir), data=[str(chat_job)],
                          output_dir=str(tmp_path / "run"))
    assert main(["train", recipe, "--debug-masking", "-n", "2", "--no-color"]) == 0
    out = capsys.readouterr().out
    assert out.count("--- ") == 2 and "«The answer is 0.<|im_end|>»" in out
    assert "masking check OK: 32 examples" in out
    assert not (tmp_path / "run").exists()  # nothing trained, nothing written
