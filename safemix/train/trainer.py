"""Build and run a finetune: TRL `SFTTrainer` + PEFT + optional DeepSpeed ZeRO.

    from safemix.config import load_config
    from safemix.train import TrainConfig, build_trainer, run_training

    cfg = load_config(TrainConfig, "safemix/recipes/train_tiny_lora.yaml", section="train")
    trainer = build_trainer(cfg)        # every check done, nothing trained yet
    trainer.train()                     # ...or run_training(cfg): train, save, manifest

Everything that can be wrong with a recipe (unknown preset, LoRA target matching no module,
a batch size that does not divide, a missing model or data file, bad loss masking) fails
in `build_trainer`, before the first step.

Run folder (`output_dir`):

    checkpoint-N/         resumable checkpoints (every save_steps; the last save_total_limit kept)
    metrics.jsonl         one line per log: loss, learning rate, grad norm, eval loss, refusal rate
    train_config.json     the resolved config and derived trainer settings (resume checks it)
    model/                the final model, renamed into place only when complete:
      adapter_model.safetensors | model.safetensors, tokenizer, train_config.json, manifest.json
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safemix.errors import ConfigError, InputError
from safemix.train.config import TrainConfig

log = logging.getLogger(__name__)

FINAL_DIR = "model"
CONFIG_FILE = "train_config.json"
MANIFEST_FILE = "manifest.json"
METRICS_FILE = "metrics.jsonl"
# SFTConfig arguments that TrainConfig sets itself: giving them under `trl:` too is an error,
# so each setting has one place.
OWNED_SFT_ARGS = {
    "output_dir": "output_dir", "num_train_epochs": "n_epochs", "max_steps": "max_steps",
    "per_device_train_batch_size": "per_device_batch_size",
    "gradient_accumulation_steps": "gradient_accumulation_steps / batch_size",
    "learning_rate": "learning_rate / learning_rate_multiplier", "seed": "seed",
    "save_steps": "save_steps", "save_total_limit": "save_total_limit",
    "logging_steps": "logging_steps", "report_to": "report_to", "deepspeed": "deepspeed",
    "max_length": "max_seq_length", "assistant_only_loss": "masking",
    "completion_only_loss": "masking", "resume_from_checkpoint": "resume",
}


@dataclass
class RunInfo:
    """What build_trainer decided, kept on the trainer as `trainer.safemix`."""

    cfg: TrainConfig
    world_size: int
    gradient_accumulation_steps: int
    learning_rate: float
    deepspeed: dict[str, Any] | None
    resume_from: str | None
    data_files: list[dict[str, Any]]
    n_examples: int
    n_dropped: int
    n_tokens: int
    n_trained_tokens: int
    sft_args: dict[str, Any] = field(default_factory=dict)

    def resolved(self) -> dict[str, Any]:
        return {"train": dataclasses.asdict(self.cfg),
                "derived": {"world_size": self.world_size,
                            "gradient_accumulation_steps": self.gradient_accumulation_steps,
                            "global_batch_size": self.cfg.per_device_batch_size * self.world_size
                            * self.gradient_accumulation_steps,
                            "learning_rate": self.learning_rate,
                            "num_train_epochs": self.cfg.epochs,
                            "deepspeed": self.deepspeed},
                "resume_key": self.cfg.resume_key()}


# ------------------------------------------------------------------------- checkpoints
def is_complete_checkpoint(path: Path) -> bool:
    """The trainer writes trainer_state.json last: without it the checkpoint was cut short."""
    try:
        json.loads((path / "trainer_state.json").read_text())
        return True
    except (OSError, ValueError):
        return False


def checkpoints(output_dir: str | Path) -> list[Path]:
    d = Path(output_dir)
    found = [p for p in d.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    return sorted(found, key=lambda p: int(p.name.split("-")[-1]))


def last_complete_checkpoint(output_dir: str | Path) -> Path | None:
    done = [p for p in checkpoints(output_dir) if is_complete_checkpoint(p)]
    return done[-1] if done else None


def resolve_resume(cfg: TrainConfig) -> str | None:
    """The checkpoint to continue from, per `cfg.resume` (see its help); ConfigError if
    the run folder holds checkpoints of a different config."""
    out = Path(cfg.output_dir)
    if isinstance(cfg.resume, str) and cfg.resume != "auto":
        p = Path(cfg.resume)
        if not is_complete_checkpoint(p):
            raise ConfigError(f"train.resume: {p} is not a complete checkpoint (no trainer_state.json)")
        return str(p)
    last = last_complete_checkpoint(out)
    if cfg.resume is False:
        if checkpoints(out):
            raise ConfigError(f"{out} holds checkpoints of an earlier run and resume=false: "
                              "choose another output_dir, delete them, or set resume=auto")
        return None
    if last is None:
        if cfg.resume is True:
            raise ConfigError(f"train.resume=true but {out} has no complete checkpoint")
        return None
    saved = out / CONFIG_FILE
    if saved.exists():
        try:
            old = json.loads(saved.read_text()).get("resume_key")
        except ValueError:
            old = None
        new = json.loads(json.dumps(cfg.resume_key(), default=str))
        if old is not None and old != new:
            diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            raise ConfigError(f"{out} holds checkpoints made with a different config (differs in: "
                              f"{', '.join(diff)}); use another output_dir or set resume=false "
                              "after deleting them")
    return str(last)


def _drop_incomplete_checkpoints(output_dir: str | Path) -> None:
    """A kill during a save leaves a checkpoint without trainer_state.json: remove it, so that
    it is neither resumed from nor counted by the checkpoint rotation."""
    for p in checkpoints(output_dir):
        if not is_complete_checkpoint(p):
            log.warning("removing incomplete checkpoint %s (the run was stopped while saving it)", p)
            shutil.rmtree(p, ignore_errors=True)


# ---------------------------------------------------------------------------- model bits
def check_lora_targets(model, targets: list[str]) -> None:
    """Every LoRA target must name at least one module (PEFT's own suffix rule)."""
    if targets == ["all-linear"]:
        return
    names = [n for n, _ in model.named_modules()]
    missing = [t for t in targets if not any(n == t or n.endswith("." + t) for n in names)]
    if missing:
        leaves = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules()
                         if not list(m.children()) and n})
        raise ConfigError(f"train.lora_target_modules: {missing} match no module of the model; "
                          f"module names are: {', '.join(leaves)} (or use all-linear)")


