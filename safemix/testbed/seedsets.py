"""The seed files a `tiny` testbed build writes for safemix's generator (`testbed.seeds` picks one).

The generator's seeds should be to the probes what a provider's safety data is to an attacker's
requests: written apart from them. Three sets, all in the seed JSONL schema:

* ``corpus`` (``seeds_corpus.jsonl``, also ``seeds.jsonl``: the default) - the corpus's own
  seed split (harmful and contrast combinations that no training document and no probe uses),
  each phrased with seed-only phrasings that no training document or probe uses, refused in
  wordings the alignment never trained on (`corpus.heldout_seed_records`). In the tiny model's
  vocabulary, so it can learn from them.
* ``builtin`` (``seeds_builtin.jsonl``) - safemix's own seed set (``safemix/seeds``, written for
  real models), without the refusal variants whose text is one of the alignment's refusal
  strings ("I can't help with that."). Disjoint from the probes in every way, but the tiny model
  cannot read most of it: the byte-level tokenizer encodes it exactly, yet 39% of its request
  words never occur in pretraining, and a finetune learns from it to refuse almost anything
  (see the testbed README: over-refusal 30-78% against 0-2% with ``corpus``).
* ``shared`` (``seeds_shared.jsonl``) - the first testbed seed file, kept to reproduce the
  earlier numbers; **not** fair: held-out combinations, but the probes' own phrasings and the
  alignment's exact refusal strings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from safemix.testbed import corpus as C

SEED_SETS = ("corpus", "builtin", "shared")
DEFAULT_SEED_SET = "corpus"


def file_name(name: str) -> str:
    return f"seeds_{name}.jsonl"


def builtin_records() -> tuple[list[dict[str, Any]], int]:
    """safemix's built-in seeds as records, minus refusal variants that are alignment refusals;
    returns (records, dropped variants). A seed left without refusals is dropped."""
    from safemix.seeds import load_builtin_seeds

    align = C.alignment_refusals()
    rows, dropped = [], 0
    for s in load_builtin_seeds():
        rec = s.to_record()
        if s.kind == "harmful":
            keep = [r for r in s.refusals if r not in align]
            dropped += len(s.refusals) - len(keep)
            if not keep:
                continue
            rec["refusals"] = keep
        rows.append(rec)
    return rows, dropped


def seed_sets(splits: C.Splits, seed: int = 0) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """Every seed set by name, and notes for the build manifest."""
    builtin, dropped = builtin_records()
    sets = {"builtin": builtin, "corpus": C.heldout_seed_records(splits, seed), "shared": C.seed_records(splits)}
    notes = {name: {"file": file_name(name), "harmful": sum(r["kind"] == "harmful" for r in rows),
                    "contrast": sum(r["kind"] == "contrast" for r in rows)} for name, rows in sets.items()}
    notes["builtin"]["dropped_alignment_refusal_variants"] = dropped
    return sets, {"default": DEFAULT_SEED_SET, "default_file": "seeds.jsonl", "sets": notes}


def write_seed_sets(out: str | Path, splits: C.Splits, seed: int = 0) -> dict[str, Any]:
    """Write `seeds_<name>.jsonl` for every set and `seeds.jsonl` (the default set)."""
    from safemix.utils import write_jsonl

    out = Path(out)
    sets, notes = seed_sets(splits, seed)
    for name, rows in sets.items():
        write_jsonl(out / file_name(name), rows)
    write_jsonl(out / "seeds.jsonl", sets[DEFAULT_SEED_SET])
    return notes
