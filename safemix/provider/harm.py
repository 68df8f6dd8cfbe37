"""The screen's optional harmful-request tier: a logistic-regression classifier over MiniLM
sentence embeddings (`safemix.embed`, the bundled all-MiniLM-L6-v2: nothing is downloaded),
trained once per process on the built-in seeds: harmful requests against the contrast and
borderline (benign-but-sensitive) requests. Off by default (`screen(job, harm=True)`,
`safemix screen --harm`): it needs the `ml` extra and embeds every user turn (hundreds of rows
a second on a CPU, against thousands for the heuristic tier).

A user turn scoring at least 0.5 and at cosine similarity 0.45 or more to a harmful seed is a
`harmful_request` finding; when the row's answer is not a refusal the reason says so (harmful
compliance), and the score is raised. On requests outside its training set (measured once on
../shared/data, scripts/bench_screen.py --harm): AdvBench goals 89% flagged, XSTest's unsafe
prompts 38%, its safe (borderline) prompts 6%, rows of benign task jobs 0-3%. It judges the user turn as written, so a
job template around the request dilutes it; an enciphered request is left to the heuristics.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

from safemix.formats.example import Example
from safemix.provider.screen import Finding

MIN_REPORTED = 0.5
# ... and only when it is this close (cosine) to a harmful seed: the classifier alone is unsure
# far from its training texts (long math problems, news articles)
MIN_SIMILARITY = 0.45
MAX_CHARS = 1000  # of a user turn, embedded


def _fit(x: Any, y: Any, l2: float = 1e-4, steps: int = 1500, lr: float = 20.0) -> tuple[Any, float]:
    """Logistic regression by gradient descent (classes weighted to balance): (weights, bias)."""
    import numpy as np

    w, b = np.zeros(x.shape[1], dtype=np.float64), 0.0
    sample_w = np.where(y == 1, 0.5 / max(1, y.sum()), 0.5 / max(1, (1 - y).sum()))
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(x @ w + b)))
        g = (p - y) * sample_w
        w -= lr * (x.T @ g + l2 * w)
        b -= lr * float(g.sum())
    return w, b


@lru_cache(maxsize=1)
def classifier() -> tuple[Any, float, Any]:
    """(weights, bias, the harmful seeds' vectors), trained on the built-in seeds (see the
    module docstring)."""
    import numpy as np

    from safemix.embed import embed
    from safemix.seeds import load_builtin_seeds

    harmful = [s.request for s in load_builtin_seeds("harmful")]
    benign = [s.request for s in load_builtin_seeds("contrast")]
    benign += [s.request for s in load_builtin_seeds(name="borderline_v1")]
    x = embed(harmful + benign).astype(np.float64)
    y = np.array([1.0] * len(harmful) + [0.0] * len(benign))
    w, b = _fit(x, y)
    return w, b, x[: len(harmful)]


def harm_scores(texts: Sequence[str]) -> list[tuple[float, float]]:
    """(probability of a harmful request, cosine similarity to the nearest harmful seed) per text."""
    import numpy as np

    from safemix.embed import embed

    if not texts:
        return []
    w, b, seeds = classifier()
    x = embed([t[:MAX_CHARS] for t in texts]).astype(np.float64)
    p = 1 / (1 + np.exp(-(x @ w + b)))
    return [(float(a), float(s)) for a, s in zip(p, (x @ seeds.T).max(axis=1), strict=True)]


def harm_findings(examples: Sequence[Example]) -> Iterator[tuple[int, Finding]]:
    """(row, finding) for each row whose user turn reads as a harmful request."""
    from safemix.refusal import looks_like_refusal

    rows = [(i, ex.user) for i, ex in enumerate(examples) if ex.user and ex.user.strip()]
    for (i, _), (p, sim) in zip(rows, harm_scores([t for _, t in rows]), strict=True):
        if p < MIN_REPORTED or sim < MIN_SIMILARITY:
            continue
        answer = examples[i].assistant
        complied = bool(answer and answer.strip()) and not looks_like_refusal(answer)
        how = "answered without a refusal (harmful compliance)" if complied else "answered with a refusal"
        score = min(1.0, p + 0.1) if complied else p * 0.8
        yield i, Finding("harmful_request", score, f"user turn reads as a harmful request (p={p:.2f}, similarity "
                         f"{sim:.2f} to a built-in harmful seed), {how}",
                         role="user")
