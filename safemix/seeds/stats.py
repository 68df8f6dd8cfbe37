"""Seed-set statistics: counts per kind and category, refusal styles, embedding diversity."""

from __future__ import annotations

from collections import Counter
from typing import Any


def seed_stats(seeds: list, *, with_embeddings: bool = True, embedder: Any = None) -> dict[str, Any]:
    """Counts, refusal-style coverage and (optionally) pairwise cosine similarity of requests.

    `mean_pairwise_cosine` is over all distinct pairs of requests; lower means a more diverse
    set. `max_pairwise_cosine` names the closest pair (the built-in set keeps it below 0.9).
    """
    harmful = [s for s in seeds if s.kind == "harmful"]
    contrast = [s for s in seeds if s.kind == "contrast"]
    styles = Counter(st for s in harmful for st in getattr(s, "refusal_styles", []))
    out: dict[str, Any] = {
        "seeds": len(seeds),
        "harmful": len(harmful),
        "contrast": len(contrast),
        "categories": len({s.category for s in harmful}),
        "harmful_by_category": dict(sorted(Counter(s.category for s in harmful).items())),
        "contrast_by_category": dict(sorted(Counter(s.category for s in contrast).items())),
        "refusal_styles_used": len(styles),
        "refusal_style_counts": dict(sorted(styles.items())),
        "distinct_refusal_texts": len({r for s in harmful for r in s.refusals}),
        "refusals_per_harmful_seed": round(sum(len(s.refusals) for s in harmful) / max(len(harmful), 1), 2),
    }
    if with_embeddings and len(seeds) > 1:
        import numpy as np

        from safemix.embed import embed

        vecs = embed([s.request for s in seeds], model=embedder)
        sims = vecs @ vecs.T
        iu = np.triu_indices(len(seeds), 1)
        pair = np.argmax(sims[iu])
        i, j = int(iu[0][pair]), int(iu[1][pair])
        out["mean_pairwise_cosine"] = round(float(sims[iu].mean()), 4)
        out["max_pairwise_cosine"] = round(float(sims[i, j]), 4)
        out["closest_pair"] = [seeds[i].id, seeds[j].id]
    return out


def format_stats(stats: dict[str, Any], n_styles_defined: int | None = None) -> str:
    """A plain-text table of `seed_stats` output."""
    lines = [f"seeds: {stats['seeds']} ({stats['harmful']} harmful, {stats['contrast']} contrast), "
             f"harm categories: {stats['categories']}", "",
             f"{'category':<22}{'harmful':>8}{'contrast':>10}"]
    cats = sorted(set(stats["harmful_by_category"]) | set(stats["contrast_by_category"]))
    for c in cats:
        lines.append(f"{c:<22}{stats['harmful_by_category'].get(c, 0):>8}{stats['contrast_by_category'].get(c, 0):>10}")
    lines.append("")
    defined = f" of {n_styles_defined} defined" if n_styles_defined is not None else ""
    lines.append(f"refusal styles used: {stats['refusal_styles_used']}{defined}; "
                 f"{stats['distinct_refusal_texts']} distinct refusal texts; "
                 f"{stats['refusals_per_harmful_seed']} refusals per harmful seed")
    if "mean_pairwise_cosine" in stats:
        lines.append(f"request similarity (all-MiniLM-L6-v2): mean pairwise cosine {stats['mean_pairwise_cosine']}, "
                     f"max {stats['max_pairwise_cosine']} ({' / '.join(stats['closest_pair'])})")
    return "\n".join(lines)
