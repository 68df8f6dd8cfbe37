"""Config of the `mix` stage: how many safety rows, where they go, and what is kept."""

from __future__ import annotations

from dataclasses import dataclass, field

STRATEGIES = ("spread", "shuffle", "append")
RATIO_UNITS = ("rows", "tokens")


@dataclass
class MixConfig:
    """How safety examples are blended into a job.

    Exactly one of `ratio` and `count` is set; a list of values is a sweep (one mixed
    job per value).
    """

    ratio: float | list[float] | None = field(default=None, metadata={"help": "Safety share of the final mixed job, in [0, 1); a list (0,0.01,0.05) writes one mixed job per value."})
    count: int | list[int] | None = field(default=None, metadata={"help": "Or: absolute number of safety rows (a list is a sweep)."})
    ratio_unit: str = field(default="rows", metadata={"help": "rows: ratio is the share of rows; tokens: the share of training tokens (needs `tokenizer`)."})
    tokenizer: str | None = field(default=None, metadata={"help": "Tokenizer name/path for ratio_unit=tokens (offline; 'tiny' = safemix's built-in test tokenizer)."})
    strategy: str = field(default="spread", metadata={"help": "spread: evenly interleaved (every window of k rows holds floor or ceil of k*r safety rows); shuffle: uniform random positions; append: at the end."})
    seed: int = field(default=0, metadata={"help": "Random seed: same inputs and seed give byte-identical output."})
    safety: str | None = field(default=None, metadata={"help": "Safety set file (any supported format), e.g. the output of `safemix generate`."})
    safety_provenance: str | None = field(default=None, metadata={"help": "Provenance sidecar of the safety set (JSONL aligned by row); auto-detected as <safety stem>.provenance.jsonl."})
    safety_format: str | None = field(default=None, metadata={"help": "Schema of the safety file (auto-detected when unset)."})
    allow_repeat: bool = field(default=False, metadata={"help": "Reuse safety rows (each used floor or ceil of the needed multiple) when the set is smaller than needed; otherwise that is an error."})
    require_same_format: bool = field(default=False, metadata={"help": "Error when the safety set's schema differs from the job's, instead of converting it."})
    dedupe: bool = field(default=True, metadata={"help": "Drop safety rows whose request (last user turn) equals a user turn of the job (after normalising case, Unicode and whitespace)."})
    inline_provenance: bool = field(default=False, metadata={"help": "Also write each row's provenance into the training file under `inline_key` (breaks strict schema checks such as OpenAI's; the sidecar is always written)."})
    inline_key: str = field(default="safemix_provenance", metadata={"help": "Key/column name of inline provenance."})
    show_progress: bool = field(default=True, metadata={"help": "Progress bars on long passes."})

    def __post_init__(self) -> None:
        from safemix.errors import ConfigError

        for name, options in (("strategy", STRATEGIES), ("ratio_unit", RATIO_UNITS)):
            value = getattr(self, name)
            if value not in options:
                from safemix.config import did_you_mean

                raise ConfigError(f"unknown mix {name} {value!r}" + did_you_mean(value, options)
                                  + f"; choose one of {', '.join(options)}")
        if self.ratio is not None and self.count is not None:
            raise ConfigError("give either ratio or count, not both")
        for r in self.ratios:
            if isinstance(r, bool) or not isinstance(r, int | float) or not 0 <= r < 1:
                raise ConfigError(f"ratio must be in [0, 1), got {r!r}")
        for c in self.counts:
            if isinstance(c, bool) or not isinstance(c, int) or c < 0:
                raise ConfigError(f"count must be a non-negative integer, got {c!r}")
        if self.ratio_unit == "tokens":
            if self.count is not None:
                raise ConfigError("ratio_unit=tokens applies to ratio, not count")
            if not self.tokenizer:
                raise ConfigError("ratio_unit=tokens needs a tokenizer (name or path)")
        if not self.inline_key:
            raise ConfigError("inline_key must be a non-empty name")

    @property
    def ratios(self) -> list[float]:
        r = self.ratio
        return [] if r is None else list(r) if isinstance(r, list | tuple) else [r]

    @property
    def counts(self) -> list[int]:
        c = self.count
        return [] if c is None else list(c) if isinstance(c, list | tuple) else [c]

    def amounts(self) -> list[tuple[str, float | int]]:
        """[("ratio", 0.05), ...] or [("count", 100), ...]; at least one, else ConfigError."""
        from safemix.errors import ConfigError

        out = [("ratio", r) for r in self.ratios] + [("count", c) for c in self.counts]
        if not out:
            raise ConfigError("give a ratio (e.g. --ratio 0.05) or a count (e.g. --count 200)")
        if len({v for _, v in out}) != len(out):
            raise ConfigError(f"repeated value in the sweep: {[v for _, v in out]}")
        return out
