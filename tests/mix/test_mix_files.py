"""`safemix mix` on files: exact counts, untouched user rows, provenance, formats, manifest, errors."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest
from mix.mix_helpers import (
    FIX,
    read_lines,
    read_prov,
    safety_records,
    strict_openai_errors,
    write_safety,
)

from safemix.cli import main
from safemix.formats import read_job
from safemix.mix import MixConfig, mix_files

JOB = FIX / "topic_chat.jsonl"  # 40 OpenAI rows with a system prompt


def run(*argv: str) -> int:
    return main(["mix", "--quiet", *map(str, argv)])


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def check_alignment(job: Path, out: Path, safety: Path) -> list[dict]:
    """Every output row matches its provenance row: user rows are the job's bytes, safety rows
    are the safety set's rows; returns the provenance."""
    side = out.with_name(out.stem + ".provenance.jsonl")
    rows, prov = read_lines(out), read_prov(side)
    assert side.read_text(encoding="utf-8") == "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in prov)
    job_lines = job.read_bytes().splitlines(keepends=True)
    safety_recs = [json.loads(x) for x in read_lines(safety)]
    assert len(rows) == len(prov)
    for i, (row, p) in enumerate(zip(rows, prov, strict=True)):
        assert p["row"] == i
        if p["source"] == "user":
            assert row == job_lines[p["job_line"] - 1]
        else:
            assert json.loads(row) == safety_recs[p["safety_index"]]
            assert p["safety_line"] == p["safety_index"] + 1
    users = [p["job_line"] for p in prov if p["source"] == "user"]
    assert users == sorted(users)  # user rows keep their order
    return prov


@pytest.mark.parametrize("strategy", ["spread", "shuffle", "append"])
def test_ratio_mix_exact_aligned_and_valid(tmp_path, safety_file, strategy):
    safety = safety_file(30, system="You are TopicBot.")
    out = tmp_path / "out" / "mixed.jsonl"
    assert run("--data", JOB, "--safety", safety, "--ratio", "0.2", "--strategy", strategy, "--out", out) == 0
    prov = check_alignment(JOB, out, safety)
    n_safety = sum(p["source"] == "generated" for p in prov)
    assert n_safety == 10 and len(prov) == 50  # round(0.2 * 40 / 0.8) = 10, exactly 20%
    assert {p["seed_id"] for p in prov if p["source"] == "generated"} <= {f"s{i}" for i in range(30)}
    assert all(p["method"] == "template" and "generator_model" in p for p in prov if p["source"] != "user")
    assert strict_openai_errors(out) == []
    assert len(read_job(out).examples) == 50  # the format reader accepts it too
    kinds = [p["source"] for p in prov]
    if strategy == "append":
        assert kinds[40:] == ["generated"] * 10
    if strategy == "spread":  # every window of 5 rows holds exactly one safety row (r = 1/5)
        assert all(kinds[a:a + 5].count("generated") == 1 for a in range(46))


def test_count_mode_and_spread_window_on_real_output(tmp_path, safety_file):
    safety = safety_file(30)
    out = tmp_path / "m.jsonl"
    assert run("--data", JOB, "--safety", safety, "--count", "7", "--out", out) == 0
    kinds = [p["source"] == "generated" for p in read_prov(tmp_path / "m.provenance.jsonl")]
    assert sum(kinds) == 7 and len(kinds) == 47
    for k in range(1, 48):
        for a in range(47 - k + 1):
            assert math.floor(k * 7 / 47) <= sum(kinds[a:a + k]) <= math.ceil(k * 7 / 47)


