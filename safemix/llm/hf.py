"""`hf`: a local transformers causal LM, batched generation with left padding.

Prompts are sorted by length and cut into batches so that each batch pads little; the
answers are put back in input order. Left padding keeps every prompt's last token at the
same position, so the new tokens of a batch are simply the columns after the prompt.
Greedy (deterministic) unless `temperature > 0`.

This is safemix's one batched-generation path for local models: the evaluator, the training
callback's safety probes (on the model being trained, under DeepSpeed ZeRO-3 too) and the
testbed's behaviour check all generate through `HFBackend`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from safemix.errors import ConfigError
from safemix.llm.base import LLMBackend, truncate_at_stop

log = logging.getLogger(__name__)


class HFBackend(LLMBackend):
    """Generate with a transformers model.

    `model` is a HF id, a local directory, a `.gguf` path, or an already-loaded model
    (then `tokenizer` is required). The tokenizer is not modified: padding is done here.
    `device="auto"` puts a model loaded here on the GPU when there is one; a model passed in
    stays where it is unless `device` names a place.
    """

    name = "hf"

    def __init__(self, model: Any = None, tokenizer: Any = None, *, gguf_file: str | None = None,
                 dtype: str | None = "auto", device: str | None = "auto", batch_size: int = 8,
                 trust_remote_code: bool = False, progress: bool = True) -> None:
        super().__init__()
        if model is None:
            raise ConfigError("the hf backend needs a model: a HF id, a local directory or a .gguf path")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        loaded_here = isinstance(model, str) or hasattr(model, "__fspath__")
        if loaded_here:
            from safemix.models import check_model_path, load_model, load_tokenizer

            model = str(model)
            check_model_path(model)
            try:
                tokenizer = tokenizer or load_tokenizer(model, gguf_file, trust_remote_code)
                model = load_model(model, gguf_file, dtype, trust_remote_code)
            except OSError as e:  # e.g. an id that is neither local nor in the offline cache
                raise ConfigError(f"cannot load model {model!r}: {e}") from e
        elif tokenizer is None:
            raise ConfigError("the hf backend was given a loaded model without its tokenizer")
        if device == "auto":
            import torch

            device = "cuda" if loaded_here and torch.cuda.is_available() else None
        if device is not None:
            model = model.to(device)
        self.model, self.tokenizer = model, tokenizer
        self.batch_size, self.progress = batch_size, progress
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        if self.pad_id is None:
            raise ConfigError("the tokenizer has neither a pad nor an eos token; cannot pad batches")
        self.eos_ids = eos_token_ids(model, tokenizer)
        if not getattr(tokenizer, "chat_template", None):
            from safemix.models import FALLBACK_CHAT_TEMPLATE

            log.warning("tokenizer has no chat template; using safemix's ChatML fallback")
            self._chat_template = FALLBACK_CHAT_TEMPLATE
        else:
            self._chat_template = None  # the tokenizer's own

    # ------------------------------------------------------------------ encoding
    def encode_chat(self, conversation: list[dict]) -> list[int]:
        """Token ids of a conversation rendered with the chat template, ready for the
        assistant's answer. The template already holds any BOS, so no special tokens are added."""
        text = self.tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True,
                                                  chat_template=self._chat_template)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def encode_text(self, prompt: str) -> list[int]:
        """Token ids of a raw prompt, with the tokenizer's usual special tokens (e.g. BOS)."""
        return self.tokenizer(prompt)["input_ids"]

    # ------------------------------------------------------------------ generation
    def loglik(self, conversation: list[dict], continuations: list[str]) -> list[float]:
        """Summed log-probability of each continuation after the chat-templated conversation
        (`safemix.eval.backends.loglik`): one padded forward pass over the prompt + each
        continuation (tokenised without special tokens), summing the continuation's tokens."""
        import torch

        tok, model = self.tokenizer, self.model
        opt_ids = [tok(c, add_special_tokens=False)["input_ids"] for c in continuations]
        prompt = self.encode_chat(conversation)
        rows = [prompt + o for o in opt_ids]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for r, row in enumerate(rows):
            ids[r, : len(row)] = torch.tensor(row)
            mask[r, : len(row)] = 1
        with torch.inference_mode():
            logp = torch.log_softmax(model(input_ids=ids.to(model.device),
                                           attention_mask=mask.to(model.device)).logits.float(), dim=-1)
        scores = []
        for r, o in enumerate(opt_ids):
            pos = range(len(prompt) - 1, len(prompt) - 1 + len(o))  # logits at t predict token t+1
            scores.append(sum(float(logp[r, p, o[k]]) for k, p in enumerate(pos)))
        return scores

    def _chat(self, conversations: list[list[dict]], **params: Any) -> list[str]:
        return self.generate_ids([self.encode_chat(c) for c in conversations], **params)

    def _complete(self, prompts: list[str], **params: Any) -> list[str]:
        return self.generate_ids([self.encode_text(p) for p in prompts], **params)

    def generate_ids(self, prompts: list[list[int]], *, max_new_tokens: int, temperature: float,
                     top_p: float, stop: list[str], seed: int | None) -> list[str]:
        """Answer tokenised prompts in length-sorted batches; returns texts in input order."""
        import torch
        from tqdm.auto import tqdm

        from safemix.console import progress_enabled

        t0 = time.perf_counter()
        if seed is not None:
            torch.manual_seed(seed)
        # longest first: an out-of-memory batch fails at once, not at the end of a long run
        order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
        outs: list[str] = [""] * len(prompts)
        self.stats.add(requests=len(prompts))
        # eval mode for generation, then back: a model passed in may be in the middle of training
        was_training = self.model.training
        self.model.eval()
        try:
            with tqdm(total=len(prompts), desc="generate", unit="prompt", disable=not (self.progress and progress_enabled()),
                      leave=False) as bar:
                for start in range(0, len(order), self.batch_size):
                    idx = order[start:start + self.batch_size]
                    texts, n_new = self._generate_batch([prompts[i] for i in idx], max_new_tokens,
                                                        temperature, top_p, stop)
                    for i, text in zip(idx, texts, strict=True):
                        outs[i] = truncate_at_stop(text, stop) if stop else text
                    self.stats.add(completed=len(idx), prompt_tokens=sum(len(prompts[i]) for i in idx),
                                   completion_tokens=n_new)
                    bar.update(len(idx))
        finally:
            self.model.train(was_training)
            self.stats.add(elapsed_s=time.perf_counter() - t0)
        return outs

    def _generate_batch(self, batch: list[list[int]], max_new_tokens: int, temperature: float,
                        top_p: float, stop: list[str]) -> tuple[list[str], int]:
        """Generate for one batch; returns (new texts, number of real new tokens)."""
        import torch
        from transformers.integrations import is_deepspeed_zero3_enabled

        input_ids, attention_mask = left_pad(batch, self.pad_id)
        device = next(self.model.parameters()).device
        kw: dict[str, Any] = {"max_new_tokens": max_new_tokens, "pad_token_id": self.pad_id,
                              "eos_token_id": self.eos_ids}
        if is_deepspeed_zero3_enabled():  # a model mid-training: every rank steps until all are done
            kw["synced_gpus"] = True
        if temperature > 0:
            kw.update(do_sample=True, temperature=temperature, top_p=top_p, top_k=0)
        else:
            # explicit Nones silence the warnings about sampling settings in the model's config
            kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if stop:
            kw.update(stop_strings=stop, tokenizer=self.tokenizer)
        # no_grad, not inference_mode: a model mid-training must not keep inference tensors
        with torch.no_grad():
            out = self.model.generate(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device), **kw)
        new = out[:, input_ids.shape[1]:].tolist()
        texts, n_new = [], 0
        for row in new:
            row = cut_at_eos(row, self.eos_ids)
            n_new += len(row)
            texts.append(self.tokenizer.decode(row, skip_special_tokens=True))
        return texts, n_new


