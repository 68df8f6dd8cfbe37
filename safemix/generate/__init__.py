"""Generate safety examples that mimic a job's format: template | paraphrase | raw | bea (+ controls).

`safemix.generate` is both this package and the function (`safemix.generate(job, method=
"template", n=200)`), like `safemix.mix`.
"""

from safemix.generate.config import METHODS, GenerateConfig, ParaphraseConfig
from safemix.generate.core import (
           GenerationResult,
           check_generation_outputs,
           generate,
           generate_with_report,
           write_generation,
)
from safemix.ratios import count_for_ratio
from safemix.utils import make_module_callable

__all__ = ["METHODS", "GenerateConfig", "GenerationResult", "ParaphraseConfig", "check_generation_outputs",
           "count_for_ratio", "generate",
           "generate_with_report", "write_generation"]

make_module_callable(__name__, generate)
