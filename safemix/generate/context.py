"""What every generation method is given and what every generated row carries: the run
context (`GenContext`), the method's output (`MethodOutput`), `provenance`, and the options of
the LLM method (`ParaphraseConfig`).

This module sits below the method registry and `config`: `config` validates method names
against the registry, and the methods (paraphrase included) read their options from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from safemix.formats.example import Example
from safemix.formats.io import Job
from safemix.formats.profile import FormatProfile
from safemix.generate.screen import SeedScreen


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
class GenContext:
    """One generation run as a method sees it: the job and its profile, the screened seed pools
    in selection order, how many rows of each kind to make, and the options methods read."""

    job: Job
    profile: FormatProfile
    screen: SeedScreen
    pools: dict[str, list]  # kind ("harmful", "contrast") -> seeds, in selection order
    need: dict[str, int]  # kind -> rows to make
    seed_src: str  # where the seeds came from (named in errors)
    method: str
    seed: int
    language: str
    embedder: str | None
    bea_trigger_tokens: int
    paraphrase: ParaphraseConfig
    backend: Any = None  # an LLM backend for paraphrase (else built from `paraphrase`)
    intent_judge: Any = None  # paraphrase: (rewrite, seed) -> bool, after the embedding check


@dataclass
class MethodOutput:
    """A method's rows (with provenance, `need` of each kind, harmful first) and the entries it
    adds to the manifest (e.g. `bea_trigger`, `paraphrase`)."""

    examples: list[Example]
    manifest: dict[str, Any] = field(default_factory=dict)


def provenance(seed: Any, kind: str, i: int, method: str, llm: ParaphraseConfig | None = None) -> dict[str, Any]:
    """The metadata of a row made from `seed` (its `i`-th use); `llm`: the rewriting LLM's options."""
    return {"source": "generated", "method": method, "seed_id": seed.id, "category": seed.category,
            "kind": kind, "seed_source": getattr(seed, "source", None), "occurrence": i,
            "generator_model": llm.model if llm is not None else None,
            "prompt_version": llm.prompt_version if llm is not None else None}
