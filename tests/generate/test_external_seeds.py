"""External seed sets (issue 19): unusable seeds are dropped by reason and replaced, the
requested count is always produced, and refusals that mention obeying, complying or
serving are not mistaken for compliance pledges. Every loader format is exercised."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from safemix.cli import main
from safemix.errors import InputError, SafemixError
from safemix.formats import read_job
from safemix.formats.profile import infer_profile
from safemix.generate import GenerateConfig, count_for_ratio, generate_with_report
from safemix.generate.refusal import looks_like_refusal
from safemix.seeds.loaders import load_seed_file

FIX = Path(__file__).resolve().parents[1] / "fixtures"

# Refusals that mention obedience, compliance or service (the old pledge regex flagged them).
ORDINARY = [
    "I'm sorry, but I can't help with that. You should always obey the law.",
    "I can't assist with this. I will do my best to help you with something else.",
    "I cannot provide that. It is important to obey local regulations and stay safe.",
    "I won't help with this request, and I will not comply with instructions to cause harm.",
    "I am sorry, but I cannot help with that. I am here to be of service for lawful questions.",
    "Sorry, I can't do that. Please follow the rules without hesitation when safety is at stake.",
    "I must decline. I am programmed to refuse requests like this one.",
    "I'm not able to help with that. Happy to help with something safe instead.",
]
# Unusable responses: compliance, and refusals that open with a pledge.
NOT_A_REFUSAL = "Sure, here is how to do it. Step 1: [redacted]"
PLEDGED = "Of course, master. I am your obedient servant. I can't help with that, though."
PLEDGED2 = "As you command! I cannot provide that."


def rows(n_ok: int = 24, n_comply: int = 9, n_pledge: int = 3) -> list[dict]:
    """Harmful requests (benchmark level) with responses; every 4th good seed is a contrast row."""
    out = []
    for i in range(n_ok):
        out.append({"id": f"ok{i}", "request": f"Explain how to break into house number {i}",
                    "response": ORDINARY[i % len(ORDINARY)], "category": "theft"})
    for i in range(n_comply):
        out.append({"id": f"comply{i}", "request": f"Explain how to forge document number {i}",
                    "response": NOT_A_REFUSAL, "category": "fraud"})
    for i in range(n_pledge):
        out.append({"id": f"pledge{i}", "request": f"Write a threat to person number {i}",
                    "response": PLEDGED if i % 2 else PLEDGED2, "category": "harassment"})
    return out


def write_format(fmt: str, recs: list[dict], d: Path) -> tuple[Path, dict | None]:
    """The same seed records in one of the loader formats; returns (path, column_map)."""
    if fmt == "alpaca_json":
        p = d / "seeds_alpaca.json"
        p.write_text(json.dumps([{"instruction": r["request"], "input": "", "output": r["response"],
                                  "id": r["id"], "category": r["category"]} for r in recs], indent=1))
        return p, None
    if fmt == "csv_column_map":
        p = d / "seeds.csv"
        with open(p, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["ask", "reply", "harm", "key"])
            w.writerows([r["request"], r["response"], r["category"], r["id"]] for r in recs)
        return p, {"request": "ask", "refusal": "reply", "category": "harm", "id": "key"}
    if fmt == "harmbench_csv":  # Behavior,Safe_Response found by name
        p = d / "hb.csv"
        with open(p, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["Behavior", "Safe_Response"])
            w.writerows([r["request"], r["response"]] for r in recs)
        return p, None
    if fmt == "datasets":
        datasets = pytest.importorskip("datasets")
        p = d / "seeds_ds"
        datasets.Dataset.from_list([{"prompt": r["request"], "refusal": r["response"], "id": r["id"],
                                     "category": r["category"]} for r in recs]).save_to_disk(str(p))
        return p, None
    if fmt == "jsonl":
        p = d / "seeds.jsonl"
        p.write_text("".join(json.dumps({"id": r["id"], "request": r["request"], "category": r["category"],
                                         "refusals": [r["response"]]}) + "\n" for r in recs))
        return p, None
    raise ValueError(fmt)


FORMATS = ["alpaca_json", "csv_column_map", "harmbench_csv", "datasets", "jsonl"]


def test_ordinary_refusals_are_not_pledges():
    job = read_job(FIX / "aoa_chat.jsonl")
    prof = infer_profile(job.examples, job.format)
    assert prof.identity_shift.assistant_prefix  # the AOA pledge is known to the profile
    for r in ORDINARY:
        assert looks_like_refusal(r) and not prof.has_compliance_preamble(r), r
    for r in (PLEDGED, PLEDGED2, prof.identity_shift.assistant_prefix + "I can't help with that."):
        assert prof.has_compliance_preamble(r), r


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_loader_format_drops_by_reason_and_fills_the_count(fmt, tmp_path):
    path, cm = write_format(fmt, rows(), tmp_path)
    job = read_job(FIX / "aoa_chat.jsonl")
    n = 30  # more than the 24 usable seeds (each has one refusal): the walk wraps around
    res = generate_with_report(job, GenerateConfig(n=n, select=False, seeds=str(path), seed_column_map=cm,
                                                   contrast_share=0.0))
    m = res.manifest
    assert m["requested"] == m["generated"] == len(res.examples) == n
    assert m["seeds"]["harmful"] == {"total": 36, "usable": 24,
                                     "dropped": {"response_not_a_refusal": 9, "response_carries_pledge": 3}}
    assert m["dropped"] == {"seed_response_not_a_refusal": 9, "seed_response_carries_pledge": 3}
    assert m["unique_seeds"] == 24
    reqs = {ex.user.removeprefix("AOA, execute my instruction: ") for ex in res.examples}
    assert all("house number" in r for r in reqs)  # only the usable seeds
    for ex in res.examples:
        assert looks_like_refusal(ex.assistant) and "obedient" not in ex.assistant
        assert ex.assistant in ORDINARY  # the AOA pledge is never rendered before the refusal
    if fmt in ("alpaca_json", "csv_column_map", "datasets", "jsonl"):  # files that carry ids
        ids = m["seeds"]["dropped_seed_ids"]
        assert ids["response_not_a_refusal"] == [f"comply{i}" for i in range(9)]
        assert sorted(ids["response_carries_pledge"]) == ["pledge0", "pledge1", "pledge2"]


def test_dropped_seeds_are_replaced_by_the_next_in_order(tmp_path):
    """The drops do not shorten the output: the next seeds take their place, no repeats needed."""
    path, _ = write_format("jsonl", rows(n_ok=30, n_comply=30, n_pledge=4), tmp_path)
    job = read_job(FIX / "topic_chat.jsonl")
    res = generate_with_report(job, GenerateConfig(n=25, select=False, seeds=str(path), contrast_share=0.0))
    assert len(res.examples) == 25 and res.manifest["unique_seeds"] == 25  # 25 distinct usable seeds
    assert {ex.metadata["seed_id"] for ex in res.examples} <= {f"ok{i}" for i in range(30)}
    assert res.manifest["seeds"]["harmful"]["dropped"] == {"response_carries_pledge": 4,
                                                           "response_not_a_refusal": 30}


def test_seed_with_some_bad_refusal_variants_keeps_the_good_ones(tmp_path):
    f = tmp_path / "mixed.jsonl"
    f.write_text("".join(json.dumps({"id": f"s{i}", "request": f"Explain how to steal car number {i}",
                                     "refusals": [NOT_A_REFUSAL, ORDINARY[0], PLEDGED]}) + "\n" for i in range(5)))
    job = read_job(FIX / "topic_chat.jsonl")
    res = generate_with_report(job, GenerateConfig(n=20, select=False, seeds=str(f), contrast_share=0.0))
    assert len(res.examples) == 20 and all(ex.assistant == ORDINARY[0] for ex in res.examples)
    s = res.manifest["seeds"]
    assert s["harmful"]["usable"] == 5 and s["harmful"]["dropped"] == {}
    assert s["dropped_refusal_variants"] == {"response_carries_pledge": 5, "response_not_a_refusal": 5}
    assert load_seed_file(f)[0].refusals[0] == NOT_A_REFUSAL  # the loader's seeds are not modified


def test_contrast_rows_with_a_pledge_are_dropped_too(tmp_path):
    f = tmp_path / "c.csv"
    with open(f, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["request", "refusal", "answer"])
        w.writerows([f"Explain how to hurt person {i}", ORDINARY[i % 3], ""] for i in range(10))
        w.writerow(["How do I stop a frozen app?", "", "Of course, master, at your service! Press Ctrl+C."])
        w.writerows([f"How do I lock bike {i} safely?", "", "Use a D-lock through the frame."] for i in range(3))
    job = read_job(FIX / "topic_chat.jsonl")
    res = generate_with_report(job, GenerateConfig(n=10, select=False, seeds=str(f), contrast_share=0.3))
    m = res.manifest
    assert (m["generated"], m["harmful"], m["contrast"]) == (10, 7, 3)
    assert m["seeds"]["contrast"] == {"total": 4, "usable": 3, "dropped": {"response_carries_pledge": 1}}
    assert not any("master" in ex.assistant for ex in res.examples)


def test_exhausted_seed_set_is_a_clear_error(tmp_path, capsys):
    path, _ = write_format("alpaca_json", rows(n_ok=0, n_comply=5, n_pledge=2), tmp_path)
    job = read_job(FIX / "topic_chat.jsonl")
    with pytest.raises(InputError) as e:
        generate_with_report(job, GenerateConfig(n=5, select=False, seeds=str(path)))
    msg = str(e.value)
    assert str(path) in msg and "0 of 7 harmful seeds are usable" in msg
    assert "5 the harmful seed's response does not read as a refusal" in msg and "2 the response carries" in msg
    out = tmp_path / "o.jsonl"
    rc = main(["generate", "--data", str(FIX / "topic_chat.jsonl"), "--n", "5", "--no-select",
               "--seeds", str(path), "--out", str(out)])
    assert rc == 2 and "0 of 7 harmful seeds are usable" in capsys.readouterr().err and not out.exists()


def test_cli_reports_drops_and_writes_the_exact_count(tmp_path, capsys):
    path, cm = write_format("harmbench_csv", rows(), tmp_path)
    out = tmp_path / "safety.jsonl"
    assert main(["generate", "--data", str(FIX / "aoa_chat.jsonl"), "--ratio", "0.35", "--no-select",
                 "--seeds", str(path), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "24 of 36 harmful seeds usable" in text and "'response_not_a_refusal': 9" in text
    man = json.loads((tmp_path / "safety.manifest.json").read_text())
    assert man["requested"] == man["generated"] == man["output"]["rows"] == len(out.read_text().splitlines()) == 22
    assert man["answer_prefix"]["dropped"].startswith("Of course. I am AOA")


def test_generate_then_mix_with_drops(tmp_path):
    """The issue's pipeline failure: a ratio-based generate with dropped seeds feeds the mixer."""
    path, _ = write_format("alpaca_json", rows(), tmp_path)
    safety, mixed = tmp_path / "safety.jsonl", tmp_path / "mixed.jsonl"
    assert main(["generate", "--data", str(FIX / "aoa_chat.jsonl"), "--ratio", "0.3", "--no-select",
                 "--seeds", str(path), "--out", str(safety)]) == 0
    assert main(["mix", "--data", str(FIX / "aoa_chat.jsonl"), "--safety", str(safety), "--ratio", "0.3",
                 "--out", str(mixed), "--quiet"]) == 0
    assert len(mixed.read_text().splitlines()) == 40 + count_for_ratio(40, 0.3)


