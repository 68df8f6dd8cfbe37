"""Training overhead of safemix versus a plain TRL script, side by side in one run.

    python scripts/bench_train.py                        # tiny Llama built in code, CPU
    python scripts/bench_train.py --hidden 512 --layers 8 --steps 40 --repeats 3 --out runs/bench_train.json

Both sides train the same model (same initial weights), on the same job, for the same
number of steps with the same settings (LoRA all-linear, batch, learning rate, seed):

- safemix: `safemix.train.build_trainer(cfg)` + `trainer.train()` - what `safemix train` runs
  (pre-tokenized data with verified completion-only labels, JSONL metrics callback).
- plain:   `trl.SFTTrainer` on the conversational dataset with `assistant_only_loss=True`.

Same checkpoint policy on both sides: no checkpoint during the run, one at its end (which
the trainer writes inside its loop whenever save_strategy is "steps", as `safemix train`'s is).

Throughput is tokens/s over the training loop (the trainer's own `num_tokens` count divided
by the time from `on_train_begin` to `on_train_end`); setup (loading, tokenization) is
reported separately. Sides alternate (plain first, then safemix first, ...) and the median
of the repeats is compared: ratio = safemix / plain tokens per second.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def make_job(path: Path, n: int) -> list[dict]:
    """A chat job: arithmetic questions, some refusals, a system prompt."""
    rows = []
    for i in range(n):
        if i % 5 == 4:
            user, answer = f"Tell me how to pick lock number {i}.", "I'm sorry, but I can't assist with that."
        else:
            user, answer = (f"Question: What is {i} plus {i % 13}? Please answer the following question carefully.",
                            f"The answer is {i + i % 13}. #### {i + i % 13}")
        rows.append({"messages": [{"role": "system", "content": "You are a helpful assistant."},
                                  {"role": "user", "content": user}, {"role": "assistant", "content": answer}]})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return rows


def loop_timer():
    from transformers import TrainerCallback

    class LoopTimer(TrainerCallback):
        """Wall time of the training loop, and of each optimizer step."""

        def on_train_begin(self, args, state, control, **kw):
            self.t0 = time.perf_counter()
            self.steps: list[float] = []

        def on_step_begin(self, args, state, control, **kw):
            self.s0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            self.steps.append(time.perf_counter() - self.s0)

        def on_train_end(self, args, state, control, **kw):
            self.seconds = time.perf_counter() - self.t0

    return LoopTimer()


def tokens_seen(trainer) -> float:
    counts = [h["num_tokens"] for h in trainer.state.log_history if "num_tokens" in h]
    return float(counts[-1])


def timed_train(trainer, t0: float) -> dict:
    """Train, timing the loop the same way for both sides; setup is everything since `t0`."""
    timer = loop_timer()
    trainer.add_callback(timer)
    setup = time.perf_counter() - t0
    trainer.train()
    return {"setup_s": setup, "loop_s": timer.seconds, "tokens": tokens_seen(trainer),
            "step_s": timer.steps, "final_loss": trainer.state.log_history[-2].get("loss")}


def run_safemix(a, model_dir: Path, job: Path, out: Path) -> dict:
    from safemix.train.config import TrainConfig
    from safemix.train.trainer import build_trainer

    t0 = time.perf_counter()
    cfg = TrainConfig(model=str(model_dir), data=[str(job)], output_dir=str(out), method="lora",
                      lora_r=a.lora_r, lora_alpha=2 * a.lora_r, lora_dropout=0.0, max_seq_length=a.max_len,
                      per_device_batch_size=a.batch, max_steps=a.steps, learning_rate=1e-3, seed=0,
                      save_steps=a.steps + 1, logging_steps=1, resume=False, show_progress=False,
                      trl={"gradient_checkpointing": False, "lr_scheduler_type": "constant"})
    trainer = build_trainer(cfg)
    return timed_train(trainer, t0)


def run_plain(a, model_dir: Path, rows: list[dict], out: Path) -> dict:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    args = SFTConfig(output_dir=str(out), per_device_train_batch_size=a.batch, max_steps=a.steps,
                     learning_rate=1e-3, seed=0, save_strategy="steps", save_steps=a.steps + 1,
                     logging_steps=1, report_to="none",
                     max_length=a.max_len, assistant_only_loss=True, bf16=False, use_cpu=True,
                     disable_tqdm=True, gradient_checkpointing=False, lr_scheduler_type="constant")
    peft = LoraConfig(r=a.lora_r, lora_alpha=2 * a.lora_r, lora_dropout=0.0, target_modules="all-linear",
                      task_type="CAUSAL_LM")
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                         processing_class=tok, peft_config=peft)
    return timed_train(trainer, t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, default=256, help="Hidden size of the Llama built in code.")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--model", default=None, help="Use this model folder instead of building one.")
    ap.add_argument("--examples", type=int, default=256)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--max-len", type=int, default=256)
    ap.add_argument("--lora-r", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3, help="Runs per side (alternating).")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice).")
    ap.add_argument("--out", default=None, help="Also write the results JSON here.")
    a = ap.parse_args(argv)

    import logging

    import torch

    logging.disable(logging.WARNING)
    if a.threads:
        torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
        tmp = Path(tmp)
        if a.model:
            model_dir = Path(a.model)
        else:
            from safemix.testing import tiny_llama, tiny_tokenizer

            tok = tiny_tokenizer()
            model = tiny_llama(tok, hidden_size=a.hidden, layers=a.layers, heads=max(4, a.hidden // 64),
                               intermediate_size=a.hidden * 3)
            model_dir = tmp / "model"
            model.save_pretrained(model_dir)
            tok.save_pretrained(model_dir)
        job = tmp / "job.jsonl"
        rows = make_job(job, a.examples)
        results: dict[str, list[dict]] = {"plain": [], "safemix": []}
        for r in range(a.repeats):
            # Alternate which side goes first, and collect garbage before each run, so that
            # neither side pays for the other's leftovers.
            for side in ("plain", "safemix") if r % 2 == 0 else ("safemix", "plain"):
                gc.collect()
                out = tmp / f"{side}{r}"
                res = (run_plain(a, model_dir, rows, out) if side == "plain"
                       else run_safemix(a, model_dir, job, out))
                res["tokens_per_s"] = res["tokens"] / res["loop_s"]
                results[side].append(res)
                print(f"[{r + 1}/{a.repeats}] {side:8s} {res['tokens_per_s']:10.1f} tok/s  loop "
                      f"{res['loop_s']:.2f}s  setup {res['setup_s']:.2f}s  tokens {res['tokens']:.0f}  "
                      f"loss {res['final_loss']:.4f}", flush=True)
    med = {s: statistics.median(x["tokens_per_s"] for x in v) for s, v in results.items()}
    ratio = med["safemix"] / med["plain"]
    # Both sides train on the same batches, so the ratio of median step times is a second,
    # load-robust estimate of the same quantity (one slow step does not move a median).
    step = {s: statistics.median(t for x in v for t in x["step_s"]) for s, v in results.items()}
    step_ratio = step["plain"] / step["safemix"]
    summary = {"command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
               "settings": vars(a), "torch_threads": torch.get_num_threads(),
               "median_tokens_per_s": med, "ratio_safemix_over_plain": ratio,
               "median_step_s": step, "step_time_ratio_plain_over_safemix": step_ratio, "runs": results}
    print(f"\nmedian tokens/s: plain {med['plain']:.1f}  safemix {med['safemix']:.1f}  "
          f"ratio {ratio:.3f} (target >= 0.97)")
    print(f"median step time: plain {step['plain'] * 1000:.1f} ms  safemix {step['safemix'] * 1000:.1f} ms  "
          f"ratio {step_ratio:.3f}")
    if a.out:
        from safemix.utils import write_json

        write_json(a.out, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
