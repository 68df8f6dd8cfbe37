"""Nothing lost, whatever the input: one table of hostile inputs over every verb.

Each case builds a folder, runs one `safemix` command in it, and asserts exit code 2, a
message naming the path (and line/field where there is one), and that the folder is
byte-identical afterwards: every input unchanged, no new file, no leftover temp file.
Cases marked `as_user` run the real CLI as an unprivileged user (root ignores permission
bits), for read-only folders and unreadable inputs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from safemix.cli import main
from safemix.testing import folder_snapshot as snapshot
from safemix.utils import sha256_file

FIX = Path(__file__).resolve().parent / "fixtures"
JOB = FIX / "topic_chat.jsonl"
GEN = ["--method", "template", "--n", "6", "--no-select"]
NOBODY = 65534


# ----------------------------------------------------------------------------- assets
@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> Path:
    """Built once: a job, a safety set from `safemix generate` (with its sidecars), the job as
    a `datasets` folder, and a real eval run's results.json (scripted backend)."""
    d = tmp_path_factory.mktemp("assets")
    shutil.copy(JOB, d / "job.jsonl")
    cwd = os.getcwd()
    os.chdir(d)
    try:
        assert main(["generate", "--data", "job.jsonl", *GEN, "--out", "safety.jsonl"]) == 0
    finally:
        os.chdir(cwd)
    from safemix.formats import read_job, write_examples

    write_examples(read_job(d / "job.jsonl").examples, d / "data" / "jobds", schema="openai",
                   container="hf_disk")
    from safemix.eval import evaluate
    from safemix.llm.base import LLMBackend

    class Refuser(LLMBackend):
        name = "scripted"
        model = "scripted"

        def _chat(self, conversations, **params):
            return ["I'm sorry, but I can't help with that."] * len(conversations)

    evaluate(Refuser(), job=str(d / "job.jsonl"), validation=str(d / "job.jsonl"), n_validation=4,
             probes=[{"source": "builtin", "kind": "harmful", "limit": 4},
                     {"source": "builtin", "kind": "benign", "limit": 2}],
             bootstrap=50, output_dir=str(d / "evalrun"), batch_size=8)
    return d


def _copy(assets: Path, d: Path, *names: str) -> None:
    for n in names:
        src = assets / n
        if src.is_dir():
            shutil.copytree(src, d / n)
        else:
            (d / n).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, d / n)


# ------------------------------------------------------------------------------ cases
@dataclass
class Case:
    id: str
    setup: Callable[[Path, Path], list[str]]  # (folder, assets) -> argv
    expect: list[str] = field(default_factory=list)  # fragments of the message
    as_user: bool = False


def job_only(argv: list[str]) -> Callable[[Path, Path], list[str]]:
    def setup(d: Path, a: Path) -> list[str]:
        _copy(a, d, "job.jsonl")
        return argv
    return setup


def with_safety(argv: list[str], extra: Callable[[Path], None] | None = None):
    def setup(d: Path, a: Path) -> list[str]:
        _copy(a, d, "job.jsonl", "safety.jsonl", "safety.provenance.jsonl", "safety.manifest.json")
        if extra:
            extra(d)
        return argv
    return setup


def _hardlink(d: Path) -> None:
    os.link(d / "job.jsonl", d / "linked.jsonl")


def _symlink(d: Path) -> None:
    (d / "alias.jsonl").symlink_to(d / "job.jsonl")


def _first_mix(d: Path) -> None:
    assert main(["mix", "--data", str(d / "job.jsonl"), "--safety", str(d / "safety.jsonl"),
                 "--ratio", "0.1", "--out", str(d / "m"), "--quiet"]) == 0
    shutil.copy(d / "job.jsonl", d / "other.jsonl")


def _user_file(d: Path) -> None:
    (d / "notes.jsonl").write_text("my own notes\n")


def _dir_named_like_file(d: Path) -> None:
    (d / "out.jsonl").mkdir()
    (d / "out.jsonl" / "keep.txt").write_text("keep me\n")


def _prov_named_job(d: Path) -> None:
    shutil.copy(d / "job.jsonl", d / "x.provenance.jsonl")


def _stale_mix_temp(d: Path) -> None:
    pass