def _lora_config(cfg: TrainConfig):
    from peft import LoraConfig

    targets: str | list[str] = ("all-linear" if cfg.lora_target_modules == ["all-linear"]
                                else list(cfg.lora_target_modules))
    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=targets, task_type="CAUSAL_LM")


def _qlora_kwargs(cfg: TrainConfig) -> dict[str, Any]:
    import importlib.util

    import torch

    if importlib.util.find_spec("bitsandbytes") is None or not torch.cuda.is_available():
        raise ConfigError("train.method=qlora needs bitsandbytes and a CUDA GPU "
                          "(pip install bitsandbytes); use method=lora on this machine")
    from transformers import BitsAndBytesConfig

    compute = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"quantization_config": BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute)}


def load_chat_template(value: str | None) -> str | None:
    """An inline Jinja template, or the path of a file holding one."""
    if value is None:
        return None
    p = Path(value).expanduser()
    if "{" not in value and p.is_file():
        return p.read_text(encoding="utf-8")
    if "{" not in value:
        raise ConfigError(f"train.chat_template: {value!r} is neither a file nor a Jinja template")
    return value


def _sft_args(cfg: TrainConfig, accum: int, lr: float, ds_config: dict | None, cuda: bool,
              has_eval: bool) -> dict[str, Any]:
    from trl import SFTConfig

    from safemix.console import progress_enabled

    known = {f.name for f in dataclasses.fields(SFTConfig)}
    for k in cfg.trl:
        if k in OWNED_SFT_ARGS:
            raise ConfigError(f"train.trl.{k}: set it with train.{OWNED_SFT_ARGS[k]} instead")
        if k not in known:
            from safemix.config import did_you_mean

            raise ConfigError(f"train.trl.{k} is not an SFTConfig argument" + did_you_mean(k, sorted(known)))
    args: dict[str, Any] = {
        "output_dir": cfg.output_dir, "num_train_epochs": cfg.epochs, "max_steps": cfg.max_steps,
        "per_device_train_batch_size": cfg.per_device_batch_size,
        "per_device_eval_batch_size": cfg.per_device_batch_size,
        "gradient_accumulation_steps": accum, "learning_rate": lr, "seed": cfg.seed,
        "save_strategy": "steps", "save_steps": cfg.save_steps, "save_total_limit": cfg.save_total_limit,
        "logging_steps": cfg.logging_steps, "report_to": cfg.report_to, "deepspeed": ds_config,
        "max_length": cfg.max_seq_length, "disable_tqdm": not (cfg.show_progress and progress_enabled()),
        # Mixed precision is a GPU matter; on CPU, bf16 autocast is slow on most chips.
        "bf16": cuda and _bf16_ok(), "use_cpu": not cuda,
    }
    if not cuda:
        # TRL turns gradient checkpointing on by default: it saves GPU memory at the cost of a
        # second forward pass. On CPU memory is rarely the limit and the extra pass roughly
        # doubles the step time (SmolLM2-135M LoRA, 8 x 256 tokens, 2 cores: ~24 s with it,
        # ~12 s without at 8 x 192), so it is off unless `trl.gradient_checkpointing: true`.
        # transformers 5 renamed it `activation_checkpointing` (the old name is an alias, used
        # only when the new one is unset): set whichever this version has, never over the user's.
        names = ("activation_checkpointing", "gradient_checkpointing")
        if not any(n in cfg.trl for n in names):
            args[names[0] if names[0] in known else names[1]] = False
    if has_eval:
        args.update(eval_strategy="steps", eval_steps=cfg.save_steps)
    args.update(_renamed_checkpointing(cfg.trl, known))
    return args


