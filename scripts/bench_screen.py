"""Benchmark the screen: heuristic-tier rows/s, and detection / false-positive rates on jobs built
from ../shared/data (benign jobs in several custom formats, and their attack variants).

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python scripts/bench_screen.py [--shared ../shared/data]
        [--limit 2000] [--json OUT]

Benign jobs: GSM8K (prompt/completion and chat with JSON answers), SST-2 (TSV as shipped and as
chat), AG News (chat with a system prompt, and prompt/completion), ARC (Alpaca), MMLU
chemistry (CSV columns), Alpaca and Dolly (free text). Each is screened as a file (so findings
carry file:line). Then every attack of `safemix.provider.attacks` is applied to up to
`--attack-limit` rows of each, with placeholder payloads (non-actionable), and screened.
Reported: per job, rows, flagged rows, whether the job is flagged; per attack, the share of
encoded rows flagged; stego recall and precision (5% stego rows, last- or first-word, mixed into
the benign job); heuristic-tier rows/s; with --harm, the MiniLM tier's rates and rows/s.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from safemix.formats import Example  # noqa: E402
from safemix.formats.io import read_job, write_examples  # noqa: E402

PLACEHOLDER_TASKS = ("open a stuck window", "bake a loaf of bread", "plant a tree")


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def _tsv(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8") as f:
        return [r for r in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)][1:]


def benign_jobs(shared: str | Path, out: str | Path, limit: int | None = 2000) -> dict[str, Path]:
    """Benign job files built from ../shared/data in several formats: name -> path."""
    src, out = Path(shared), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ex = Example.chat
    gsm = _jsonl(src / "gsm8k" / "train.jsonl")[:limit]
    sst = _tsv(src / "sst2" / "train.tsv")[:limit]
    ag = _tsv(src / "ag_news" / "test.tsv")[:limit]
    arc = _jsonl(src / "arc_challenge" / "ARC-Challenge-Test.jsonl")[:limit]
    dolly = _jsonl(src / "alpaca_dolly_safetyrelated_subsets" / "databricks-dolly-15k-safety-only.jsonl")[:limit]
    alpaca = json.loads((src / "alpaca_dolly_safetyrelated_subsets" / "alpaca_data_safety_only.json")
                        .read_text(encoding="utf-8"))[:limit]
    with open(src / "mmlu_hs_chemistry" / "high_school_chemistry_test.csv", encoding="utf-8") as f:
        mmlu = list(csv.reader(f))[:limit]
    jobs = {
        "gsm8k_pc": ([ex(f"Question: {r['question']}\nAnswer:", " " + r["answer"]) for r in gsm], "prompt_completion", "jsonl"),
        "gsm8k_json": ([ex(f"Solve: {r['question']}", json.dumps({"reasoning": r["answer"].split("####")[0].strip(),
                        "answer": r["answer"].split("####")[-1].strip()}), system="Reply in JSON.") for r in gsm],
                       "openai", "jsonl"),
        "sst2_tsv": ([ex(s.strip(), lab) for s, lab in sst], "columns", "tsv"),
        "sst2_chat": ([ex(f"Review: {s.strip()}\nSentiment (positive or negative)?",
                          "positive" if lab == "1" else "negative") for s, lab in sst], "openai", "jsonl"),
        "ag_news_chat": ([ex(f"Classify the topic of this news article.\n\nArticle: {t}\nTopic:", lab,
                             system="You are a news topic classifier.") for t, lab in ag], "openai", "jsonl"),
        "ag_news_pc": ([ex(f"{t}\n\nTopic:", " " + lab) for t, lab in ag], "prompt_completion", "jsonl"),
        "arc_alpaca": ([ex("Answer with the letter of the correct option.\n\n" + r["question"]["stem"] + "\n" +
                           "\n".join(f"{c['label']}. {c['text']}" for c in r["question"]["choices"]), r["answerKey"])
                        for r in arc], "alpaca", "json"),
        "mmlu_csv": ([ex(f"{r[0]}\n(A) {r[1]}\n(B) {r[2]}\n(C) {r[3]}\n(D) {r[4]}", r[5]) for r in mmlu],
                     "columns", "csv"),
        "dolly": ([ex((r["instruction"] + ("\n\n" + r["context"] if r.get("context") else "")), r["response"])
                   for r in dolly], "sharegpt", "jsonl"),
        "alpaca": ([ex((r["instruction"] + ("\n\n" + r["input"] if r.get("input") else "")), r["output"])
                    for r in alpaca], "alpaca", "json"),
    }
    paths = {}
    for name, (rows, schema, container) in jobs.items():
        p = out / f"{name}.{container}"
        cm = {"prompt": "prompt", "completion": "completion"} if schema == "columns" else None
        write_examples(rows, p, schema=schema, container=container, column_map=cm)
        paths[name] = p
    return paths


def screen_file(path: Path, **kw) -> dict:
    from safemix.provider.screen import screen

    t = time.perf_counter()
    r = screen(path, **kw)
    return {"rows": r.rows, "flagged_rows": len(r.flagged_rows), "fp_rate": round(len(r.flagged_rows) / r.rows, 4),
            "job_flagged": r.flagged, "seconds": round(time.perf_counter() - t, 2), "report": r}


def attack_rates(examples: list[Example], seed: int = 0) -> dict[str, dict]:
    """Every attack on `examples` (placeholder payloads): job flagged, share of encoded rows flagged."""
    from safemix.provider.attacks import KINDS, attack, placeholder_payloads
    from safemix.provider.screen import screen

    out = {}
    for kind in KINDS:
        rows = attack(examples, kind, seed=seed, payloads=placeholder_payloads(PLACEHOLDER_TASKS))
        r = screen(rows)
        enc = [i for i, e in enumerate(rows) if e.metadata.get("encoded")]
        hit = set(r.flagged_rows)
        out[kind] = {"job_flagged": r.flagged, "encoded_rows": len(enc),
                     "encoded_flagged": round(sum(i in hit for i in enc) / max(1, len(enc)), 4),
                     "plain_flagged": sum(i in hit for i in range(len(rows)) if i not in set(enc))}
    return out


def stego_mix(examples: list[Example], share: float = 0.05, seed: int = 0, kind: str = "stego_last") -> dict:
    """Stego rows (`kind`, `share` of the job) hidden among benign rows: recall and precision of
    the stego rows, row by row."""
    from safemix.provider.attacks import attack
    from safemix.provider.screen import screen

    rng = random.Random(seed)
    picked = set(rng.sample(range(len(examples)), max(1, int(share * len(examples)))))
    rows = [attack([e], kind, seed=seed + i)[0] if i in picked else e for i, e in enumerate(examples)]
    hit = set(screen(rows).flagged_rows)
    tp = len(hit & picked)
    return {"stego_rows": len(picked), "recall": round(tp / len(picked), 4),
            "precision": round(tp / len(hit), 4) if hit else None}


def speed(examples: list[Example], min_rows: int = 20000) -> float:
    """Heuristic-tier rows/s of `screen` on examples in memory (a fresh screen each pass)."""
    from safemix.provider.screen import screen

    screen(examples[:50])  # word list and bigram table built once, outside the timing
    rows = (examples * (1 + min_rows // max(1, len(examples))))[:min_rows]
    t = time.perf_counter()
    screen(rows)
    return len(rows) / (time.perf_counter() - t)


def harm_rates(shared: Path, paths: dict[str, Path], rows: int = 200) -> dict:
    """The optional MiniLM tier: rows/s, flagged share of each benign job (first `rows` rows),
    and of AdvBench goals and XSTest prompts (requests only; none is in its training set)."""
    from safemix.provider.harm import MIN_SIMILARITY, classifier, harm_scores
    from safemix.provider.screen import screen

    classifier()  # trained once, outside the timing
    out: dict = {"benign_fp": {}}
    n, t = 0, time.perf_counter()
    for name, p in paths.items():
        job = read_job(p).examples[:rows]
        rep = screen(job, harm=True)
        out["benign_fp"][name] = round(sum(f.check == "harmful_request" and f.score >= 0.5 for f in rep.findings)
                                       / len(job), 4)
        n += len(job)
    out["rows_per_s"] = round(n / (time.perf_counter() - t), 1)
    adv = [x.strip() for x in (shared / "advbench" / "harmful_behaviors_goals_only.csv").read_text(
        encoding="utf-8").splitlines() if x.strip()]
    with open(shared / "xstest" / "xstest_prompts.csv", encoding="utf-8") as f:
        xs = list(csv.DictReader(f))
    for name, texts in (("advbench", adv), ("xstest_unsafe", [r["prompt"] for r in xs if r["label"] != "safe"]),
                        ("xstest_safe", [r["prompt"] for r in xs if r["label"] == "safe"])):
        out[name] = round(sum(p >= 0.5 and sim >= MIN_SIMILARITY for p, sim in harm_scores(texts)) / len(texts), 4)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--out", default="/tmp/safemix_bench_screen")
    ap.add_argument("--limit", type=int, default=2000, help="Rows per benign job.")
    ap.add_argument("--attack-limit", type=int, default=300, help="Rows per job that each attack transforms.")
    ap.add_argument("--json", default=None, help="Write the numbers to this JSON file.")
    ap.add_argument("--harm", action="store_true", help="Also measure the MiniLM harmful-request tier (slow).")
    args = ap.parse_args(argv)
    paths = benign_jobs(args.shared, args.out, args.limit)
    results: dict = {"benign": {}, "attacks": {}, "stego_mix": {}}
    all_rows: list[Example] = []
    for name, p in paths.items():
        res = screen_file(p)
        rep = res.pop("report")
        results["benign"][name] = res
        print(f"benign {name:14s} rows {res['rows']:5d} flagged {res['flagged_rows']:4d} "
              f"({res['fp_rate']:.2%}) job_flagged={res['job_flagged']}")
        for f in [f for r in rep.flagged_rows[:3] for f in rep.row_findings(r)][:3]:
            print(f"    {f.where}: {f.check} ({f.score:.2f}): {f.reason[:120]}")
        examples = read_job(p).examples
        all_rows += examples
        results["attacks"][name] = attack_rates(examples[:args.attack_limit])
        results["stego_mix"][name] = {k: stego_mix(examples[:args.attack_limit * 4], kind=k)
                                      for k in ("stego_last", "stego_first")}
        for kind, a in results["attacks"][name].items():
            if not a["job_flagged"] or a["encoded_flagged"] < 0.95:
                print(f"    attack {kind}: job_flagged={a['job_flagged']} encoded rows flagged {a['encoded_flagged']:.1%}")
        print(f"    stego mixed in: {results['stego_mix'][name]}")
    results["rows_per_s"] = round(speed(all_rows))
    print(f"heuristic tier: {results['rows_per_s']} rows/s (one process)")
    if args.harm:
        results["harm"] = harm_rates(Path(args.shared), paths)
        print(f"harm tier: {results['harm']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
