"""Mix safety examples into a job: exact amounts, spread/shuffle/append, provenance, manifest.

`safemix.mix` is both this package and the function: `mixed, report = safemix.mix(job,
safety, ratio=0.05)` calls `safemix.mix.mix` (the module is callable, so `from safemix
import mix` works whether or not the package was imported before).
"""

import sys

from safemix.mix.config import RATIO_UNITS, STRATEGIES, MixConfig
from safemix.mix.core import MANIFEST_NAME, MixOutput, MixReport, iter_provenance, mix, mix_files
from safemix.mix.plan import count_for_ratio, normalise_prompt, spread_positions
from safemix.utils import CallablePackage

__all__ = ["MANIFEST_NAME", "RATIO_UNITS", "STRATEGIES", "MixConfig", "MixOutput", "MixReport",
           "count_for_ratio", "iter_provenance", "mix", "mix_files", "normalise_prompt", "spread_positions"]

sys.modules[__name__].__class__ = CallablePackage