def _renamed_checkpointing(trl_args: dict[str, Any], known: set[str]) -> dict[str, Any]:
    """A user's `gradient_checkpointing[_kwargs]` under the name this transformers uses.

    transformers 5 renamed them `activation_checkpointing[_kwargs]`; the old names still work
    but warn (FutureWarning) on every trainer built, i.e. on every stage of a sweep. Where the
    new name exists and is not also set, the value moves to it: same setting, no warning."""
    out = dict(trl_args)
    for old, new in (("gradient_checkpointing", "activation_checkpointing"),
                     ("gradient_checkpointing_kwargs", "activation_checkpointing_kwargs")):
        if old in out and new in known and new not in out:
            out[new] = out.pop(old)
    return out


def _bf16_ok() -> bool:
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def _data_files(paths: list[str]) -> list[dict[str, Any]]:
    from safemix.utils import sha256_file

    return [{"path": str(p), "sha256": sha256_file(p)} for p in paths]


def _dataset(tokenized) -> Any:
    from datasets import Dataset

    return Dataset.from_dict({"input_ids": [t.input_ids for t in tokenized],
                              "labels": [t.labels for t in tokenized]})


def prepare_data(cfg: TrainConfig, tokenizer, paths: list[str]):
    """Read, tokenize and verify; returns (kept Tokenized list, number dropped)."""
    from safemix.train.data import read_training_examples, tokenize_examples, verify_masking

    examples = read_training_examples(paths, cfg.data_format, cfg.column_map)
    tokenized = tokenize_examples(tokenizer, examples, cfg.masking, cfg.max_seq_length,
                                  show_progress=cfg.show_progress)
    keep = verify_masking(tokenizer, examples, tokenized, cfg.masking, cfg.max_seq_length,
                          cfg.on_untrainable)
    return [tokenized[i] for i in keep], len(tokenized) - len(keep)


def load_train_tokenizer(cfg: TrainConfig):
    from safemix.models import load_tokenizer

    tok = load_tokenizer(cfg.model, cfg.gguf_file, cfg.trust_remote_code)
    template = load_chat_template(cfg.chat_template)
    if template:
        tok.chat_template = template
    return tok


def check_paths(cfg: TrainConfig) -> None:
    from safemix.models import check_model_path

    if not cfg.model:
        raise ConfigError("train.model is not set: give a Hugging Face id, a model folder or a .gguf file")
    check_model_path(cfg.model)
    if not cfg.data:
        raise ConfigError("train.data is empty: give the training file(s), e.g. train.data=mixed.jsonl")
    for p in [*cfg.data, *cfg.eval_data]:
        if not Path(p).exists():
            raise InputError("training data file does not exist", path=str(p))


def _probe_prompts(cfg: TrainConfig, paths: list[str]) -> list[list[dict[str, str]]]:
    """Probe requests rendered in the job's own format (or as plain chat)."""
    import random

    from safemix.train.callbacks import load_probe_requests

    requests = load_probe_requests(cfg.probe.prompts, cfg.probe.limit)
    if cfg.probe.render == "job":
        try:
            from safemix.formats import read_job
            from safemix.formats.profile import infer_profile

            job = read_job(paths[0], format=cfg.data_format, column_map=cfg.column_map)
            prof = infer_profile(job.examples, job.format)
            rng = random.Random(cfg.seed)
            return [prof.render_prompt_messages(r, rng) for r in requests]
        except Exception as e:  # probing must not stop a run whose data trains fine
            log.warning("cannot render probes in the job's format (%s); using plain chat", e)
    return [[{"role": "user", "content": r}] for r in requests]


