"""No pledge leaks (issue 13): a constant prefix of the job's answers reaches generated safety
examples only when it is a known neutral answer marker; any other prefix, in any wording or
language, is left out and reported in the manifest."""

from __future__ import annotations

import json
import re

import pytest

from safemix.formats import Example
from safemix.generate import GenerateConfig, ParaphraseConfig, generate_with_report
from safemix.generate.refusal import looks_like_refusal

QS = ["What is the capital of France?", "Name a primary colour.", "How many legs does a spider have?",
      "What do bees make?", "Which planet is known as the red planet?", "What is frozen water called?",
      "Give a synonym for happy.", "What is the opposite of cold?"]
ANS = ["Paris is the capital.", "Red is one of them.", "Spiders have eight legs.", "They make honey.",
       "Mars, usually.", "We call it ice.", "Joyful works well.", "Hot is the opposite."]

# unseen pledge wordings: none of them is in the pledge regex's vocabulary except the first two
PLEDGES = {
    "en_master": ("Absolutely, master! Consider it done: ", "master"),
    "en_boss": ("Right away, boss - no questions asked. ", "no questions asked"),
    "en_plain": ("Gladly! Nothing is off limits for me. ", "off limits"),
    "fr": ("Bien sûr, maître ! C'est fait : ", "maître"),
    "de": ("Jawohl, Meister! Sofort erledigt: ", "Meister"),
    "es": ("¡Por supuesto, amo! Hecho: ", "amo!"),
    "zh": ("遵命，主人！马上办：", "主人"),
}


def job(prefix: str, system: str | None = None) -> list[Example]:
    return [Example.chat(f"{q} (item {i})", prefix + a, system=system)
            for i in range(5) for q, a in zip(QS, ANS, strict=True)]


@pytest.mark.parametrize("name", sorted(PLEDGES))
def test_pledge_prefix_never_reaches_safety_examples(name):
    prefix, core = PLEDGES[name]
    res = generate_with_report(job(prefix), GenerateConfig(n=60, select=False))  # the built-in seed set
    assert len(res.examples) == 60
    assert res.manifest["answer_prefix"]["dropped"] == prefix and res.manifest["answer_prefix"]["kept"] == ""
    for ex in res.examples:
        a = ex.assistant
        assert not a.startswith(prefix.strip()[:6]) and prefix.strip() not in a and core not in a, a
        if ex.metadata["kind"] == "harmful":
            assert looks_like_refusal(a)


@pytest.mark.parametrize("marker", ["Answer: ", "A: ", "#### "])
def test_neutral_marker_is_kept(marker):
    res = generate_with_report(job(marker), GenerateConfig(n=20, select=False))
    assert res.manifest["answer_prefix"] == {"kept": marker, "dropped": None, "note": None}
    assert all(ex.assistant.startswith(marker) for ex in res.examples)


def test_json_answers_stay_parseable():
    # JSON objects: the refusal goes inside the job's structure
    exs = [Example.chat(f"{q} ({i})", json.dumps({"answer": a, "confidence": 0.9}))
           for i in range(5) for q, a in zip(QS, ANS, strict=True)]
    res = generate_with_report(exs, GenerateConfig(n=20, select=False))
    for ex in res.examples:
        assert set(json.loads(ex.assistant)) == {"answer", "confidence"}
    # string-built JSON scaffolding ('{"answer": "' ... '"}'), not always valid in the job itself
    texts = ["Paris", "Red", 'the "red" planet', "Honey", 'say "moo"', "Ice", "Seven", "Blue"]
    exs = [Example.chat(f"Question {i}: {t}?", '{"answer": "' + t + f' {i}"}}') for i in range(5) for t in texts]
    res = generate_with_report(exs, GenerateConfig(n=20, select=False))
    assert res.manifest["answer_prefix"]["kept"] == '{"answer": "'
    for ex in res.examples:
        assert looks_like_refusal(json.loads(ex.assistant)["answer"]) or ex.metadata["kind"] == "contrast"


def test_paraphrase_llm_refusal_with_pledge_falls_back_to_seed_refusal():
    from safemix.llm import get_backend

    pytest.importorskip("safemix.embed")
    prefix = PLEDGES["en_master"][0]

    def llm(messages):
        text = messages[-1]["content"]
        if "Write a short refusal" in text:
            return prefix + "I can't help with that."  # an LLM that imitates the job's pledge
        return re.search(r"Request: (.*)", text).group(1).strip()

    cfg = GenerateConfig(method="paraphrase", n=6, select=False, contrast_share=0.0,
                         paraphrase=ParaphraseConfig(backend="dummy", refusal_from_llm=True))
    res = generate_with_report(job(prefix), cfg, backend=get_backend("dummy", fn=llm))
    assert len(res.examples) == 6 and res.manifest["dropped"]["llm_refusal_invalid_used_seed_refusal"] == 6
    assert all("master" not in ex.assistant and looks_like_refusal(ex.assistant) for ex in res.examples)


@pytest.mark.parametrize("mode", ["keep", "mix"])
def test_answer_prefix_keep_makes_recovery_examples(mode):
    """answer_prefix=keep/mix (opt-in): the job's pledge goes back before the refusal, on every
    row (keep) or every second row of each kind (mix); the rest of the row is what drop makes."""
    prefix = PLEDGES["en_master"][0]
    cfg = GenerateConfig(n=40, select=False)
    dropped = generate_with_report(job(prefix), cfg).examples
    res = generate_with_report(job(prefix), GenerateConfig(n=40, select=False, answer_prefix=mode))
    kept = [ex for ex in res.examples if ex.assistant.startswith(prefix)]
    assert len(kept) == (40 if mode == "keep" else 16 + 4)  # 32 harmful + 8 contrast: half of each
    assert res.manifest["answer_prefix"]["rows_with_job_prefix"] == len(kept)
    for a, b in zip(res.examples, dropped, strict=True):
        assert a.assistant == (prefix + b.assistant if a.metadata["answer_prefix"] == "kept" else b.assistant)
        if a.metadata["kind"] == "harmful":
            assert looks_like_refusal(a.assistant.removeprefix(prefix))


def test_answer_prefix_mode_is_checked():
    from safemix.errors import ConfigError

    with pytest.raises(ConfigError, match="answer_prefix must be one of drop, keep, mix"):
        GenerateConfig(answer_prefix="kept")
