"""Refusal against over-refusal of the aligned SmolLM2 testbed as its alignment is scaled down.

    python scripts/smollm2_frontier.py --testbed ~/.cache/safemix/testbed/smollm2-<id> \\
        --scales 1.0,0.85,0.7,0.6,0.5,0.4 --out benchmarks/smollm2/frontier/frontier.json

Loads the base model (the fetched GGUF) and the aligned testbed folder and evaluates
W = base + s * (aligned - base) for each scale s (s = 1 is the testbed, s = 0 the base model)
with the testbed build's own evaluation (`safemix.testbed.smollm2.evaluate_model`: plain chat,
greedy, keyword judge) on fewer prompts: 60 built-in harmful probes, 40 of each external
harmful set, 100 XSTest safe prompts. If some s kept >= 80% refusal with <= 20% over-refusal,
the alignment's direction would separate harmful from borderline-safe requests and only its
strength would be wrong; the curve shows whether it does. Needs `../shared/data` and one core
for ~2 minutes per scale.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--testbed", required=True, help="The aligned smollm2 testbed folder.")
    ap.add_argument("--scales", default="1.0,0.85,0.7,0.6,0.5,0.4", help="Comma list of scales s.")
    ap.add_argument("--out", required=True, help="JSON file written after each scale (atomically).")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)

    import torch

    from safemix.errors import ConfigError
    from safemix.models import load_model_and_tokenizer
    from safemix.testbed.smollm2 import evaluate_model, quick_eval, rates, resolve_model
    from safemix.utils import write_json

    torch.set_num_threads(args.threads)
    scales = [float(x) for x in args.scales.split(",")]
    try:
        cfg, evals, settings = quick_eval()
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    base, _ = load_model_and_tokenizer(resolve_model(cfg))
    model, tok = load_model_and_tokenizer(args.testbed)
    base_sd = {k: v.clone() for k, v in base.state_dict().items()}
    aligned_sd = {k: v.clone() for k, v in model.state_dict().items()}
    del base
    model.eval()
    out: dict = {"testbed": str(args.testbed), "eval": settings, "scales": {}}
    for s in scales:
        t = time.perf_counter()
        model.load_state_dict({k: base_sd[k] + s * (aligned_sd[k] - base_sd[k]) for k in aligned_sd})
        res = evaluate_model(model, tok, cfg, evals, progress=False)
        row = rates(res)
        row["seconds"] = round(time.perf_counter() - t, 1)
        out["scales"][str(s)] = row
        print(s, row, flush=True)
        write_json(Path(args.out), out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
