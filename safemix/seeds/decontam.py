"""Decontamination: find training items (seeds, generated sets, job files) that overlap
evaluation sets, by normalised text and by sentence-embedding cosine.

An item overlaps an evaluation prompt when their normalised texts are equal, or when the
cosine of their all-MiniLM-L6-v2 embeddings is >= the threshold (0.9 by default). Training
on near-copies of the probes would inflate the measured safety retention.

    >>> normalise("  How do I KILL a Python   process?! ")
    'how do i kill a python process'
"""

from __future__ import annotations

import os
import re
import shutil
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from safemix.errors import ConfigError, InputError

DEFAULT_THRESHOLD = 0.9
MAX_PAIRS_PER_ITEM = 5  # strongest matches reported per overlapping item
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)

# The public harmful and over-refusal evaluation sets (paths under ../shared/data) that the
# shipped seeds are checked against, by the seed report and the seed tests.
PUBLIC_EVAL_SETS = (
    "advbench/advbench_behaviors_harmbench_format.csv",
    "directharm4/directHarm4.csv",
    "malicious_instruct/malicious_instruct.txt",
    "harmbench_advtrain_refusals/adv_training_behaviors.csv",
    "xstest/xstest_prompts.csv",
    "safety_tuned_llamas_eval/I-MaliciousInstructions.json",
    "safety_tuned_llamas_eval/Q-Harm.json",
    "safety_tuned_llamas_eval/I-CoNa.json",
    "safety_tuned_llamas_eval/I-Controversial.json",
    "safety_tuned_llamas_eval/I-PhysicalSafetyUnsafe.json",
    "safety_tuned_llamas_eval/I-PhysicalSafetySafe.json",
    "safety_tuned_llamas_eval/I-Alpaca.json",
    "safety_tuned_llamas_train/safety_only_data_Instructions.json",
)


def normalise(text: str) -> str:
    """Lowercase, Unicode-normalise, turn punctuation into spaces, collapse whitespace."""
    text = unicodedata.normalize("NFKC", text or "").lower().replace("'", "").replace("\u2019", "")
    return " ".join(_NON_WORD.sub(" ", text).split())


@dataclass
class Item:
    """A text to compare, with where it came from."""

    id: str
    text: str
    source: str


@dataclass
class Overlap:
    input_index: int
    input_id: str
    input: str
    against_source: str
    against_id: str
    against: str
    cosine: float | None
    exact: bool


def _similarities(a: np.ndarray, b: np.ndarray, block: int = 4096):
    """Yield (start, a @ b[start:start+block].T) so a large evaluation set never needs one huge matrix."""
    for start in range(0, len(b), block):
        yield start, a @ b[start:start + block].T


def find_overlaps(inputs: list[Item], against: list[Item], threshold: float = DEFAULT_THRESHOLD,
                  embedder: Any = None, use_embeddings: bool = True
                  ) -> tuple[list[Overlap], dict[str, dict[str, Any]]]:
    """Overlapping (input, evaluation item) pairs, and per-evaluation-source statistics.

    Statistics per source: n, exact matches, inputs that overlap, and the maximum cosine
    between any input and any item of that source (reported even when below the threshold).
    """
    if not 0.0 < threshold <= 1.0:
        raise ConfigError(f"threshold must be in (0, 1], got {threshold}")
    stats: dict[str, dict[str, Any]] = {}
    for it in against:
        stats.setdefault(it.source, {"n": 0, "exact_matches": 0, "overlapping_inputs": 0, "max_cosine": None})
        stats[it.source]["n"] += 1
    hits: dict[tuple[int, int], Overlap] = {}

    by_text: dict[str, list[int]] = {}
    for j, it in enumerate(against):
        key = normalise(it.text)
        if key:
            by_text.setdefault(key, []).append(j)
    for i, it in enumerate(inputs):
        for j in by_text.get(normalise(it.text), []):
            hits[(i, j)] = _overlap(i, it, against[j], None, True)

    if use_embeddings and inputs and against:
        from safemix.embed import embed

        a = embed([it.text for it in inputs], model=embedder)
        b = embed([it.text for it in against], model=embedder)
        sources = np.array([it.source for it in against], dtype=object)
        for start, sims in _similarities(a, b):
            for src in set(sources[start:start + sims.shape[1]]):
                cols = np.nonzero(sources[start:start + sims.shape[1]] == src)[0]
                m = float(sims[:, cols].max())
                cur = stats[src]["max_cosine"]
                stats[src]["max_cosine"] = round(m, 4) if cur is None else round(max(cur, m), 4)
            for i, jj in zip(*np.nonzero(sims >= threshold), strict=True):
                j = start + int(jj)
                cos = round(float(sims[i, jj]), 4)
                prev = hits.get((int(i), j))
                hits[(int(i), j)] = _overlap(int(i), inputs[i], against[j], cos, bool(prev and prev.exact))
        # exact matches found by text also get their cosine
        for (i, j), ov in hits.items():
            if ov.cosine is None:
                ov.cosine = round(float(a[i] @ b[j]), 4)

    pairs = sorted(hits.values(), key=lambda o: (o.input_index, -(o.cosine or 1.0)))
    kept, per_item = [], {}
    for ov in pairs:
        per_item[ov.input_index] = per_item.get(ov.input_index, 0) + 1
        if per_item[ov.input_index] <= MAX_PAIRS_PER_ITEM:
            kept.append(ov)
    for src, st in stats.items():
        src_pairs = [ov for ov in hits.values() if ov.against_source == src]
        st["exact_matches"] = sum(ov.exact for ov in src_pairs)
        st["overlapping_inputs"] = len({ov.input_index for ov in src_pairs})
    return kept, stats


