"""`safemix decontam --input X --against FILE ...`: seeds or a generated set vs evaluation sets."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("decontam", help="Check seeds or a generated set against evaluation sets.",
                       description="Report items of --input whose normalised text equals, or whose "
                       "embedding cosine with, any prompt of the --against files is >= --threshold; "
                       "optionally write the input without them (--drop --out).")
    d.add_argument("--input", required=True, help="'builtin' (the built-in seeds) or a file: seed JSONL, "
                   "Alpaca/OpenAI/prompt-completion job, CSV/TSV/TXT/Parquet or a datasets folder.")
    d.add_argument("--against", action="append", required=True, metavar="FILE",
                   help="Evaluation file (repeatable): AdvBench/HarmBench/XSTest CSV, JSON, JSONL, TXT, datasets folder.")
    d.add_argument("--threshold", type=float, default=0.9, help="Cosine at or above which items overlap (default 0.9).")
    d.add_argument("--column", default=None, help="Prompt column of --input (default: found by name).")
    d.add_argument("--against-column", default=None, help="Prompt column of the --against files (default: found by name).")
    d.add_argument("--text-only", action="store_true", help="Compare normalised text only (no embeddings).")
    d.add_argument("--embedder", default=None, help="sentence-transformers model folder (default: bundled all-MiniLM-L6-v2).")
    d.add_argument("--drop", action="store_true", help="Write the input minus overlapping items to --out.")
    d.add_argument("--out", default=None, help="Output path for --drop (same format as the input).")
    d.add_argument("--report", default=None, help="Also write the JSON report to this path.")
    d.add_argument("--json", action="store_true", help="Print the JSON report.")
    d.add_argument("--fail-on-overlap", action="store_true", help="Exit 1 when any item overlaps.")
    d.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from safemix.errors import ConfigError
    from safemix.seeds.decontam import (
        Item,
        check_output_path,
        decontamination_report,
        load_against,
        write_kept_rows,
    )
    from safemix.utils import write_json, write_jsonl

    if args.drop and not args.out:
        raise ConfigError("--drop needs --out (inputs are never modified)")
    if args.out and not args.drop:
        raise ConfigError("--out is only used with --drop")
    if args.out:
        check_output_path([args.input, *args.against], args.out)

    table = seeds = None
    if args.input == "builtin":
        from safemix.seeds import load_builtin_seeds

        seeds = load_builtin_seeds()
        items = [Item(s.id, s.request, s.source) for s in seeds]
    else:
        from safemix.formats.prompts import probes_from_table, read_table

        table = read_table(args.input)
        pairs = probes_from_table(table, {"prompt": args.column} if args.column else None, use_labels=False)
        items = [Item(p.id, p.prompt, args.input) for _, p in pairs]
        rows_of_item = [idx for idx, _ in pairs]
    against = [it for path in args.against for it in load_against(path, args.against_column)]
    report = decontamination_report(items, against, input_source=args.input, threshold=args.threshold,
                                    embedder=args.embedder, use_embeddings=not args.text_only)
    bad = set(report["overlapping_indices"])
    if args.drop:
        keep = [i for i in range(len(items)) if i not in bad]
        if seeds is not None:
            write_jsonl(args.out, (seeds[i].to_record() for i in keep))
        else:
            write_kept_rows(table, [rows_of_item[i] for i in keep], args.out)
        report["written"] = {"path": args.out, "kept": len(keep), "dropped": len(bad)}
    if args.report:
        write_json(args.report, report)
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print(_format_report(report))
    return 1 if (args.fail_on_overlap and bad) else 0


def _format_report(r: dict) -> str:
    lines = [f"input: {r['input']['source']} ({r['input']['n']} items); threshold {r['threshold']} "
             f"({r['method']})", "", f"{'against':<60}{'n':>6}{'exact':>7}{'overlap':>9}{'max cos':>9}"]
    for a in r["against"]:
        src = a["source"] if len(a["source"]) <= 58 else "..." + a["source"][-55:]
        mc = "-" if a["max_cosine"] is None else f"{a['max_cosine']:.4f}"
        lines.append(f"{src:<60}{a['n']:>6}{a['exact_matches']:>7}{a['overlapping_inputs']:>9}{mc:>9}")
    lines.append("")
    lines.append(f"overlapping items: {r['overlapping_inputs']} of {r['input']['n']}")
    for o in r["overlaps"][:50]:
        cos = "exact" if o["cosine"] is None else f"{o['cosine']:.3f}"
        lines.append(f"  [{cos}{' exact' if o['exact'] and o['cosine'] is not None else ''}] "
                     f"{o['input_id']}: {o['input'][:70]!r}  ~  {o['against_id']}: {o['against'][:70]!r}")
    if len(r["overlaps"]) > 50:
        lines.append(f"  ... {len(r['overlaps']) - 50} more pairs (use --json)")
    if "written" in r:
        w = r["written"]
        lines.append(f"wrote {w['kept']} items to {w['path']} ({w['dropped']} dropped)")
    return "\n".join(lines)