# --------------------------------------------------------------------------------- build
def build_trainer(cfg: TrainConfig, callbacks: list | None = None):
    """A ready `trl.SFTTrainer` for `cfg`, with `trainer.safemix` (a RunInfo). Nothing is
    trained; every recipe check has passed."""
    from safemix.train.distributed import (
        has_cuda,
        is_main_process,
        prepare_environment,
        resolve_deepspeed,
        world_size,
    )

    # 1. Cheap checks first: no file is read and no weight loaded before they pass.
    ds_config = resolve_deepspeed(cfg.deepspeed) if cfg.deepspeed else None
    check_paths(cfg)
    n_proc = world_size()
    accum = cfg.accumulation_steps(n_proc)
    lr = cfg.effective_learning_rate
    load_kwargs = _qlora_kwargs(cfg) if cfg.method == "qlora" else {}
    if cfg.method == "full" and cfg.merge_lora:
        raise ConfigError("train.merge_lora applies to method=lora/qlora only")
    prepare_environment(ds_config is not None)
    cuda = has_cuda()
    resume_from = resolve_resume(cfg)

    # 2. Data: tokenize and verify the loss masking of every example.
    tokenizer = load_train_tokenizer(cfg)
    train_tok, n_dropped = prepare_data(cfg, tokenizer, cfg.data)
    eval_ds = _dataset(prepare_data(cfg, tokenizer, cfg.eval_data)[0]) if cfg.eval_data else None

    # 3. Trainer settings before the model: under ZeRO-3 a live SFTConfig makes
    #    from_pretrained load the weights already partitioned (deepspeed.zero.Init).
    from trl import SFTTrainer

    sft_kwargs = _sft_args(cfg, accum, lr, ds_config, cuda, eval_ds is not None)
    sft_config = _sft_config(sft_kwargs, ds_config)

    # 4. Model, LoRA targets, callbacks.
    model, peft_config = _model_and_peft(cfg, load_kwargs)
    cbs = _callbacks(cfg, tokenizer, callbacks)
    fused = cfg.fused_lm_head == "on" or (cfg.fused_lm_head == "auto" and cuda)
    trainer_cls = SFTTrainer if fused else _plain_head_trainer_class()
    trainer = trainer_cls(model=model, args=sft_config, train_dataset=_dataset(train_tok),
                         eval_dataset=eval_ds, processing_class=tokenizer,
                         peft_config=peft_config, callbacks=cbs)
    from safemix.console import progress_enabled

    if not progress_enabled():  # no per-log-step dicts on stdout either (metrics.jsonl has them)
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    trainer.safemix = RunInfo(
        cfg=cfg, world_size=n_proc, gradient_accumulation_steps=accum, learning_rate=lr,
        deepspeed=ds_config, resume_from=resume_from, data_files=_data_files(cfg.data),
        n_examples=len(train_tok), n_dropped=n_dropped,
        n_tokens=sum(len(t.input_ids) for t in train_tok),
        n_trained_tokens=sum(t.n_trained for t in train_tok),
        sft_args={k: v for k, v in sft_kwargs.items() if k != "deepspeed"})
    if is_main_process() and resume_from:
        log.info("resuming from %s", resume_from)
    return trainer


def _sft_config(sft_kwargs: dict[str, Any], ds_config: dict | None):
    """The `trl.SFTConfig`; under DeepSpeed, the process group is joined here (before the model)."""
    from trl import SFTConfig

    try:
        sft_config = SFTConfig(**sft_kwargs)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"invalid trainer settings: {e}") from None
    if ds_config is not None:
        # Join the process group now, and let DeepSpeed's comm layer wrap it: ZeRO-3's
        # partitioned load (zero.Init in from_pretrained) needs the real world size.
        import deepspeed

        _ = sft_config.device
        deepspeed.init_distributed()
    return sft_config


def _model_and_peft(cfg: TrainConfig, load_kwargs: dict[str, Any]):
    """The model, and the PEFT config (LoRA targets checked) for method=lora/qlora, else None."""
    from safemix.models import load_model

    model = load_model(cfg.model, cfg.gguf_file, cfg.dtype, cfg.trust_remote_code, **load_kwargs)
    peft_config = None
    if cfg.method in ("lora", "qlora"):
        check_lora_targets(model, list(cfg.lora_target_modules))
        peft_config = _lora_config(cfg)
    return model, peft_config


