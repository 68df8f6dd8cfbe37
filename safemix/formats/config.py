"""Config of the `profile` stage and of how a job is read."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class DataConfig:
    """Where the user's job is and how to read it."""

    train: str = field(default="", metadata={"help": "Path of the user's training file (any supported format)."})
    validation: str | None = field(default=None, metadata={"help": "Validation file for task metrics (same format)."})
    format: str | None = field(default=None, metadata={"help": "Schema override: openai, prompt_completion, alpaca, sharegpt, columns; auto-detected when unset."})
    container: str | None = field(default=None, metadata={"help": "Container override: jsonl, json, csv, tsv, parquet, hf_disk; from the extension when unset."})
    column_map: dict[str, str] | None = field(default=None, metadata={"help": "For column formats: {prompt: col, completion: col[, system: col]}."})
    max_line_bytes: int = field(default=16 * 1024 * 1024, metadata={"help": "Reject lines longer than this (bytes)."})


@dataclass
class ProfileConfig:
    sample_size: int = field(default=400, metadata={"help": "Rows sampled to infer templates; validation covers all rows."})
    max_templates: int = field(default=4, metadata={"help": "Most template variants kept (e.g. 4- and 3-choice questions)."})
    min_variant_share: float = field(default=0.002, metadata={"help": "A template variant must cover at least this share of rows."})
    max_labels: int = field(default=30, metadata={"help": "Most distinct answers for the answer type to be a label set."})
    seed: int = field(default=0, metadata={"help": "Sampling seed."})
