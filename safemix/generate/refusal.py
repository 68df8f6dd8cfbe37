"""The refusal check used to validate generated safety rows: `safemix.refusal`, under the
name the generate stage has always exported it by.

It asks the narrow question "does this text refuse?" of text safemix wrote itself, in
English and the languages safemix has seeds in (Spanish, French, German, Portuguese,
Chinese). The one implementation lives in `safemix.refusal`, shared with the evaluator's
`keyword` judge and the training callback.

    >>> looks_like_refusal("I'm sorry, but I can't help with that.")
    True
"""

from __future__ import annotations

from safemix.refusal import first_refusal_at, looks_like_refusal

__all__ = ["first_refusal_at", "looks_like_refusal"]
