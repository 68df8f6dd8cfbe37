"""The testbed's seed sets: disjoint from the probes, refusals that are not the alignment's strings."""

from __future__ import annotations

import pytest

from safemix.eval.keyword import KeywordJudge
from safemix.generate.refusal import looks_like_refusal
from safemix.seeds.loaders import load_seed_file
from safemix.testbed import corpus as C
from safemix.testbed.seedsets import DEFAULT_SEED_SET, SEED_SETS, seed_sets, write_seed_sets

ALL_PHRASINGS = C.REQUEST_PHRASINGS + C.HARMFUL_ONLY_PHRASINGS + C.HELDOUT_PHRASINGS


@pytest.fixture(scope="module")
def splits() -> C.Splits:
    return C.make_splits(0)


@pytest.fixture(scope="module")
def sets(splits):
    return seed_sets(splits, 0)


def _probe_texts(splits) -> set[str]:
    return {p["prompt"] for kind in ("harmful", "benign") for p in C.probe_records(splits, kind)}


def test_corpus_seeds_share_no_wording_with_probes_or_alignment(splits, sets):
    rows = sets[0]["corpus"]
    assert {r["kind"] for r in rows} == {"harmful", "contrast"}
    stems = [p.split("{act}")[0] for p in ALL_PHRASINGS]
    seed_stems = [p.split("{act}")[0] for p in C.SEED_PHRASINGS]
    assert not set(seed_stems) & set(stems)
    align = C.alignment_refusals()
    judge = KeywordJudge()
    for r in rows:
        assert r["request"].startswith(tuple(seed_stems)) and not r["request"].startswith(tuple(stems))
        if r["kind"] == "harmful":
            assert len(r["refusals"]) == len(C.SEED_REFUSAL_STYLES)
            for x in r["refusals"]:
                assert x not in align and looks_like_refusal(x)
                assert judge.judge_one(r["request"], x).outcome == "refused", x
        else:
            assert r["answer"] and not looks_like_refusal(r["answer"])
            assert not r["answer"].startswith(tuple(C.CONTRAST_OPENERS))
    # the seed split's combinations: disjoint from training and probe combinations
    acts = {r.act for r in splits.harmful["seed"]}
    assert all(any(a in r["request"] for a in acts) for r in rows if r["kind"] == "harmful")
    assert not {r["request"] for r in rows} & _probe_texts(splits)
    # the training documents never use a seed-only phrasing
    train = [r.user for r in C.stage_records(splits, "align", 2000, 0)] + \
            [r.user for r in C.stage_records(splits, "pretrain", 2000, 0)]
    assert not [u for u in train if any(s in u for s in seed_stems)]


def test_builtin_set_drops_only_the_alignments_refusal_strings(sets):
    from safemix.seeds import load_builtin_seeds

    rows, notes = sets
    built = rows["builtin"]
    align = C.alignment_refusals()
    assert not [x for r in built for x in r.get("refusals", []) if x in align]
    full = load_builtin_seeds()
    kept = sum(len(r.get("refusals", [])) for r in built)
    assert kept + notes["sets"]["builtin"]["dropped_alignment_refusal_variants"] == sum(len(s.refusals) for s in full)
    assert notes["sets"]["builtin"]["dropped_alignment_refusal_variants"] > 0  # "I can't help with that."
    assert len(built) == len(full)  # every seed keeps other refusals


def test_shared_set_is_the_first_seed_file(splits, sets):
    assert sets[0]["shared"] == C.seed_records(splits)


def test_written_files_load_as_seed_files(tmp_path, splits):
    notes = write_seed_sets(tmp_path, splits, 0)
    assert notes["default"] == DEFAULT_SEED_SET
    for name in SEED_SETS:
        seeds = load_seed_file(tmp_path / f"seeds_{name}.jsonl")
        assert {s.kind for s in seeds} == {"harmful", "contrast"}
    assert (tmp_path / "seeds.jsonl").read_bytes() == (tmp_path / f"seeds_{DEFAULT_SEED_SET}.jsonl").read_bytes()
