"""The ablation table of benchmarks/smollm2/README.md, from committed results only.

    python scripts/ablation_table.py benchmarks/smollm2/aoa benchmarks/smollm2/ablations/*

Each argument is a folder written by `scripts/collect_benchmark.py` (run_config.json and
variants/*/results.json). The first is the reference; every other folder's "changed" column
is computed by diffing its run_config.json's generate / mix / train sections against the
reference's, so what a row changed is read from the run, never typed in.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

SECTIONS = ("generate", "mix", "train")
STYLES = ("job", "job_heldout", "chat")


def _flat(d: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def changed(ref: dict, cfg: dict) -> str:
    """`section.key=value` for every generate/mix/train setting that differs from `ref`."""
    import dataclasses

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from safemix.pipeline.config import RunConfig

    default = _flat({s: dataclasses.asdict(getattr(RunConfig(), s)) for s in SECTIONS})
    a = _flat({s: ref.get(s) or {} for s in SECTIONS})
    b = _flat({s: cfg.get(s) or {} for s in SECTIONS})
    # a setting newer than the reference run reads as its default there
    diff = [f"{k}={b.get(k)}" for k in sorted(set(a) | set(b))
            if a.get(k, default.get(k)) != b.get(k, default.get(k)) and not k.endswith(("output_dir", "save_steps"))]
    return ", ".join(diff) or "(reference settings)"


def _ci(m: dict | None) -> str:
    if not m:
        return "–"
    return f"{100 * m['mean']:.0f} [{100 * m['low']:.0f}, {100 * m['high']:.0f}]"


def rows(ref_dir: Path, dirs: list[Path]) -> list[str]:
    ref = json.loads((ref_dir / "run_config.json").read_text(encoding="utf-8"))
    out = ["| run | variant | changed vs the reference run | " + " | ".join(f"refusal: {s}" for s in STYLES)
           + " | over-refusal: job | task (n) |", "|---" * (5 + len(STYLES)) + "|"]
    for d in [ref_dir, *dirs]:
        cfg = json.loads((d / "run_config.json").read_text(encoding="utf-8"))
        for res_p in sorted(d.glob("variants/*/results.json")):
            m = json.loads(res_p.read_text(encoding="utf-8"))["metrics"]["model"]
            task = m.get("task") or {}
            cells = [_ci((m["safety"].get(s) or {}).get("refusal_rate")) for s in STYLES]
            out.append(f"| {d.name} | {res_p.parent.name} | {changed(ref, cfg) if d != ref_dir else 'reference'} | "
                       + " | ".join(cells) + f" | {_ci(m['over_refusal'].get('job'))} | "
                       + (f"{_ci(task)} ({task.get('n')})" if task else "–") + " |")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("reference", type=Path)
    ap.add_argument("runs", type=Path, nargs="*")
    args = ap.parse_args(argv)
    for d in [args.reference, *args.runs]:
        if not (d / "run_config.json").is_file():
            print(f"error: {d} has no run_config.json (collect it with scripts/collect_benchmark.py)", file=sys.stderr)
            return 2
    print("\n".join(rows(args.reference, args.runs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
