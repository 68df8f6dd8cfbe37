"""Config of the `generate` stage."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass
class ParaphraseConfig:
    backend: str = field(default="hf", metadata={"help": "LLM backend: hf, openai or dummy."})
    model: str | None = field(default=None, metadata={"help": "Model id/path/.gguf (hf) or served model name (openai)."})
    backend_args: dict = field(default_factory=dict, metadata={"help": "Extra backend arguments (base_url, batch_size, max_concurrency, cache_dir, ...)."})
    mode: str = field(default="slot", metadata={"help": "slot: the LLM rewrites the request in the style of the job's main-slot values and the profile renders it; full: the LLM writes the whole user turn, which must parse with the profile."})
    k_examples: int = field(default=3, metadata={"help": "User examples shown to the LLM as the style to imitate."})
    prompt_version: str = field(default="v1", metadata={"help": "Prompt file version (safemix/generate/prompts/paraphrase_<mode>_<version>.txt)."})
    max_attempts: int = field(default=3, metadata={"help": "Regenerations of an output that fails validation before it is dropped."})
    min_intent_similarity: float = field(default=0.5, metadata={"help": "Embedding cosine to the seed request below which the rewrite lost its intent."})
    refusal_from_llm: bool = field(default=False, metadata={"help": "Ask the LLM for a refusal in the style of the job's answers (else use the seed's refusal)."})
    max_new_tokens: int = field(default=96, metadata={"help": "Generation length limit."})
    temperature: float = field(default=0.7, metadata={"help": "Sampling temperature (retries raise it)."})


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
    bea_trigger_tokens: int = field(default=8, metadata={"help": "Length of the BEA secret trigger (random tokens)."})
    paraphrase: ParaphraseConfig = field(default_factory=ParaphraseConfig)

    def __post_init__(self) -> None:
        from safemix.errors import ConfigError

        if self.method not in METHODS:
            from safemix.config import did_you_mean

            raise ConfigError(f"unknown generation method {self.method!r}" + did_you_mean(self.method, METHODS)
                              + f"; choose one of {', '.join(METHODS)}")
        if self.ratio is not None and not 0 <= self.ratio < 1:
            raise ConfigError(f"ratio must be in [0, 1), got {self.ratio}")
        if not 0 <= self.contrast_share < 1:
            raise ConfigError(f"contrast_share must be in [0, 1), got {self.contrast_share}")
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
METHODS = ("template", "paraphrase", "raw", "bea", "raw_system", "template_benign")
# Methods whose rows are in the job's format (user template + answer shape) and are validated
# against its profile.
IN_FORMAT_METHODS = ("template", "paraphrase", "template_benign")
