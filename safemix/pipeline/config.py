"""The recipe of a whole run: one section per stage plus the sweep."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from safemix.eval.config import EvalConfig
from safemix.formats.config import DataConfig, ProfileConfig
from safemix.generate.config import GenerateConfig
from safemix.mix.config import MixConfig
from safemix.train.config import TrainConfig

SWEEP_METHODS = ("none", "raw", "template", "paraphrase", "bea", "raw_system", "template_benign")

# A run name is one folder under runs/: no path separators, no '..', nothing a file system
# or a shell would trip on.
RUN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+-]{0,127}")

# Fields that `safemix run` sets per variant of the sweep; a recipe that sets them is an
# error naming what to use instead (they would otherwise be replaced without a word).
SWEEP_OWNED: dict[str, dict[str, str]] = {
    "generate": {"method": "set `methods` (the sweep's generation methods) instead",
                 "n": "the sweep's `ratios` set how many safety rows each variant gets",
                 "ratio": "set `ratios` (one variant per ratio) instead"},
    "mix": {"ratio": "set `ratios` (one variant per ratio) instead",
            "count": "set `ratios` (the safety share of each variant) instead",
            "safety": "each variant mixes in the rows its generate stage wrote; to mix a file of "
                      "your own use `safemix mix --safety FILE`",
            "safety_provenance": "each variant uses its generate stage's provenance sidecar"},
}

SEED_AND_SEEDS = ("the recipe sets both `seed` and `seeds`: use `seed: N` for one seed or `seeds: [N, ...]` "
                  "for several (the first seed of `seeds` plays the part of `seed`), not both")

# Sections whose `seed` falls back to the run's `seed` when the section does not set one.
SEEDED_SECTIONS = ("generate", "mix", "train")


def _explicit(section: Any, key: str) -> bool:
    """Whether `key` of a section was set by the user: a recipe/override key when the section
    came from a recipe, else (built in code) a value different from the field's default."""
    from safemix.config import given_keys

    given = given_keys(section)
    if given is not None:
        return key in given
    f = next(f for f in dataclasses.fields(section) if f.name == key)
    default = f.default if f.default is not dataclasses.MISSING else (
        f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
    return getattr(section, key) != default


@dataclass
class TestbedUse:
    name: str | None = field(default=None, metadata={"help": "Build (cached) and use a testbed model, e.g. 'tiny': its model, seeds, probes and sample job fill every unset path."})
    job_style: str = field(default="benign", metadata={"help": "Which sample job of the testbed to finetune on: benign or aoa."})
    job_task: str | None = field(default=None, metadata={"help": "Which task's sample job: topic, qa or inbox (tiny testbed), agnews (smollm2); unset = the testbed's first (topic, agnews)."})
    build: dict[str, Any] = field(default_factory=dict, metadata={"help": "Overrides of the testbed build's config (what `safemix testbed build NAME --set FIELD=VALUE` takes), e.g. {seed: 1}: another build, cached beside the default one (for the spread over builds)."})
    job_turns: int = field(default=1, metadata={"help": "Exchanges per row of the sample job: 1 (the build's jobs) or 2 (tiny testbed tasks: a context exchange in the job's style, then the item; jobs/<task>_<style>_2turn.jsonl, written on demand beside the build's jobs, no rebuild)."})
    seeds: str | None = field(default=None, metadata={"help": "Which of the testbed's seed files fills generate.seeds (when that is 'builtin'): unset = its default seeds.jsonl; tiny: corpus (the corpus's seed split in seed-only phrasings and refusal wordings, the default), builtin (safemix's own seeds minus the alignment's refusal strings) or shared (the first seed file: the probes' phrasings and the alignment's refusals, for reproducing earlier numbers)."})
    out: str | None = field(default=None, metadata={"help": "Testbed directory (default: the cache)."})


@dataclass
class RunConfig:
    """A whole safemix run; `methods` x `ratios` is the sweep (method `none` = no mitigation)."""

    name: str = field(default="run", metadata={"help": "Run name: the run folder is runs/<name> unless output_dir is set. Letters, digits and . _ + - only (one folder: no path separators, no '..')."})
    output_dir: str | None = field(default=None, metadata={"help": "Run directory; default runs/<name>. Must not be an existing file, nor hold the job or any other input."})
    methods: list[str] = field(default_factory=lambda: ["none", "template"], metadata={"help": "Variants to run: none, raw, template, paraphrase, bea, and the controls raw_system (raw rows with the job's system prompt) and template_benign (job-format rows without refusals)."})
    ratios: list[float] = field(default_factory=lambda: [0.1], metadata={"help": "Safety shares of the mixed job, one variant per (method, ratio)."})
    method_ratios: dict[str, list[float]] = field(default_factory=dict, metadata={"help": "Per-method ratios that replace `ratios` for the methods named, e.g. {raw_system: [0.1]}; entries for methods not in `methods` are ignored."})
    eval_base: bool = field(default=True, metadata={"help": "Also evaluate the model before finetuning (the retention baseline)."})
    seed: int = field(default=0, metadata={"help": "Seed of generation, mixing and training: generate.seed, mix.seed and train.seed take this value unless the recipe (or an override) sets them, and then they win."})
    seeds: list[int] | None = field(default=None, metadata={"help": "Several seeds instead of `seed`: every (method, ratio) runs once per seed (generate, mix and train seeds take each in turn unless the recipe sets them) and the report shows the mean and spread over seeds. The first seed keeps the plain variant name (template-0.1), the others get -s<seed> (template-0.1-s1). Setting both `seed` and `seeds` is an error, except that a `seeds=[..]` override replaces the recipe's `seed`."})
    testbed: TestbedUse = field(default_factory=TestbedUse)
    data: DataConfig = field(default_factory=DataConfig)
    profile: ProfileConfig = field(default_factory=ProfileConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig, metadata={"help": "Generation settings; method, n and ratio come from the sweep (`methods`, `ratios`)."})
    mix: MixConfig = field(default_factory=MixConfig, metadata={"help": "Mixing settings; ratio, count and safety come from the sweep (`ratios`) and each variant's generated rows."})
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        from safemix.errors import ConfigError

        for m in self.methods:
            if m not in SWEEP_METHODS:
                from safemix.config import did_you_mean

                raise ConfigError(f"unknown method {m!r} in methods" + did_you_mean(m, SWEEP_METHODS)
                                  + f"; choose from {', '.join(SWEEP_METHODS)}")
        for r in self.ratios:
            if not 0 < r < 1:
                raise ConfigError(f"ratios must be in (0, 1), got {r}")
        for m, rs in self.method_ratios.items():
            # a known method the sweep does not run is ignored, so `methods=[...]` can pick a subset
            if m == "none" or m not in SWEEP_METHODS:
                from safemix.config import did_you_mean

                with_ratio = [x for x in SWEEP_METHODS if x != "none"]
                raise ConfigError(f"method_ratios has ratios for {m!r}, which is not a sweep method with a ratio"
                                  + did_you_mean(m, with_ratio) + f"; choose from {', '.join(with_ratio)}")
            if not isinstance(rs, list) or not rs or not all(
                    isinstance(r, int | float) and not isinstance(r, bool) and 0 < r < 1 for r in rs):
                raise ConfigError(f"method_ratios.{m} must be a non-empty list of ratios in (0, 1), got {rs!r}")
        if self.testbed.job_style not in ("benign", "aoa"):
            raise ConfigError(f"testbed.job_style must be benign or aoa, got {self.testbed.job_style!r}")
        if self.testbed.job_task not in (None, "topic", "qa", "inbox", "agnews"):
            raise ConfigError(f"testbed.job_task must be topic, qa, inbox or agnews, got {self.testbed.job_task!r}")
        if self.testbed.job_turns not in (1, 2) or isinstance(self.testbed.job_turns, bool):
            raise ConfigError(f"testbed.job_turns must be 1 or 2, got {self.testbed.job_turns!r}")
        if self.testbed.job_turns > 1 and self.testbed.job_task == "agnews":
            raise ConfigError("testbed.job_turns: 2 is for the tiny testbed's jobs (topic, qa, inbox), not agnews")
        if not isinstance(self.name, str) or not RUN_NAME.fullmatch(self.name):
            raise ConfigError(
                f"name: {self.name!r} is not a valid run name; it is one folder under runs/, so "
                "use letters, digits and . _ + - (starting with a letter, digit or _; no path "
                "separators, no '..', at most 128 characters). To write elsewhere set output_dir")
        if self.output_dir is not None and not str(self.output_dir).strip():
            raise ConfigError("output_dir: empty; leave it unset for runs/<name>")
        for sec, owned in SWEEP_OWNED.items():
            for key, instead in owned.items():
                section = getattr(self, sec)
                if getattr(section, key) is not None and _explicit(section, key):
                    raise ConfigError(f"{sec}.{key} is set by `safemix run` for each variant of the "
                                      f"sweep, so the recipe cannot set it: {instead}")
        self._check_seeds()
        self._resolve_seeds()

    def _check_seeds(self) -> None:
        from safemix.errors import ConfigError

        if self.seeds is None:
            return
        if self.seed != 0:
            raise ConfigError(SEED_AND_SEEDS)
        if not isinstance(self.seeds, list) or not self.seeds or not all(
                isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in self.seeds):
            raise ConfigError(f"seeds must be a non-empty list of seeds (integers >= 0), got {self.seeds!r}")
        dup = sorted({s for s in self.seeds if self.seeds.count(s) > 1})
        if dup:
            raise ConfigError(f"seeds lists {', '.join(map(str, dup))} more than once; each seed is one run "
                              "of every variant, so list each seed once")
        if len(self.seeds) > 1 and all(self._own_seed(sec) for sec in SEEDED_SECTIONS):
            raise ConfigError("seeds has no effect: generate, mix and train each set their own seed, so "
                              "every seed would run the same variant; drop their seeds or use `seed`")

    @staticmethod
    def merge_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
        """The recipe's keys with the overrides applied (what `load_config` calls): a `seeds=[..]`
        override replaces the recipe's `seed` (e.g. `safemix run quickstart seeds=[0,1,2]`; the
        quickstart sets `seed: 0`). Both keys in the recipe, or both in the overrides, stay an
        error (`check_given`), and so does a `seed=N` override on a recipe with `seeds`."""
        from safemix.config import apply_overrides

        seeds = apply_overrides({}, [ov for ov in overrides if ov.split("=", 1)[0].strip() == "seeds"])
        if seeds.get("seeds") is not None and not any(ov.split("=", 1)[0].strip() == "seed" for ov in overrides):
            data = {k: v for k, v in data.items() if k != "seed"}
        return apply_overrides(data, overrides)

    def check_given(self, given: frozenset[str]) -> None:
        """Checks that need the keys the recipe gave (called by `from_dict`): `seed` and `seeds`
        together are an error even when `seed` is its default 0."""
        from safemix.errors import ConfigError

        if "seed" in given and "seeds" in given and self.seeds is not None:
            raise ConfigError(SEED_AND_SEEDS)

    def _own_seed(self, sec: str) -> bool:
        """Whether section `sec` sets its own seed (in the recipe, an override or in code)."""
        from safemix.config import given_keys

        given = given_keys(getattr(self, sec))
        return "seed" in given if given is not None else _explicit(getattr(self, sec), "seed")

    def run_seeds(self) -> list[int]:
        """The run's seeds: `seeds`, else [`seed`]."""
        return list(self.seeds) if self.seeds else [self.seed]

    def section_seed(self, sec: str, run_seed: int) -> int:
        """The seed section `sec` runs with under run seed `run_seed`: its own if it sets one."""
        return getattr(self, sec).seed if self._own_seed(sec) else run_seed

    def _resolve_seeds(self) -> None:
        """A seeded section that does not set its own seed takes the run's (first) seed."""
        from safemix.config import given_keys, mark_given

        for sec in SEEDED_SECTIONS:
            cfg = getattr(self, sec)
            given = given_keys(cfg)
            if given is None:  # built in code: remember what was explicit before overwriting
                given = {"seed"} if _explicit(cfg, "seed") else set()
            first = self.run_seeds()[0]
            if "seed" not in given and cfg.seed != first:
                cfg = dataclasses.replace(cfg, seed=first)
            setattr(self, sec, mark_given(cfg, given))
