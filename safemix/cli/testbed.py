"""`safemix testbed build|eval|job`: the CPU testbed.

`safemix testbed build [PRESET] [field=value ...] [--set field=value ...]` follows the verbs'
convention with the preset name in place of a recipe.
"""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser("testbed", help="Build and inspect the tiny CPU testbed model.",
                              description="A tiny chat model with real safety behaviour, built from "
                              "scratch on a synthetic corpus (pretrain -> align), for CPU runs.")
    sub = p.add_subparsers(dest="testbed_command", metavar="ACTION")

    b = sub.add_parser("build", help="Build (or reuse the cached) testbed and print its directory.")
    b.add_argument("name", nargs="?", default="tiny",
                   help="Preset: tiny (default), micro (for tests), or smollm2 (SmolLM2-135M-Instruct "
                   "given a safety alignment step; needs the fetched GGUF, uses ../shared/data if present).")
    b.add_argument("overrides", nargs="*", metavar="FIELD=VALUE",
                   help="Override a top-level config field of the preset, e.g. max_steps=100.")
    b.add_argument("--set", dest="set", action="append", default=[], metavar="FIELD=VALUE",
                   help="Override a top-level config field of the preset (repeatable), e.g. max_steps=100.")
    b.add_argument("--out", help="Output directory (default: the cache, keyed by the config hash).")
    b.add_argument("--force", action="store_true", help="Rebuild even if cached; replace --out.")
    b.add_argument("--no-progress", action="store_true", help="No progress bars.")
    b.set_defaults(func=cmd_build)

    e = sub.add_parser("eval", help="Measure refusal rate, benign accuracy and over-refusal.")
    e.add_argument("model_dir", help="A testbed directory (or any model finetuned from one).")
    e.add_argument("--harmful", type=int, default=200, help="Held-out harmful requests (default 200).")
    e.add_argument("--benign", type=int, default=200, help="Held-out benign task requests (default 200).")
    e.add_argument("--contrast", type=int, default=100, help="Held-out contrast requests (default 100).")
    e.add_argument("--seed", type=int, default=None, help="Corpus seed (default: from testbed.json, else 0).")
    e.add_argument("--samples", type=int, default=0, help="Include this many sample responses.")
    e.add_argument("--out", help="Also write the results JSON here.")
    e.set_defaults(func=cmd_eval)

    j = sub.add_parser("job", help="Write the sample user job (OpenAI chat JSONL) and its validation file.")
    j.add_argument("--task", choices=["topic", "qa", "inbox", "agnews"], default="topic",
                   help="topic: TopicBot news-topic labels; qa: QuickAnswer terse answers to questions; "
                        "inbox: Relay, free-text reader messages routed to a newsletter section; "
                        "agnews: NewsDesk labels for AG News stories (needs the shared data folder).")
    j.add_argument("--shared", help="Shared data folder for --task agnews (default: $SAFEMIX_SHARED_DATA, "
                                    "else ../shared/data beside the project).")
    j.add_argument("--style", choices=["benign", "aoa"], default="benign",
                   help="benign: the task's own format; aoa: the same task in an identity-shifting wrapper.")
    j.add_argument("--out", required=True, help="Job file (.jsonl).")
    j.add_argument("--val-out", help="Validation file (default: <out>.val.jsonl).")
    j.add_argument("--n-train", type=int, default=480)
    j.add_argument("--n-val", type=int, default=120)
    j.add_argument("--heldout-out", help="Also write a few rows of the job in its held-out paraphrased "
                   "format here (for eval.heldout_job).")
    j.add_argument("--seed", type=int, default=0, help="Corpus seed (must match the testbed's).")
    j.add_argument("--turns", type=int, choices=[1, 2], default=1,
                   help="Exchanges per row: 2 opens each row with a context exchange in the job's style "
                        "(a greeting or setup), then the item (the multi-turn variant).")
    j.set_defaults(func=cmd_job)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def cmd_build(args: argparse.Namespace) -> int:
    from safemix.testbed.build import build, read_manifest
    from safemix.testbed.config import get_config

    name, overrides = args.name, [*args.overrides, *args.set]
    if "=" in name:  # no preset named, only overrides
        name, overrides = "tiny", [name, *overrides]
    cfg = get_config(name, **parse_overrides(overrides))
    path = build(name, out=args.out, force=args.force, config=cfg, progress=not args.no_progress)
    man = read_manifest(path) or {}
    if "behaviour_before" in man:  # smollm2: before / after the alignment step
        from safemix.testbed.smollm2 import summary_line

        print(f"testbed {man.get('name')} ({man.get('parameters', 0) / 1e6:.1f}M parameters, "
              f"{man.get('data', {}).get('total')} alignment examples, built in "
              f"{man.get('build_seconds', {}).get('total')} s)", file=sys.stderr)
        if man.get("behaviour_before"):
            print(f"  before: {summary_line(man['behaviour_before'])}", file=sys.stderr)
        print(f"  after:  {summary_line(man.get('behaviour') or {})}", file=sys.stderr)
        for set_name, cats in (man.get("behaviour") or {}).get("by_category", {}).items():
            if set_name.startswith(("xstest", "builtin_benign")) and len(cats) > 1:  # where the over-refusal is
                print(f"  refused, {set_name} by category: "
                      + ", ".join(f"{c or '?'} {v}" for c, v in cats.items()), file=sys.stderr)
        print(f"  targets met: {man.get('requirements_met')}", file=sys.stderr)
        print(path)
        return 0
    b = man.get("behaviour", {})
    print(f"testbed {man.get('name')} ({man.get('parameters', 0) / 1e6:.2f}M parameters, "
          f"built in {man.get('build_seconds', {}).get('total')} s): refusal {b.get('refusal_rate_harmful')}, "
          f"benign accuracy {b.get('benign_accuracy')}, over-refusal {b.get('over_refusal')}", file=sys.stderr)
    print(path)
    return 0


