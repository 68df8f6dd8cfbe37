"""Ratio arithmetic that more than one stage needs (generate sizes its output the way mix
will count it): exact fractions, so a count is the same on every machine."""

from __future__ import annotations

from fractions import Fraction

from safemix.errors import ConfigError


def exact_ratio(r: float) -> Fraction:
    """A float ratio as the decimal the user typed (0.05 -> 1/20), not its binary expansion."""
    return Fraction(repr(float(r)))


def count_for_ratio(n_user: int, ratio: float) -> int:
    """Safety rows S so that S / (N + S) is the ratio, rounded half up: round(r*N/(1-r)).

    The realised share is within one example of `ratio` (|S - r(N+S)| <= (1-r)/2).

    >>> count_for_ratio(95, 0.05), count_for_ratio(1_000_000, 0.05), count_for_ratio(10, 0)
    (5, 52632, 0)
    """
    r = exact_ratio(ratio)
    if not 0 <= r < 1:
        raise ConfigError(f"ratio must be in [0, 1), got {ratio}")
    target = r * n_user / (1 - r)
    return int(target + Fraction(1, 2))  # floor(x + 1/2): round half up, no banker's rounding
