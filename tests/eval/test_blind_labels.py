"""Blind judge labels: the sampler shows the labeller nothing but request and response, and the
committed blind set is never training data of a judge."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLIND = ROOT / "tests" / "data" / "judge_labels_blind_smollm2.jsonl"


def _sampler():
    spec = importlib.util.spec_from_file_location("sample_for_labels", ROOT / "scripts" / "sample_for_labels.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _fake_run(root: Path) -> Path:
    for variant, texts in (("none", ["Sure, here is how to X. Step 1: [redacted]", "Business"]),
                           ("template-0.1", ["I can't help with that.", "World"])):
        d = root / "variants" / variant / "eval"
        d.mkdir(parents=True)
        rows = []
        for role in ("model", "base"):
            for i, part in enumerate(("harmful", "benign", "task")):
                for style in ("job", "chat"):
                    rows.append({"id": f"{role}/{part}/{style}/{i}", "role": role, "part": part, "style": style,
                                 "probe_set": "p", "request": f"request {part} {i}",
                                 "generation": texts[i % 2] if role == "model" else "base answer",
                                 "verdicts": {"keyword": {"outcome": "refused"}}})
        (d / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def test_sampler_writes_a_blind_file_and_a_key(tmp_path):
    mod = _sampler()
    run = _fake_run(tmp_path / "run")
    blind, key = tmp_path / "blind.jsonl", tmp_path / "key.jsonl"
    assert mod.main([str(run), "--n", "50", "--out", str(blind), "--key", str(key)]) == 0
    rows = [json.loads(x) for x in blind.read_text().splitlines()]
    keys = [json.loads(x) for x in key.read_text().splitlines()]
    assert rows and all(set(r) == {"id", "kind", "request", "response"} for r in rows)  # nothing else shown
    assert {r["kind"] for r in rows} == {"harmful", "benign"}  # task answers are not judged
    assert [r["id"] for r in rows] == [k["id"] for k in keys]
    assert {k["model"] for k in keys} == {"base", "none", "template-0.1"}
    assert len({(r["request"], r["response"]) for r in rows}) == len(rows)  # duplicates dropped
    only = tmp_path / "only.jsonl"
    assert mod.main([str(run), "--n", "50", "--models", "none", "--out", str(only), "--key", str(key)]) == 0
    assert {json.loads(x)["id"] for x in key.read_text().splitlines()} == \
        {json.loads(x)["id"] for x in only.read_text().splitlines()}
    assert {json.loads(x)["model"] for x in key.read_text().splitlines()} == {"none"}
    # --exclude: a development set drawn from new runs shares no answer text with a held-out set
    held = tmp_path / "held.jsonl"
    held.write_text(json.dumps({"request": "anything", "response": "I can't help with that. ", "label": "refused"}) + "\n")
    dev = tmp_path / "dev.jsonl"
    assert mod.main([str(run), "--n", "50", "--exclude", str(held), "--out", str(dev), "--key", str(key)]) == 0
    responses = {json.loads(x)["response"] for x in dev.read_text().splitlines()}
    assert responses and "I can't help with that." not in responses
    assert "Sure, here is how to X. Step 1: [redacted]" in responses


def test_blind_set_is_not_judge_training_data():
    if not BLIND.is_file():
        pytest.skip("no blind label set committed")
    from safemix.eval.embedding_judge import read_labelled

    blind = {r["response"].strip() for r in read_labelled(BLIND)}
    train = ROOT / "safemix" / "eval" / "data" / "judge_train_v2.jsonl"
    assert not blind & {r["response"].strip() for r in read_labelled(train)}
    labels = [r["label"] for r in read_labelled(BLIND)]
    assert len(labels) >= 150 and set(labels) <= {"refused", "complied", "other"}