def left_pad(batch: list[list[int]], pad_id: int):
    """Left-pad token id lists into (input_ids, attention_mask) tensors.

    >>> ids, mask = left_pad([[5, 6, 7], [8]], pad_id=0)
    >>> ids.tolist(), mask.tolist()
    ([[5, 6, 7], [0, 0, 8]], [[1, 1, 1], [0, 0, 1]])
    """
    import torch

    width = max(len(x) for x in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for r, x in enumerate(batch):
        if x:
            ids[r, width - len(x):] = torch.tensor(x, dtype=torch.long)
            mask[r, width - len(x):] = 1
    return ids, mask


def cut_at_eos(row: list[int], eos_ids: list[int]) -> list[int]:
    """Drop the first end-of-sequence token and everything after it (padding)."""
    for k, t in enumerate(row):
        if t in eos_ids:
            return row[:k]
    return row


def eos_token_ids(model: Any, tokenizer: Any) -> list[int]:
    """All ids that end an answer: the model's generation config and the tokenizer's eos."""
    ids: list[int] = []
    gc = getattr(model, "generation_config", None)
    cfg_eos = getattr(gc, "eos_token_id", None)
    for x in (cfg_eos if isinstance(cfg_eos, list) else [cfg_eos]) + [tokenizer.eos_token_id]:
        if x is not None and x not in ids:
            ids.append(int(x))
    return ids
