"""Probe sets: the built-in ones, and external files by path (small temp files + shared data)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from safemix.errors import ConfigError, InputError
from safemix.eval.probes import load_builtin_probes, load_probe_file
from safemix.seeds import load_categories


def test_builtin_probe_counts_and_categories():
    harmful, benign = load_builtin_probes("harmful"), load_builtin_probes("benign")
    assert len(harmful) >= 220 and len(benign) >= 110
    assert {p.kind for p in harmful} == {"harmful"} and {p.kind for p in benign} == {"benign"}
    cats = set(load_categories())
    assert set(Counter(p.category for p in harmful)) == cats  # same categories as the seeds
    assert min(Counter(p.category for p in harmful).values()) >= 10
    assert {p.category for p in benign} <= cats
    both = load_builtin_probes()
    assert len(both) == len(harmful) + len(benign) and len({p.id for p in both}) == len(both)
    assert all(p.source.startswith("builtin:probes_") for p in both)
    with pytest.raises(ConfigError, match="did you mean 'benign'"):
        load_builtin_probes("benighn")


def test_advbench_and_harmbench_style_csv(tmp_path):
    adv = tmp_path / "adv.csv"
    adv.write_text("goal,target\nDo a bad thing,Sure here is\n\"Do another, worse thing\",Sure\n")
    probes = load_probe_file(adv)
    assert [p.prompt for p in probes] == ["Do a bad thing", "Do another, worse thing"]
    assert all(p.kind == "harmful" for p in probes) and probes[0].meta == {"target": "Sure here is"}
    hb = tmp_path / "hb.csv"
    hb.write_text("Behavior,Category,Tags,ContextString,BehaviorID\nDo a bad thing,,,,hb_1\n")
    (p,) = load_probe_file(hb)
    assert (p.id, p.prompt, p.category) == ("hb_1", "Do a bad thing", None)


def test_xstest_style_labels_filter_by_kind(tmp_path):
    f = tmp_path / "xs.csv"
    f.write_text("id,prompt,type,label,focus,note\n1,How do I stop a frozen app?,homonyms,safe,stop,\n"
                 "2,Unsafe thing,contrast_homonyms,unsafe,x,\n3,Another safe one,figurative,safe,y,\n")
    allp = load_probe_file(f)
    assert [(p.id, p.kind, p.category) for p in allp] == [("1", "benign", "homonyms"),
                                                         ("2", "harmful", "contrast_homonyms"),
                                                         ("3", "benign", "figurative")]
    assert [p.id for p in load_probe_file(f, kind="benign")] == ["1", "3"]
    assert [p.id for p in load_probe_file(f, kind="harmful")] == ["2"]


def test_json_jsonl_txt_and_column_map(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(["first", "second"]))
    a = load_probe_file(tmp_path / "a.json")
    assert [p.prompt for p in a] == ["first", "second"] and len({p.id for p in a}) == 2
    (tmp_path / "b.json").write_text(json.dumps({"instructions": ["x one", "x two"], "tags": ["t1", "t2"], "inputs": []}))
    assert [(p.prompt, p.category) for p in load_probe_file(tmp_path / "b.json")] == [("x one", "t1"), ("x two", "t2")]
    (tmp_path / "c.jsonl").write_text('{"question": "q1", "extra": 1}\n\n{"question": "q2", "extra": 2}\n')
    assert [p.prompt for p in load_probe_file(tmp_path / "c.jsonl", kind="benign")] == ["q1", "q2"]
    (tmp_path / "d.txt").write_text("line one\n\nline two\n")
    assert [p.prompt for p in load_probe_file(tmp_path / "d.txt")] == ["line one", "line two"]
    (tmp_path / "e.csv").write_text("a,b\nhello,world\n")
    assert [p.prompt for p in load_probe_file(tmp_path / "e.csv", column_map={"prompt": "b"})] == ["world"]
    (tmp_path / "f.jsonl").write_text(json.dumps({"messages": [{"role": "system", "content": "s"},
                                                               {"role": "user", "content": "hi there"},
                                                               {"role": "assistant", "content": "a"}]}) + "\n")
    assert [p.prompt for p in load_probe_file(tmp_path / "f.jsonl")] == ["hi there"]


def test_datasets_folder(tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_dict({"prompt": ["p1", "p2"], "label": ["unsafe", "safe"]}).save_to_disk(str(tmp_path / "ds"))
    assert [(p.prompt, p.kind) for p in load_probe_file(tmp_path / "ds")] == [("p1", "harmful"), ("p2", "benign")]


def test_errors_name_file_line_and_columns(tmp_path):
    f = tmp_path / "nocol.csv"
    f.write_text("foo,bar\n1,2\n")
    with pytest.raises(InputError) as e:
        load_probe_file(f)
    assert str(f) in str(e.value) and "no prompt column" in str(e.value) and "['foo', 'bar']" in str(e.value)
    bad = tmp_path / "badlabel.csv"
    bad.write_text("prompt,label\nok,safe\nhmm,maybe\n")
    with pytest.raises(InputError, match=r"badlabel.csv:3: field 'label'"):
        load_probe_file(bad)
    empty = tmp_path / "empty.csv"
    empty.write_text("prompt\n")
    with pytest.raises(InputError, match="empty"):
        load_probe_file(empty)
    blank = tmp_path / "blank.jsonl"
    blank.write_text('{"prompt": "fine"}\n{"prompt": "  "}\n')
    with pytest.raises(InputError, match=r"blank.jsonl:2: field 'prompt'"):
        load_probe_file(blank)
    with pytest.raises(InputError, match="file not found"):
        load_probe_file(tmp_path / "missing.csv")
    with pytest.raises(InputError, match="malformed JSON"):
        (tmp_path / "broken.jsonl").write_text('{"prompt": "a"}\n{"prompt": \n')
        load_probe_file(tmp_path / "broken.jsonl")
    with pytest.raises(InputError, match="column_map names prompt='nope'"):
        load_probe_file(f, column_map={"prompt": "nope"})
    with pytest.raises(ConfigError):
        load_probe_file(f, column_map={"question": "foo"})
    xs = tmp_path / "xs.csv"
    xs.write_text("prompt,label\na,unsafe\n")
    with pytest.raises(InputError, match="no rows labelled 'benign'"):
        load_probe_file(xs, kind="benign")


def test_shared_probe_sets_load(shared_data):
    cases = {
        "advbench/advbench_behaviors_harmbench_format.csv": (None, 520),
        "directharm4/directHarm4.csv": (None, 400),
        "malicious_instruct/malicious_instruct.txt": (None, 100),
        "xstest/xstest_prompts.csv": ("benign", 250),
        "safety_tuned_llamas_eval/I-MaliciousInstructions.json": (None, 100),
    }
    for rel, (kind, n) in cases.items():
        path = shared_data / rel
        if not path.exists():
            continue
        probes = load_probe_file(path, kind=kind)
        assert len(probes) == n, rel
        assert all(p.prompt.strip() for p in probes)
    xs = shared_data / "xstest/xstest_prompts.csv"
    if xs.exists():
        assert len(load_probe_file(xs, kind="harmful")) == 200
    dh = shared_data / "directharm4/directHarm4.csv"
    if dh.exists():
        assert len({p.category for p in load_probe_file(dh)}) == 4
