"""Config of the `train` stage: model, data, method, masking, schedule, DeepSpeed, probes.

Loaded from the `train:` section of a recipe with dotted overrides:

    cfg = load_config(TrainConfig, "safemix/recipes/train_tiny_lora.yaml", ["max_steps=20"], section="train")

OpenAI-style job hyperparameters map to trainer settings as follows (W = number of
processes, i.e. data-parallel ranks):

| OpenAI job field           | TrainConfig field          | Trainer setting (`SFTConfig`)                                   |
|----------------------------|----------------------------|-----------------------------------------------------------------|
| `n_epochs` (`"auto"` = 3)  | `n_epochs`                 | `num_train_epochs` (ignored when `max_steps` > 0)               |
| `batch_size` (`"auto"`)    | `batch_size` (global)      | `gradient_accumulation_steps = batch_size / (per_device_batch_size * W)`; must divide exactly; `"auto"`/unset keeps `gradient_accumulation_steps` |
| `learning_rate_multiplier` | `learning_rate_multiplier` | `learning_rate = (learning_rate or method default) * multiplier`; method defaults: lora/qlora 2e-4, full 2e-5 |
| `seed`                     | `seed`                     | `seed`                                                          |

Everything else `SFTConfig` knows (warmup, scheduler, weight decay, gradient checkpointing,
bf16, ...) goes through the `trl:` mapping unchanged.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from safemix.config import did_you_mean
from safemix.errors import ConfigError

METHODS = ("lora", "full", "qlora")
MASKINGS = ("completion_only", "all")
DEFAULT_LR = {"lora": 2e-4, "qlora": 2e-4, "full": 2e-5}
OPENAI_AUTO_EPOCHS = 3.0

# TrainConfig fields that do not change what is trained: a checkpoint made under other
# values of these can still be resumed.
RESUME_NEUTRAL_FIELDS = ("resume", "output_dir", "save_steps", "save_total_limit", "logging_steps",
                         "report_to", "debug_masking_examples", "show_progress", "probe")


def _choice(name: str, value: str, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ConfigError(f"unknown train {name} {value!r}{did_you_mean(value, options)}; choose one of {', '.join(options)}")


@dataclass
class ProbeConfig:
    """Safety-retention probes during training (see `safemix.train.callbacks`)."""

    every_n_steps: int = field(default=0, metadata={"help": "Generate on the probe set every N optimizer steps and log the refusal rate; 0 turns probing off."})
    prompts: str | None = field(default=None, metadata={"help": "JSONL of harmful probe requests (one `prompt` per line, as in safemix/eval/data); default: the shipped harmful probe set (safemix/eval/data/probes_harmful_v1.jsonl), round robin over its categories."})
    limit: int = field(default=16, metadata={"help": "Use at most this many probe requests (keeps probing cheap)."})
    render: str = field(default="job", metadata={"help": "job: render each request in the training job's own format (its FormatProfile); chat: a plain user turn."})
    max_new_tokens: int = field(default=32, metadata={"help": "Tokens generated per probe (greedy); refusals show in the first few words."})
    stop_below: float | None = field(default=None, metadata={"help": "Stop training when the refusal rate falls below this value (after `stop_patience` probes in a row)."})
    stop_patience: int = field(default=1, metadata={"help": "Number of consecutive probes below `stop_below` before stopping."})

    def __post_init__(self) -> None:
        _choice("probe.render", self.render, ("job", "chat"))
        if self.every_n_steps < 0 or self.limit < 1 or self.max_new_tokens < 1 or self.stop_patience < 1:
            raise ConfigError("probe: every_n_steps must be >= 0; limit, max_new_tokens and "
                              "stop_patience must be >= 1")
        if self.stop_below is not None and not 0 <= self.stop_below <= 1:
            raise ConfigError(f"probe.stop_below must be in [0, 1], got {self.stop_below}")


@dataclass
class TrainConfig:
    """One finetuning run: `safemix train RECIPE` or `safemix.train.build_trainer(cfg)`."""

    # --- model
    model: str = field(default="", metadata={"help": "Hugging Face id, local model directory, or a .gguf file (dequantised to `dtype`)."})
    gguf_file: str | None = field(default=None, metadata={"help": "GGUF file name inside `model` (a directory or hub repo); not needed when `model` is the .gguf path."})
    dtype: str = field(default="auto", metadata={"help": "Weights dtype: auto (float32 on CPU, the checkpoint's dtype on GPU), float32, bfloat16, float16."})
    trust_remote_code: bool = field(default=False, metadata={"help": "Run model code shipped with the checkpoint. Off unless you trust the source."})
    chat_template: str | None = field(default=None, metadata={"help": "Jinja chat template (inline or a file path) replacing the tokenizer's; a tokenizer without one gets safemix's ChatML fallback (safemix.models.FALLBACK_CHAT_TEMPLATE)."})
    # --- data
    data: list[str] = field(default_factory=list, metadata={"help": "Training file(s): the mixed job, any format `safemix.formats.read_job` reads; several files are concatenated."})
    data_format: str | None = field(default=None, metadata={"help": "Schema of the data files (openai, prompt_completion, alpaca, sharegpt, columns); auto-detected when unset."})
    column_map: dict[str, str] | None = field(default=None, metadata={"help": "For column formats: {prompt: COL, completion: COL, system: COL}."})
    eval_data: list[str] = field(default_factory=list, metadata={"help": "Optional validation file(s); eval loss is logged every `save_steps`."})
    output_dir: str = field(default="runs/train", metadata={"help": "Run folder: checkpoints, metrics.jsonl, train_config.json, and the final model in `model/`."})
    # --- method
    method: str = field(default="lora", metadata={"help": "lora (PEFT), full (all weights), qlora (4-bit base + LoRA; needs bitsandbytes and a CUDA GPU)."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha (scale = alpha / r)."})
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA path."})
    lora_target_modules: list[str] = field(default_factory=lambda: ["all-linear"], metadata={"help": "Module names to adapt (e.g. q_proj,v_proj) or all-linear; every name must match a module of the model."})
    merge_lora: bool = field(default=False, metadata={"help": "Also save the base model with the LoRA weights merged in (model/merged/), loadable without PEFT."})
    # --- masking
    masking: str = field(default="completion_only", metadata={"help": "completion_only: train on assistant turns only (and their end-of-turn token); all: train on every token. OpenAI `weight: 0` turns are never trained."})
    max_seq_length: int = field(default=1024, metadata={"help": "Truncate tokenized examples to this many tokens (keeping the start)."})
    on_untrainable: str = field(default="error", metadata={"help": "An example with no trained token (e.g. its prompt fills max_seq_length): error (default) or drop (with a warning)."})
    # --- schedule (OpenAI-style names map as documented in the module docstring)
    n_epochs: float | str = field(default=3.0, metadata={"help": "Epochs over the data (OpenAI `n_epochs`; 'auto' = 3). Ignored when max_steps > 0."})
    max_steps: int = field(default=-1, metadata={"help": "Total optimizer steps; overrides n_epochs when > 0."})
    per_device_batch_size: int = field(default=4, metadata={"help": "Examples per process per forward pass."})
    gradient_accumulation_steps: int | None = field(default=None, metadata={"help": "Forward passes per optimizer step; derived from batch_size when that is set, else 1."})
    batch_size: int | str | None = field(default=None, metadata={"help": "Global examples per optimizer step (OpenAI `batch_size`; 'auto'/unset: per_device_batch_size * processes * gradient_accumulation_steps). Must be a multiple of per_device_batch_size * processes."})
    learning_rate: float | None = field(default=None, metadata={"help": "Base learning rate; unset = method default (lora/qlora 2e-4, full 2e-5)."})
    learning_rate_multiplier: float = field(default=1.0, metadata={"help": "OpenAI `learning_rate_multiplier`: the trainer's learning rate is learning_rate * this."})
    seed: int = field(default=42, metadata={"help": "Seed of model init extras, data order and dropout."})
    # --- parallelism
    deepspeed: str | None = field(default=None, metadata={"help": "DeepSpeed ZeRO config: a shipped preset name (zero2, zero3, zero3_offload) or a JSON file path; unset = no DeepSpeed."})
    # --- fault tolerance and logging
    save_steps: int = field(default=50, metadata={"help": "Save a resumable checkpoint every N optimizer steps."})
    save_total_limit: int | None = field(default=2, metadata={"help": "Keep at most this many checkpoints (oldest deleted)."})
    resume: bool | str = field(default="auto", metadata={"help": "auto: continue from the last complete checkpoint in output_dir if there is one; true: must resume; false: start fresh (error if checkpoints exist); or a checkpoint path."})
    logging_steps: int = field(default=1, metadata={"help": "Log loss and learning rate to metrics.jsonl every N steps."})
    report_to: str = field(default="none", metadata={"help": "Extra trackers for transformers (none, tensorboard, wandb, ...)."})
    show_progress: bool = field(default=True, metadata={"help": "Progress bars (tokenization and training)."})
    debug_masking_examples: int = field(default=3, metadata={"help": "How many examples `safemix train --debug-masking` shows."})
    probe: ProbeConfig = field(default_factory=ProbeConfig, metadata={"help": "Safety-retention probes during training (refusal rate curve, optional early stop)."})
    fused_lm_head: str = field(default="auto", metadata={"help": "TRL's fused LM head (log-probs, entropy and top-1 accuracy computed chunk-wise, logits recomputed in backward): auto = on with CUDA, off on CPU, where its torch fallback made a SmolLM2 LoRA step ~1.5x slower; on; off (the model's own loss, the same value; metrics.jsonl then has mean_token_accuracy but no entropy)."})
    trl: dict[str, Any] = field(default_factory=dict, metadata={"help": "Extra `trl.SFTConfig` arguments passed through unchanged (e.g. warmup_steps, lr_scheduler_type, weight_decay, gradient_checkpointing, bf16)."})

    def __post_init__(self) -> None:
        _choice("method", self.method, METHODS)
        _choice("masking", self.masking, MASKINGS)
        _choice("on_untrainable", self.on_untrainable, ("error", "drop"))
        _choice("fused_lm_head", self.fused_lm_head, ("auto", "on", "off"))
        if isinstance(self.data, str):
            self.data = [self.data]
        if isinstance(self.eval_data, str):
            self.eval_data = [self.eval_data]
        if isinstance(self.n_epochs, str) and self.n_epochs != "auto":
            raise ConfigError(f"n_epochs must be a number or 'auto', got {self.n_epochs!r}")
        if isinstance(self.batch_size, str) and self.batch_size != "auto":
            raise ConfigError(f"batch_size must be an integer or 'auto', got {self.batch_size!r}")
        positive = {"lora_r": self.lora_r, "lora_alpha": self.lora_alpha, "max_seq_length": self.max_seq_length,
                    "per_device_batch_size": self.per_device_batch_size, "save_steps": self.save_steps,
                    "logging_steps": self.logging_steps, "learning_rate_multiplier": self.learning_rate_multiplier}
        if isinstance(self.batch_size, int):
            positive["batch_size"] = self.batch_size
        if self.gradient_accumulation_steps is not None:
            positive["gradient_accumulation_steps"] = self.gradient_accumulation_steps
        if self.learning_rate is not None:
            positive["learning_rate"] = self.learning_rate
        if isinstance(self.n_epochs, float | int):
            positive["n_epochs"] = self.n_epochs
        for name, value in positive.items():
            if value <= 0:
                raise ConfigError(f"train.{name} must be > 0, got {value}")
        if not 0 <= self.lora_dropout < 1:
            raise ConfigError(f"train.lora_dropout must be in [0, 1), got {self.lora_dropout}")
        if not self.lora_target_modules:
            raise ConfigError("train.lora_target_modules is empty; use all-linear or module names")
        if self.max_steps == 0 or self.max_steps < -1:
            raise ConfigError(f"train.max_steps must be > 0 (or -1 to use n_epochs), got {self.max_steps}")

    # ------------------------------------------------------------------ derived settings
    @property
    def epochs(self) -> float:
        return OPENAI_AUTO_EPOCHS if self.n_epochs == "auto" else float(self.n_epochs)

    @property
    def effective_learning_rate(self) -> float:
        base = self.learning_rate if self.learning_rate is not None else DEFAULT_LR[self.method]
        return base * self.learning_rate_multiplier

    def accumulation_steps(self, world_size: int = 1) -> int:
        """Gradient accumulation that makes the global batch equal `batch_size` (OpenAI semantics).

        >>> TrainConfig(batch_size=16, per_device_batch_size=4).accumulation_steps(world_size=2)
        2
        """
        per_step = self.per_device_batch_size * world_size
        if self.batch_size in (None, "auto"):
            return self.gradient_accumulation_steps or 1
        if self.batch_size % per_step:
            raise ConfigError(
                f"train.batch_size={self.batch_size} is not a multiple of per_device_batch_size "
                f"({self.per_device_batch_size}) x processes ({world_size}) = {per_step}; choose a "
                f"batch_size that is, or change per_device_batch_size")
        accum = self.batch_size // per_step
        if self.gradient_accumulation_steps is not None and self.gradient_accumulation_steps != accum:
            raise ConfigError(
                f"train.gradient_accumulation_steps={self.gradient_accumulation_steps} contradicts "
                f"batch_size={self.batch_size} (which needs {accum} with {world_size} process(es) of "
                f"{self.per_device_batch_size}); set only one of them")
        return accum

    def global_batch_size(self, world_size: int = 1) -> int:
        return self.per_device_batch_size * world_size * self.accumulation_steps(world_size)

    def resume_key(self) -> dict[str, Any]:
        """The part of the config that must match for a checkpoint to be resumed."""
        d = dataclasses.asdict(self)
        for k in RESUME_NEUTRAL_FIELDS:
            d.pop(k, None)
        return d
