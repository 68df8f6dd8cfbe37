"""Testbed configurations: named presets of corpus size, tokenizer, model shape and training."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from safemix.errors import ConfigError


@dataclass(frozen=True)
class StageConfig:
    """One training stage of the lifecycle (pretraining or alignment)."""

    examples: int = field(metadata={"help": "Training documents generated for this stage (one pass)."})
    lr: float = field(default=3e-3, metadata={"help": "Peak learning rate (linear warmup, cosine decay)."})
    batch_size: int = field(default=32, metadata={"help": "Documents per optimiser step."})
    warmup: float = field(default=0.05, metadata={"help": "Warmup share of the stage's steps."})
    assistant_only_loss: bool = field(
        default=False, metadata={"help": "Loss only on the response tokens (else on the whole document)."})


@dataclass(frozen=True)
class TestbedConfig:
    """Everything that determines a testbed build; its hash is the cache key."""

    __test__ = False  # not a pytest class, despite the name

    name: str = "tiny"
    seed: int = 0
    vocab_size: int = field(default=2048, metadata={"help": "Byte-level BPE vocabulary size."})
    hidden_size: int = 128
    layers: int = 4
    heads: int = 4
    intermediate_size: int = 256
    max_length: int = field(default=160, metadata={"help": "Training documents are cut to this many tokens."})
    pretrain: StageConfig = StageConfig(examples=20000, lr=3e-3, batch_size=16)
    align: StageConfig = StageConfig(examples=8000, lr=1e-3, batch_size=16, assistant_only_loss=True)
    # One thread: on a shared 2-core machine two threads contend with other work and run
    # many times slower; a fixed count also keeps the weights reproducible.
    threads: int = field(default=1, metadata={"help": "torch threads (fixed, for reproducible weights)."})
    eval_harmful: int = field(default=200, metadata={"help": "Held-out harmful requests evaluated."})
    eval_benign: int = field(default=200, metadata={"help": "Held-out benign task requests evaluated."})
    eval_contrast: int = field(default=100, metadata={"help": "Held-out contrast requests evaluated."})

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, TestbedConfig] = {
    # The real testbed: about 1M parameters, built in a few minutes on 2 CPU cores.
    "tiny": TestbedConfig(),
    # Seconds to build, for tests: it runs the whole lifecycle but learns little.
    "micro": TestbedConfig(
        name="micro", vocab_size=512, hidden_size=32, layers=1, heads=2, intermediate_size=64,
        max_length=96, pretrain=StageConfig(examples=256, batch_size=32),
        align=StageConfig(examples=128, batch_size=32, assistant_only_loss=True),
        eval_harmful=16, eval_benign=16, eval_contrast=8),
}


def get_config(name: str, **overrides):
    """A preset by name (a TestbedConfig, or a SmolConfig for `smollm2`), with top-level
    fields overridden; the overrides go through the config loader, so values are type-checked
    (`lr=5e-4` is a number, `max_steps=x` an error naming the field)."""
    from safemix.config import did_you_mean, from_dict
    from safemix.testbed.smollm2 import PRESETS as SMOL_PRESETS

    presets = {**PRESETS, **SMOL_PRESETS}
    if name not in presets:
        raise ConfigError(f"unknown testbed {name!r}{did_you_mean(name, presets)}; choose one of {', '.join(presets)}")
    base = presets[name]
    known = asdict(base)
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ConfigError(f"testbed {name}: unknown config field(s) {', '.join(unknown)}; fields are: {', '.join(known)}")
    return from_dict(type(base), {**known, **overrides}, where=f"testbed {name}") if overrides else base
