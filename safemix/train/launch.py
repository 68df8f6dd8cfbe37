"""Multi-process launch: `safemix launch --nproc N RECIPE [overrides]`.

Wraps torchrun (default) or the deepspeed launcher around `python -m safemix train`, prints
the exact command, checks the recipe first (so a bad value fails before N processes start),
then runs it. The commands it builds, for reference:

    # one machine, 8 processes (GPUs, or CPU processes with gloo when there is no GPU)
    torchrun --standalone --nproc_per_node 8 -m safemix train RECIPE
    # two machines, run on each with its rank (see examples/slurm_multinode.sbatch)
    torchrun --nnodes 2 --node_rank $RANK --master_addr HEAD --master_port 29500 \
        --nproc_per_node 8 -m safemix train RECIPE
    # DeepSpeed's launcher over a hostfile (see examples/hostfile); it ssh-es to each host
    deepspeed --hostfile examples/hostfile --module safemix train RECIPE
"""

from __future__ import annotations

import os
import shutil
import sys

LAUNCHERS = ("torchrun", "deepspeed")


def launch_command(recipe: str, overrides: list[str] | None = None, nproc: int = 1,
                   launcher: str = "torchrun", nnodes: int = 1, node_rank: int | None = None,
                   master_addr: str | None = None, master_port: int | None = None,
                   hostfile: str | None = None) -> list[str]:
    """The command line that runs `safemix train RECIPE overrides` in `nproc` processes per node.

    >>> launch_command("r.yaml", ["max_steps=5"], nproc=2)[-7:]
    ['--nproc_per_node', '2', '-m', 'safemix', 'train', 'r.yaml', 'max_steps=5']
    """
    from safemix.errors import ConfigError

    overrides = list(overrides or [])
    if launcher not in LAUNCHERS:
        raise ConfigError(f"unknown launcher {launcher!r}; choose one of {', '.join(LAUNCHERS)}")
    if nproc < 1 or nnodes < 1:
        raise ConfigError("--nproc and --nnodes must be >= 1")
    tail = ["safemix", "train", recipe, *overrides]
    if launcher == "torchrun":
        cmd = [sys.executable, "-m", "torch.distributed.run"]
        if nnodes == 1 and master_addr is None:
            cmd.append("--standalone")  # picks a free port: several runs can share a machine
        else:
            if node_rank is None or master_addr is None:
                raise ConfigError("multi-node torchrun needs --node-rank and --master-addr")
            cmd += ["--nnodes", str(nnodes), "--node_rank", str(node_rank),
                    "--master_addr", master_addr, "--master_port", str(master_port or 29500)]
        return [*cmd, "--nproc_per_node", str(nproc), "-m", *tail]
    ds = shutil.which("deepspeed")
    cmd = [ds] if ds else [sys.executable, "-m", "deepspeed.launcher.runner"]
    if hostfile:
        if not os.path.isfile(hostfile):
            raise ConfigError(f"hostfile not found: {hostfile}")
        cmd += ["--hostfile", hostfile]
    if nnodes > 1:
        cmd += ["--num_nodes", str(nnodes)]
    cmd += ["--num_gpus", str(nproc)]
    if master_addr:
        cmd += ["--master_addr", master_addr]
    if master_port:
        cmd += ["--master_port", str(master_port)]
    return [*cmd, "--module", *tail]


def launch_env() -> dict[str, str]:
    """Environment of the launched processes: CPU-only machines run DeepSpeed on its CPU
    accelerator (gloo collectives)."""
    env = dict(os.environ)
    try:
        import torch

        if not torch.cuda.is_available():
            env.setdefault("DS_ACCELERATOR", "cpu")
    except ImportError:  # pragma: no cover
        pass
    return env