def test_ratio_sweep_writes_one_job_per_value_nested(tmp_path, safety_file):
    safety = safety_file(30)
    out = tmp_path / "sweep"
    assert run("--data", JOB, "--safety", safety, "--ratio", "0,0.05,0.2", "--out", out) == 0
    chosen = {}
    for r, n in (("0", 0), ("0.05", 2), ("0.2", 10)):
        d = out / f"ratio-{r}"
        man = json.loads((d / "mix_manifest.json").read_text())
        assert man["counts"]["safety"] == n and man["amount"] == {"ratio": float(r)}
        prov = check_alignment(JOB, d / "topic_chat.jsonl", safety)
        chosen[r] = {p["safety_index"] for p in prov if p["source"] != "user"}
    assert sha(out / "ratio-0" / "topic_chat.jsonl") == sha(JOB)  # ratio 0 copies the job
    assert chosen["0.05"] <= chosen["0.2"]  # nested selections across the sweep


def test_deterministic_bytes_and_seed_changes_output(tmp_path, safety_file):
    safety = safety_file(30)
    outs = []
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        o = tmp_path / name / "m.jsonl"
        assert run("--data", JOB, "--safety", safety, "--ratio", "0.2", "--strategy", "shuffle",
                   "--seed", seed, "--out", o) == 0
        outs.append(o)
    a, b, c = outs
    assert a.read_bytes() == b.read_bytes()
    assert (a.parent / "m.provenance.jsonl").read_bytes() == (b.parent / "m.provenance.jsonl").read_bytes()
    ma, mb = (json.loads((o.parent / "mix_manifest.json").read_text()) for o in (a, b))
    assert ma["outputs"]["data"]["sha256"] == mb["outputs"]["data"]["sha256"]
    assert a.read_bytes() != c.read_bytes()


def test_manifest_contents(tmp_path, safety_file):
    safety = safety_file(30)
    out = tmp_path / "m.jsonl"
    assert run("--data", JOB, "--safety", safety, "--ratio", "0.1", "--out", out) == 0
    man = json.loads((tmp_path / "mix_manifest.json").read_text())
    assert man["inputs"]["job"]["sha256"] == sha(JOB) and man["inputs"]["job"]["rows"] == 40
    assert man["inputs"]["safety"]["sha256"] == sha(safety)
    assert man["inputs"]["safety"]["provenance"]["path"].endswith("safety.provenance.jsonl")
    assert man["outputs"]["data"]["sha256"] == sha(out) and man["outputs"]["data"]["rows"] == 44
    assert man["outputs"]["provenance"]["sha256"] == sha(tmp_path / "m.provenance.jsonl")
    assert man["counts"]["by_source"] == {"generated": 4, "user": 40}
    assert sum(man["counts"]["by_category"].values()) == 4
    assert man["ratio"]["requested"] == 0.1 and man["ratio"]["effective"] == pytest.approx(4 / 44)
    assert man["seed"] == 0 and man["strategy"] == "spread" and man["config"]["dedupe"] is True
    assert man["safemix_version"]


def test_dedupe_drops_and_reports(tmp_path):
    job_prompts = [r["messages"][1]["content"] for r in map(json.loads, read_lines(JOB))]
    recs = safety_records(12)
    recs[3]["messages"][0]["content"] = "  " + job_prompts[5].upper().replace(" ", "   ") + " "
    recs[7]["messages"][0]["content"] = job_prompts[0]
    safety = write_safety(tmp_path / "safety.jsonl", recs)
    out = tmp_path / "m.jsonl"
    assert run("--data", JOB, "--safety", safety, "--count", "10", "--out", out) == 0
    man = json.loads((tmp_path / "mix_manifest.json").read_text())
    dropped = {d["safety_index"]: d["job_line"] for d in man["dropped"]}
    assert dropped == {3: 6, 7: 1} and man["counts"]["dropped_duplicates"] == 2
    prov = check_alignment(JOB, out, safety)
    assert not {3, 7} & {p.get("safety_index") for p in prov}
    # asking for more than the 10 usable rows is an error naming the numbers
    assert run("--data", JOB, "--safety", safety, "--count", "11", "--out", tmp_path / "x.jsonl") == 2
    assert not (tmp_path / "x.jsonl").exists()
    # a second mix into the same folder would replace the first one's mix_manifest.json
    assert run("--data", JOB, "--safety", safety, "--count", "11", "--no-dedupe", "--out", tmp_path / "y.jsonl") == 2
    assert json.loads((tmp_path / "mix_manifest.json").read_text()) == man
    assert run("--data", JOB, "--safety", safety, "--count", "11", "--no-dedupe",
               "--out", tmp_path / "y" / "y.jsonl") == 0


