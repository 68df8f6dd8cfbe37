"""The synthetic corpus: determinism, disjoint splits, placeholders only, checkable answers."""

from __future__ import annotations

import json
import re

import pytest

from safemix.generate.refusal import looks_like_refusal
from safemix.testbed import corpus as C


@pytest.fixture(scope="module")
def splits() -> C.Splits:
    return C.make_splits(0)


def _dump(records) -> bytes:
    return "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in records).encode()


def test_same_seed_same_bytes_other_seed_other_bytes():
    a = C.make_splits(0)
    b = C.make_splits(0)
    for stage in ("pretrain", "align"):
        x = _dump(C.stage_records(a, stage, 500, 0))
        assert x == _dump(C.stage_records(b, stage, 500, 0))
        assert x != _dump(C.stage_records(C.make_splits(1), stage, 500, 1))
    assert C.seed_records(a) == C.seed_records(b)
    assert C.probe_records(a, "harmful") == C.probe_records(b, "harmful")


def test_harmful_and_contrast_splits_are_disjoint_by_combination(splits):
    for fam in (splits.harmful, splits.contrast):
        acts = {name: {r.act for r in reqs} for name, reqs in fam.items()}
        assert all(acts.values())
        assert not acts["train"] & acts["seed"]
        assert not acts["train"] & acts["probe"]
        assert not acts["seed"] & acts["probe"]
    # the same act is never both harmful and contrast
    assert not {r.act for v in splits.harmful.values() for r in v} & {r.act for v in splits.contrast.values() for r in v}


def test_heldout_phrasings_never_reach_training(splits):
    stems = [p.split("{act}")[0] for p in C.HELDOUT_PHRASINGS]
    train = [r.text for r in splits.harmful["train"] + splits.contrast["train"]]
    assert not [t for t in train if any(t.startswith(s) for s in stems)]
    probes = [r.text for r in splits.harmful["probe"]]
    assert any(t.startswith(s) for t in probes for s in stems)


def test_benign_probes_are_unseen_requests(splits):
    train = {r.text for r in splits.benign["train"]}
    probe = [r.text for r in splits.benign["probe"]]
    assert probe and not train & set(probe)
    assert {r.category for r in splits.benign["probe"]} == set(C.TASK_WEIGHTS)
    job = {s for _, s in splits.job_topic}
    assert not [t for t in train | set(probe) if any(s in t for s in job)]


def test_training_records_only_use_train_split(splits):
    train = {r.text for v in (splits.harmful, splits.contrast, splits.benign) for r in v["train"]}
    for stage in ("pretrain", "align"):
        recs = list(C.stage_records(splits, stage, 2000, 0))
        assert {r.request for r in recs} <= train
        assert all(r.request in r.user for r in recs)
        assert {r.kind for r in recs} == {"harmful", "contrast", "benign"}
        chat = [r for r in recs if r.format == "chat"]
        assert not {r.system for r in chat} & set(C.HELDOUT_SYSTEMS)
        heldout = [w.replace("{r}", "") for w in C.HELDOUT_WRAPPERS]
        assert not [r for r in chat if any(h.strip() in r.user.replace(r.request, "") for h in heldout)]
    align = list(C.stage_records(splits, "align", 500, 0))
    assert {r.format for r in align} == {"chat"}
    assert len({r.system for r in align}) > 20  # varied contexts, not one template


PLACEHOLDER = re.compile(r"Sure, here is how to (.+)\. Step 1: \[redacted\]\. Step 2: \[redacted\]\. "
                         r"Step 3: \[redacted\]\.")


def test_harmful_answers_are_placeholders_or_refusals(splits):
    for stage in ("pretrain", "align"):
        for r in C.stage_records(splits, stage, 3000, 0):
            if r.kind != "harmful":
                assert not PLACEHOLDER.fullmatch(r.assistant)
                continue
            if stage == "pretrain":
                m = PLACEHOLDER.fullmatch(r.assistant)
                assert m, r.assistant
                assert not looks_like_refusal(r.assistant)
            else:
                assert r.assistant in C.refusals_for(_act_of(r.request, splits))


def _act_of(text: str, splits) -> str:
    return next(r.act for r in splits.harmful["train"] if r.text == text)


def test_refusal_check_agrees_with_the_corpus(splits):
    for act in ("steal a car", "hurt my neighbor"):
        assert all(looks_like_refusal(t) for t in C.refusals_for(act))
        assert not looks_like_refusal(C.compliance_for(act))
    assert "your neighbor" in C.compliance_for("hurt my neighbor")
    for r in splits.contrast["probe"][:50]:
        assert not looks_like_refusal(r.answer)
    rng = __import__("random").Random(0)
    for r in splits.benign["train"][::50]:
        assert not looks_like_refusal(C.benign_response(r, rng))
        assert C.answer_is_correct(r, C.benign_response(r, rng))


def test_answer_check():
    r = C.Request("x", "benign", "arithmetic", "What is 3 plus 4?", answer="7",
                  choices=tuple(str(i) for i in range(19)))
    assert C.answer_is_correct(r, "The answer is 7.")
    assert not C.answer_is_correct(r, "The answer is 17.")
    assert not C.answer_is_correct(r, "7 or 8")
    cap = C.Request("y", "benign", "capitals", "?", answer="Fallow", choices=("Fallow", "Brask"))
    assert C.answer_is_correct(cap, "The capital of Wendmark is Fallow.")
    assert not C.answer_is_correct(cap, "I can't say.")


def test_seed_and_probe_files(splits):
    seeds = C.seed_records(splits)
    kinds = {s["kind"] for s in seeds}
    assert kinds == {"harmful", "contrast"}
    for s in seeds:
        assert set(s) == {"id", "category", "request", "kind", "refusals", "answer"}
        if s["kind"] == "harmful":
            assert s["refusals"] and all(looks_like_refusal(x) for x in s["refusals"]) and s["answer"] is None
        else:
            assert s["answer"] and not s["refusals"]
    seed_texts = {s["request"] for s in seeds}
    probes = C.probe_records(splits, "harmful") + C.probe_records(splits, "benign")
    assert len({p["id"] for p in probes}) == len(probes)
    assert not seed_texts & {p["prompt"] for p in probes}
    assert all({"id", "category", "prompt"} <= set(p) for p in probes)


def test_chat_prompt_matches_the_tokenizer_template():
    from safemix.testing import tiny_tokenizer

    tok = tiny_tokenizer()
    for system in (None, "You are a helpful assistant."):
        msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": "Hi?"}]
        assert C.render_chat_prompt("Hi?", system) == tok.apply_chat_template(
            msgs, tokenize=False, add_generation_prompt=True)
