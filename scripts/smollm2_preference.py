"""Does a preference (DPO) step after the SFT alignment lower the smollm2 testbed's over-refusal?

    python scripts/smollm2_preference.py --testbed ~/.cache/safemix/testbed/smollm2-<id> \\
        --steps 24 --eval-every 8 --out benchmarks/smollm2/frontier/preference.json

An experiment, not a build step. The aligned testbed refuses 53% of XSTest's safe prompts
and, asked its own training prompts again, 203 of the 368 benign(-but-sensitive) ones
(contrast seeds and `borderline_v1`): "I can't help with hanging a picture." This script
gives it a LoRA DPO step (TRL's DPOTrainer, sigmoid loss plus an SFT term on the chosen answer)
on pairs built from the testbed's own alignment data:

* benign: each contrast row of `data/align.jsonl` and each `borderline_v1` row; chosen = the
  project-written helpful answer (first 240 characters), rejected = the testbed's own answer
  (greedy, 24 tokens) when the keyword judge reads it as a refusal, else a generic refusal;
* harmful: each harmful seed and external refusal row of `data/align.jsonl`; chosen = its
  refusal, rejected = the placeholder "Sure, here is how to do that. Step 1: [redacted]"
  (no real compliance is written anywhere);

saves the adapter every `--eval-every` steps, then evaluates the testbed and each saved
adapter (merged into a freshly loaded testbed) with the frontier's evaluation
(`scripts/smollm2_frontier.py`: 60 built-in harmful probes, 40 of each external harmful set,
100 XSTest safe prompts, plain chat, greedy, 32 tokens, keyword judge). One core: ~2 min of
answers, ~30 s a step, ~2 min an evaluation. Needs `../shared/data`.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PLACEHOLDER = "Sure, here is how to do that. Step 1: [redacted]"
GENERIC_REFUSALS = ("I can't help with that.", "I'm sorry, but I can't assist with that request.")
# The DPO step's fixed settings, recorded in the output as they are used.
LORA_R, LORA_ALPHA, BATCH_SIZE, MAX_LENGTH, WARMUP_STEPS = 16, 32, 8, 160, 3


def _cut(text: str, n: int = 240) -> str:
    return text if len(text) <= n else text[:n].rsplit(" ", 1)[0]


def build_pairs(testbed: Path, model, tok, seed: int) -> tuple[list[dict], dict]:
    """Preference pairs from the testbed's alignment data (see the module docstring)."""
    from safemix.eval.keyword import KeywordJudge
    from safemix.llm.hf import HFBackend
    from safemix.seeds import BORDERLINE_SEED_SET, load_builtin_seeds
    from safemix.utils import read_jsonl

    rows = list(read_jsonl(testbed / "data" / "align.jsonl"))
    sources = [r["source"] for r in read_jsonl(testbed / "data" / "align_sources.jsonl")]
    benign, harmful = [], []
    for r, s in zip(rows, sources, strict=True):
        user, answer = r["messages"][-2]["content"], r["messages"][-1]["content"]
        if s == "seeds_contrast":
            benign.append((user, answer))
        elif s in ("seeds_harmful", "external_refusals"):
            harmful.append((user, answer))
    benign += [(b.request, b.answer) for b in load_builtin_seeds(name=BORDERLINE_SEED_SET)]
    backend = HFBackend(model, tok, device=None, batch_size=16, progress=False)
    replies = backend.chat([[{"role": "user", "content": u}] for u, _ in benign], max_new_tokens=24)
    judge = KeywordJudge()
    refused = [judge.judge_one(u, r).outcome == "refused" for (u, _), r in zip(benign, replies, strict=True)]
    rng = random.Random(seed)

    def pair(user: str, chosen: str, rejected: str) -> dict:
        return {"prompt": [{"role": "user", "content": user}],
                "chosen": [{"role": "assistant", "content": _cut(chosen)}],
                "rejected": [{"role": "assistant", "content": rejected}]}

    pairs = [pair(u, a, r if rf else rng.choice(GENERIC_REFUSALS))
             for (u, a), r, rf in zip(benign, replies, refused, strict=True)]
    pairs += [pair(u, a, PLACEHOLDER) for u, a in harmful]
    rng.shuffle(pairs)
    return pairs, {"benign": len(benign), "benign_refused_by_testbed": sum(refused), "harmful": len(harmful)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--testbed", required=True, help="The aligned smollm2 testbed folder.")
    ap.add_argument("--out", required=True, help="JSON file written after each evaluation (atomically).")
    ap.add_argument("--steps", type=int, default=24)
    ap.add_argument("--eval-every", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--beta", type=float, default=0.1)
    ap.add_argument("--sft-weight", type=float, default=1.0, help="Weight of the SFT term on the chosen answers.")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)

    import tempfile

    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from trl import DPOConfig, DPOTrainer

    from safemix.errors import ConfigError
    from safemix.models import load_model_and_tokenizer
    from safemix.testbed.smollm2 import evaluate_model, quick_eval, rates
    from safemix.utils import write_json

    torch.set_num_threads(args.threads)
    testbed = Path(args.testbed).expanduser()
    try:
        cfg, evals, settings = quick_eval()
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    model, tok = load_model_and_tokenizer(str(testbed))
    model.eval()
    t = time.perf_counter()
    pairs, counts = build_pairs(testbed, model, tok, args.seed)
    out: dict = {"testbed": str(testbed), "pairs": counts | {"total": len(pairs)},
                 "settings": {k: getattr(args, k) for k in ("steps", "lr", "beta", "sft_weight", "seed")}
                 | {"lora_r": LORA_R, "lora_alpha": LORA_ALPHA, "batch_size": BATCH_SIZE, "max_length": MAX_LENGTH,
                    "loss_type": ["sigmoid", "sft"], "lr_scheduler": f"constant_with_warmup ({WARMUP_STEPS})"},
                 "eval": settings,
                 "pair_seconds": round(time.perf_counter() - t, 1), "steps": {}}
    print("pairs", out["pairs"], flush=True)

    def record(step: int, adapter: Path | None) -> None:
        """Evaluate the testbed (step 0) or the testbed with a saved adapter merged, freshly loaded."""
        from peft import PeftModel

        m, _ = load_model_and_tokenizer(str(testbed))
        if adapter is not None:
            m = PeftModel.from_pretrained(m, str(adapter)).merge_and_unload()
        m.eval()
        t0 = time.perf_counter()
        res = evaluate_model(m, tok, cfg, evals, progress=False)
        row = rates(res)
        row["eval_seconds"] = round(time.perf_counter() - t0, 1)
        out["steps"][str(step)] = row
        print(step, row, flush=True)
        write_json(Path(args.out), out)

    with tempfile.TemporaryDirectory(prefix="smollm2-dpo-") as tmp:
        dcfg = DPOConfig(output_dir=tmp, max_steps=args.steps, per_device_train_batch_size=BATCH_SIZE,
                         learning_rate=args.lr, beta=args.beta, max_length=MAX_LENGTH, logging_steps=4,
                         save_strategy="steps", save_steps=args.eval_every, report_to=[],
                         gradient_checkpointing=False, lr_scheduler_type="constant_with_warmup",
                         warmup_steps=WARMUP_STEPS, use_cpu=True, bf16=False, loss_type=["sigmoid", "sft"],
                         loss_weights=[1.0, args.sft_weight], seed=args.seed)
        lora = LoraConfig(r=LORA_R, lora_alpha=LORA_ALPHA, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")
        model.train()
        trainer = DPOTrainer(model=model, args=dcfg, train_dataset=Dataset.from_list(pairs), processing_class=tok,
                             peft_config=lora)
        t = time.perf_counter()
        trainer.train()
        out["train_seconds"] = round(time.perf_counter() - t, 1)
        out["log"] = [h for h in trainer.state.log_history if "loss" in h]
        del trainer, model
        record(0, None)
        for ck in sorted(Path(tmp).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1])):
            record(int(ck.name.split("-")[1]), ck)
    write_json(Path(args.out), out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
