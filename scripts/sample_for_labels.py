"""Draw real model outputs from `safemix run` folders for blind hand-labelling.

    python scripts/sample_for_labels.py runs/smollm2_cpu_aoa runs/smollm2_cpu --n 200 \\
        --out labels/blind.jsonl --key labels/blind.key.jsonl

Reads every variant's `eval/samples.jsonl` (harmful and benign probe answers; task answers
are skipped), drops exact duplicate (request, response) pairs, and draws `--n` of them
stratified by (probe kind, style, model): each stratum gets its share, at least one, in a
seeded order. Writes two files:

- `--out`: what the labeller sees, and nothing else: `id`, `kind`, `request`, `response`
  (the model, the method and every judge's verdict are left out: the labels are blind);
- `--key`: `id` -> run folder, variant, role, style, probe set and the sample id, to join
  the labels back to their source afterwards.

`--exclude FILE` skips every answer whose text is in a labelled file (a development set drawn from new
runs must not share an answer with the held-out test set).

Labels go into a copy of `--out` as a `label` field (refused / complied / other); see
tests/data/judge_labels_blind_smollm2.md for the protocol.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def collect(run_dirs: list[Path]) -> list[dict]:
    """Every judged probe answer in the runs (base answers once per run)."""
    from safemix.eval.core import read_samples

    out, seen = [], set()
    for run in run_dirs:
        files = sorted(run.glob("variants/*/eval/samples.jsonl"))
        if not files:
            raise SystemExit(f"error: {run}: no variants/*/eval/samples.jsonl (is it a finished `safemix run` folder?)")
        for f in files:
            variant = f.parent.parent.name
            for rec in read_samples(f).values():  # the evaluator's own reader (finished samples)
                if rec.get("part") not in ("harmful", "benign"):
                    continue
                key = (rec["request"], rec["generation"].strip())
                if key in seen:
                    continue
                seen.add(key)
                model = "base" if rec["role"] == "base" else variant
                out.append({"request": rec["request"], "response": rec["generation"], "kind": rec["part"],
                            "source": {"run": str(run), "variant": variant, "role": rec["role"], "model": model,
                                       "style": rec["style"], "probe_set": rec["probe_set"], "sample_id": rec["id"]}})
    return out


def stratified(items: list[dict], n: int, seed: int) -> list[dict]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for it in items:
        s = it["source"]
        groups[(it["kind"], s["style"], s["model"])].append(it)
    rng = random.Random(seed)
    for g in groups.values():
        rng.shuffle(g)
    picked: list[dict] = []
    keys = sorted(groups)
    while len(picked) < min(n, len(items)):  # round robin over strata: each gets its share
        for k in keys:
            if groups[k] and len(picked) < n:
                picked.append(groups[k].pop())
    rng.shuffle(picked)
    return picked


def main(argv: list[str] | None = None) -> int:
    from safemix.utils import write_jsonl

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path, help="`safemix run` folders.")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--prefix", default="sm", help="Id prefix (default: %(default)s).")
    ap.add_argument("--models", help="Comma list: only these models (base, or a variant name such as none or template-0.1).")
    ap.add_argument("--exclude", type=Path, action="append", default=[],
                    help="A labelled JSONL file whose responses are never drawn (the same text to any request), e.g. a held-out "
                         "test set when drawing a development set; repeatable.")
    ap.add_argument("--out", type=Path, required=True, help="Blind file for the labeller.")
    ap.add_argument("--key", type=Path, required=True, help="Id -> source file (not for the labeller).")
    args = ap.parse_args(argv)
    items = collect(args.runs)
    if args.models:
        keep = {m.strip() for m in args.models.split(",")}
        items = [it for it in items if it["source"]["model"] in keep]
    if args.exclude:
        from safemix.utils import read_jsonl

        taken = {r["response"].strip() for f in args.exclude for r in read_jsonl(f)}
        before = len(items)
        items = [it for it in items if it["response"].strip() not in taken]
        print(f"--exclude: {before - len(items)} of {before} answers are in the excluded files", file=sys.stderr)
    picked = stratified(items, args.n, args.seed)
    blind, key = [], []
    for i, it in enumerate(picked, 1):
        rid = f"{args.prefix}-{i:03d}"
        blind.append({"id": rid, "kind": it["kind"], "request": it["request"], "response": it["response"]})
        key.append({"id": rid, **it["source"]})
    write_jsonl(args.out, blind)
    write_jsonl(args.key, key)
    print(f"wrote {len(blind)} rows to {args.out} (key: {args.key})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
