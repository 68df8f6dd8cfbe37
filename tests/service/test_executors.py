"""Executors without a job: the local executor's process tree (cancel kills it all; a dead
worker takes its run with it), the Slurm executor's generated script and the commands it runs
(there is no Slurm here: a recorder stands in for `subprocess.run`), the jobrun command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from safemix.service.executors import (
    LocalExecutor,
    SlurmExecutor,
    SlurmOptions,
    child_env,
    jobrun_args,
    make_executor,
    repo_root,
)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except OSError:
        return False
    return state != "Z"


def _wait_gone(pids: list[int], timeout: float = 10) -> bool:
    t0 = time.time()
    while any(_alive(p) for p in pids) and time.time() - t0 < timeout:
        time.sleep(0.05)
    return not any(_alive(p) for p in pids)


def _fake_python(tmp_path: Path) -> Path:
    """A stand-in interpreter: starts a grandchild, writes both pids, sleeps; ignores TERM in the
    parent so that the cancel has to escalate to KILL."""
    p = tmp_path / "fakepy"
    p.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        trap '' TERM
        sleep 300 &
        echo "$$ $!" > {tmp_path}/pids
        echo "args: $@"
        wait
        """))
    p.chmod(0o755)
    return p


def _pids(tmp_path: Path) -> list[int]:
    t0 = time.time()
    while not (tmp_path / "pids").is_file() or not (tmp_path / "pids").read_text().strip():
        assert time.time() - t0 < 10
        time.sleep(0.05)
    return [int(x) for x in (tmp_path / "pids").read_text().split()]


def test_jobrun_command_and_environment(monkeypatch):
    cmd = jobrun_args("ftjob-1", "/s.json", "w1", python="/py")
    assert cmd == ["/py", "-m", "safemix.service.jobrun", "ftjob-1", "--settings", "/s.json", "--worker", "w1"]
    assert jobrun_args("ftjob-1", "/s.json")[-2:] == ["--settings", "/s.json"]
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    env = child_env({"HF_HUB_OFFLINE": "1"})
    assert env["HF_HUB_OFFLINE"] == "1"
    assert env["PYTHONPATH"].split(os.pathsep) == [str(repo_root()), "/elsewhere"]


def test_local_cancel_kills_the_whole_tree(tmp_path):
    ex = LocalExecutor(log_dir=tmp_path / "logs", python=str(_fake_python(tmp_path)))
    h = ex.submit("ftjob-x", "/s.json", "w1", attempt=2)
    parent, grandchild = _pids(tmp_path)
    assert parent == int(h.ref) and ex.poll(h) is None
    assert os.getpgid(parent) == parent  # its own process group
    t0 = time.time()
    ex.cancel(h, grace=0.5)
    assert time.time() - t0 < 10
    assert ex.poll(h) == -signal.SIGKILL  # TERM was ignored: escalated to KILL
    assert _wait_gone([parent, grandchild])
    log = (tmp_path / "logs" / "ftjob-x.2.log").read_text()
    assert "args: -m safemix.service.jobrun ftjob-x --settings /s.json --worker w1" in log
    assert h.log == str(tmp_path / "logs" / "ftjob-x.2.log")


def test_local_run_dies_with_its_worker(tmp_path):
    """SIGKILL the process that submitted (a worker): its run gets SIGKILL too (no orphan)."""
    fake = _fake_python(tmp_path)
    code = (f"from safemix.service.executors import LocalExecutor\n"
            f"h = LocalExecutor(python={str(fake)!r}).submit('ftjob-y', '/s.json')\n"
            f"print(h.ref, flush=True)\nimport time; time.sleep(300)\n")
    worker = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(repo_root())})
    run_pid = int(worker.stdout.readline())
    parent, _ = _pids(tmp_path)
    assert parent == run_pid and _alive(run_pid)
    worker.kill()
    worker.wait(10)
    assert _wait_gone([run_pid]), "the run outlived its worker"


