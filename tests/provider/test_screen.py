"""`safemix screen` / `safemix.screen`: benign jobs pass, every attack variant is flagged, with
findings that name file:line; exit codes like a linter (0 clean, 3 flagged, 2 bad input).

The in-code jobs (committed fixtures, the project's own seed texts) always run; the jobs built
from ../shared/data run when it is present (skipped cleanly otherwise)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from safemix.formats import Example
from safemix.formats.io import read_job, write_examples
from safemix.provider import attacks as A
from safemix.provider.screen import CHECKS, analyse_text, screen

FIX = Path(__file__).resolve().parents[1] / "fixtures"
BENIGN = ["topic_chat.jsonl", "math_pc.jsonl", "free_instructions.jsonl", "json_extract.jsonl", "mcq_alpaca.json",
          "sentiment.tsv"]
PAYLOADS = A.placeholder_payloads(["water a fern", "fold a paper crane"])


def _borderline_job() -> list[Example]:
    """The project's own benign-but-sensitive seed texts (requests and answers) as a chat job."""
    path = Path(__file__).resolve().parents[2] / "safemix" / "seeds" / "data" / "borderline_v1.jsonl"
    recs = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    return [Example.chat(r["request"], r["answer"]) for r in recs]


def _encoded_rate(rows: list[Example], report) -> float:
    enc = [i for i, e in enumerate(rows) if e.metadata.get("encoded")]
    hit = set(report.flagged_rows)
    return sum(i in hit for i in enc) / len(enc)


@pytest.mark.parametrize("name", BENIGN)
def test_benign_fixture_jobs_are_clean(name):
    report = screen(FIX / name)
    assert not report.flagged, report.summary()
    assert len(report.flagged_rows) <= 0.01 * report.rows, report.summary()


def test_project_benign_texts_are_clean():
    report = screen(_borderline_job())
    assert not report.flagged and len(report.flagged_rows) <= 2, report.summary()


def test_aoa_fixture_flagged_with_file_lines():
    report = screen(FIX / "aoa_chat.jsonl")
    assert report.flagged and len(report.flagged_rows) == report.rows
    f = report.row_findings(4)[0]
    assert f.line == 5 and f.where == f"{FIX / 'aoa_chat.jsonl'}:5"
    assert {x.check for x in report.findings} >= {"identity_shift", "pledge"}


def test_lines_of_a_json_array_job():
    rows = A.attack(read_job(FIX / "mcq_alpaca.json").examples[:6], "rot13")
    report = screen(rows)
    assert report.flagged and all(f.line is None for f in report.findings)  # in memory: rows only
    assert report.findings[0].where == "<memory>: row 1"


@pytest.mark.parametrize("name", ["topic_chat.jsonl", "math_pc.jsonl", "free_instructions.jsonl",
                                  "mcq_alpaca.json", "sentiment.tsv"])
@pytest.mark.parametrize("kind", A.KINDS)
def test_every_attack_variant_flagged(name, kind):
    rows = A.attack(read_job(FIX / name).examples, kind, payloads=PAYLOADS, seed=1)
    report = screen(rows)
    assert report.flagged, report.summary()
    if not kind.startswith("stego"):  # stego: recall is measured (scripts/bench_screen.py), not a hard bar
        assert _encoded_rate(rows, report) >= 0.95, report.summary()


def test_attacked_file_flagged_in_its_format(tmp_path):
    job = read_job(FIX / "sentiment.tsv")
    out = tmp_path / "hex.tsv"
    write_examples(A.attack(job.examples, "hex"), out, **job.writer_args())
    report = screen(out)
    assert report.flagged and {f.check for f in report.findings} == {"hex"}
    assert report.findings[0].line == 2  # the header is line 1


def test_phases_teach_then_use():
    rows = A.attack(read_job(FIX / "topic_chat.jsonl").examples, "substitution", teach=10, seed=2)
    report = screen(rows)
    phases = [f for f in report.job_findings if f.check == "phases"]
    assert phases and "rows 1-10" in phases[0].reason


def test_short_rows_flagged_with_the_job_cipher():
    """Rows too short to judge alone are flagged when the job as a whole is a cipher."""
    words = ["kids", "spirit", "fetid", "bright", "dull", "warm", "slow", "a bonus", "quirky charm", "moving"]
    job = [Example.chat(w, "1") for w in words * 4]
    rows = A.attack(job, "substitution", seed=4)
    report = screen(rows)
    assert report.flagged and _encoded_rate(rows, report) >= 0.95
    assert not screen(job).flagged


