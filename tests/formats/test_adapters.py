"""Every adapter is lossless: from_example(to_example(record)) == record (property tests)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safemix.formats import read_job, write_examples
from safemix.formats.schemas import SCHEMAS, ColumnsSchema, detect_schema

LOC = {"path": "x.jsonl", "line": 1}
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
# CSV/TSV cells: no control characters that the TSV dialect cannot carry unquoted
cell = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)
extra = st.dictionaries(st.sampled_from(["id", "source", "tags"]), st.one_of(text, st.integers()), max_size=2)


@st.composite
def openai_records(draw):
    n = draw(st.integers(1, 4))
    msgs = []
    if draw(st.booleans()):
        msgs.append({"role": "system", "content": draw(text)})
    for _ in range(n):
        msgs.append({"role": "user", "content": draw(text)})
        m = {"role": "assistant", "content": draw(text)}
        if draw(st.booleans()):
            m["weight"] = draw(st.sampled_from([0, 1]))
        msgs.append(m)
    return {"messages": msgs, **draw(extra)}


@st.composite
def pc_records(draw):
    return {"prompt": draw(text), "completion": draw(text), **draw(extra)}


@st.composite
def alpaca_records(draw):
    r = {"instruction": draw(text)}
    if draw(st.booleans()):
        r["input"] = draw(text)
    r["output"] = draw(text)
    if draw(st.booleans()):
        r = {"system": draw(text), **r}
    return {**r, **draw(extra)}


@st.composite
def sharegpt_records(draw):
    conv = []
    if draw(st.booleans()):
        conv.append({"from": "system", "value": draw(text)})
    for _ in range(draw(st.integers(1, 3))):
        conv.append({"from": draw(st.sampled_from(["human", "user"])), "value": draw(text)})
        conv.append({"from": draw(st.sampled_from(["gpt", "assistant"])), "value": draw(text)})
    return {"conversations": conv, **draw(extra)}


@pytest.mark.parametrize("name,strategy", [("openai", openai_records()), ("prompt_completion", pc_records()),
                                           ("alpaca", alpaca_records()), ("sharegpt", sharegpt_records())])
def test_schema_round_trip(name, strategy):
    schema = SCHEMAS[name]

    @settings(max_examples=150, deadline=None)
    @given(strategy)
    def check(rec):
        assert detect_schema(rec) == name
        ex = schema.to_example(rec, LOC)
        assert ex.assistant is not None
        assert schema.from_example(ex) == rec

    check()


@settings(max_examples=100, deadline=None)
@given(st.fixed_dictionaries({"sentence": cell, "label": cell, "id": cell}))
def test_columns_round_trip(rec):
    sch = ColumnsSchema({"prompt": "sentence", "completion": "label"}, ["sentence", "label", "id"])
    ex = sch.to_example(rec, LOC)
    assert ex.user == rec["sentence"] and ex.assistant == rec["label"]
    assert sch.from_example(ex) == rec


def _records(path, container):
    if container in ("csv", "tsv"):
        import csv

        with open(path, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f, delimiter="," if container == "csv" else "\t",
                                       quoting=csv.QUOTE_MINIMAL if container == "csv" else csv.QUOTE_NONE))
    if container == "jsonl":
        return [json.loads(x) for x in open(path, encoding="utf-8")]
    if container == "json":
        return json.load(open(path, encoding="utf-8"))
    if container == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    import datasets

    return datasets.load_from_disk(str(path)).to_list()


FILE_CASES = [
    ("openai", "jsonl", [{"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q1"},
                                       {"role": "assistant", "content": "A1", "weight": 0},
                                       {"role": "user", "content": "Q2"}, {"role": "assistant", "content": "A2"}]}]),
    ("prompt_completion", "jsonl", [{"prompt": "Question: 1+1\nAnswer:", "completion": " 2", "id": 7}]),
    ("alpaca", "json", [{"instruction": "Do X.", "input": "data\n\nmore", "output": "done"},
                        {"instruction": "Para one\n\npara two", "input": "", "output": "ok"}]),
    ("sharegpt", "jsonl", [{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]}]),
    ("openai", "parquet", [{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}]),
    ("prompt_completion", "hf_disk", [{"prompt": "p", "completion": "c"}, {"prompt": "p2", "completion": "c2"}]),
]


@pytest.mark.parametrize("schema,container,records", FILE_CASES)
def test_file_round_trip(tmp_path, schema, container, records):
    src = tmp_path / {"jsonl": "in.jsonl", "json": "in.json", "parquet": "in.parquet", "hf_disk": "in_ds"}[container]
    if container == "jsonl":
        src.write_text("".join(json.dumps(r) + "\n" for r in records))
    elif container == "json":
        src.write_text(json.dumps(records))
    elif container == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(records), src)
    else:
        import datasets

        datasets.Dataset.from_list(records).save_to_disk(str(src))
    job = read_job(src)
    assert job.schema == schema and job.container == container and len(job) == len(records)
    out = tmp_path / ("out" + (src.suffix or "_ds"))
    write_examples(job.examples, out, **job.writer_args())
    got = _records(out, container)
    if container in ("parquet", "hf_disk"):  # columnar storage fills absent keys with None
        got = [{k: v for k, v in r.items() if v is not None} for r in got]
        got = [{**r, "messages": [{k: v for k, v in m.items() if v is not None} for m in r["messages"]]}
               if "messages" in r else r for r in got]
    assert got == records


@pytest.mark.parametrize("container,delim", [("csv", ","), ("tsv", "\t")])
def test_csv_tsv_round_trip(tmp_path, container, delim):
    rows = [["sentence", "label", "id"], ["a fine film", "1", "x1"], ["dull , slow", "0", "x2"]]
    src = tmp_path / f"in.{container}"
    if container == "csv":
        rows[1][0] = 'a "quoted", fine film'
        import csv

        with open(src, "w", newline="") as f:
            csv.writer(f).writerows(rows)
    else:
        src.write_text("\n".join(delim.join(r) for r in rows) + "\n")
    job = read_job(src)
    assert job.schema == "columns" and job.column_map == {"prompt": "sentence", "completion": "label"}
    assert job.examples[0].user == rows[1][0]
    out = tmp_path / f"out.{container}"
    write_examples(job.examples, out, **job.writer_args())
    assert _records(out, container) == _records(src, container)


def test_explicit_column_map_and_format_override(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("review,stars\ngreat,5\nbad,1\n")
    job = read_job(src, column_map={"prompt": "review", "completion": "stars"})
    assert [e.assistant for e in job.examples] == ["5", "1"]
    j2 = tmp_path / "pc.txt"
    j2.write_text('{"prompt": "a", "completion": "b"}\n')
    job2 = read_job(j2, container="jsonl", format="prompt_completion")
    assert job2.examples[0].user == "a"


def test_alpaca_written_from_new_examples_splits_at_blank_line(tmp_path):
    from safemix.formats import Example

    ex = Example.chat("Answer with a letter.\n\nWhat is red?\nA. apple\nB. sky", "A")
    out = tmp_path / "a.json"
    write_examples([ex], out, schema="alpaca", container="json")
    rec = json.loads(out.read_text())[0]
    assert rec["instruction"] == "Answer with a letter." and rec["input"].startswith("What is red?")
