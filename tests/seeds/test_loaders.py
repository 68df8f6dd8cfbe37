"""External seed loaders: Alpaca JSON, CSV with a column map, datasets folders, our JSONL schema."""

from __future__ import annotations

import json
import random

import pytest

from safemix.errors import ConfigError, InputError
from safemix.generate.refusal import looks_like_refusal
from safemix.seeds import load_builtin_seeds
from safemix.seeds.loaders import load_seed_file

REFUSAL = "I'm sorry, but I can't help with that."


def test_alpaca_json_request_is_instruction_plus_input(tmp_path):
    f = tmp_path / "alpaca.json"
    f.write_text(json.dumps([{"instruction": "Explain how to do a bad thing.", "input": "", "output": REFUSAL},
                             {"instruction": "Summarise this plan", "input": "a bad plan", "output": "I won't."}], indent=2))
    seeds = load_seed_file(f)
    assert [s.request for s in seeds] == ["Explain how to do a bad thing.", "Summarise this plan\n\na bad plan"]
    assert all(s.kind == "harmful" for s in seeds) and seeds[0].refusals == [REFUSAL]
    assert seeds[0].response(random.Random(0)) == REFUSAL
    assert seeds[0].source == f"file:{f}" and seeds[0].id == "alpaca-1"  # row number when there is no id


def test_csv_autodetect_and_column_map(tmp_path):
    hb = tmp_path / "hb.csv"
    hb.write_text(f'Behavior,Safe_Response\nPlan a bad thing,"{REFUSAL}"\n')
    (s,) = load_seed_file(hb)
    assert (s.request, s.refusals, s.category) == ("Plan a bad thing", [REFUSAL], "uncategorised")
    custom = tmp_path / "custom.tsv"
    custom.write_text("q\tno\tcat\nDo a bad thing\tI can't do that.\tfraud_scams\n")
    (s,) = load_seed_file(custom, column_map={"request": "q", "refusal": "no", "category": "cat"})
    assert (s.request, s.refusals, s.category) == ("Do a bad thing", ["I can't do that."], "fraud_scams")
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("request,refusal,answer\nbad,I won't.,\nHow do I stop a frozen app?,,Press Ctrl+C.\n")
    a, b = load_seed_file(mixed)
    assert (a.kind, b.kind, b.answer) == ("harmful", "contrast", "Press Ctrl+C.")


def test_seed_jsonl_schema_with_styles_and_literals(tmp_path):
    f = tmp_path / "seeds.jsonl"
    f.write_text(json.dumps({"id": "a", "category": "theft", "request": "Steal a bike", "topic": "stealing bikes",
                             "refusals": ["style:short_topic", "No, I won't."]}) + "\n"
                 + json.dumps({"id": "b", "category": "theft", "request": "How do I lock a bike?",
                               "answer": "Use a D-lock."}) + "\n")
    a, b = load_seed_file(f)
    assert a.refusals == ["Sorry, but I can't help with stealing bikes.", "No, I won't."]
    assert a.refusal_styles == ["short_topic"] and (b.kind, b.answer) == ("contrast", "Use a D-lock.")


def test_builtin_export_loads_back(tmp_path):
    from safemix.utils import write_jsonl

    seeds = load_builtin_seeds()[:5] + load_builtin_seeds("contrast")[:3]
    write_jsonl(tmp_path / "x.jsonl", [s.to_record() for s in seeds])
    back = load_seed_file(tmp_path / "x.jsonl")
    assert [(s.id, s.refusals, s.answer) for s in back] == [(s.id, s.refusals, s.answer) for s in seeds]


def test_datasets_folder(tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_dict({"prompt": ["bad one", "bad two"], "refusal": [REFUSAL, "I won't."]}) \
        .save_to_disk(str(tmp_path / "ds"))
    seeds = load_seed_file(tmp_path / "ds")
    assert [s.request for s in seeds] == ["bad one", "bad two"] and seeds[1].refusals == ["I won't."]


def test_bad_input_errors(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(InputError, match="empty"):
        load_seed_file(empty)
    empty_csv = tmp_path / "empty.csv"
    empty_csv.write_text("")
    with pytest.raises(InputError, match="empty"):
        load_seed_file(empty_csv)
    norefusal = tmp_path / "norefusal.csv"
    norefusal.write_text(f'Behavior,Safe_Response\nok,"{REFUSAL}"\nmissing one,\n')
    with pytest.raises(InputError, match=r"norefusal.csv:3: field 'Safe_Response': .*at least one refusal"):
        load_seed_file(norefusal)
    alp = tmp_path / "alp.json"
    alp.write_text('[\n{"instruction": "a", "output": "I can\'t."},\n{"instruction": "", "output": "x"}\n]')
    with pytest.raises(InputError, match=r"alp.json:3: field 'instruction': missing or empty"):
        load_seed_file(alp)
    jl = tmp_path / "bad.jsonl"
    jl.write_text(json.dumps({"id": "a", "request": "r", "refusals": ["style:nope"]}) + "\n")
    with pytest.raises(InputError, match=r"bad.jsonl:1: field 'refusals\[0\]': unknown refusal style"):
        load_seed_file(jl)
    jl.write_text(json.dumps({"id": "a", "request": "r", "refusals": []}) + "\n")
    with pytest.raises(InputError, match=r"bad.jsonl:1: field 'refusals'"):
        load_seed_file(jl)
    jl.write_text(json.dumps({"id": "a", "request": "r", "kind": "weird", "refusals": ["I can't."]}) + "\n")
    with pytest.raises(InputError, match="field 'kind'"):
        load_seed_file(jl)
    dup = tmp_path / "dup.jsonl"
    dup.write_text((json.dumps({"id": "a", "request": "r", "refusals": ["I can't."]}) + "\n") * 2)
    with pytest.raises(InputError, match=r"dup.jsonl:2: field 'id': duplicate"):
        load_seed_file(dup)
    cols = tmp_path / "cols.csv"
    cols.write_text("foo,bar\n1,2\n")
    with pytest.raises(InputError, match=r"cols.csv: cannot tell .* columns found: \['foo', 'bar'\]"):
        load_seed_file(cols)
    with pytest.raises(InputError, match="not in the file"):
        load_seed_file(cols, column_map={"request": "foo", "refusal": "baz"})
    with pytest.raises(ConfigError):
        load_seed_file(cols, column_map={"prompt": "foo"})
    with pytest.raises(InputError, match="file not found"):
        load_seed_file(tmp_path / "missing.json")


def test_inputs_are_not_modified(tmp_path):
    f = tmp_path / "hb.csv"
    f.write_text(f'Behavior,Safe_Response\nPlan a bad thing,"{REFUSAL}"\n')
    before = f.read_bytes()
    load_seed_file(f)
    assert f.read_bytes() == before


def test_shared_external_seed_sets(shared_data):
    stl = shared_data / "safety_tuned_llamas_train/safety_only_data_Instructions.json"
    if stl.exists():
        seeds = load_seed_file(stl)
        assert len(seeds) == 2483 and all(s.kind == "harmful" and s.refusals for s in seeds)
        # most outputs there are refusals by our keyword check; the rest are safe corrections
        assert sum(looks_like_refusal(s.refusals[0]) for s in seeds) > len(seeds) // 2
    hb = shared_data / "harmbench_advtrain_refusals/adv_training_behaviors_safe_responses.csv"
    if hb.exists():
        seeds = load_seed_file(hb)
        assert len(seeds) == 100 and all(looks_like_refusal(s.refusals[0]) for s in seeds)
    if not stl.exists() and not hb.exists():
        pytest.skip("external seed sets absent")