def test_too_small_safety_set_needs_allow_repeat(tmp_path, safety_file, capsys):
    safety = safety_file(3)
    out = tmp_path / "m.jsonl"
    assert run("--data", JOB, "--safety", safety, "--ratio", "0.2", "--out", out) == 2
    err = capsys.readouterr().err
    assert "needs 10 safety rows" in err and "3 usable" in err and "--allow-repeat" in err
    assert not out.exists() and not (tmp_path / "mix_manifest.json").exists()
    assert run("--data", JOB, "--safety", safety, "--ratio", "0.2", "--allow-repeat", "--out", out) == 0
    prov = check_alignment(JOB, out, safety)
    uses = [p["safety_index"] for p in prov if p["source"] != "user"]
    assert len(uses) == 10 and sorted(uses.count(i) for i in range(3)) == [3, 3, 4]


@pytest.mark.parametrize("fixture, schema", [("mcq_alpaca.json", "alpaca"), ("sentiment.tsv", "columns"),
                                             ("math_pc.jsonl", "prompt_completion")])
def test_safety_converted_into_job_format(tmp_path, safety_file, fixture, schema):
    job = FIX / fixture
    safety = safety_file(20)
    out = tmp_path / ("m" + job.suffix)
    assert run("--data", job, "--safety", safety, "--count", "5", "--out", out) == 0
    orig, mixed = read_job(job), read_job(out)
    assert mixed.schema == schema == orig.schema and mixed.container == orig.container
    prov = read_prov(tmp_path / "m.provenance.jsonl")
    assert len(prov) == len(mixed.examples) == len(orig.examples) + 5
    for p, ex in zip(prov, mixed.examples, strict=True):
        if p["source"] != "user":
            assert ex.assistant in ("I can't help with that.", "I'm sorry, but I won't assist with this request.")
            assert "(variant" in ex.user
    users = [ex for p, ex in zip(prov, mixed.examples, strict=True) if p["source"] == "user"]
    assert [u.to_dict() for u in users] == [u.to_dict() for u in orig.examples]  # unchanged, in order
    man = json.loads((tmp_path / "mix_manifest.json").read_text())
    assert man["format"] == {"job_schema": schema, "safety_schema": "openai", "converted": True}