class Recorder:
    """Stands in for subprocess.run: records each command, answers from `replies`."""

    def __init__(self, replies: dict[str, list[tuple[int, str]]]) -> None:
        self.calls: list[list[str]] = []
        self.replies = replies

    def __call__(self, cmd, **kwargs):
        self.calls.append(list(cmd))
        rc, out = self.replies[cmd[0]].pop(0)
        if kwargs.get("check") and rc:
            raise subprocess.CalledProcessError(rc, cmd, out)
        return subprocess.CompletedProcess(cmd, rc, out, "")


def test_slurm_script_and_commands(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    monkeypatch.setenv("SECRET_TOKEN", "x")  # not a variable runs get
    opt = SlurmOptions(partition="gpu", nodes=2, gpus_per_node=8, cpus_per_task=32, time="04:00:00",
                       account="ml", extra=["--constraint=a100"], setup=["source /opt/venv/bin/activate"],
                       python="/opt/venv/bin/python", script_dir=str(tmp_path / "slurm"))
    rec = Recorder({"sbatch": [(0, "4242;cluster1\n")],
                    "squeue": [(0, "PENDING\n"), (0, "RUNNING\n"), (0, ""), (0, "")],
                    "sacct": [(0, "COMPLETED|0:0\n"), (0, "FAILED|1:0\n")], "scancel": [(0, "")]})
    ex = SlurmExecutor(opt, run=rec)
    h = ex.submit("ftjob-abc", "/srv/settings.json", "w1", attempt=3)
    assert h.ref == "4242" and h.log == str(tmp_path / "slurm" / "ftjob-abc.3.4242.log")
    script_path = tmp_path / "slurm" / "ftjob-abc.3.sbatch"
    assert rec.calls[0] == ["sbatch", "--parsable", str(script_path)]
    lines = script_path.read_text().splitlines()
    assert lines[0] == "#!/bin/bash"
    assert [x for x in lines if x.startswith("#SBATCH")] == [
        "#SBATCH --job-name=safemix-ftjob-abc", "#SBATCH --nodes=2", "#SBATCH --ntasks=1",
        f"#SBATCH --output={tmp_path / 'slurm'}/ftjob-abc.3.%j.log", "#SBATCH --partition=gpu",
        "#SBATCH --gpus-per-node=8", "#SBATCH --cpus-per-task=32", "#SBATCH --time=04:00:00",
        "#SBATCH --account=ml", "#SBATCH --constraint=a100"]
    assert "source /opt/venv/bin/activate" in lines and "set -euo pipefail" in lines
    assert "export HF_HUB_OFFLINE=1" in lines and "export OMP_NUM_THREADS=4" in lines
    assert not any("SECRET_TOKEN" in x for x in lines)
    assert lines[-1] == ("srun --nodes=1 --ntasks=1 --kill-on-bad-exit=1 /opt/venv/bin/python -m "
                         "safemix.service.jobrun ftjob-abc --settings /srv/settings.json --worker w1")
    assert ex.poll(h) is None and ex.poll(h) is None  # PENDING, RUNNING (squeue)
    assert ex.poll(h) == 0  # gone from squeue: sacct COMPLETED
    assert ex.poll(h) == 1  # sacct FAILED, exit 1
    assert rec.calls[3] == ["squeue", "-h", "-j", "4242", "-o", "%T"]
    assert rec.calls[4] == ["sacct", "-n", "-P", "-X", "-j", "4242", "-o", "State,ExitCode"]
    ex.cancel(h)
    assert rec.calls[-1] == ["scancel", "4242"]


def test_slurm_quotes_odd_values_and_make_executor(tmp_path):
    ex = make_executor("slurm", partition="gpu", time="1:00:00", script_dir_default=str(tmp_path / "s"))
    assert isinstance(ex, SlurmExecutor) and ex.script_dir == tmp_path / "s"
    text = ex.script("ftjob-q", "/path with space/s.json")
    assert "#SBATCH --partition=gpu" in text and "#SBATCH --gpus-per-node" not in text
    assert "--settings '/path with space/s.json'" in text.splitlines()[-1]
    assert isinstance(make_executor("local"), LocalExecutor)
    from safemix.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown executor"):
        make_executor("k8s")
    with pytest.raises(ConfigError, match="unknown key"):
        make_executor("slurm", partitoin="gpu")
