"""`safemix worker [CONFIG.yaml] [key=value ...] [--executor local|ray|slurm] [--once]`: claim
fine-tuning jobs from the service's store and run each through `wrap` (see
safemix/service/worker.py and docs/SERVICE_WORKERS.md)."""

from __future__ import annotations

import argparse

from safemix.cli.common import add_recipe_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("worker", help="Run the service's fine-tuning jobs (claim, wrap, events; local/ray/slurm).",
                       description="Claim jobs from the store of `safemix serve` (same CONFIG.yaml) and run each "
                       "through wrap with an executor: local (a subprocess, default), ray (Ray's Job Submission "
                       "API) or slurm (sbatch). SIGTERM/SIGINT: finish the running job and exit; a second one: "
                       "stop it and queue it again. Exit status 0.")
    add_recipe_args(p, required=False, metavar="CONFIG", recipe_help="The service settings (YAML, top-level keys; "
                    "the same file as `safemix serve`).", overrides_help="key=value overrides of the settings.")
    p.add_argument("--executor", default="local", choices=("local", "ray", "slurm"),
                   help="Where jobs run (default: local).")
    p.add_argument("--once", action="store_true", help="Run one job (waiting up to --wait seconds for it) and exit.")
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS", help="With --once: how long to wait for a job.")
    p.add_argument("--worker-id", default=None, help="This worker's name in the job leases (default: host-pid-random).")
    p.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="Ray dashboard / job server address, e.g. http://127.0.0.1:8265 (default: RAY_ADDRESS).")
    p.add_argument("--slurm", action="append", default=[], metavar="KEY=VALUE",
                   help="A Slurm option of the generated sbatch script (partition, nodes, gpus_per_node, "
                   "cpus_per_task, time, account, qos, mem, python); repeatable.")
    p.set_defaults(func=run)


def executor_options(args: argparse.Namespace) -> dict:
    """The executor's options from the flags."""
    from safemix.config import apply_overrides
    from safemix.errors import ConfigError

    if args.executor == "ray":
        return {"address": args.ray_address} if args.ray_address else {}
    if args.executor == "slurm":
        bad = [x for x in args.slurm if "=" not in x]
        if bad:
            raise ConfigError(f"--slurm takes KEY=VALUE, got {bad[0]!r}")
        return apply_overrides({}, [k.replace("-", "_") + "=" + v for k, v in (x.split("=", 1) for x in args.slurm)])
    return {}


def run(args: argparse.Namespace) -> int:
    import json

    from safemix.cli.common import recipe_and_overrides
    from safemix.service.settings import load_settings
    from safemix.service.worker import Worker

    recipe, overrides = recipe_and_overrides(args)
    settings = load_settings(recipe, overrides)
    worker = Worker(settings, args.executor, args.worker_id, executor_options=executor_options(args))
    try:
        if args.once:
            worker.install_signal_handlers()
            job = worker.run_once(wait=args.wait)
            print(json.dumps({"job": job["id"], "status": job["status"], "attempts": job["attempts"]} if job
                             else {"job": None}))
        else:
            worker.run_forever()
    finally:
        worker.close()
        worker.store.close()
    return 0