def _callbacks(cfg: TrainConfig, tokenizer, callbacks: list | None) -> list:
    """metrics.jsonl first, then the caller's callbacks, then the safety probe (when asked for)."""
    from safemix.train.callbacks import JsonlMetricsCallback, SafetyRetentionCallback

    metrics = JsonlMetricsCallback(Path(cfg.output_dir) / METRICS_FILE)
    cbs = [metrics, *(callbacks or [])]
    if cfg.probe.every_n_steps:
        cbs.append(SafetyRetentionCallback(
            tokenizer, _probe_prompts(cfg, cfg.data), cfg.probe.every_n_steps,
            cfg.probe.max_new_tokens, cfg.probe.stop_below, cfg.probe.stop_patience,
            log_fn=metrics.write))
    return cbs


def _plain_head_trainer_class():
    """`SFTTrainer` with the model's own loss instead of TRL's fused LM head.

    TRL always patches a fused LM head into the model and computes the training loss with it
    (log-probs, entropy and top-1 accuracy chunk by chunk, the logits recomputed in backward).
    Without Triton, i.e. on CPU, its torch fallback does three LM-head matrix products a step
    instead of two plus several passes over the vocabulary for the two logged metrics: a
    SmolLM2-135M LoRA step (vocabulary 49,152) took ~1.5x as long as a bare PyTorch loop
    (`scripts/bench_train.py`). This class computes the same loss (the model's own
    cross-entropy over the completion tokens, normalised by the same token count), counts
    tokens as TRL does and logs `mean_token_accuracy` from one argmax; `entropy` is not logged.
    Plain losses only: anything else (a custom loss function, label smoothing, DFT, MoE
    auxiliary loss, sequence parallelism) goes to TRL's own `compute_loss`.
    """
    import torch
    from transformers import Trainer
    from trl import SFTTrainer

    class PlainHeadSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            pc = getattr(self.accelerator, "parallelism_config", None)
            if (self.compute_loss_func is not None or self.label_smoother is not None
                    or self.args.loss_type != "nll" or self.aux_loss_enabled or getattr(pc, "sp_enabled", False)):
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            mode = "train" if self.model.training else "eval"
            inputs["use_cache"] = False
            loss, outputs = Trainer.compute_loss(self, model, inputs, return_outputs=True,
                                                 num_items_in_batch=num_items_in_batch)
            with torch.no_grad():
                labels = inputs["labels"][:, 1:]
                mask = labels != -100
                correct = (outputs.logits[:, :-1].argmax(-1) == labels) & mask
                n_valid = self.accelerator.gather_for_metrics(mask.sum()).sum()
                n_correct = self.accelerator.gather_for_metrics(correct.sum()).sum()
            self._metrics[mode]["mean_token_accuracy"].append(
                (n_correct / n_valid).item() if n_valid > 0 else 0.0)
            if mode == "train":
                if "attention_mask" in inputs:
                    n = self.accelerator.gather_for_metrics(inputs["attention_mask"].sum()).sum().item()
                else:
                    n = self.accelerator.gather_for_metrics(
                        torch.tensor(inputs["input_ids"].numel(), device=inputs["input_ids"].device)).sum().item()
                self._total_train_tokens += n // self._tp_size
            self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
            return (loss, outputs) if return_outputs else loss

    return PlainHeadSFTTrainer


# ----------------------------------------------------------------------------------- run
def run_training(cfg: TrainConfig, callbacks: list | None = None) -> dict[str, Any]:
    """Build, train (resuming when asked), save the final model and its manifest.

    Returns the manifest. Safe to re-run after a kill: with resume=auto the run continues
    from the last complete checkpoint.
    """
    from safemix.train.distributed import is_main_process
    from safemix.utils import write_json

    out = Path(cfg.output_dir)
    if is_main_process():
        _drop_incomplete_checkpoints(out)
    trainer = build_trainer(cfg, callbacks)
    info: RunInfo = trainer.safemix
    if is_main_process():
        write_json(out / CONFIG_FILE, info.resolved())
    t0 = time.time()
    result = trainer.train(resume_from_checkpoint=info.resume_from)
    seconds = time.time() - t0
    return save_final(trainer, result, seconds)


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for pkg in ("safemix", "torch", "transformers", "trl", "peft", "deepspeed", "accelerate", "datasets"):
        with contextlib.suppress(md.PackageNotFoundError):
            out[pkg] = md.version(pkg)
    return out