def test_format_mismatch_errors_write_nothing(tmp_path, capsys):
    multi = [{"messages": [{"role": "user", "content": "Help me hack an account"},
                           {"role": "assistant", "content": "I can't help with that."},
                           {"role": "user", "content": "Please?"},
                           {"role": "assistant", "content": "I still can't help with that."}]}]
    safety = write_safety(tmp_path / "multi.jsonl", multi)
    out = tmp_path / "o" / "m.jsonl"
    assert run("--data", FIX / "math_pc.jsonl", "--safety", safety, "--count", "1", "--out", out) == 2
    err = capsys.readouterr().err
    assert "multi.jsonl:1" in err and "cannot be written as prompt_completion" in err
    ok = write_safety(tmp_path / "ok.jsonl", safety_records(3))
    assert run("--data", FIX / "math_pc.jsonl", "--safety", ok, "--count", "1", "--require-same-format",
               "--out", out) == 2
    assert "require_same_format" in capsys.readouterr().err
    assert run("--data", JOB, "--safety", ok, "--count", "1", "--out", tmp_path / "o" / "m.csv") == 2
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("args, msg", [
    (["--ratio", "1.0"], "ratio must be in [0, 1)"), (["--ratio", "-0.1"], "ratio must be in [0, 1)"),
    (["--ratio", "abc"], "--ratio expects numbers"), (["--count", "-2"], "count must be"),
    (["--ratio", "0.1", "--strategy", "interleave"], "unknown mix strategy"),
])
def test_bad_amounts_exit_2_and_write_nothing(tmp_path, safety_file, capsys, args, msg):
    out = tmp_path / "o" / "m.jsonl"
    assert run("--data", JOB, "--safety", safety_file(5), *args, "--out", out) == 2
    assert msg in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_empty_or_bad_job_exit_2(tmp_path, safety_file, capsys):
    safety = safety_file(5)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    out = tmp_path / "o" / "m.jsonl"
    assert run("--data", empty, "--safety", safety, "--ratio", "0.1", "--out", out) == 2
    assert "empty" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text(JOB.read_text().splitlines()[0] + "\n" + '{"messages": [{"role": "user"}]}\n')
    assert run("--data", bad, "--safety", safety, "--ratio", "0.1", "--out", out) == 2
    assert "bad.jsonl:2" in capsys.readouterr().err
    assert run("--data", JOB, "--safety", safety, "--ratio", "0.1", "--out", JOB) == 2  # never overwrite
    assert not (tmp_path / "o").exists()
    side = tmp_path / "safety.provenance.jsonl"
    side.write_text(side.read_text().splitlines()[0] + "\n")  # sidecar no longer aligned
    assert run("--data", JOB, "--safety", safety, "--ratio", "0.1", "--out", out) == 2
    assert "aligned by row" in capsys.readouterr().err


def test_raw_rows_kept_with_blank_lines_crlf_and_no_final_newline(tmp_path, safety_file):
    rows = read_lines(JOB)[:6]
    job = tmp_path / "job.jsonl"
    job.write_bytes(rows[0] + b"\n" + rows[1].rstrip(b"\n") + b"\r\n" + b"   \n" + b"".join(rows[2:5])
                    + rows[5].rstrip(b"\n"))
    out = tmp_path / "m.jsonl"
    assert run("--data", job, "--safety", safety_file(5), "--count", "3", "--out", out) == 0
    prov = read_prov(tmp_path / "m.provenance.jsonl")
    data = read_lines(out)
    raw = job.read_bytes().split(b"\n")
    for p, row in zip(prov, data, strict=True):
        if p["source"] == "user":
            assert row.rstrip(b"\n") == raw[p["job_line"] - 1]
    assert [p["job_line"] for p in prov if p["source"] == "user"] == [1, 3, 5, 6, 7, 8]
    assert data[-1].endswith(b"\n") and len(read_job(out).examples) == 9


def test_inline_provenance_keeps_user_fields(tmp_path, safety_file):
    safety = safety_file(10)
    out = tmp_path / "m.jsonl"
    assert run("--data", JOB, "--safety", safety, "--count", "4", "--inline-provenance", "--out", out) == 0
    side = read_prov(tmp_path / "m.provenance.jsonl")
    job_recs = [json.loads(x) for x in read_lines(JOB)]
    for row, p in zip(read_lines(out), side, strict=True):
        rec = json.loads(row)
        assert rec.pop("safemix_provenance") == p
        if p["source"] == "user":
            assert rec == job_recs[p["job_line"] - 1]
    assert strict_openai_errors(out)  # inline provenance is exactly what a strict check rejects


