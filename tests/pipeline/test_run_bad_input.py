"""Bad input to `safemix run` and `safemix validate`: exit code 2, one message naming the
file or field, no file written anywhere, every input byte-for-byte unchanged — all before
any model is loaded or trained."""

from __future__ import annotations

from pathlib import Path

import pytest

from safemix.cli import main
from safemix.testing import folder_snapshot as snapshot

REPO = Path(__file__).resolve().parents[2]
JOB = REPO / "tests" / "fixtures" / "topic_chat.jsonl"


@pytest.fixture
def work(tmp_path, monkeypatch) -> Path:
    """A working folder two levels down in tmp_path (so that `runs/../../x` still lands
    inside the snapshot), with a valid job under data/."""
    wd = tmp_path / "work" / "here"
    (wd / "data").mkdir(parents=True)
    lines = JOB.read_text(encoding="utf-8").splitlines(keepends=True)
    (wd / "data" / "job.jsonl").write_text("".join(lines[:24]), encoding="utf-8")
    (wd / "data" / "val.jsonl").write_text("".join(lines[24:32]), encoding="utf-8")
    (wd / "notes.txt").write_text("a regular file\n", encoding="utf-8")
    monkeypatch.chdir(wd)
    return wd


GOOD = "data: {train: data/job.jsonl, validation: data/val.jsonl}\n"

# (id, recipe text, extra arguments, substrings of the message)
CASES = [
    ("name-traversal", "name: ../../escape\n" + GOOD, [], ["name:", "'../../escape'"]),
    ("name-slash", "name: a/b\n" + GOOD, [], ["name:", "'a/b'"]),
    ("name-backslash", "name: 'a\\b'\n" + GOOD, [], ["name:", "not a valid run name"]),
    ("name-absolute", "name: /tmp/abs\n" + GOOD, [], ["name:", "'/tmp/abs'"]),
    ("name-dotdot", "name: '..'\n" + GOOD, [], ["name:", "'..'"]),
    ("name-empty", "name: ''\n" + GOOD, [], ["name:", "''"]),
    ("name-space-colon", "name: 'my run: 2'\n" + GOOD, [], ["name:", "not a valid run name"]),
    ("name-override", GOOD, ["name=../up"], ["name:", "'../up'"]),
    ("generate-method", "name: x\n" + GOOD, ["generate.method=raw"], ["generate.method", "`methods`"]),
    ("generate-method-recipe", "name: x\ngenerate: {method: template}\n" + GOOD, [],
     ["generate.method", "`methods`"]),
    ("generate-n", "name: x\n" + GOOD, ["generate.n=50"], ["generate.n", "`ratios`"]),
    ("generate-ratio", "name: x\n" + GOOD, ["generate.ratio=0.2"], ["generate.ratio", "`ratios`"]),
    ("mix-ratio", "name: x\n" + GOOD, ["mix.ratio=0.3"], ["mix.ratio", "`ratios`"]),
    ("mix-count", "name: x\nmix: {count: 10}\n" + GOOD, [], ["mix.count", "`ratios`"]),
    ("mix-safety", "name: x\n" + GOOD, ["mix.safety=data/val.jsonl"], ["mix.safety", "safemix mix"]),
    ("output-dir-is-the-job", "name: x\noutput_dir: data/job.jsonl\n" + GOOD, [],
     ["output_dir", "data.train: data/job.jsonl", "is an input"]),
    ("output-dir-is-a-file", "name: x\noutput_dir: notes.txt\n" + GOOD, [], ["output_dir", "notes.txt"]),
    ("output-dir-holds-the-job", "name: x\noutput_dir: data\n" + GOOD, [],
     ["output_dir", "data.train", "data/job.jsonl"]),
    ("output-dir-holds-validation", "name: x\noutput_dir: ./data/\n" + GOOD, [], ["output_dir", "data."]),
    ("output-dir-below-a-file", "name: x\noutput_dir: notes.txt/run\n" + GOOD, [], ["output_dir", "notes.txt"]),
    ("output-dir-empty", "name: x\noutput_dir: ' '\n" + GOOD, [], ["output_dir"]),
    ("name-run-dir-holds-the-job", "name: x\ndata: {train: runs/x/job.jsonl}\n", [],
     ["name:", "data.train", "runs/x/job.jsonl"]),
    ("job-missing", "name: x\ndata: {train: data/nope.jsonl}\n", [], ["data.train", "data/nope.jsonl"]),
    ("validation-missing", "name: x\ndata: {train: data/job.jsonl, validation: data/nope.jsonl}\n", [],
     ["data.validation", "data/nope.jsonl"]),
    ("seeds-missing", "name: x\ngenerate: {seeds: data/seeds.jsonl}\n" + GOOD, [],
     ["generate.seeds", "data/seeds.jsonl"]),
    ("job-malformed-line", "name: x\ndata: {train: data/bad.jsonl}\n", [], ["data/bad.jsonl:5"]),
    ("validation-malformed-line", "name: x\ndata: {train: data/job.jsonl, validation: data/bad.jsonl}\n", [],
     ["data/bad.jsonl:5"]),
    ("recipe-not-utf8", b"name: caf\xe9\n" + GOOD.encode(), [], ["r.yaml:1", "UTF-8"]),
    ("recipe-not-utf8-line-3", b"name: x\n# ok\n# caf\xe9\n" + GOOD.encode(), [], ["r.yaml:3", "UTF-8"]),
    ("recipe-is-a-directory", None, [], ["r.yaml", "directory"]),
    ("recipe-missing-path", "", ["--recipe=data/none.yaml"], ["recipe not found", "data/none.yaml"]),
]


