"""`safemix seeds stats|export`: inspect or export the built-in safety seed set."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("seeds", help="Inspect or export the built-in safety seed set.",
                       description="The built-in seeds: harmful requests with refusals, and "
                       "benign-but-sensitive contrast requests with helpful answers.")
    acts = p.add_subparsers(dest="seeds_action", metavar="ACTION")
    st = acts.add_parser("stats", help="Counts per category, refusal styles, pairwise similarity.")
    st.add_argument("--seeds", default="builtin", help="'builtin' or a seed file path.")
    st.add_argument("--json", action="store_true", help="Print JSON.")
    st.add_argument("--no-embed", action="store_true", help="Skip the embedding similarity (fast).")
    st.add_argument("--embedder", default=None, help="sentence-transformers model folder (default: bundled all-MiniLM-L6-v2).")
    st.set_defaults(func=run_stats)
    ex = acts.add_parser("export", help="Write the built-in seeds to a file.",
                         description="Write seeds as seed-schema JSONL (all refusals rendered), or as one "
                         "chat example per seed (openai, alpaca, prompt_completion; one refusal picked per seed).")
    ex.add_argument("--out", required=True, help="Output path (.jsonl, or .json for alpaca).")
    ex.add_argument("--kind", choices=("harmful", "contrast"), default=None, help="Only this kind.")
    ex.add_argument("--format", default="seeds", choices=("seeds", "openai", "alpaca", "prompt_completion"),
                    help="Output schema (default: seeds).")
    ex.add_argument("--seed", type=int, default=0, help="Random seed for picking refusals.")
    ex.set_defaults(func=run_export)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _load(spec: str):
    if spec == "builtin":
        from safemix.seeds import load_builtin_seeds

        return load_builtin_seeds()
    from safemix.seeds.loaders import load_seed_file

    return load_seed_file(spec)


def run_stats(args: argparse.Namespace) -> int:
    from safemix.seeds import load_refusal_styles
    from safemix.seeds.stats import format_stats, seed_stats

    stats = seed_stats(_load(args.seeds), with_embeddings=not args.no_embed, embedder=args.embedder)
    if args.json:
        print(json.dumps(stats, indent=2))
    else:
        print(format_stats(stats, len(load_refusal_styles()) if args.seeds == "builtin" else None))
    return 0


def run_export(args: argparse.Namespace) -> int:
    from safemix.seeds import load_builtin_seeds

    seeds = load_builtin_seeds(args.kind)
    if args.format == "seeds":
        from safemix.utils import write_jsonl

        n = write_jsonl(args.out, (s.to_record() for s in seeds))
    else:
        import random

        from safemix.formats import Example, write_examples
        from safemix.utils import stable_hash

        examples = []
        for s in seeds:
            rng = random.Random(stable_hash([args.seed, s.id]))  # per-seed, independent of order
            examples.append(Example.chat(s.request, s.response(rng), seed_id=s.id, category=s.category,
                                         kind=s.kind, source=s.source))
        write_examples(examples, args.out, schema=args.format)
        n = len(examples)
    print(f"wrote {n} seeds to {args.out}", file=sys.stderr)
    return 0
