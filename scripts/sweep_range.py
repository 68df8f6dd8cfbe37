"""The spread of a sweep over several runs (testbed builds or seeds): min-max per cell.

    python scripts/sweep_range.py runs/quickstart runs/quickstart_b1 runs/quickstart_b2

Each argument is a finished `safemix run` folder (or its copy made by scripts/collect_benchmark.py). Prints a Markdown table: one row per model
(the base model first, then each variant in the first run's order), per probe style the
harmful probes refused / complied / other (%) and the benign probes refused (OR), each as
"min-max" over the runs (one number when all agree). `--kinds refused,OR` keeps only those
cells (per style). The README's quickstart ranges are this script's output; rerun it to check
them:

    python scripts/sweep_range.py runs/quickstart_range_b0 runs/quickstart_range_b1 \
        runs/quickstart_range_b2 --kinds refused,complied,OR
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

STYLES = ("job", "job_heldout", "chat")


def _cells(m: dict, styles: tuple[str, ...]) -> dict[str, float]:
    out = {}
    for s in styles:
        sf = (m.get("safety") or {}).get(s) or {}
        for k, short in (("refusal_rate", "refused"), ("attack_success_rate", "complied"), ("other_rate", "other")):
            if k in sf:
                out[f"{s} {short}"] = 100 * sf[k]["mean"]
        o = (m.get("over_refusal") or {}).get(s)
        if o:
            out[f"{s} OR"] = 100 * o["mean"]
    return out


def collect(run: Path, styles: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """{model row: {cell: value}} of one run folder (base once, from the first variant that has it)."""
    order = json.loads((run / "run_summary.json").read_text(encoding="utf-8")).get("variants") or []
    # a run folder (variants/V/eval/results.json) or its committed copy (scripts/collect_benchmark.py:
    # variants/V/results.json)
    paths = {p.parent.name: p for p in run.glob("variants/*/results.json")}
    paths |= {p.parent.parent.name: p for p in run.glob("variants/*/eval/results.json")}
    rows: dict[str, dict[str, float]] = {}
    for v in [*order, *sorted(set(paths) - set(order))]:
        if v not in paths:
            continue
        metrics = json.loads(paths[v].read_text(encoding="utf-8"))["metrics"]
        if "base" in metrics and "base" not in rows:
            rows["base"] = _cells(metrics["base"], styles)
        rows[v] = _cells(metrics["model"], styles)
    return dict(sorted(rows.items(), key=lambda kv: kv[0] != "base"))


def _span(vals: list[float]) -> str:
    lo, hi = round(min(vals)), round(max(vals))
    return f"{lo}" if lo == hi else f"{lo}-{hi}"


KINDS = ("refused", "complied", "other", "OR")


def table(runs: list[Path], styles: tuple[str, ...] = STYLES, kinds: tuple[str, ...] = KINDS) -> list[str]:
    per_run = [collect(r, styles) for r in runs]
    cols = [f"{s} {k}" for s in styles for k in kinds]
    cols = [c for c in cols if any(c in row for pr in per_run for row in pr.values())]
    out = [f"| model ({len(runs)} runs) | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name in per_run[0]:
        cells = []
        for c in cols:
            vals = [pr[name][c] for pr in per_run if name in pr and c in pr[name]]
            cells.append(_span(vals) if vals else "–")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", type=Path, nargs="+")
    ap.add_argument("--styles", default=",".join(STYLES), help="Probe styles, comma-separated.")
    ap.add_argument("--kinds", default=",".join(KINDS), help="Cells per style, comma-separated: " + ", ".join(KINDS) + ".")
    args = ap.parse_args(argv)
    for r in args.runs:
        if not (r / "run_summary.json").is_file():
            print(f"error: {r} has no run_summary.json (not a finished `safemix run` folder)", file=sys.stderr)
            return 2
    kinds = tuple(args.kinds.split(","))
    if bad := [k for k in kinds if k not in KINDS]:
        print(f"error: --kinds {','.join(bad)}: choose from {', '.join(KINDS)}", file=sys.stderr)
        return 2
    print("\n".join(table(args.runs, tuple(args.styles.split(",")), kinds)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
