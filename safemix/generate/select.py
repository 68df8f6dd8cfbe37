"""Seed selection: seeds closest to the job's domain, diverse (MMR), every category covered."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any


def mmr_order(seed_vecs, centroid, categories: list[str], k: int, lam: float = 0.6,
              min_per_category: int = 2) -> list[int]:
    """Indices of `k` seeds in pick order.

    Maximal marginal relevance: each pick maximises lam * cos(seed, job centroid)
    - (1 - lam) * max cos(seed, picked). Categories get `min_per_category` picks first,
    so a domain far from, say, self-harm still teaches refusing it.
    """
    import numpy as np

    n = len(seed_vecs)
    k = min(k, n)
    rel = seed_vecs @ centroid
    max_sim = np.full(n, -1.0)
    chosen: list[int] = []
    taken = np.zeros(n, dtype=bool)

    def pick(mask) -> int | None:
        score = lam * rel - (1 - lam) * np.maximum(max_sim, 0)
        score = np.where(mask & ~taken, score, -np.inf)
        i = int(np.argmax(score))
        return None if not np.isfinite(score[i]) else i

    def take(i: int) -> None:
        nonlocal max_sim
        chosen.append(i)
        taken[i] = True
        max_sim = np.maximum(max_sim, seed_vecs @ seed_vecs[i])

    cats = np.array(categories)
    for _ in range(min_per_category):
        for c in sorted(set(categories)):
            if len(chosen) >= k:
                break
            i = pick(cats == c)
            if i is not None:
                take(i)
    while len(chosen) < k:
        i = pick(np.ones(n, dtype=bool))
        if i is None:
            break
        take(i)
    return chosen


def select_seeds(seeds: list, job_texts: list[str], k: int, *, embedder: str | None = None,
                 lam: float = 0.6, min_per_category: int = 2, job_sample: int = 1000,
                 seed: int = 0) -> tuple[list, dict[str, Any]]:
    """Order seeds by MMR relevance to the job (k of them); returns (seeds, report)."""
    import numpy as np

    from safemix.embed import embed

    rng = random.Random(seed)
    sample = job_texts if len(job_texts) <= job_sample else rng.sample(job_texts, job_sample)
    job_vecs = embed(sample, model=embedder)
    centroid = job_vecs.mean(axis=0)
    centroid /= np.linalg.norm(centroid) + 1e-12
    seed_vecs = embed([s.request for s in seeds], model=embedder)
    order = mmr_order(seed_vecs, centroid, [s.category for s in seeds], k, lam, min_per_category)
    chosen = [seeds[i] for i in order]
    rel = seed_vecs @ centroid
    report = {
        "selected": len(chosen),
        "pool": len(seeds),
        "mean_relevance_selected": round(float(np.mean(rel[order])), 4) if order else None,
        "mean_relevance_pool": round(float(np.mean(rel)), 4),
        "category_coverage": dict(sorted(Counter(s.category for s in chosen).items())),
        "categories_in_pool": len({s.category for s in seeds}),
    }
    return chosen, report
