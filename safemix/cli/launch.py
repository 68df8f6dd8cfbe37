"""`safemix launch --nproc N RECIPE [key=value ...]`: `safemix train` in several processes
(torchrun or deepspeed), after checking the recipe once."""

from __future__ import annotations

import argparse

from safemix.cli.common import add_recipe_args


def register(sub: argparse._SubParsersAction) -> None:
    q = sub.add_parser(
        "launch", help="Run `safemix train` in several processes (torchrun or deepspeed).",
        description="Check RECIPE, print the launch command, and run it. One machine: --nproc N. "
        "Several: run on each node with --nnodes/--node-rank/--master-addr (torchrun), or "
        "--launcher deepspeed --hostfile FILE from the head node.")
    add_recipe_args(q, required=True, recipe_help=None,
                    overrides_help="Dotted key=value overrides of the train section.")
    q.add_argument("--nproc", type=int, default=1, help="Processes per node (GPUs per node; CPU processes without GPUs).")
    q.add_argument("--launcher", default="torchrun", choices=("torchrun", "deepspeed"))
    q.add_argument("--nnodes", type=int, default=1)
    q.add_argument("--node-rank", type=int, default=None)
    q.add_argument("--master-addr", default=None)
    q.add_argument("--master-port", type=int, default=None)
    q.add_argument("--hostfile", default=None, help="DeepSpeed hostfile (`host slots=N` per line).")
    q.add_argument("--dry-run", action="store_true", help="Print the command only.")
    q.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import shlex
    import subprocess

    from safemix.cli.common import load_verb_config, recipe_and_overrides
    from safemix.config import resolve_recipe
    from safemix.train.config import TrainConfig
    from safemix.train.distributed import resolve_deepspeed
    from safemix.train.launch import launch_command, launch_env
    from safemix.train.trainer import check_paths

    # Check the recipe here so a bad value fails once, not in every process.
    recipe, overrides = recipe_and_overrides(args, "train")
    recipe = str(resolve_recipe(recipe))
    cfg = load_verb_config(args, TrainConfig, "train")
    if cfg.deepspeed:
        resolve_deepspeed(cfg.deepspeed)
    check_paths(cfg)
    cfg.accumulation_steps(args.nproc * args.nnodes)
    cmd = launch_command(recipe, overrides, args.nproc, args.launcher,
                         args.nnodes, args.node_rank, args.master_addr, args.master_port, args.hostfile)
    print("+ " + shlex.join(cmd), flush=True)
    if args.dry_run:
        return 0
    return subprocess.run(cmd, env=launch_env()).returncode
