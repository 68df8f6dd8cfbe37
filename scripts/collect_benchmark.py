"""Copy a finished `safemix run` folder's results into a folder for committing (benchmarks/).

    python scripts/collect_benchmark.py runs/smollm2_cpu_aoa benchmarks/smollm2/aoa

Copies what the run computed, unedited: `run_config.json`, `run_summary.json` and every
variant's `eval/results.json` and plots, then renders the run's report (`report/`: sweep.md,
comparison.md/.html/.json and the plots) again from those copies. Model answers are NOT
copied: `samples.jsonl`, `report.md` and `report.html` quote real model outputs to harmful
probes (a real model's compliance can hold harmful detail, which the repository must not),
results.json's judge-disagreement rows (which quote responses) are emptied, with their count
kept, and the re-rendered report has no example generations (there is no samples.jsonl to
take them from), where the run's own report/comparison.* has them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

def strip_responses(res: dict) -> dict:
    """results.json without quoted model answers (disagreement rows), counts kept."""
    judges = res.get("judges") or {}
    dis = judges.get("disagreements")
    if isinstance(dis, list):
        judges["disagreements"] = []
        judges["disagreements_removed"] = len(dis)
    return res


def _copy(src: Path, dst: Path) -> None:
    """Byte copy, written atomically like every other output."""
    from safemix.utils import atomic_write

    dst.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(dst, mode="wb", encoding=None) as f:
        f.write(src.read_bytes())


def collect(run: Path, dest: Path, report: bool = True, plots: bool = True) -> list[Path]:
    from safemix.utils import write_json

    if not (run / "run_summary.json").is_file():
        raise SystemExit(f"error: {run} has no run_summary.json (not a finished `safemix run` folder)")
    written = []
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("run_config.json", "run_summary.json"):
        _copy(run / name, dest / name)
        written.append(dest / name)
    for res in sorted(run.glob("variants/*/eval/results.json")):
        variant = res.parent.parent.name
        out = dest / "variants" / variant
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "results.json", strip_responses(json.loads(res.read_text(encoding="utf-8"))))
        written.append(out / "results.json")
        for png in sorted((res.parent / "plots").glob("*.png")) if plots else []:
            _copy(png, out / "plots" / png.name)
            written.append(out / "plots" / png.name)
    # the report, from the copies: no samples.jsonl beside them, so no model answers in it
    from safemix.eval.report import compare_runs

    summary = json.loads((run / "run_summary.json").read_text(encoding="utf-8"))
    name = json.loads((run / "run_config.json").read_text(encoding="utf-8")).get("name", run.name)
    order = [v for v in summary.get("variants", []) if (dest / "variants" / v / "results.json").is_file()]
    order += sorted(p.name for p in (dest / "variants").glob("*") if (p / "results.json").is_file() and p.name not in order)
    if order and report:
        paths = compare_runs([dest / "variants" / v for v in order], dest / "report", style="job",
                             title=f"safemix run: {name}")
        written += list(paths.values())
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="A finished `safemix run` folder.")
    ap.add_argument("dest", type=Path, help="Destination folder (e.g. benchmarks/smollm2/aoa).")
    ap.add_argument("--results-only", action="store_true",
                    help="Copy only run_config/run_summary and each variant's results.json (no plots, no report).")
    args = ap.parse_args(argv)
    files = collect(args.run, args.dest, report=not args.results_only, plots=not args.results_only)
    print(f"copied {len(files)} files to {args.dest}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
