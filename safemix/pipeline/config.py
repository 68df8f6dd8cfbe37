"""The recipe of a whole run: one section per stage plus the sweep."""

from __future__ import annotations

from dataclasses import dataclass, field

from safemix.eval.config import EvalConfig
from safemix.formats.config import DataConfig, ProfileConfig
from safemix.generate.config import GenerateConfig
from safemix.mix.config import MixConfig
from safemix.train.config import TrainConfig

SWEEP_METHODS = ("none", "raw", "template", "paraphrase", "bea")


@dataclass
class TestbedUse:
    name: str | None = field(default=None, metadata={"help": "Build (cached) and use a testbed model, e.g. 'tiny': its model, seeds, probes and sample job fill every unset path."})
    job_style: str = field(default="benign", metadata={"help": "Which sample job of the testbed to finetune on: benign or aoa."})
    out: str | None = field(default=None, metadata={"help": "Testbed directory (default: the cache)."})


@dataclass
class RunConfig:
    """A whole safemix run; `methods` x `ratios` is the sweep (method `none` = no mitigation)."""

    name: str = field(default="run", metadata={"help": "Run name (output folder runs/<name> by default)."})
    output_dir: str | None = field(default=None, metadata={"help": "Run directory; default runs/<name>."})
    methods: list[str] = field(default_factory=lambda: ["none", "template"], metadata={"help": "Variants to run: none, raw, template, paraphrase, bea."})
    ratios: list[float] = field(default_factory=lambda: [0.1], metadata={"help": "Safety shares of the mixed job, one variant per (method, ratio)."})
    eval_base: bool = field(default=True, metadata={"help": "Also evaluate the model before finetuning (the retention baseline)."})
    seed: int = field(default=0, metadata={"help": "Seed of generation, mixing and training (each stage's own seed wins if set in its section)."})
    testbed: TestbedUse = field(default_factory=TestbedUse)
    data: DataConfig = field(default_factory=DataConfig)
    profile: ProfileConfig = field(default_factory=ProfileConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    mix: MixConfig = field(default_factory=lambda: MixConfig(ratio=0.1))
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        from safemix.errors import ConfigError

        for m in self.methods:
            if m not in SWEEP_METHODS:
                import difflib

                close = difflib.get_close_matches(m, SWEEP_METHODS, n=1)
                raise ConfigError(f"unknown method {m!r} in methods" + (f" (did you mean {close[0]!r}?)" if close else "")
                                  + f"; choose from {', '.join(SWEEP_METHODS)}")
        for r in self.ratios:
            if not 0 < r < 1:
                raise ConfigError(f"ratios must be in (0, 1), got {r}")
        if self.testbed.job_style not in ("benign", "aoa"):
            raise ConfigError(f"testbed.job_style must be benign or aoa, got {self.testbed.job_style!r}")
