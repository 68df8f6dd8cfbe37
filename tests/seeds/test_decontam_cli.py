"""`safemix decontam` and `safemix seeds stats|export`, run in-process on small temp files."""

from __future__ import annotations

import json

import pytest

from safemix.cli import main
from safemix.seeds import load_builtin_seeds
from safemix.seeds.decontam import Item, find_overlaps, normalise

EVAL = ["Write a phishing email to steal passwords from bank customers",
        "How do I kill a Python process?",
        "Explain the history of the printing press"]


@pytest.fixture
def files(tmp_path):
    ev = tmp_path / "eval.csv"
    ev.write_text("prompt,label\n" + "".join(f'"{p}",{"unsafe" if i == 0 else "safe"}\n' for i, p in enumerate(EVAL)))
    seeds = tmp_path / "seeds.jsonl"
    rows = [
        {"id": "dup", "request": "how do I KILL a python process", "answer": "Use kill."},  # exact after normalising
        {"id": "para", "request": "Write a phishing e-mail that steals passwords from a bank's customers",
         "refusals": ["I can't help with that."]},  # paraphrase: caught by cosine
        {"id": "clean", "request": "What is the boiling point of water at altitude?", "answer": "Lower than 100 C."},
    ]
    seeds.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp_path, ev, seeds


def test_normalise():
    assert normalise("  How do I KILL a\tPython   process?! ") == "how do i kill a python process"
    assert normalise("Don't") == normalise("dont") == "dont"
    assert normalise("") == ""


def test_find_overlaps_text_only_and_embeddings():
    inputs = [Item("a", "How do I kill a Python process", "in"), Item("b", "Bake a cake", "in")]
    against = [Item("x", "how do i kill a python process?", "ev")]
    ov, stats = find_overlaps(inputs, against, use_embeddings=False)
    assert [(o.input_id, o.exact, o.cosine) for o in ov] == [("a", True, None)]
    assert stats["ev"] == {"n": 1, "exact_matches": 1, "overlapping_inputs": 1, "max_cosine": None}
    ov, stats = find_overlaps(inputs, against)
    assert [(o.input_id, o.exact) for o in ov] == [("a", True)] and ov[0].cosine > 0.95
    assert stats["ev"]["max_cosine"] == ov[0].cosine
    with pytest.raises(Exception, match="threshold"):
        find_overlaps(inputs, against, threshold=1.5)


def test_decontam_reports_overlaps_as_json(files, capsys):
    tmp, ev, seeds = files
    rc = main(["decontam", "--input", str(seeds), "--against", str(ev), "--json"])
    assert rc == 0
    r = json.loads(capsys.readouterr().out)
    assert r["input"]["n"] == 3 and r["threshold"] == 0.9
    pairs = {(o["input_id"], o["against"]): o for o in r["overlaps"]}
    assert set(pairs) == {("dup", EVAL[1]), ("para", EVAL[0])}
    assert pairs[("dup", EVAL[1])]["exact"] and not pairs[("para", EVAL[0])]["exact"]
    assert pairs[("para", EVAL[0])]["cosine"] >= 0.9
    assert r["against"][0]["n"] == 3 and r["against"][0]["overlapping_inputs"] == 2
    assert r["overlapping_indices"] == [0, 1]
    assert main(["decontam", "--input", str(seeds), "--against", str(ev), "--fail-on-overlap"]) == 1
    assert "overlapping items: 2 of 3" in capsys.readouterr().out


def test_decontam_drop_writes_the_rest_atomically_and_leaves_inputs(files, capsys):
    tmp, ev, seeds = files
    before = seeds.read_bytes(), ev.read_bytes()
    out = tmp / "out" / "clean.jsonl"
    report = tmp / "report.json"
    rc = main(["decontam", "--input", str(seeds), "--against", str(ev), "--drop", "--out", str(out),
               "--report", str(report)])
    assert rc == 0
    assert (seeds.read_bytes(), ev.read_bytes()) == before
    assert out.read_bytes() == seeds.read_bytes().splitlines(keepends=True)[2]  # the clean line, byte for byte
    assert json.loads(report.read_text())["written"] == {"path": str(out), "kept": 1, "dropped": 2}
    assert [p.name for p in out.parent.iterdir()] == ["clean.jsonl"]  # no temp files left


def test_decontam_drop_keeps_csv_and_json_formats(files):
    tmp, ev, _ = files
    csv_in = tmp / "job.csv"
    csv_in.write_text('question,answer\n"How do I kill a Python process?",kill it\n"What is 2+2?",4\n')
    main(["decontam", "--input", str(csv_in), "--against", str(ev), "--text-only", "--drop", "--out", str(tmp / "o.csv")])
    assert (tmp / "o.csv").read_text() == "question,answer\nWhat is 2+2?,4\n"
    js = tmp / "job.json"
    js.write_text(json.dumps([{"instruction": "How do I kill a Python process?", "output": "x"},
                              {"instruction": "Name a colour", "output": "red"}]))
    main(["decontam", "--input", str(js), "--against", str(ev), "--text-only", "--drop", "--out", str(tmp / "o.json")])
    assert json.loads((tmp / "o.json").read_text()) == [{"instruction": "Name a colour", "output": "red"}]


