"""Containers round-trip: whatever `write_examples` writes, `read_job` reads back as the same
records, for any text (quotes, backslashes, tabs, CR, LF, unicode); property tests."""

from __future__ import annotations

import csv
import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from safemix.formats import Example, read_job, write_examples
from safemix.formats.io import tsv_escape, tsv_unescape
from safemix.formats.schemas import ColumnsSchema

LOC = {"path": "x", "line": 1}
# any text but lone surrogates, with the characters containers have to escape made frequent
TRICKY = ['"', "\\", "\t", "\r", "\n", ",", "'", "t", "n", "r", " ", "\ufeff", "\u2028", "\x85", "\x00", "é"]
text = st.text(st.one_of(st.sampled_from(TRICKY), st.characters(blacklist_categories=("Cs",))), max_size=20)
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _examples_from(records: list[dict], cm: dict[str, str], header: list[str]) -> list[Example]:
    sch = ColumnsSchema(cm, header)
    return [sch.to_example(r, LOC) for r in records]


@st.composite
def column_tables(draw):
    """(header, rows): 3 distinct column names of any text, and 1-4 rows of any text."""
    header = draw(st.lists(text, min_size=3, max_size=3, unique=True))
    rows = draw(st.lists(st.fixed_dictionaries({h: text for h in header}), min_size=1, max_size=4))
    return header, rows


def _check_table(tmp_path, container, table):
    header, rows = table
    cm = {"prompt": header[0], "completion": header[1]}
    examples = _examples_from(rows, cm, header)
    path = tmp_path / f"t.{container}"
    write_examples(examples, path, schema="columns", column_map=cm, columns=header)
    job = read_job(path, column_map=cm)
    assert job.columns == header
    assert [e.to_dict() for e in job.examples] == [e.to_dict() for e in examples]
    sch = ColumnsSchema(cm, header)
    assert [sch.from_example(e) for e in job.examples] == rows


BOM_HEADER = (["\ufeffa", "b", "c"], [{"\ufeffa": "q", "b": "a", "c": ""}])  # a header starting with U+FEFF
NUL_HEADER = (["", "0", "\x00"], [{"": "", "0": "", "\x00": ""}])  # NUL bytes early on: not UTF-16


@pytest.mark.parametrize("container", ["csv", "tsv"])
@SETTINGS
@given(table=column_tables())
@example(table=BOM_HEADER)
@example(table=NUL_HEADER)
def test_table_write_then_read_is_identity(tmp_path, container, table):
    _check_table(tmp_path, container, table)


@st.composite
def openai_records(draw):
    msgs = []
    if draw(st.booleans()):
        msgs.append({"role": "system", "content": draw(text)})
    for _ in range(draw(st.integers(1, 2))):
        msgs += [{"role": "user", "content": draw(text)}, {"role": "assistant", "content": draw(text)}]
    extra = draw(st.dictionaries(text.filter(lambda k: k != "messages"), st.one_of(text, st.integers()), max_size=2))
    return {"messages": msgs, **extra}


@SETTINGS
@given(st.lists(openai_records(), min_size=1, max_size=4), st.sampled_from(["jsonl", "json"]))
def test_json_containers_write_then_read_is_identity(tmp_path, records, container):
    from safemix.formats.schemas import SCHEMAS

    examples = [SCHEMAS["openai"].to_example(r, LOC) for r in records]
    path = tmp_path / f"t.{container}"
    write_examples(examples, path, schema="openai", container=container)
    job = read_job(path, container=container)
    assert [SCHEMAS["openai"].from_example(e) for e in job.examples] == records


@settings(max_examples=100, deadline=None)
@given(text)
def test_tsv_escape_is_inverted_and_leaves_one_line_field(value):
    field = tsv_escape(value)
    assert not set(field) & {"\t", "\n", "\r"}
    assert tsv_unescape(field) == value


@settings(max_examples=100, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\\\t\r\n"), max_size=20))
def test_tsv_escape_changes_nothing_without_backslash_or_break(value):
    assert tsv_escape(value) == value == tsv_unescape(value)


@SETTINGS
@given(st.lists(st.tuples(*[st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\\\t\r\n"),
                                    max_size=15)] * 2), min_size=1, max_size=4))
def test_plain_user_tsv_reads_as_its_raw_text(tmp_path, rows):
    """A TSV without backslashes (quotes included) reads byte-faithfully, with LF or CRLF."""
    for eol in ("\n", "\r\n"):
        path = tmp_path / "u.tsv"
        path.write_bytes(("sentence\tlabel" + eol + "".join(f"{a}\t{b}{eol}" for a, b in rows)).encode())
        job = read_job(path)
        assert [(e.user, e.assistant) for e in job.examples] == rows


@SETTINGS
@given(st.lists(st.tuples(text, text), min_size=1, max_size=4))
def test_user_csv_from_the_csv_module_reads_back(tmp_path, rows):
    """A CSV as Python's csv module (Excel dialect, CRLF) writes it reads back cell for cell."""
    path = tmp_path / "u.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("prompt", "completion"), *rows])
    job = read_job(path)
    assert [(e.user, e.assistant) for e in job.examples] == rows


def test_tsv_writes_quotes_and_backslashes_as_they_are(tmp_path):
    """A `"` or a backslash in a value is not escaped (the old writer wrote `\\"I\\" statements`)."""
    ex = [Example.chat('Avoid "I" statements in C:\\dir', "1"), Example.chat("tab\there\nnewline \\t", "0")]
    path = tmp_path / "o.tsv"
    write_examples(ex, path, schema="columns", column_map={"prompt": "sentence", "completion": "label"},
                   columns=["sentence", "label"])
    assert path.read_text(encoding="utf-8") == ('sentence\tlabel\nAvoid "I" statements in C:\\dir\t1\n'
                                                "tab\\there\\nnewline \\\\t\t0\n")
    assert [e.user for e in read_job(path).examples] == [ex[0].user, ex[1].user]


def test_byte_order_mark_skipped_in_every_text_container(tmp_path):
    bom = b"\xef\xbb\xbf"
    files = {"a.csv": b"prompt,completion\r\nq,a\r\n", "a.tsv": b"prompt\tcompletion\nq\ta\n",
             "a.jsonl": b'{"prompt": "q", "completion": "a"}\n',
             "a.json": b'[\n  {"prompt": "q", "completion": "a"}\n]\n'}
    for name, data in files.items():
        (tmp_path / name).write_bytes(bom + data)
        job = read_job(tmp_path / name)
        assert [(e.user, e.assistant) for e in job.examples] == [("q", "a")], name
        assert all("\ufeff" not in c for c in job.columns)


def test_json_extension_holding_json_lines_is_read_as_jsonl(tmp_path):
    p = tmp_path / "lines.json"
    p.write_text('{"prompt": "q1", "completion": "a1"}\n{"prompt": "q2", "completion": "a2"}\n')
    job = read_job(p)
    assert job.container == "jsonl" and [e.user for e in job.examples] == ["q1", "q2"]
    one = tmp_path / "one.json"
    one.write_text(json.dumps([{"prompt": "q", "completion": "a"}]))
    assert read_job(one).container == "json"


def test_csv_row_spanning_lines_is_numbered_by_its_first_line(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text('prompt,completion\n"two\nlines",a\nq,b\n')
    from safemix.formats import JobReader

    assert [line for line, _, _ in JobReader(p)] == [2, 4]
