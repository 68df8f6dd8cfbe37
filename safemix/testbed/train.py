"""The testbed's model and its plain, efficient torch training loop.

A Llama-shaped `LlamaForCausalLM`, trained from scratch in two stages. Documents are
length-bucketed into padded batches (no packing), so training sees exactly what inference
sees: one conversation from its first token.

It does not go through `safemix.train.trainer` (TRL's SFTTrainer): pretraining from scratch
with this loop's length-bucketed batches, seeded order, warmup-cosine schedule and
labelled-positions-only loss is what the cached testbed builds (their cache key) were trained
with, and the SFTTrainer's data pipeline, sampler and schedule would train different models.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Sequence
from typing import Any

from safemix.testbed.config import StageConfig, TestbedConfig
from safemix.testbed.corpus import Record

log = logging.getLogger(__name__)
IGNORE = -100


def new_model(cfg: TestbedConfig, tok):
    """A randomly initialised Llama with the testbed's shape (seeded): `safemix.tiny.tiny_llama`."""
    from safemix.tiny import tiny_llama

    return tiny_llama(tok, hidden_size=cfg.hidden_size, layers=cfg.layers, heads=cfg.heads,
                      intermediate_size=cfg.intermediate_size,
                      max_position_embeddings=max(256, cfg.max_length * 2), seed=cfg.seed)


def encode_records(records: Sequence[Record], tok, max_length: int,
                   assistant_only_loss: bool) -> list[tuple[list[int], list[int]]]:
    """(input_ids, labels) per record; labels mask the prompt when `assistant_only_loss`.

    Prompt and completion are tokenized separately: the prompt always ends at a special
    token or a newline, so the concatenation equals tokenizing the whole text (tested).
    """
    prompts = tok([r.prompt_text() for r in records], add_special_tokens=False)["input_ids"]
    comps = tok([r.completion_text() for r in records], add_special_tokens=False)["input_ids"]
    out = []
    for p, c in zip(prompts, comps, strict=True):
        ids = (p + c)[:max_length]
        labels = ([IGNORE] * len(p) if assistant_only_loss else list(p)) + list(c)
        out.append((ids, labels[:max_length]))
    return out


def length_batches(lengths: Sequence[int], batch_size: int, rng: random.Random,
                   pool: int = 64) -> list[list[int]]:
    """Indices grouped into batches of similar length, in random order (little padding)."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches = []
    for start in range(0, len(order), batch_size * pool):
        chunk = sorted(order[start:start + batch_size * pool], key=lambda i: lengths[i])
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def collate(examples: Sequence[tuple[list[int], list[int]]], pad_id: int):
    import torch

    n = max(len(ids) for ids, _ in examples)
    ids = torch.full((len(examples), n), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), n), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), n), dtype=torch.long)
    for i, (x, y) in enumerate(examples):
        ids[i, :len(x)] = torch.tensor(x)
        labels[i, :len(y)] = torch.tensor(y)
        mask[i, :len(x)] = 1
    return ids, labels, mask


def causal_lm_loss(model, ids, mask, labels):
    """Next-token cross-entropy, same value as `model(..., labels=labels).loss`, but the
    vocabulary projection runs only where there is a label (it is a third of the compute
    of a model this small, and most positions are prompt or padding in alignment)."""
    import torch.nn.functional as F

    hidden = model.model(input_ids=ids, attention_mask=mask).last_hidden_state[:, :-1]
    target = labels[:, 1:]
    keep = target != IGNORE
    logits = model.lm_head(hidden[keep])
    return F.cross_entropy(logits.float(), target[keep])


def lr_at(step: int, total: int, peak: float, warmup: float) -> float:
    """Linear warmup then cosine decay to 10% of the peak."""
    w = max(1, int(total * warmup))
    if step < w:
        return peak * (step + 1) / w
    t = (step - w) / max(1, total - w)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


def train_stage(model, tok, records: Sequence[Record], stage: StageConfig, cfg: TestbedConfig,
                name: str, progress: bool = True) -> dict[str, Any]:
    """One pass over `records`; returns loss statistics."""
    import torch
    from tqdm.auto import tqdm

    data = encode_records(records, tok, cfg.max_length, stage.assistant_only_loss)
    rng = random.Random(f"testbed-batches-{name}-{cfg.seed}")
    batches = length_batches([len(x) for x, _ in data], stage.batch_size, rng)
    opt = torch.optim.AdamW(model.parameters(), lr=stage.lr, betas=(0.9, 0.95), weight_decay=0.01)
    model.train()
    losses: list[float] = []
    tokens = 0
    bar = tqdm(batches, desc=f"testbed {name}", disable=not progress, leave=False)
    for step, idx in enumerate(bar):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, len(batches), stage.lr, stage.warmup)
        ids, labels, mask = collate([data[i] for i in idx], tok.pad_token_id)
        loss = causal_lm_loss(model, ids, mask, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
        tokens += int(mask.sum())
        if step % 20 == 0:
            bar.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.3f}")
    model.eval()
    tail = losses[-max(1, len(losses) // 10):]
    return {"documents": len(data), "steps": len(batches), "tokens": tokens,
            "loss_first": round(losses[0], 4) if losses else None,
            "loss_last10pct": round(sum(tail) / len(tail), 4) if losses else None}
