"""Copy a finished `safemix run` folder's results into a folder for committing (benchmarks/).

    python scripts/collect_benchmark.py runs/smollm2_cpu_aoa benchmarks/smollm2/aoa

Copies what the run computed, unedited: `run_config.json`, `run_summary.json`, the report
(`report/sweep.md`, `comparison.md`, `comparison.json`, `pareto.png`, `retention.png`) and
every variant's `eval/results.json` and plots. Model answers are NOT copied: `samples.jsonl`,
`report.md` and `report.html` quote real model outputs to harmful probes (a real model's
compliance can hold harmful detail, which the repository must not), and results.json's
judge-disagreement rows (which quote responses) are emptied, with their count kept.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REPORT_FILES = ("sweep.md", "comparison.md", "comparison.json", "pareto.png", "retention.png")


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


def collect(run: Path, dest: Path) -> list[Path]:
    from safemix.utils import write_json

    if not (run / "run_summary.json").is_file():
        raise SystemExit(f"error: {run} has no run_summary.json (not a finished `safemix run` folder)")
    written = []
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("run_config.json", "run_summary.json"):
        _copy(run / name, dest / name)
        written.append(dest / name)
    for name in REPORT_FILES:
        if (run / "report" / name).is_file():
            _copy(run / "report" / name, dest / "report" / name)
            written.append(dest / "report" / name)
    for res in sorted(run.glob("variants/*/eval/results.json")):
        variant = res.parent.parent.name
        out = dest / "variants" / variant
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "results.json", strip_responses(json.loads(res.read_text(encoding="utf-8"))))
        written.append(out / "results.json")
        for png in sorted((res.parent / "plots").glob("*.png")):
            _copy(png, out / "plots" / png.name)
            written.append(out / "plots" / png.name)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="A finished `safemix run` folder.")
    ap.add_argument("dest", type=Path, help="Destination folder (e.g. benchmarks/smollm2/aoa).")
    args = ap.parse_args(argv)
    files = collect(args.run, args.dest)
    print(f"copied {len(files)} files to {args.dest}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