def _setup(case_id: str, recipe: str | bytes | None, args: list[str], wd: Path) -> tuple[str, list[str]]:
    if case_id in ("job-malformed-line", "validation-malformed-line"):
        good = (wd / "data" / "job.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
        (wd / "data" / "bad.jsonl").write_text("".join(good[:4]) + '{"messages": [\n' + good[5],
                                               encoding="utf-8")
    if case_id == "name-run-dir-holds-the-job":
        (wd / "runs" / "x").mkdir(parents=True)
        (wd / "runs" / "x" / "job.jsonl").write_bytes((wd / "data" / "job.jsonl").read_bytes())
    path = wd / "r.yaml"
    if recipe is None:
        path.mkdir()
    elif isinstance(recipe, bytes):
        path.write_bytes(recipe)
    else:
        path.write_text(recipe, encoding="utf-8")
    extra = [a for a in args if not a.startswith("--recipe=")]
    named = [a.split("=", 1)[1] for a in args if a.startswith("--recipe=")]
    return (named[0] if named else "r.yaml"), extra


@pytest.mark.parametrize("command", ["run", "validate"])
@pytest.mark.parametrize(("case_id", "recipe", "args", "expect"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_exits_2_names_it_and_writes_nothing(work, capsys, command, case_id, recipe, args, expect):
    recipe_arg, extra = _setup(case_id, recipe, args, work)
    root = work.parents[1]
    before = snapshot(root)
    rc = main([command, recipe_arg, *extra])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert f"safemix {command}: error:" in err
    for s in expect:
        assert s in err, (s, err)
    assert "Traceback" not in err
    assert snapshot(root) == before  # no new file or folder anywhere; every input unchanged


def test_run_with_no_model_fails_before_writing(work, capsys):
    """A good recipe and job but no model: the run stops before it writes run_config.json."""
    (work / "r.yaml").write_text("name: x\n" + GOOD, encoding="utf-8")
    before = snapshot(work.parents[1])
    assert main(["validate", "r.yaml"]) == 0
    assert main(["run", "r.yaml"]) == 2
    assert "train.model is not set" in capsys.readouterr().err
    assert main(["run", "r.yaml", "train.model=./no_such_model"]) == 2
    assert "train.model: model path does not exist: ./no_such_model" in capsys.readouterr().err
    assert snapshot(work.parents[1]) == before


# An unreadable recipe (run, validate) is in tests/test_nothing_lost.py, run as an unprivileged
# user: root reads a chmod 000 file anyway.
@pytest.mark.parametrize("name", ["x", "run-1", "sweep_0.05", "a+b", "_tmp", "A" * 128])
def test_good_run_names_validate(work, name):
    (work / "r.yaml").write_text(f"name: {name}\n" + GOOD, encoding="utf-8")
    assert main(["validate", "r.yaml"]) == 0


def test_name_too_long(work, capsys):
    (work / "r.yaml").write_text("name: " + "a" * 129 + "\n" + GOOD, encoding="utf-8")
    assert main(["validate", "r.yaml"]) == 2
    assert "name:" in capsys.readouterr().err
