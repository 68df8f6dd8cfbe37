"""Where a job's `wrap` runs: the worker hands each claimed job to an executor, which starts
`python -m safemix.service.jobrun JOB_ID --settings SETTINGS.json --worker ID` somewhere and reports when it ends.

- `LocalExecutor` (default): a subprocess on the worker host, in its own process group (a cancel
  kills the whole tree) and tied to the worker (Linux: it gets SIGKILL when the worker dies, so
  a crashed worker leaves no orphan training behind the expiring lease).
- `RayExecutor(address)`: the same command submitted with Ray's Job Submission API
  (`JobSubmissionClient.submit_job`), polled with `get_job_status`, stopped with `stop_job`.
- `SlurmExecutor(SlurmOptions)`: an `sbatch` script (`#SBATCH` lines from the options, `srun`
  of the command), submitted with `sbatch --parsable`, polled with `squeue`/`sacct`, cancelled
  with `scancel`.

Every executor has `submit(job_id, settings, worker_id, attempt) -> Handle` (`settings`: the
path of the worker's settings JSON, which the run must be able to read),
`poll(handle) -> int | None` (None while running, else an exit status: 0 = jobrun finished
and wrote the outcome) and `cancel(handle)`. Ray and Slurm jobs need the store's database,
files, runs folder and audit log reachable from where they run (PostgreSQL, a shared
filesystem or an fsspec URL): see docs/SERVICE_WORKERS.md.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXECUTORS = ("local", "ray", "slurm")
# the worker's variables a remote run gets too (a local run inherits the whole environment)
PASS_ENV = ("HF_", "TRANSFORMERS_", "SAFEMIX_", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "TOKENIZERS_PARALLELISM",
            "WANDB_DISABLED", "CUDA_VISIBLE_DEVICES", "NCCL_")
KILL_GRACE = 5.0  # seconds between SIGTERM and SIGKILL on cancel


@dataclass
class Handle:
    """A started run: `ref` is the executor's own id (a pid, a Ray submission id, a Slurm job id)."""

    executor: str
    ref: str
    job_id: str
    attempt: int = 1
    log: str | None = None
    obj: Any = field(default=None, repr=False)  # the Popen of a local run

    def __str__(self) -> str:
        return f"{self.executor}:{self.ref}"


def repo_root() -> Path:
    """The folder holding the `safemix` package (put on PYTHONPATH of remote runs)."""
    import safemix

    return Path(safemix.__file__).resolve().parents[1]


def jobrun_args(job_id: str, settings: str, worker_id: str | None = None,
                python: str | None = None) -> list[str]:
    """The one command every executor runs."""
    cmd = [python or sys.executable, "-m", "safemix.service.jobrun", job_id, "--settings", settings]
    return [*cmd, "--worker", worker_id] if worker_id else cmd


def passed_env() -> dict[str, str]:
    """The worker's variables that a remote run gets (PASS_ENV: offline switches, caches, threads)."""
    return {k: v for k, v in os.environ.items() if k.startswith(PASS_ENV)}


