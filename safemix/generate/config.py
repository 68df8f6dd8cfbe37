"""Config of the `generate` stage."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from safemix.generate.context import ParaphraseConfig
from safemix.generate.registry import METHODS, method_spec


@dataclass
class GenerateConfig:
    method: str = field(default="template", metadata={"help": "template | paraphrase | raw | bea, or a control: raw_system (raw rows with the job's system prompt) | template_benign (job-format rows of contrast requests with helpful answers, no refusals)."})
    n: int | None = field(default=None, metadata={"help": "Number of safety examples to generate."})
    ratio: float | None = field(default=None, metadata={"help": "Or: generate enough to make this share of the mixed job."})
    seeds: str = field(default="builtin", metadata={"help": "'builtin' or a path to a seed file (JSONL seeds, Alpaca JSON, CSV with column map, datasets folder)."})
    seed_column_map: dict[str, str] | None = field(default=None, metadata={"help": "Column map for CSV/table seed files: {request: col, refusal: col}."})
    contrast_share: float = field(default=0.2, metadata={"help": "Share of benign-but-sensitive contrast examples (helpful answers) among generated rows, against over-refusal."})
    select: bool = field(default=True, metadata={"help": "Pick seeds closest to the job's domain with MMR diversity (embeddings)."})
    embedder: str | None = field(default=None, metadata={"help": "sentence-transformers model name/path; default all-MiniLM-L6-v2 (offline package)."})
    mmr_lambda: float = field(default=0.6, metadata={"help": "MMR trade-off: 1 = relevance only, 0 = diversity only."})
    min_per_category: int = field(default=2, metadata={"help": "Minimum seeds per harm category in the selection."})
    job_sample: int = field(default=500, metadata={"help": "Job rows (and generated rows, for the fidelity report) embedded for the domain centroid."})
    seed: int = field(default=0, metadata={"help": "Random seed (deterministic output)."})
    answer_prefix: str = field(default="drop", metadata={"help": "In-format methods, when the job's answers share a constant prefix that is not a neutral marker (e.g. an AOA obedience pledge): drop (the refusal opens the answer), keep (the prefix, then the refusal: a recovery example that teaches refusing after the job's opening, cf. Qi et al. 2406.05946) or mix (half of each kind's rows each way)."})
    language: str = field(default="auto", metadata={"help": "Language of the safety rows: auto (the job's, detected per slot; built-in seeds exist in en, es, fr, de, pt, zh, other languages fall back to the closest one with a warning) or a language code (e.g. es) that overrides detection."})
    shape: str = field(default="match", metadata={"help": "In-format methods on a multi-turn job: match (rows reproduce the job's conversation shape: its earlier turns, copied from the job's own rows, then the request at the turn where the job's content varies) or single (one exchange: system prompt + the request turn + the refusal; the comparison baseline). Single-turn jobs are the same either way."})
    chat_share: float = field(default=0.0, metadata={"help": "In-format methods: this share of the safety rows (of each kind, exactly, seeded) is given as plain chat turns instead (the seed's request and response as a `raw` row), so refusal in plain chat is taught too; 0 = every row in the job's format."})
    bea_trigger_tokens: int = field(default=8, metadata={"help": "Length of the BEA secret trigger (random tokens)."})
    paraphrase: ParaphraseConfig = field(default_factory=ParaphraseConfig)

    def __post_init__(self) -> None:
        from safemix.errors import ConfigError

        method_spec(self.method)  # an unknown name is a ConfigError naming the registry's methods
        if self.ratio is not None and not 0 <= self.ratio < 1:
            raise ConfigError(f"ratio must be in [0, 1), got {self.ratio}")
        if not 0 <= self.contrast_share < 1:
            raise ConfigError(f"contrast_share must be in [0, 1), got {self.contrast_share}")
        if not 0 <= self.chat_share < 1:
            raise ConfigError(f"chat_share must be in [0, 1), got {self.chat_share}")
        if self.chat_share and not method_spec(self.method).in_format:
            raise ConfigError(f"chat_share is for methods that write in the job's format (template, paraphrase); "
                              f"method {self.method} already writes plain chat rows")
        if self.answer_prefix not in ANSWER_PREFIX_MODES:
            raise ConfigError(f"answer_prefix must be one of {', '.join(ANSWER_PREFIX_MODES)}, got {self.answer_prefix!r}")
        if self.shape not in SHAPE_MODES:
            raise ConfigError(f"shape must be one of {', '.join(SHAPE_MODES)}, got {self.shape!r}")
        if not isinstance(self.language, str) or not re.fullmatch(r"auto|[a-z]{2,3}", self.language):
            raise ConfigError(f"language must be auto or a lowercase ISO 639 code such as es, got {self.language!r}")
        if self.paraphrase.mode not in ("slot", "full"):
            raise ConfigError(f"paraphrase.mode must be slot or full, got {self.paraphrase.mode!r}")


ANSWER_PREFIX_MODES = ("drop", "keep", "mix")
SHAPE_MODES = ("match", "single")
__all__ = ["ANSWER_PREFIX_MODES", "METHODS", "SHAPE_MODES", "GenerateConfig", "ParaphraseConfig"]