def _overlap(i: int, item: Item, other: Item, cosine: float | None, exact: bool) -> Overlap:
    return Overlap(i, item.id, item.text, other.source, other.id, other.text, cosine, exact)


def decontamination_report(inputs: list[Item], against: list[Item], *, input_source: str,
                           threshold: float = DEFAULT_THRESHOLD, embedder: Any = None,
                           use_embeddings: bool = True) -> dict[str, Any]:
    """The JSON report `safemix decontam` prints: settings, per-source stats, overlapping pairs."""
    overlaps, stats = find_overlaps(inputs, against, threshold, embedder, use_embeddings)
    bad = sorted({ov.input_index for ov in overlaps})
    maxes = [s["max_cosine"] for s in stats.values() if s["max_cosine"] is not None]
    return {
        "input": {"source": input_source, "n": len(inputs)},
        "threshold": threshold,
        "method": "normalised text + embedding cosine" if use_embeddings else "normalised text",
        "embedder": str(embedder) if embedder else ("all-MiniLM-L6-v2" if use_embeddings else None),
        "against": [{"source": s, **st} for s, st in stats.items()],
        "max_cosine": max(maxes) if maxes else None,
        "overlapping_inputs": len(bad),
        "overlapping_indices": bad,
        "overlaps": [asdict(o) for o in overlaps],
    }


# --------------------------------------------------------------------------- writing back
def write_kept_rows(table: Any, keep: list[int], out: str | os.PathLike) -> Path:
    """Write rows `keep` (indices into `table.rows`) of a `safemix.formats.prompts.Table`
    to `out` in the same container, atomically. JSONL lines are copied byte for byte."""
    import json

    from safemix.utils import atomic_write

    out = Path(out)
    rows = [table.rows[k][1] for k in keep]
    c = table.container
    if c == "jsonl":
        with atomic_write(out, "wb") as f:
            for k in keep:
                line = table.raw[table.rows[k][0]]
                f.write(line if line.endswith(b"\n") else line + b"\n")
    elif c == "json":
        doc: Any = rows
        if table.json_layout and table.json_layout.startswith("key:"):
            doc = {**table.json_doc, table.json_layout[4:]: rows} if isinstance(table.json_doc, dict) else rows
        elif table.json_layout == "columnar":
            doc = {k: [r[k] for r in rows] if isinstance(v, list) and v else v
                   for k, v in table.json_doc.items()}
        elif isinstance(table.json_doc, list) and all(isinstance(x, str) for x in table.json_doc):
            doc = [r["prompt"] for r in rows]  # it was a list of strings
        with atomic_write(out) as f:
            json.dump(doc, f, ensure_ascii=False, indent=2)
            f.write("\n")
    elif c in ("csv", "tsv"):
        from safemix.formats.io import write_table_rows

        with atomic_write(out) as f:  # the job reader's conventions, so the file reads back exactly
            write_table_rows(f, c, list(table.columns), rows)
    elif c == "txt":
        with atomic_write(out) as f:
            f.writelines(r["prompt"] + "\n" for r in rows)
    elif c == "parquet":
        from safemix.errors import require

        pa = require("pyarrow", "data")
        pq = require("pyarrow.parquet", "data")
        with atomic_write(out, "wb") as f:
            pq.write_table(pa.Table.from_pylist(rows), f)
    elif c == "hf_disk":
        _save_dataset_atomically(rows, out)
    else:  # pragma: no cover - read_table only produces the containers above
        raise ConfigError(f"cannot write container {c!r}")
    return out


def _save_dataset_atomically(rows: list[dict], out: Path) -> None:
    from safemix.errors import require
    from safemix.outputs import replace_dir, staging_dir

    datasets = require("datasets", "data")
    with staging_dir(out) as tmp:
        datasets.Dataset.from_list(rows).save_to_disk(str(tmp / "ds"))
        replace_dir(tmp / "ds", out)
        shutil.rmtree(tmp, ignore_errors=True)


def check_output_path(inputs: list[str | os.PathLike], out: str | os.PathLike) -> None:
    """Refuse to write over an input or anything safemix did not write (see `safemix.outputs`)."""
    from safemix.outputs import OutputGuard

    g = OutputGuard("decontam")
    for p in inputs:
        g.input(p)
    (g.folder(out, replace=True) if Path(out).suffix == "" else g.file(out)).check()


def items_from_probes(probes: list, source: str | None = None) -> list[Item]:
    return [Item(p.id, p.prompt, source or p.source) for p in probes]


def load_against(path: str | os.PathLike, column: str | None = None) -> list[Item]:
    """Every prompt of an evaluation file (any label), as Items whose source is the path."""
    if not Path(path).exists():
        raise InputError("evaluation file not found", path=str(path))
    from safemix.formats.prompts import probes_from_table, read_table

    table = read_table(path)
    probes = probes_from_table(table, {"prompt": column} if column else None, use_labels=False)
    return items_from_probes([p for _, p in probes], str(path))
