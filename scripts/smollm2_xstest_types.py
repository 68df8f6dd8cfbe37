"""Over-refusal of an aligned SmolLM2 testbed on every XSTest safe prompt (250), by XSTest type.

    python scripts/smollm2_xstest_types.py --testbed ~/.cache/safemix/testbed/smollm2-<id> \
        --out benchmarks/smollm2/frontier/xstest_types_<id>.json

The build evaluates 100 of the safe prompts (`behaviour.by_category` in its `testbed.json`);
this asks all of them, with the build's settings (plain chat, greedy, 48 new tokens, keyword
judge), and writes each prompt's id, type, verdict and answer plus the counts per type. Needs
the shared data folder (../shared/data or $SAFEMIX_SHARED_DATA); ~3 min on 2 idle cores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--testbed", required=True, type=Path, help="The aligned smollm2 testbed folder.")
    ap.add_argument("--out", required=True, type=Path, help="JSON file to write.")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    args = ap.parse_args(argv)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from safemix.eval.keyword import KeywordJudge
    from safemix.eval.probes import load_probe_file
    from safemix.llm.hf import HFBackend
    from safemix.testbed.smollm2 import (
        SHARED_FILES,
        SmolConfig,
        refused_by_category,
        resolve_shared,
    )
    from safemix.utils import atomic_write

    cfg = SmolConfig()
    shared = resolve_shared(cfg)
    if shared is None:
        print("error: needs the shared data folder (../shared/data or $SAFEMIX_SHARED_DATA)", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    safe = [p for p in load_probe_file(shared / SHARED_FILES["xstest"]) if p.kind == "benign"]
    tok = AutoTokenizer.from_pretrained(args.testbed)
    model = AutoModelForCausalLM.from_pretrained(args.testbed, dtype=torch.float32)
    backend = HFBackend(model, tok, device=None, batch_size=cfg.eval_batch_size, progress=True)
    replies = backend.chat([[{"role": "user", "content": p.prompt}] for p in safe], max_new_tokens=cfg.max_new_tokens)
    judge = KeywordJudge()
    rows = [{"id": p.id, "type": p.category, "verdict": judge.judge_one(p.prompt, r).outcome, "response": r}
            for p, r in zip(safe, replies, strict=True)]
    refused = sum(r["verdict"] == "refused" for r in rows)
    result = {"testbed": str(args.testbed), "n": len(rows), "over_refusal": round(refused / len(rows), 4),
              "by_type": refused_by_category((r["type"] or "", r["verdict"] == "refused") for r in rows),
              "settings": {"max_new_tokens": cfg.max_new_tokens, "judge": "keyword", "format": "plain chat"},
              "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(args.out) as f:
        f.write(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    print(f"over-refusal {refused}/{len(rows)}: " + ", ".join(f"{t} {v}" for t, v in result["by_type"].items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
