"""Report on the built-in seed and probe sets.

    python scripts/seed_report.py                     # counts, refusal styles, mean pairwise cosine
    python scripts/seed_report.py --shared ../shared/data   # + overlap with public eval sets
    python scripts/seed_report.py --json > seed_report.json

Prints category counts, the number of refusal styles, the mean and max pairwise cosine
similarity of the seed requests (all-MiniLM-L6-v2), seed/probe disjointness, and with
--shared the highest cosine between any shipped seed (or probe) and each public set.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")



def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=None, help="Folder of the public datasets (e.g. ../shared/data).")
    ap.add_argument("--threshold", type=float, default=0.9)
    ap.add_argument("--json", action="store_true", help="Print one JSON object.")
    args = ap.parse_args(argv)

    from safemix.eval.probes import load_builtin_probes
    from safemix.seeds import load_builtin_seeds, load_refusal_styles
    from safemix.seeds.decontam import PUBLIC_EVAL_SETS, Item, find_overlaps, load_against
    from safemix.seeds.stats import format_stats, seed_stats

    t0 = time.perf_counter()
    seeds, probes = load_builtin_seeds(), load_builtin_probes()
    report: dict = {"seeds": seed_stats(seeds), "refusal_styles_defined": len(load_refusal_styles())}
    seed_items = [Item(s.id, s.request, "seeds") for s in seeds]
    probe_items = [Item(p.id, p.prompt, "probes") for p in probes]
    ov, st = find_overlaps(seed_items, probe_items, args.threshold)
    report["probes"] = {"harmful": sum(p.kind == "harmful" for p in probes),
                        "benign": sum(p.kind == "benign" for p in probes),
                        "seed_probe_max_cosine": st["probes"]["max_cosine"],
                        "seed_probe_overlaps": len(ov)}
    if args.shared:
        root = Path(args.shared)
        files = [root / f for f in PUBLIC_EVAL_SETS if (root / f).exists()]
        against = [it for f in files for it in load_against(f)]
        for name, items in (("seeds_vs_public", seed_items), ("probes_vs_public", probe_items)):
            ov, st = find_overlaps(items, against, args.threshold)
            report[name] = {"overlapping": len({o.input_index for o in ov}),
                            "sets": {str(Path(k).relative_to(root)): v for k, v in st.items()},
                            "pairs": [(o.input_id, o.against, o.cosine) for o in ov]}
    report["seconds"] = round(time.perf_counter() - t0, 1)

    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return 0
    print(format_stats(report["seeds"], report["refusal_styles_defined"]))
    p = report["probes"]
    print(f"\nprobes: {p['harmful']} harmful, {p['benign']} benign; seed/probe max cosine "
          f"{p['seed_probe_max_cosine']}, pairs >= {args.threshold}: {p['seed_probe_overlaps']}")
    for name in ("seeds_vs_public", "probes_vs_public"):
        if name in report:
            r = report[name]
            print(f"\n{name.replace('_', ' ')} (threshold {args.threshold}): {r['overlapping']} overlapping")
            print(f"  {'set':<62}{'n':>6}{'exact':>7}{'max cos':>9}")
            for k, v in r["sets"].items():
                print(f"  {k:<62}{v['n']:>6}{v['exact_matches']:>7}{v['max_cosine']:>9.4f}")
            for pair in r["pairs"]:
                print(f"  overlap: {pair}")
    print(f"\n({report['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