def hf_job(argv: list[str]):
    def setup(d: Path, a: Path) -> list[str]:
        _copy(a, d, "job.jsonl", "data/jobds")
        (d / "data" / "notes.txt").write_text("the user's other files\n")
        return argv
    return setup


def eval_run(argv: list[str], extra: Callable[[Path], None] | None = None):
    def setup(d: Path, a: Path) -> list[str]:
        _copy(a, d, "job.jsonl", "evalrun")
        if extra:
            extra(d)
        return argv
    return setup


def _no_metrics(d: Path) -> None:
    p = d / "evalrun" / "results.json"
    res = json.loads(p.read_text())
    del res["metrics"]
    p.write_text(json.dumps(res))


def _a_file(name: str) -> Callable[[Path], None]:
    def make(d: Path) -> None:
        (d / name).write_text("not a folder\n")
    return make


def _read_only(sub: str) -> Callable[[Path, Path], None]:
    def make(d: Path, a: Path) -> None:
        (d / sub).mkdir()
        os.chmod(d / sub, 0o555)
    return make


def ro(argv: list[str], sub: str = "ro", files: tuple[str, ...] = ("job.jsonl",)):
    def setup(d: Path, a: Path) -> list[str]:
        _copy(a, d, *files)
        _read_only(sub)(d, a)
        return argv
    return setup


def unreadable(argv: list[str]):
    def setup(d: Path, a: Path) -> list[str]:
        _copy(a, d, "job.jsonl")
        os.chmod(d / "job.jsonl", 0o000)
        return argv
    return setup


def unreadable_recipe(verb: str):
    def setup(d: Path, a: Path) -> list[str]:
        _copy(a, d, "job.jsonl")
        (d / "r.yaml").write_text("name: x\ndata: {train: job.jsonl}\ntrain: {model: nowhere}\n")
        os.chmod(d / "r.yaml", 0o000)
        return [verb, "r.yaml"]
    return setup


MIX = ["mix", "--data", "job.jsonl", "--safety", "safety.jsonl", "--ratio", "0.1", "--quiet"]