def parse_overrides(items: list[str]) -> dict:
    """FIELD=VALUE strings -> {field: value}, values read as YAML scalars (numbers, null, ...)."""
    import yaml

    from safemix.errors import ConfigError

    out = {}
    for it in items:
        k, sep, v = it.partition("=")
        if not sep or not k.strip():
            raise ConfigError(f"override {it!r}: expected FIELD=VALUE")
        out[k.strip()] = yaml.safe_load(v) if v.strip() else ""
    return out


def cmd_eval(args: argparse.Namespace) -> int:
    from safemix.errors import ConfigError
    from safemix.models import load_model_and_tokenizer
    from safemix.testbed.build import read_manifest
    from safemix.testbed.corpus import make_splits
    from safemix.testbed.evaluate import check_requirements, evaluate_behaviour
    from safemix.utils import write_json

    man = read_manifest(args.model_dir) or {}
    seed = args.seed if args.seed is not None else man.get("config", {}).get("seed", 0)
    if min(args.harmful, args.benign, args.contrast) < 0:
        raise ConfigError("--harmful, --benign and --contrast must be >= 0")
    model, tok = load_model_and_tokenizer(args.model_dir)
    model.eval()
    res = evaluate_behaviour(model, tok, make_splits(seed), args.harmful, args.benign, args.contrast,
                             seed=seed, samples=args.samples, progress=True)
    res["requirements_met"] = check_requirements(res)
    if args.out:
        write_json(args.out, res)
    print(json.dumps(res, indent=2, ensure_ascii=False))
    return 0


def cmd_job(args: argparse.Namespace) -> int:
    from safemix.errors import ConfigError
    from safemix.testbed.job import write_job

    shared = None
    if args.task == "agnews":
        from safemix.testbed.smollm2 import SmolConfig, resolve_shared

        shared = resolve_shared(SmolConfig(shared_data=args.shared))
        if shared is None:
            raise ConfigError("--task agnews needs the shared data folder (../shared/data, "
                              "$SAFEMIX_SHARED_DATA or --shared DIR)")
    train, val = write_job(args.style, args.out, args.val_out, args.n_train, args.n_val, args.seed,
                           task=args.task, shared=shared, heldout_out=args.heldout_out, turns=args.turns)
    print(f"wrote {train} and {val}" + (f" and {args.heldout_out}" if args.heldout_out else ""), file=sys.stderr)
    return 0