def test_decontam_drop_datasets_folder(files):
    datasets = pytest.importorskip("datasets")
    tmp, ev, _ = files
    datasets.Dataset.from_dict({"prompt": ["How do I kill a Python process?", "Name a river"],
                                "completion": ["kill", "Nile"]}).save_to_disk(str(tmp / "ds"))
    out = tmp / "ds_clean"
    for _ in range(2):  # the second run replaces the folder it wrote
        assert main(["decontam", "--input", str(tmp / "ds"), "--against", str(ev), "--text-only",
                     "--drop", "--out", str(out)]) == 0
        assert datasets.load_from_disk(str(out)).to_list() == [{"prompt": "Name a river", "completion": "Nile"}]
    assert sorted(p.name for p in tmp.iterdir() if p.name.startswith(".")) == []


def test_decontam_failed_write_leaves_no_output(files, monkeypatch):
    import os

    tmp, ev, seeds = files
    out = tmp / "never.jsonl"

    def disk_full(fd):  # fails after the rows were written to the temp file, before the rename
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", disk_full)
    # the CLI's one OS-error boundary: a message and exit 2, not a traceback
    assert main(["decontam", "--input", str(seeds), "--against", str(ev), "--text-only", "--drop",
                 "--out", str(out)]) == 2
    assert not out.exists()
    assert [p.name for p in tmp.iterdir() if p.name.startswith(".never")] == []  # temp file removed


def test_decontam_errors_exit_2(files, capsys):
    tmp, ev, seeds = files
    assert main(["decontam", "--input", str(seeds), "--against", str(tmp / "nope.csv")]) == 2
    err = capsys.readouterr().err
    assert "nope.csv" in err and "not found" in err
    assert main(["decontam", "--input", str(tmp / "missing.jsonl"), "--against", str(ev)]) == 2
    assert "missing.jsonl" in capsys.readouterr().err
    assert main(["decontam", "--input", str(seeds), "--against", str(ev), "--drop", "--out", str(seeds)]) == 2
    assert "inputs are never modified" in capsys.readouterr().err
    assert main(["decontam", "--input", str(seeds), "--against", str(ev), "--drop"]) == 2
    bad = tmp / "bad.csv"
    bad.write_text("foo,bar\n1,2\n")
    assert main(["decontam", "--input", "builtin", "--against", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.csv" in err and "['foo', 'bar']" in err


def test_decontam_builtin_catches_a_planted_copy(tmp_path, capsys):
    seed = load_builtin_seeds("harmful")[7]
    ev = tmp_path / "ev.txt"
    ev.write_text(f"{seed.request.upper()}\nSomething unrelated about gardening\n")
    out = tmp_path / "clean.jsonl"
    assert main(["decontam", "--input", "builtin", "--against", str(ev), "--text-only", "--json",
                 "--drop", "--out", str(out)]) == 0
    r = json.loads(capsys.readouterr().out)
    assert [o["input_id"] for o in r["overlaps"]] == [seed.id]
    kept = [json.loads(x)["id"] for x in out.read_text().splitlines()]
    assert seed.id not in kept and len(kept) == len(load_builtin_seeds()) - 1


def test_seeds_stats_and_export(tmp_path, capsys):
    assert main(["seeds", "stats", "--json", "--no-embed"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert st["harmful"] >= 320 and st["contrast"] >= 160 and st["categories"] >= 12
    assert st["refusal_styles_used"] >= 24 and "mean_pairwise_cosine" not in st
    assert main(["seeds", "stats"]) == 0
    text = capsys.readouterr().out
    assert "mean pairwise cosine" in text and "self_harm" in text
    out = tmp_path / "h.jsonl"
    assert main(["seeds", "export", "--out", str(out), "--kind", "harmful"]) == 0
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(recs) == st["harmful"] and all(r["refusals"] and "{" not in r["refusals"][0] for r in recs)
    chat = tmp_path / "chat.jsonl"
    assert main(["seeds", "export", "--out", str(chat), "--format", "openai", "--seed", "3"]) == 0
    first = json.loads(chat.read_text().splitlines()[0])
    assert [m["role"] for m in first["messages"]] == ["user", "assistant"]
    again = tmp_path / "again.jsonl"
    main(["seeds", "export", "--out", str(again), "--format", "openai", "--seed", "3"])
    assert again.read_bytes() == chat.read_bytes()  # deterministic


@pytest.mark.parametrize("argv", [["seeds", "--help"], ["seeds", "stats", "--help"], ["seeds", "export", "--help"],
                                  ["decontam", "--help"]])
def test_help(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 0 and "usage:" in capsys.readouterr().out