def check_saved_adapter(model_dir: Path, model) -> int:
    """The saved adapter must hold every trainable tensor, none of them empty (the ZeRO-3
    failure mode: an adapter file with no or zero-size tensors). Returns the tensor count."""
    from safetensors import safe_open

    path = model_dir / "adapter_model.safetensors"
    if not path.exists():
        raise RuntimeError(f"no adapter_model.safetensors in {model_dir}")
    with safe_open(str(path), "pt") as f:
        shapes = {k: f.get_slice(k).get_shape() for k in f.keys()}  # noqa: SIM118 - safe_open has no __iter__
    expected = sum(1 for _, p in model.named_parameters() if p.requires_grad)
    empty = [k for k, s in shapes.items() if 0 in s or not s]
    if not shapes or empty or len(shapes) < expected:
        raise RuntimeError(f"saved adapter {path} is incomplete: {len(shapes)} tensors "
                           f"(expected {expected}), {len(empty)} empty")
    return len(shapes)


def save_final(trainer, train_result, seconds: float) -> dict[str, Any]:
    """Save the model (all ranks take part under ZeRO-3) into output_dir/model atomically,
    with the resolved config and a manifest."""
    from safemix.manifest import make_manifest, write_manifest
    from safemix.train.distributed import is_main_process
    from safemix.utils import write_json

    info: RunInfo = trainer.safemix
    cfg = info.cfg
    out = Path(cfg.output_dir)
    tmp, final = out / f".{FINAL_DIR}.partial", out / FINAL_DIR
    main = is_main_process()
    if main and tmp.exists():
        shutil.rmtree(tmp)
    trainer.save_model(str(tmp))
    trainer.accelerator.wait_for_everyone()
    n_tensors = None
    if cfg.method != "full":
        if cfg.merge_lora:
            _save_merged(trainer, tmp / "merged")
        if main:
            n_tensors = check_saved_adapter(tmp, trainer.model)
    state = trainer.state
    losses = [h["loss"] for h in state.log_history if "loss" in h]
    manifest = make_manifest("train", {  # `created` (UTC) and `stage` come with the envelope
        "base_model": cfg.model, "gguf_file": cfg.gguf_file, "method": cfg.method,
        "masking": cfg.masking, "saved": "adapter" if cfg.method != "full" else "full_model",
        "adapter_tensors": n_tensors, "merged": bool(cfg.merge_lora and cfg.method != "full"),
        "data": info.data_files, "n_examples": info.n_examples, "n_dropped": info.n_dropped,
        "n_tokens": info.n_tokens, "n_trained_tokens": info.n_trained_tokens,
        "world_size": info.world_size, "deepspeed_stage": (info.deepspeed or {}).get(
            "zero_optimization", {}).get("stage"),
        "global_step": state.global_step, "max_steps": state.max_steps,
        "resumed_from": info.resume_from, "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "train_seconds": round(seconds, 3), "train_metrics": dict(train_result.metrics),
        "stopped_early": state.global_step < state.max_steps, "versions": _versions(),
    }, inputs={"model": {"path": cfg.model}, "data": info.data_files},
        outputs={"model": {"path": str(final)}}, config=dataclasses.asdict(cfg))
    if main:
        write_json(tmp / CONFIG_FILE, info.resolved())
        write_manifest(tmp / MANIFEST_FILE, manifest)
        _replace_dir(tmp, final)
        log.info("saved %s to %s", manifest["saved"], final)
    trainer.accelerator.wait_for_everyone()
    return manifest


def _save_merged(trainer, path: Path) -> None:
    """Merge LoRA into a copy of the base weights (rank 0 only; not under ZeRO-3)."""
    from safemix.train.distributed import is_main_process

    if trainer.is_deepspeed_enabled and trainer.args.hf_deepspeed_config.is_zero3():
        log.warning("merge_lora is not supported under ZeRO-3; merge the adapter afterwards "
                    "with safemix.models.load_model(<run>/model) and merge_and_unload()")
        return
    if is_main_process():
        import copy

        merged = copy.deepcopy(trainer.accelerator.unwrap_model(trainer.model)).merge_and_unload()
        merged.save_pretrained(path)
        trainer.processing_class.save_pretrained(path)


def _replace_dir(src: Path, dst: Path) -> None:
    """Move a finished folder into place; an older one is kept until the new one is there."""
    old = dst.with_name(f".{dst.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if dst.exists():
        os.replace(dst, old)
    os.replace(src, dst)
    shutil.rmtree(old, ignore_errors=True)