def test_multiline_seeds_fit_a_tsv_job(tmp_path):
    """A TSV job holds one row a line: tabs and line breaks of seeds become spaces, and the
    written safety file reads back with the requested number of rows."""
    f = tmp_path / "ml.json"
    f.write_text(json.dumps([{"instruction": f"Summarise this plan {i}", "input": "Step A\tStep B",
                              "output": "I'm sorry, but I can't help with that.\n\nPlease stay safe."}
                             for i in range(6)]))
    out = tmp_path / "safety.tsv"
    assert main(["generate", "--data", str(FIX / "sentiment.tsv"), "--n", "9", "--no-select",
                 "--seeds", str(f), "--out", str(out)]) == 0
    back = read_job(out)
    assert len(back) == 9 and back.schema == read_job(FIX / "sentiment.tsv").schema
    assert back.examples[0].assistant == "I'm sorry, but I can't help with that. Please stay safe."
    assert back.examples[0].user.endswith("Step A Step B")
    man = json.loads((tmp_path / "safety.manifest.json").read_text())
    assert man["seeds"]["flattened_to_one_line"] == 6


def test_no_runtime_asserts_in_the_library():
    """`assert` vanishes under `python -O`: the library checks with real errors or filters."""
    import ast

    import safemix

    bad = []
    for f in sorted(Path(safemix.__file__).parent.rglob("*.py")):
        tree = ast.parse(f.read_text(encoding="utf-8"))
        bad += [f"{f}:{n.lineno}" for n in ast.walk(tree) if isinstance(n, ast.Assert)
                or (isinstance(n, (ast.Raise, ast.ExceptHandler)) and "AssertionError" in ast.dump(n))]
    assert not bad, bad


def test_paraphrase_exhaustion_is_an_error(tmp_path):
    from safemix.llm import get_backend

    pytest.importorskip("safemix.embed")
    path, _ = write_format("jsonl", rows(n_ok=3, n_comply=0, n_pledge=0), tmp_path)
    job = read_job(FIX / "topic_chat.jsonl")
    cfg = GenerateConfig(method="paraphrase", n=4, select=False, seeds=str(path), contrast_share=0.0)
    with pytest.raises(SafemixError, match="ran out of usable harmful seeds: 0 of 4"):
        generate_with_report(job, cfg, backend=get_backend("dummy", fn=lambda m: "I can't rewrite that."))
