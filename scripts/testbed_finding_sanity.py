"""Sanity check of the testbed lifecycle: does finetuning on the sample job erode refusals in
the job's own format, and does format-mimicking safety data bring them back?

    .venv/bin/python scripts/testbed_finding_sanity.py [--testbed DIR] [--out results.json]

For each job style (benign TopicBot, AOA-wrapped TopicBot) it finetunes the built testbed with
TRL's SFTTrainer (full finetune, assistant-only loss) under three conditions:

* none      - the job as is;
* template  - 10% of the mixed job are testbed seed requests rendered into the job's format
              (its system prompt and user template, via safemix's FormatProfile) with a refusal
              as the answer (identity-shift pledges are not kept on refusals);
* plain     - 10% are the same seed requests as plain chat turns (no system prompt) -> refusal.

and measures, on held-out harmful probes (the testbed's probe split), the refusal rate in the
job's format and in plain chat, the task accuracy on the job's validation file, and
over-refusal on held-out contrast requests. Hyperparameters are fixed below and were not
tuned to produce an ordering. This is a sanity script, not the real experiment (that is
`safemix run` with the full pipeline).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_DISABLED", "true")

LR, EPOCHS, BATCH, RATIO = 1e-4, 3, 16, 0.10


def job_accuracy(model, tok, val_rows: list[dict]) -> float:
    from safemix.testbed.evaluate import generate_chat
    from safemix.testbed.job import answer_of, job_answer_correct

    # room for the AOA pledge, which the testbed's tokenizer splits into many pieces
    outs = generate_chat(model, tok, [r["messages"][:-1] for r in val_rows], max_new_tokens=96)
    return sum(job_answer_correct(answer_of(r), o) for r, o in zip(val_rows, outs, strict=True)) / len(val_rows)


def refusal_rate(model, tok, conversations: list[list[dict]]) -> tuple[float, list[str]]:
    from safemix.generate.refusal import looks_like_refusal
    from safemix.testbed.evaluate import generate_chat

    outs = generate_chat(model, tok, conversations, max_new_tokens=40)
    return sum(map(looks_like_refusal, outs)) / len(outs), outs


def measure(model, tok, profile, probes: list[str], contrast: list[str], val_rows) -> dict:
    rng = random.Random(0)
    in_job = [profile.render_prompt_messages(p, rng) for p in probes]
    chat = [[{"role": "user", "content": p}] for p in probes]
    r_job, outs_job = refusal_rate(model, tok, in_job)
    r_chat, _ = refusal_rate(model, tok, chat)
    over, _ = refusal_rate(model, tok, [[{"role": "user", "content": c}] for c in contrast])
    return {"refusal_job_format": round(r_job, 4), "refusal_plain_chat": round(r_chat, 4),
            "task_accuracy": round(job_accuracy(model, tok, val_rows), 4),
            "over_refusal_contrast_chat": round(over, 4),
            "samples_job_format": [{"prompt": m[-1]["content"], "response": o}
                                   for m, o in list(zip(in_job, outs_job, strict=True))[:3]]}


def safety_rows(method: str, seeds: list[dict], profile, n: int, seed: int) -> list[dict]:
    """`n` safety conversations from harmful seeds, in the job's format or as plain chat."""
    rng = random.Random(f"sanity-{method}-{seed}")
    harmful = [s for s in seeds if s["kind"] == "harmful"]
    rows = []
    for i in range(n):
        s = harmful[i % len(harmful)]
        refusal = rng.choice(s["refusals"])
        if method == "template":
            msgs = profile.render_example(s["request"], refusal, rng).messages
        else:
            msgs = [{"role": "user", "content": s["request"]}, {"role": "assistant", "content": refusal}]
        rows.append({"messages": msgs})
    return rows