def child_env(base: dict[str, str]) -> dict[str, str]:
    """`base` with this checkout first on PYTHONPATH (the run imports the same safemix as the
    worker, installed or not)."""
    paths = [str(repo_root())] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {**base, "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}


# ------------------------------------------------------------------------------ local
def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: SIGKILL this process when the worker that started it dies."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class LocalExecutor:
    """`jobrun` as a subprocess of the worker, in its own session/process group; its output goes
    to `log_dir/<job>.<attempt>.log`."""

    name = "local"

    def __init__(self, log_dir: str | Path | None = None, python: str | None = None) -> None:
        self.log_dir = Path(log_dir) if log_dir else None
        self.python = python

    def submit(self, job_id: str, settings: str, worker_id: str | None = None, attempt: int = 1) -> Handle:
        cmd = jobrun_args(job_id, settings, worker_id, self.python)
        log_path = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log_path = self.log_dir / f"{job_id}.{attempt}.log"
        out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 - closed by the child's end
        try:
            proc = subprocess.Popen(cmd, env=child_env(dict(os.environ)), stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent,
                                    cwd=str(repo_root()))
        finally:
            if log_path:
                out.close()
        return Handle(self.name, str(proc.pid), job_id, attempt, str(log_path) if log_path else None, proc)

    def poll(self, handle: Handle) -> int | None:
        return handle.obj.poll()

    def cancel(self, handle: Handle, grace: float = KILL_GRACE) -> None:
        """SIGTERM the run's process group, SIGKILL what is left after `grace` seconds."""
        proc: subprocess.Popen = handle.obj
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 30.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        with contextlib.suppress(ProcessLookupError):  # anything left in the group (the run's own children)
            os.killpg(proc.pid, signal.SIGKILL)


# ------------------------------------------------------------------------------ ray
class RayExecutor:
    """Each run is a Ray job: `submit_job(entrypoint=<jobrun command>, runtime_env={env_vars})`.
    `address`: the head's dashboard URL (`http://127.0.0.1:8265`) or a Ray address."""

    name = "ray"
    DONE = {"SUCCEEDED": 0, "FAILED": 1, "STOPPED": -int(signal.SIGTERM)}

    def __init__(self, address: str | None = None, python: str | None = None, num_cpus: float | None = None,
                 num_gpus: float | None = None, env: dict[str, str] | None = None) -> None:
        from ray.job_submission import JobSubmissionClient

        self.client = JobSubmissionClient(address)
        self.python, self.num_cpus, self.num_gpus, self.env = python, num_cpus, num_gpus, dict(env or {})

    def runtime_env(self) -> dict[str, Any]:
        return {"env_vars": {**child_env(passed_env()), **self.env}}

    def submit(self, job_id: str, settings: str, worker_id: str | None = None, attempt: int = 1) -> Handle:
        cmd = jobrun_args(job_id, settings, worker_id, self.python or sys.executable)
        sid = f"{job_id}-{attempt}-{os.urandom(3).hex()}"
        kwargs: dict[str, Any] = {}
        if self.num_cpus is not None:
            kwargs["entrypoint_num_cpus"] = self.num_cpus
        if self.num_gpus is not None:
            kwargs["entrypoint_num_gpus"] = self.num_gpus
        ref = self.client.submit_job(entrypoint=shlex.join(cmd), submission_id=sid, runtime_env=self.runtime_env(),
                                     metadata={"safemix_job": job_id, "attempt": str(attempt)}, **kwargs)
        return Handle(self.name, ref, job_id, attempt)

    def poll(self, handle: Handle) -> int | None:
        got = self.client.get_job_status(handle.ref)
        status = str(getattr(got, "value", got))
        if status not in self.DONE:
            return None
        if status == "FAILED":
            code = getattr(self.client.get_job_info(handle.ref), "driver_exit_code", None)
            return int(code) if code not in (None, 0) else 1
        return self.DONE[status]

    def cancel(self, handle: Handle, grace: float = KILL_GRACE) -> None:
        self.client.stop_job(handle.ref)
        t0 = time.time()
        while time.time() - t0 < grace + 30 and self.poll(handle) is None:
            time.sleep(0.5)

    def logs(self, handle: Handle) -> str:
        return self.client.get_job_logs(handle.ref)


# ------------------------------------------------------------------------------ slurm
@dataclass
class SlurmOptions:
    """The `#SBATCH` lines of a job's script (None: not written, Slurm's default)."""

    partition: str | None = None
    nodes: int = 1
    gpus_per_node: int | None = None
    cpus_per_task: int | None = None
    time: str | None = None  # e.g. "04:00:00"
    account: str | None = None
    qos: str | None = None
    mem: str | None = None
    extra: list[str] = field(default_factory=list)  # more sbatch options, e.g. ["--constraint=a100"]
    script_dir: str | None = None  # where scripts and their logs go (default: <runs>/slurm)
    setup: list[str] = field(default_factory=list)  # shell lines before srun (module load, venv activate)
    python: str | None = None  # the python on the compute nodes (default: this one)


class SlurmExecutor:
    """Each run is one `sbatch` job whose script `srun`s the jobrun command once on the
    allocation (its first node); the allocation's nodes and GPUs are there for training."""

    name = "slurm"
    RUNNING = {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "RESIZING", "SUSPENDED"}

    def __init__(self, options: SlurmOptions | None = None, script_dir: str | Path | None = None,
                 run=subprocess.run) -> None:
        self.opt = options or SlurmOptions()
        self.script_dir = Path(self.opt.script_dir or script_dir or "slurm")
        self._run = run  # the command runner (tests pass a recorder; there is no Slurm there)

    def script(self, job_id: str, settings: str, worker_id: str | None = None, attempt: int = 1) -> str:
        o = self.opt
        sb = [f"--job-name=safemix-{job_id}", f"--nodes={o.nodes}", "--ntasks=1",
              f"--output={self.script_dir / f'{job_id}.{attempt}.%j.log'}"]
        sb += [f"--{k}={v}" for k, v in (("partition", o.partition), ("gpus-per-node", o.gpus_per_node),
               ("cpus-per-task", o.cpus_per_task), ("time", o.time), ("account", o.account), ("qos", o.qos),
               ("mem", o.mem)) if v is not None]
        sb += list(o.extra)
        env = child_env(passed_env())
        cmd = jobrun_args(job_id, settings, worker_id, o.python or sys.executable)
        lines = ["#!/bin/bash", f"# safemix service job {job_id}, attempt {attempt}"]
        lines += [f"#SBATCH {s}" for s in sb]
        lines += ["set -euo pipefail", *o.setup]
        lines += [f"export {k}={shlex.quote(v)}" for k, v in sorted(env.items())]
        lines += [f"cd {shlex.quote(str(repo_root()))}", "srun --nodes=1 --ntasks=1 --kill-on-bad-exit=1 "
                  + shlex.join(cmd), ""]
        return "\n".join(lines)

    def submit(self, job_id: str, settings: str, worker_id: str | None = None, attempt: int = 1) -> Handle:
        self.script_dir.mkdir(parents=True, exist_ok=True)
        path = self.script_dir / f"{job_id}.{attempt}.sbatch"
        path.write_text(self.script(job_id, settings, worker_id, attempt), encoding="utf-8")
        out = self._run(["sbatch", "--parsable", str(path)], capture_output=True, text=True, check=True)
        ref = out.stdout.strip().split(";")[0]  # "<id>[;<cluster>]"
        return Handle(self.name, ref, job_id, attempt, str(self.script_dir / f"{job_id}.{attempt}.{ref}.log"))

    def _state(self, ref: str) -> tuple[str, int | None]:
        """(state, exit code): squeue while the job is queued or running, else sacct."""
        out = self._run(["squeue", "-h", "-j", ref, "-o", "%T"], capture_output=True, text=True, check=False)
        state = (out.stdout or "").strip().splitlines()
        if out.returncode == 0 and state:
            return state[0].strip(), None
        out = self._run(["sacct", "-n", "-P", "-X", "-j", ref, "-o", "State,ExitCode"], capture_output=True,
                        text=True, check=False)
        rows = [r.split("|") for r in (out.stdout or "").strip().splitlines() if "|" in r]
        if not rows:
            return "UNKNOWN", None
        state, code = rows[0][0].split()[0], rows[0][1]
        return state, int(code.split(":")[0] or 0)

    def poll(self, handle: Handle) -> int | None:
        state, code = self._state(handle.ref)
        if state in self.RUNNING or state == "UNKNOWN":
            return None
        if state == "COMPLETED":
            return 0
        if state.startswith("CANCELLED"):
            return -int(signal.SIGTERM)
        return code or 1

    def cancel(self, handle: Handle, grace: float = KILL_GRACE) -> None:
        self._run(["scancel", handle.ref], capture_output=True, text=True, check=False)


def make_executor(name: str, **options: Any):
    """An executor by name: local (options: log_dir, python), ray (address, python, num_cpus,
    num_gpus, env), slurm (the SlurmOptions fields)."""
    from safemix.errors import ConfigError

    if name == "local":
        return LocalExecutor(**options)
    if name == "ray":
        try:
            import ray.job_submission  # noqa: F401
        except ImportError:
            raise ConfigError("the ray executor needs Ray: pip install 'safemix[ray]'") from None
        return RayExecutor(**options)
    if name == "slurm":
        from safemix.config import from_dict

        script_dir = options.pop("script_dir_default", None)
        return SlurmExecutor(from_dict(SlurmOptions, options), script_dir=script_dir)
    raise ConfigError(f"unknown executor {name!r}; one of {', '.join(EXECUTORS)}")


__all__ = ["EXECUTORS", "Handle", "LocalExecutor", "RayExecutor", "SlurmExecutor", "SlurmOptions", "child_env",
           "jobrun_args", "make_executor"]