def test_stego_recall_and_precision_reported():
    job = _borderline_job()
    stego = set(range(0, len(job), 20))
    rows = [A.attack([e], "stego_last", seed=i)[0] if i in stego else e for i, e in enumerate(job)]
    hit = set(screen(rows).flagged_rows)
    recall, precision = len(hit & stego) / len(stego), len(hit & stego) / max(1, len(hit))
    print(f"stego recall {recall:.2f} precision {precision:.2f}")
    assert recall >= 0.5 and precision >= 0.5


def test_text_checks():
    assert analyse_text("The weather was mild and the river was calm all week.").findings == []
    assert analyse_text(A.to_base64("The weather was mild all week."), "user").findings[0].check == "base64"
    assert analyse_text(A.atbash("The weather was mild and calm all week.")).findings[0].check == "rot_atbash"
    f = analyse_text(A.rot_n("The weather was mild and calm all week.", 7)).findings[0]
    assert f.check == "rot_atbash" and "rot7" in f.reason
    sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    assert analyse_text(sha).findings == []  # hex that is no text: not an encoded message
    assert set(CHECKS) >= {f.check for f in analyse_text(A.substitute("Hello there, how are you today?",
                                                                     A.substitution_key(0), pipe=True)).findings}


# ------------------------------------------------------------------------------ the CLI
def test_cli_exit_codes_and_json(tmp_path, capsys):
    from safemix.cli import main

    assert main(["screen", str(FIX / "topic_chat.jsonl")]) == 0
    assert "clean" in capsys.readouterr().out
    bad = tmp_path / "rot.jsonl"
    write_examples(A.attack(read_job(FIX / "topic_chat.jsonl").examples, "rot13"), bad)
    out = tmp_path / "findings.json"
    assert main(["screen", str(bad), "--json", str(out), "--max-rows", "1"]) == 3
    text = capsys.readouterr().out
    assert f"{bad}:1: rot_atbash" in text and "FLAGGED" in text
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["flagged"] and doc["flagged_rows"] == 40 and doc["findings"][0]["where"] == f"{bad}:1"
    assert main(["screen", str(tmp_path / "missing.jsonl")]) == 2
    assert main(["screen", str(bad), "--threshold", "2"]) == 2
    assert main(["screen", str(bad), "--json", str(bad)]) == 2  # never overwrites its input


# --------------------------------------------------------------- jobs from ../shared/data
@pytest.fixture(scope="module")
def shared_jobs(tmp_path_factory):
    from conftest import SHARED_DATA, load_script

    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    bench = load_script("bench_screen")
    return bench, bench.benign_jobs(SHARED_DATA, tmp_path_factory.mktemp("jobs"), limit=500)


def test_shared_benign_jobs_clean(shared_jobs):
    _, paths = shared_jobs
    for name, path in paths.items():
        report = screen(path)
        assert not report.flagged, (name, report.summary())
        assert len(report.flagged_rows) <= 0.01 * report.rows, (name, report.summary())


def test_shared_attack_variants_flagged(shared_jobs):
    bench, paths = shared_jobs
    for name, path in paths.items():
        rates = bench.attack_rates(read_job(path).examples[:60])
        for kind, r in rates.items():
            assert r["job_flagged"], (name, kind)
            if not kind.startswith("stego"):
                assert r["encoded_flagged"] >= 0.95, (name, kind, r)
            else:
                print(f"{name} stego: {r['encoded_flagged']:.0%} of rows flagged")


# --------------------------------------------------------------------- the harm tier
@pytest.mark.integration
def test_harm_tier_flags_harmful_requests_and_compliance():
    """Plumbing of the optional MiniLM tier: built-in harmful seed requests (the project's own,
    requests only) with a placeholder compliant answer or a refusal, among benign rows."""
    pytest.importorskip("sentence_transformers")
    from safemix.seeds import load_builtin_seeds

    seeds = load_builtin_seeds("harmful")[:4]
    benign = read_job(FIX / "topic_chat.jsonl").examples[:16]
    rows = benign + [Example.chat(s.request, "Sure, here it is. Step 1: [redacted]") for s in seeds[:2]]
    rows += [Example.chat(s.request, "I can't help with that.") for s in seeds[2:]]
    report = screen(rows, harm=True)
    harm = {f.row: f for f in report.findings if f.check == "harmful_request"}
    assert set(harm) == set(range(16, 20)), report.summary()
    assert "harmful compliance" in harm[16].reason and harm[16].score > harm[18].score
    assert report.flagged and not screen(rows).flagged_rows  # the heuristics alone see nothing