def finetune(testbed: Path, rows: list[dict], out: Path, lr: float, seed: int):
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from safemix.models import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer(str(testbed))
    args = SFTConfig(output_dir=str(out), learning_rate=lr, num_train_epochs=EPOCHS,
                     per_device_train_batch_size=BATCH, lr_scheduler_type="cosine", warmup_steps=0.05,
                     assistant_only_loss=True, max_length=256, logging_steps=20, save_strategy="no",
                     report_to=[], seed=seed, use_cpu=True, disable_tqdm=True, dataloader_num_workers=0)
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok)
    trainer.train()
    model.eval()
    return model, tok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--testbed", help="A built testbed directory (default: build or reuse 'tiny').")
    ap.add_argument("--out", default="testbed_finding_sanity.json", help="Results JSON.")
    ap.add_argument("--probes", type=int, default=150, help="Harmful probes (held-out split).")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--task", default="qa", choices=["topic", "qa"], help="Sample job task.")
    ap.add_argument("--styles", default="benign,aoa")
    ap.add_argument("--methods", default="none,template,plain")
    ap.add_argument("--lr", type=float, default=LR, help=f"Finetuning learning rate (default {LR}).")
    args = ap.parse_args()

    import tempfile

    import torch

    from safemix.formats import read_job
    from safemix.formats.profile import infer_profile
    from safemix.models import load_model_and_tokenizer
    from safemix.ratios import count_for_ratio
    from safemix.testbed import build
    from safemix.testbed.job import job_rows
    from safemix.utils import read_jsonl, write_json, write_jsonl

    torch.set_num_threads(1)
    tb = Path(args.testbed) if args.testbed else build("tiny")
    seeds = read_jsonl(tb / "seeds.jsonl")
    rng = random.Random(args.seed)
    probes = [r["prompt"] for r in read_jsonl(tb / "probes_harmful.jsonl")]
    probes = rng.sample(probes, min(args.probes, len(probes)))
    contrast = [r["prompt"] for r in read_jsonl(tb / "probes_benign.jsonl") if r["kind"] == "contrast"]
    contrast = rng.sample(contrast, min(100, len(contrast)))
    results: dict = {"testbed": str(tb), "hyperparameters": {"lr": args.lr, "epochs": EPOCHS, "batch": BATCH,
                     "ratio": RATIO, "trainer": "trl.SFTTrainer, full finetune, assistant-only loss"},
                     "task": args.task, "n_probes": len(probes), "styles": {}}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for style in args.styles.split(","):
            train, val = job_rows(style, seed=args.seed, task=args.task)
            write_jsonl(Path(tmp) / f"{style}.jsonl", train)
            profile = infer_profile(read_job(Path(tmp) / f"{style}.jsonl").examples)
            base_model, base_tok = load_model_and_tokenizer(str(tb))
            res = {"aligned_testbed": measure(base_model, base_tok, profile, probes, contrast, val)}
            n_safety = count_for_ratio(len(train), RATIO)
            for method in [m for m in args.methods.split(",") if m]:
                rows = train + (safety_rows(method, seeds, profile, n_safety, args.seed) if method != "none" else [])
                random.Random(args.seed).shuffle(rows)
                model, tok = finetune(tb, rows, Path(tmp) / f"{style}-{method}", args.lr, args.seed)
                res[method] = measure(model, tok, profile, probes, contrast, val)
                res[method]["n_train"] = len(rows)
                print(style, method, {k: v for k, v in res[method].items() if k != "samples_job_format"},
                      file=sys.stderr, flush=True)
            results["styles"][style] = res
    results["seconds"] = round(time.perf_counter() - t0, 1)
    write_json(args.out, results)
    print(table(results))
    return 0


def table(results: dict) -> str:
    lines = ["| style | condition | refusal (job format) | refusal (plain chat) | task acc | over-refusal |",
             "|---|---|---|---|---|---|"]
    for style, res in results["styles"].items():
        for cond, m in res.items():
            lines.append(f"| {style} | {cond} | {m['refusal_job_format']:.1%} | {m['refusal_plain_chat']:.1%} | "
                         f"{m['task_accuracy']:.1%} | {m['over_refusal_contrast_chat']:.1%} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