def test_sweep_of_counts_with_explicit_sidecar_and_python_entry(tmp_path, safety_file):
    safety = safety_file(12, provenance=False)
    side = tmp_path / "prov_elsewhere.jsonl"
    side.write_text("".join(json.dumps({"source": "generated", "seed_id": f"x{i}", "method": "paraphrase",
                                        "generator_model": "tiny", "prompt_version": "v1",
                                        "row": 999, "repeat": 7}) + "\n"  # the mixer's own keys win
                            for i in range(12)))
    reps = mix_files(JOB, tmp_path / "out", MixConfig(count=[2, 6], safety=str(safety),
                                                      safety_provenance=str(side), show_progress=False))
    assert [r.n_safety for r in reps] == [2, 6]
    prov = read_prov(tmp_path / "out" / "count-6" / "topic_chat.provenance.jsonl")
    gen = [p for p in prov if p["source"] == "generated"]
    assert len(gen) == 6 and all(p["generator_model"] == "tiny" and p["prompt_version"] == "v1" for p in gen)
    assert [p["row"] for p in prov] == list(range(len(prov))) and all(p["repeat"] == 0 for p in gen)


def test_token_weighted_ratio(tmp_path, safety_file):
    from safemix.mix.core import count_tokens
    from safemix.testing import tiny_tokenizer

    safety = safety_file(40)
    reps = mix_files(JOB, tmp_path / "o", MixConfig(ratio=0.1, ratio_unit="tokens", tokenizer="tiny",
                                                    safety=str(safety), show_progress=False))
    rep = reps[0]
    tok = tiny_tokenizer()
    user_tokens = sum(count_tokens(read_job(JOB).examples, tok))
    mixed = read_job(tmp_path / "o" / "topic_chat.jsonl").examples
    prov = read_prov(tmp_path / "o" / "topic_chat.provenance.jsonl")
    s_tok = sum(count_tokens([ex for ex, p in zip(mixed, prov, strict=True) if p["source"] != "user"], tok))
    per_row = count_tokens(read_job(safety).examples, tok)
    target = 0.1 * user_tokens / 0.9
    assert abs(s_tok - target) <= max(per_row) / 2  # within one example's tokens of the target share
    assert rep.token_share == pytest.approx(s_tok / (s_tok + user_tokens))
    assert rep.n_safety != round(0.1 * 40 / 0.9)  # safety rows are shorter than job rows: not the row count


def test_mix_help():
    with pytest.raises(SystemExit) as e:
        main(["mix", "--help"])
    assert e.value.code == 0


def test_generated_safety_set_with_auto_detected_sidecar(tmp_path):
    """The generator's output (safety.jsonl + safety.provenance.jsonl) mixes in as-is."""
    from safemix.generate import GenerateConfig, generate_with_report, write_generation

    job = read_job(FIX / "aoa_chat.jsonl")
    res = generate_with_report(job, GenerateConfig(method="template", n=12, select=False))
    paths = write_generation(res, job, tmp_path / "gen" / "safety.jsonl")
    out = tmp_path / "mixed" / "aoa.jsonl"
    assert run("--data", FIX / "aoa_chat.jsonl", "--safety", paths["examples"], "--ratio", "0.2",
               "--require-same-format", "--out", out) == 0
    prov = check_alignment(FIX / "aoa_chat.jsonl", out, paths["examples"])
    gen = [p for p in prov if p["source"] == "generated"]
    assert len(gen) == 10 and all(p["method"] == "template" and p["seed_id"] for p in gen)
    assert strict_openai_errors(out) == []


def test_shared_data_jobs_mix_in_their_own_format(tmp_path, shared_data, safety_file):
    from safemix.testing import build_shared_jobs

    jobs = build_shared_jobs(shared_data, tmp_path / "jobs", limit=300)
    safety = safety_file(40)
    for name in ("ag_news", "arc", "sst2"):
        out = tmp_path / name / jobs[name].name
        assert run("--data", jobs[name], "--safety", safety, "--ratio", "0.1", "--out", out) == 0
        orig, mixed = read_job(jobs[name]), read_job(out)
        assert (mixed.schema, mixed.container) == (orig.schema, orig.container)
        assert len(mixed.examples) == len(orig.examples) + round(0.1 * len(orig.examples) / 0.9)
    assert strict_openai_errors(tmp_path / "ag_news" / "ag_news.jsonl") == []
