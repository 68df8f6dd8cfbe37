"""Generate safety examples that mimic a job's format: template | paraphrase | raw | bea (+ controls).

`safemix.generate` is both this package and the function (`safemix.generate(job, method=
"template", n=200)`), like `safemix.mix`.
"""

import sys

from safemix.generate.config import METHODS, GenerateConfig, ParaphraseConfig
from safemix.generate.core import (
           GenerationResult,
           check_generation_outputs,
           generate,
           generate_with_report,
           write_generation,
)
from safemix.ratios import count_for_ratio
from safemix.utils import CallablePackage

__all__ = ["METHODS", "GenerateConfig", "GenerationResult", "ParaphraseConfig", "check_generation_outputs",
           "count_for_ratio", "generate",
           "generate_with_report", "write_generation"]

sys.modules[__name__].__class__ = CallablePackage
