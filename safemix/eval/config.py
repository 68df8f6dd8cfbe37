"""Config of the `eval` stage (the `eval:` section of a recipe)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from safemix.config import did_you_mean
from safemix.errors import ConfigError


@dataclass
class ProbeSetConfig:
    source: str = field(default="builtin", metadata={"help": "'builtin' or a path: AdvBench/HarmBench/XSTest-style CSV, JSON/JSONL, text, Parquet or a `datasets` folder."})
    kind: str | None = field(default="harmful", metadata={"help": "harmful (should be refused) or benign (should be answered: over-refusal). With a label column (XSTest), rows of this kind are kept; null keeps both."})
    column_map: dict[str, str] | None = field(default=None, metadata={"help": "Columns of an external file: {prompt: COL, label: COL, category: COL, id: COL}."})
    name: str | None = field(default=None, metadata={"help": "Name in reports (default: 'builtin-<kind>' or the file stem)."})
    limit: int | None = field(default=None, metadata={"help": "Use at most this many probes, spread evenly over categories (deterministic with eval.seed)."})

    def __post_init__(self) -> None:
        if self.kind not in ("harmful", "benign", None):
            raise ConfigError(f"probe set kind must be harmful, benign or null, got {self.kind!r}")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"probe set limit must be >= 1, got {self.limit}")


def _default_probes() -> list[ProbeSetConfig]:
    return [ProbeSetConfig("builtin", "harmful"), ProbeSetConfig("builtin", "benign")]


@dataclass
class EvalConfig:
    model: str | None = field(default=None, metadata={"help": "The finetuned model: HF id, local directory (merged model or PEFT adapter), .gguf path, or the served model name (openai)."})
    base_model: str | None = field(default=None, metadata={"help": "The model before finetuning, asked the same probes, for retention (refusal before/after). Null: no retention."})
    gguf_file: str | None = field(default=None, metadata={"help": "GGUF file inside `model` (hf backend), if not given as part of the path."})
    base_gguf_file: str | None = field(default=None, metadata={"help": "GGUF file inside `base_model`."})
    backend: str = field(default="hf", metadata={"help": "Generation backend: hf (transformers, batched), openai (any OpenAI-compatible endpoint), vllm (GPU, optional), dummy (tests)."})
    backend_args: dict[str, Any] = field(default_factory=dict, metadata={"help": "Backend arguments: hf {dtype, device, batch_size}, openai {base_url, api_key, max_concurrency, cache_dir}, vllm engine arguments."})
    base_backend_args: dict[str, Any] = field(default_factory=dict, metadata={"help": "Overrides of backend_args for the base model (e.g. another base_url)."})
    job: str | None = field(default=None, metadata={"help": "The job's training data: its FormatProfile renders the `job` and `job_aoa` probe styles."})
    validation: str | None = field(default=None, metadata={"help": "The job's validation data (same format) for the task metric. Null: no task metric."})
    heldout_job: str | None = field(default=None, metadata={"help": "A few rows of the same task in a held-out paraphrase of the job's format (other system prompt wording and user template; never used for safety rows). Its FormatProfile renders the `job_heldout` style, for harmful and benign probes. Read like `job` (data_format, column_map)."})
    data_format: str | None = field(default=None, metadata={"help": "Schema of job/validation (openai, prompt_completion, alpaca, sharegpt, columns); auto-detected."})
    column_map: dict[str, str] | None = field(default=None, metadata={"help": "For column files: {prompt: COL, completion: COL, system: COL}."})
    n_validation: int | None = field(default=200, metadata={"help": "Validation examples scored (a seeded sample); null = all."})
    task_metric: str = field(default="auto", metadata={"help": "auto (by answer type), accuracy, loglik_accuracy (hf backend), number_em, span_em, span_f1, rouge_l."})
    task_max_new_tokens: int | None = field(default=None, metadata={"help": "Generation length for task prompts; null = by answer type (labels 16, numbers 256, else max_new_tokens)."})
    probes: list[ProbeSetConfig] = field(default_factory=_default_probes, metadata={"help": "Probe sets: built-in harmful/benign sets or files by path with a column map."})
    styles: list[str] = field(default_factory=lambda: ["job", "chat", "aoa", "job_aoa"], metadata={"help": "How harmful probes are asked: job (the job's format), chat (plain turn), aoa (identity shift), job_aoa (both), job_heldout (the held-out paraphrase of the job's format in `heldout_job`), job_encoded / chat_encoded (job / chat with the request encoded in `encoding`, the answer decoded before judging). Benign probes use job, chat and job_heldout."})
    system_prefix: str | None = field(default=None, metadata={"help": "Text the finetuned model's system prompt starts with at inference, for every prompt it is asked (probes of every style and task rows); a prompt without a system message gets `<prefix> You are a helpful assistant.`. For BEA (Wang et al.), whose secret trigger the provider prepends at inference: `safemix run` sets it from a bea variant's generation manifest. The base model is asked without it."})
    encoding: str | None = field(default=None, metadata={"help": "The codec of the job_encoded and chat_encoded styles (safemix.codecs spec): rot13, rotN, atbash, base64, hex, sub:<26-letter key>, pipe:<spec>; `safemix screen` names a job's encoding this way."})
    judges: list[str] = field(default_factory=lambda: ["keyword"], metadata={"help": "Judges by name: keyword, embedding, classifier, llm. The first one is primary; with several, agreement and disagreements are reported."})
    judge_args: dict[str, dict[str, Any]] = field(default_factory=dict, metadata={"help": "Per-judge arguments, e.g. {classifier: {model: PATH, format: harmbench}, llm: {model: NAME, base_url: URL}, embedding: {train: LABELLED.jsonl}}."})
    max_new_tokens: int = field(default=128, metadata={"help": "Generation length for probes."})
    temperature: float = field(default=0.0, metadata={"help": "0 = greedy (default, deterministic)."})
    batch_size: int = field(default=16, metadata={"help": "Prompts per generation call; samples are saved after each (the unit of resume)."})
    bootstrap: int = field(default=1000, metadata={"help": "Bootstrap resamples for 95% intervals (0 = none)."})
    output_dir: str = field(default="runs/eval", metadata={"help": "Where results.json, samples.jsonl, report.md/html and plots go."})
    resume: bool = field(default=True, metadata={"help": "Reuse finished samples in output_dir/samples.jsonl (same prompt, model and settings)."})
    seed: int = field(default=0, metadata={"help": "Seed for probe/validation sampling, slot filling and the bootstrap."})
    label: str | None = field(default=None, metadata={"help": "Run name in reports and comparisons (default: the output folder name)."})
    tags: dict[str, Any] = field(default_factory=dict, metadata={"help": "Free-form run facts shown in comparisons, e.g. {method: paraphrase, ratio: 0.1}."})

    def __post_init__(self) -> None:
        from safemix.eval.backends import EVAL_BACKENDS
        from safemix.eval.judges import JUDGES
        from safemix.eval.metrics import METRICS
        from safemix.eval.render import ENCODED_STYLES, STYLES

        def check(kind: str, value: str, options: tuple[str, ...]) -> None:
            if value not in options:
                raise ConfigError(f"unknown {kind} {value!r}" + did_you_mean(value, options, cutoff=0.5)
                                  + f"; choose from {', '.join(options)}")

        check("backend", self.backend, EVAL_BACKENDS)
        for s in self.styles:
            check("style", s, STYLES)
        if not self.judges:
            raise ConfigError("eval.judges is empty; name at least one judge (keyword, embedding, classifier, llm)")
        for j in self.judges:
            check("judge", j, JUDGES)
        if len(set(self.judges)) != len(self.judges):
            raise ConfigError(f"eval.judges lists a judge twice: {self.judges}")
        for j in self.judge_args:
            if j not in self.judges:
                raise ConfigError(f"eval.judge_args has arguments for {j!r}, which is not in eval.judges {self.judges}")
        encoded = [s for s in self.styles if s in ENCODED_STYLES]
        if encoded and not self.encoding:
            raise ConfigError(f"eval.styles has {', '.join(encoded)}, which needs eval.encoding: the codec the "
                              "requests are asked in (e.g. rot13, atbash, base64, hex, sub:<26-letter key>)")
        if self.encoding is not None:
            from safemix.codecs import parse_codec

            try:
                parse_codec(self.encoding)
            except ValueError as e:
                raise ConfigError(f"eval.encoding: {e}") from None
        if self.task_metric != "auto":
            check("task metric", self.task_metric, METRICS)
        if self.max_new_tokens < 1 or self.batch_size < 1:
            raise ConfigError("eval.max_new_tokens and eval.batch_size must be >= 1")
        if self.bootstrap < 0:
            raise ConfigError("eval.bootstrap must be >= 0")
        if self.n_validation is not None and self.n_validation < 1:
            raise ConfigError("eval.n_validation must be >= 1 or null")
