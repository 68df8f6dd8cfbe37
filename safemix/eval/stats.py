"""Statistics for evaluation results: bootstrap intervals and judge agreement.

Every rate in a report comes with a bootstrap 95% interval; a difference between the
finetuned and the base model is bootstrapped *paired* (the same probes are resampled for
both), which is much tighter than two independent intervals because probe difficulty
cancels out.

    >>> ci = bootstrap_mean([1, 0, 1, 1], n_boot=200, seed=0)
    >>> ci["mean"], 0 <= ci["low"] <= ci["mean"] <= ci["high"] <= 1
    (0.75, True)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any


def _interval(x: Any, n_boot: int, seed: int, level: float) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of the 1-D array `x`."""
    import numpy as np

    if x.size == 1 or n_boot <= 0:
        m = float(x.mean())
        return m, m
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_boot, x.size))
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(x[idx].mean(axis=1), [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def bootstrap_mean(values: Sequence[float], n_boot: int = 1000, seed: int = 0,
                   level: float = 0.95) -> dict[str, float | int | None]:
    """Mean of `values` with a percentile-bootstrap interval.

    Empty input gives `{"mean": None, "low": None, "high": None, "n": 0}` so that reports can
    show "n/a" rather than a made-up number.
    """
    import numpy as np

    x = np.asarray(list(values), dtype=float)
    if x.size == 0:
        return {"mean": None, "low": None, "high": None, "n": 0}
    lo, hi = _interval(x, n_boot, seed, level)
    return {"mean": float(x.mean()), "low": lo, "high": hi, "n": int(x.size)}


def paired_bootstrap_diff(after: Sequence[float], before: Sequence[float], n_boot: int = 1000,
                          seed: int = 0, level: float = 0.95) -> dict[str, float | int | None]:
    """mean(after) - mean(before) with a paired bootstrap interval.

    `after[i]` and `before[i]` must belong to the same probe (same prompt, two models).

    >>> d = paired_bootstrap_diff([1, 1, 0, 1], [0, 1, 0, 0], n_boot=200)
    >>> d["diff"], d["n"]
    (0.5, 4)
    """
    import numpy as np

    a, b = np.asarray(list(after), dtype=float), np.asarray(list(before), dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired bootstrap needs equal lengths, got {a.size} and {b.size}")
    if a.size == 0:
        return {"diff": None, "low": None, "high": None, "n": 0}
    d = a - b
    lo, hi = _interval(d, n_boot, seed, level)
    return {"diff": float(d.mean()), "low": lo, "high": hi, "n": int(d.size)}


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float | None:
    """Cohen's kappa between two raters' labels of the same items.

    1 is perfect agreement, 0 is what chance gives. When both raters use one and the same
    label for everything, agreement is perfect but chance agreement is too; kappa is then
    defined here as 1.0 (they agree) or None when there is nothing to compare.

    >>> cohen_kappa(["r", "r", "c", "c"], ["r", "r", "c", "c"])
    1.0
    >>> round(cohen_kappa(["r", "r", "c", "c"], ["r", "c", "c", "r"]), 3)
    0.0
    """
    if len(a) != len(b):
        raise ValueError(f"kappa needs equal lengths, got {len(a)} and {len(b)}")
    n = len(a)
    if n == 0:
        return None
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[k] * cb[k] for k in set(ca) | set(cb)) / (n * n)
    if expected >= 1.0:
        return 1.0 if observed >= 1.0 else 0.0
    return (observed - expected) / (1.0 - expected)


def agreement(labels: dict[str, Sequence[str]]) -> dict[str, Any]:
    """Pairwise agreement of several judges over the same items.

    Returns `{"pairs": [{"a", "b", "kappa", "agreement", "n"}], "disagreements": [index, ...]}`
    where an index is an item on which not all judges gave the same outcome.
    """
    names = list(labels)
    n = len(next(iter(labels.values()))) if labels else 0
    for k, v in labels.items():
        if len(v) != n:
            raise ValueError(f"judge {k!r} labelled {len(v)} items, expected {n}")
    pairs = []
    for i, x in enumerate(names):
        for y in names[i + 1:]:
            a, b = labels[x], labels[y]
            same = sum(p == q for p, q in zip(a, b, strict=True))
            pairs.append({"a": x, "b": y, "kappa": cohen_kappa(a, b),
                          "agreement": same / n if n else None, "n": n})
    dis = [j for j in range(n) if len({labels[k][j] for k in names}) > 1] if len(names) > 1 else []
    return {"pairs": pairs, "disagreements": dis}