CASES = [
    # data loss, exit 0 before
    Case("generate-out-is-job", job_only(["generate", "--data", "job.jsonl", *GEN, "--out", "job.jsonl"]),
         ["job.jsonl", "is an input"]),
    Case("generate-out-dotdot-job", job_only(["generate", "--data", "job.jsonl", *GEN, "--out", "./sub/../job.jsonl"]),
         ["job.jsonl", "is an input"]),
    Case("generate-out-hardlink-to-job",
         with_safety(["generate", "--data", "job.jsonl", *GEN, "--out", "linked.jsonl"], _hardlink),
         ["linked.jsonl", "is an input"]),
    Case("generate-out-symlink-to-job",
         with_safety(["generate", "--data", "job.jsonl", *GEN, "--out", "alias.jsonl"], _symlink),
         ["alias.jsonl", "is an input"]),
    Case("profile-out-is-job", job_only(["profile", "job.jsonl", "--out", "job.jsonl"]), ["job.jsonl", "is an input"]),
    Case("generate-datasets-job-out-folder-holding-it",
         hf_job(["generate", "--data", "data/jobds", *GEN, "--out", "data"]), ["data", "refusing"]),
    Case("generate-datasets-job-out-dot", hf_job(["generate", "--data", "data/jobds", *GEN, "--out", "."]),
         ["names no file or folder"]),
    Case("mix-out-is-safety-sidecar", with_safety([*MIX, "--out", "safety.provenance.jsonl"]),
         ["safety.provenance.jsonl", "sidecar"]),
    Case("mix-sidecar-would-be-the-job", with_safety(
        ["mix", "--data", "x.provenance.jsonl", "--safety", "safety.jsonl", "--ratio", "0.1", "--quiet",
         "--out", "x.jsonl"], _prov_named_job), ["x.provenance.jsonl", "is an input"]),
    Case("mix-out-is-safety", with_safety([*MIX, "--out", "safety.jsonl"]), ["safety.jsonl", "is an input"]),
    Case("second-mix-same-folder", with_safety(
        ["mix", "--data", "other.jsonl", "--safety", "safety.jsonl", "--ratio", "0.1", "--quiet", "--out", "m"],
        _first_mix), ["mix_manifest.json", "another mix"]),
    Case("generate-out-replaces-user-file", with_safety(["generate", "--data", "job.jsonl", *GEN, "--out", "notes.jsonl"],
                                                        _user_file), ["notes.jsonl", "not written by safemix"]),
    Case("mix-out-is-existing-directory", with_safety([*MIX, "--out", "out.jsonl"], _dir_named_like_file),
         ["out.jsonl", "existing directory"]),
    Case("generate-out-is-existing-directory",
         with_safety(["generate", "--data", "job.jsonl", *GEN, "--out", "out.jsonl"], _dir_named_like_file),
         ["out.jsonl", "existing directory"]),
    Case("generate-out-under-a-file", with_safety(["generate", "--data", "job.jsonl", *GEN, "--out", "notes.jsonl/s.jsonl"],
                                                  _user_file), ["notes.jsonl", "is a file"]),
    # eval and report
    Case("eval-output-dir-is-a-file", eval_run(["eval", "model=some-model", "job=job.jsonl", "output_dir=taken"],
                                               _a_file("taken")), ["taken", "is a file"]),
    Case("eval-bad-job-creates-nothing", eval_run(["eval", "model=some-model", "job=bad.jsonl", "output_dir=newrun"],
                                                  _a_file("bad.jsonl")), ["bad.jsonl:1", "malformed JSON"]),
    Case("report-results-without-metrics", eval_run(["report", "evalrun", "--out", "cmp"], _no_metrics),
         ["results.json", "metrics"]),
    Case("report-out-is-a-file", eval_run(["report", "evalrun", "evalrun", "--out", "taken"], _a_file("taken")),
         ["taken", "file"]),
    Case("report-out-is-the-run", eval_run(["report", "evalrun", "--out", "evalrun/results.json"]),
         ["results.json"]),
    # OS errors: a message, not a traceback (as an unprivileged user: root ignores permissions)
    Case("profile-read-only-folder", ro(["profile", "job.jsonl", "--out", "ro/p.json"]),
         ["ro", "permission denied"], as_user=True),
    Case("generate-read-only-folder", ro(["generate", "--data", "job.jsonl", *GEN, "--out", "ro/s.jsonl"]),
         ["ro", "permission denied"], as_user=True),
    Case("mix-read-only-folder", ro([*MIX, "--out", "ro/m.jsonl"], files=(
        "job.jsonl", "safety.jsonl", "safety.provenance.jsonl", "safety.manifest.json")),
        ["ro", "permission denied"], as_user=True),
    Case("report-read-only-folder", ro(["report", "evalrun", "evalrun", "--out", "ro/cmp"], files=(
        "job.jsonl", "evalrun")), ["ro", "permission denied"], as_user=True),
    Case("eval-read-only-folder", ro(["eval", "model=some-model", "job=job.jsonl", "output_dir=ro/ev",
                                      "probes=[{source: builtin, kind: harmful, limit: 2}]"]),
         ["ro", "permission denied"], as_user=True),
    Case("profile-unreadable-input", unreadable(["profile", "job.jsonl"]), ["job.jsonl", "permission denied"],
         as_user=True),
    Case("validate-unreadable-recipe", unreadable_recipe("validate"), ["r.yaml", "cannot read"], as_user=True),
    Case("run-unreadable-recipe", unreadable_recipe("run"), ["r.yaml", "cannot read"], as_user=True),
    Case("generate-unreadable-input", unreadable(["generate", "--data", "job.jsonl", *GEN, "--out", "s.jsonl"]),
         ["job.jsonl", "permission denied"], as_user=True),
]


def _can_drop_privileges() -> bool:
    return os.geteuid() != 0 or shutil.which("setpriv") is not None


