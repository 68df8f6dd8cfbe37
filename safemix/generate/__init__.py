"""Generate safety examples that mimic a job's format: template | paraphrase | raw | bea."""

from safemix.generate.config import METHODS, GenerateConfig, ParaphraseConfig
from safemix.generate.core import (
           GenerationResult,
           count_for_ratio,
           generate,
           generate_with_report,
           write_generation,
)

__all__ = ["METHODS", "GenerateConfig", "GenerationResult", "ParaphraseConfig", "count_for_ratio", "generate",
           "generate_with_report", "write_generation"]