def _run_as_user(d: Path, argv: list[str]) -> tuple[int, str]:
    cmd = [sys.executable, "-m", "safemix", *argv]
    env = {**os.environ, "HOME": str(d), "PYTHONDONTWRITEBYTECODE": "1"}
    if os.geteuid() == 0:
        cmd = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--", *cmd]
    p = subprocess.run(cmd, cwd=d, env=env, capture_output=True, text=True, timeout=300)
    return p.returncode, p.stderr


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_exits_2_and_changes_nothing(case: Case, assets: Path, tmp_path: Path, monkeypatch, capsys):
    if case.as_user:
        if not _can_drop_privileges():
            pytest.skip("needs setpriv to run as an unprivileged user")
        d = Path(tempfile.mkdtemp(prefix="safemix-nl-", dir="/tmp"))
        os.chmod(d, 0o777)
    else:
        d = tmp_path / "work"
        d.mkdir()
    try:
        argv = case.setup(d, assets)
        if case.as_user:
            for p in [d, *d.rglob("*")]:  # the user owns nothing: it may read, not write, except `d`
                if p.is_dir() and p != d and not p.name.startswith("ro"):
                    os.chmod(p, 0o777)
        before = snapshot(d)
        if case.as_user:
            rc, err = _run_as_user(d, argv)
        else:
            monkeypatch.chdir(d)
            rc = main(argv)
            err = capsys.readouterr().err
        assert rc == 2, err
        assert "Traceback" not in err
        for frag in case.expect:
            assert frag in err, (frag, err)
        assert snapshot(d) == before
    finally:
        if case.as_user:
            for p in [d, *d.rglob("*")]:
                os.chmod(p, 0o777 if p.is_dir() else 0o666)
            shutil.rmtree(d, ignore_errors=True)


# ------------------------------------------------------------------- legitimate reruns
def test_reruns_replace_only_safemix_outputs(assets: Path, tmp_path: Path, monkeypatch):
    """What safemix wrote it may replace; what the user changed since, it may not."""
    monkeypatch.chdir(tmp_path)
    _copy(assets, tmp_path, "job.jsonl", "data/jobds")
    gen = ["generate", "--data", "job.jsonl", *GEN, "--out", "s.jsonl"]
    assert main(gen) == 0 and main(gen) == 0  # rerun replaces its own output
    with open("s.jsonl", "a") as f:
        f.write("\n")  # edited by hand
    assert main(gen) == 2
    # a datasets output folder is replaced (renamed in) on a rerun; the old one was safemix's
    hf = ["generate", "--data", "data/jobds", *GEN, "--out", "out/safe"]
    assert main(hf) == 0 and main(hf) == 0
    assert (tmp_path / "out" / "safe" / "state.json").exists()
    assert sha256_file(tmp_path / "job.jsonl") == sha256_file(JOB)


def test_killed_writer_temp_files_are_cleaned_on_the_next_run(assets: Path, tmp_path: Path, monkeypatch):
    """A SIGKILLed mix leaves `.name.safemix-PID.*.tmp`; the next write of that output removes it
    (only when PID is gone: a live writer's temp file is left alone)."""
    monkeypatch.chdir(tmp_path)
    _copy(assets, tmp_path, "job.jsonl", "safety.jsonl", "safety.provenance.jsonl", "safety.manifest.json")
    big = tmp_path / "big.jsonl"
    rows = (JOB.read_text().strip().splitlines() * 4000)
    big.write_text("\n".join(rows) + "\n")
    (tmp_path / "m").mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "safemix", "mix", "--data", str(big), "--safety", "safety.jsonl",
                             "--count", "6", "--no-dedupe", "--quiet", "--out", "m/big.jsonl"], cwd=tmp_path)
    import time

    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not list((tmp_path / "m").glob(".big.jsonl.safemix-*.tmp")):
        time.sleep(0.02)
    temps = list((tmp_path / "m").glob(".big*.safemix-*.tmp"))
    proc.kill()
    proc.wait()
    if not temps or (tmp_path / "m" / "big.jsonl").exists():
        pytest.skip("the mix finished before it could be killed")
    assert [p for p in temps if p.exists()]  # the killed writer's temp file is left behind
    live = tmp_path / "m" / f".big.jsonl.safemix-{os.getpid()}.live.tmp"
    live.write_text("a running writer's file\n")
    assert main(["mix", "--data", str(big), "--safety", "safety.jsonl", "--count", "6", "--no-dedupe",
                 "--quiet", "--out", "m/big.jsonl"]) == 0
    left = sorted(p.name for p in (tmp_path / "m").iterdir() if p.name.startswith("."))
    assert left == [live.name]
