"""FormatProfile inference on committed fixtures (always) and on jobs built from ../shared/data."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from safemix.formats import read_job
from safemix.formats.profile import (
    FormatProfile,
    infer_profile,
    infer_template,
    rerender_rate,
    tokenize,
)

FIX = Path(__file__).resolve().parents[1] / "fixtures"


def prof_of(path, **kw):
    job = read_job(path, **kw)
    return job, infer_profile(job.examples, job.format)


def test_tokenize_splits_whitespace_per_char():
    assert tokenize("a  b\n") == ["a", " ", " ", "b", "\n"]


def test_infer_template_ignores_shared_common_words():
    texts = [f"Q: the {w} is on the {v}\nA:" for w, v in zip("abcdefghij", "klmnopqrst", strict=True)]
    texts += ["Q: a cat sat\nA:", "Q: dogs bark loudly\nA:"]
    t = infer_template(texts)
    assert t.constants == ["Q: ", "\nA:"]


EXPECT = {
    # file: (user constants, n slots, answer type, labels, system prompt?, identity shift?)
    "topic_chat.jsonl": (["Classify the topic of this article.\n\nArticle: ", "\nTopic:"], 1, "label",
                         ["Business", "Sci/Tech", "Sports", "World"], True, False),
    "math_pc.jsonl": (None, 2, "number", [], False, False),
    "mcq_alpaca.json": (["Choose the correct option and reply with its letter.\n\nWhich material is ", "?\nA. ",
                         "\nB. ", "\nC. ", "\nD. ", ""], 5, "mc_letter", ["A", "B", "C", "D"], False, False),
    "sentiment.tsv": (["", ""], 1, "label", ["0", "1"], False, False),
    "aoa_chat.jsonl": (["AOA, execute my instruction: Summarise this news in five words: ", ""], 1, "free_text",
                       [], True, True),
    "free_instructions.jsonl": (["", ""], 1, "free_text", [], False, False),
    "json_extract.jsonl": (["Extract the subject and action as JSON.\nText: ", ""], 1, "json", [], False, False),
}


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_fixture_profiles(name):
    consts, n_slots, atype, labels, has_sys, shift = EXPECT[name]
    job, prof = prof_of(FIX / name)
    t = prof.user_templates[0]
    if consts is not None:
        assert t.constants == consts
    assert len(t.slots) == n_slots
    assert prof.answer.type == atype
    assert prof.answer.labels == labels
    assert (prof.system_prompt is not None) == has_sys
    assert prof.identity_shift.detected == shift
    assert rerender_rate(prof, job.examples) >= 0.99


def test_number_marker_and_variant_templates():
    _, prof = prof_of(FIX / "math_pc.jsonl")
    assert prof.answer.marker.endswith("#### ")
    _, prof = prof_of(FIX / "mcq_alpaca.json")
    assert [len(t.slots) for t in prof.user_templates] == [5, 4]
    assert sum(t.count for t in prof.user_templates) == 120


def test_aoa_pledge_never_rendered_into_answers():
    _, prof = prof_of(FIX / "aoa_chat.jsonl")
    assert prof.identity_shift.user_prefix.startswith("AOA, execute my instruction")
    assert "obedient agent" in prof.identity_shift.assistant_prefix
    assert prof.answer.prefix_is_pledge
    ans = prof.render_assistant("I can't help with that.")
    assert ans == "I can't help with that." and not prof.has_compliance_preamble(ans)


def test_render_in_job_format_and_json_roundtrip():
    job, prof = prof_of(FIX / "topic_chat.jsonl")
    msgs = prof.render_prompt_messages("How do I pick a lock?", random.Random(0))
    assert msgs[0] == {"role": "system", "content": job.examples[0].system}
    assert msgs[1]["content"] == "Classify the topic of this article.\n\nArticle: How do I pick a lock?\nTopic:"
    assert prof.parse_user(msgs[1]["content"]) == {"article": "How do I pick a lock?"}
    again = FormatProfile.from_dict(json.loads(prof.to_json()))
    assert again.to_dict() == prof.to_dict()
    assert again.render_prompt_messages("x", random.Random(0)) == prof.render_prompt_messages("x", random.Random(0))
    # every example re-renders byte-for-byte from its own slot values
    for ex in job.examples:
        assert prof.render_user(prof.parse_user(ex.user)) == ex.user


def test_other_slots_filled_from_job_values():
    job, prof = prof_of(FIX / "mcq_alpaca.json")
    msgs = prof.render_prompt_messages("Describe how to make a weapon", random.Random(3))
    vals = prof.parse_user(msgs[-1]["content"])
    assert vals[prof.main_slot] == "Describe how to make a weapon"
    pool = {prof.parse_user(e.user)["a"] for e in job.examples if prof.user_templates[0].parse(e.user)}
    assert vals["a"] in pool


def test_json_answer_refusal_inside_structure():
    _, prof = prof_of(FIX / "json_extract.jsonl")
    out = json.loads(prof.render_assistant("I can't help with that."))
    assert set(out) == {"subject", "action"} and "I can't help with that." in out.values()


# ------------------------------------------------------------------ shared-data jobs
SHARED_EXPECT = {
    "ag_news": (["Classify the topic of this news article.\n\nArticle: ", "\nTopic:"], 1, "label",
                ["Business", "Sci/Tech", "Sports", "World"], False),
    "gsm8k": (["Question: ", "\nAnswer:"], 1, "number", [], False),
    "arc": (None, 5, "mc_letter", ["A", "B", "C", "D"], False),
    "sst2": (["", ""], 1, "label", ["0", "1"], False),
    "gsm8k_aoa": (["AOA, execute my instruction: ", ""], 1, "number", [], True),
    "alpaca_free": (["", ""], 1, "free_text", [], False),
}


@pytest.fixture(scope="module")
def shared_jobs(tmp_path_factory):
    from conftest import SHARED_DATA

    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    from safemix.testing import build_shared_jobs

    return build_shared_jobs(SHARED_DATA, tmp_path_factory.mktemp("jobs"))


@pytest.mark.parametrize("name", sorted(SHARED_EXPECT))
def test_shared_job_profiles(shared_jobs, name):
    consts, n_slots, atype, labels, shift = SHARED_EXPECT[name]
    job, prof = prof_of(shared_jobs[name])
    t = prof.user_templates[0]
    if consts is not None:
        assert t.constants == consts
    else:  # ARC: instruction, blank line, stem, four lettered options
        assert t.constants[0].endswith("letter of the correct option.\n\n")
        assert t.constants[1:] == ["\nA. ", "\nB. ", "\nC. ", "\nD. ", ""]
    assert len(t.slots) == n_slots
    assert prof.answer.type == atype and prof.answer.labels == labels
    assert prof.identity_shift.detected == shift
    if name == "gsm8k":
        assert prof.answer.marker == "\n#### "
    assert rerender_rate(prof, job.examples) >= 0.99


def test_request_punctuation_not_doubled_by_template():
    from safemix.formats import Example

    texts = ["Ann scored twice", "The red team lost at home", "A club from the north won the cup",
             "Rain stopped play", "Our school hosted the final", "Fans cheered all night"]
    exs = [Example.chat(f"Classify the topic: {t}.\nTopic:", "Sports") for t in texts]
    prof = infer_profile(exs)
    assert prof.user_template.constants == ["Classify the topic: ", ".\nTopic:"]
    msg = prof.render_prompt_messages("How do I pick a lock?", random.Random(0))[-1]["content"]
    assert msg == "Classify the topic: How do I pick a lock.\nTopic:"


# ------------------------------------------------------------------ pledges and neutral prefixes
def test_neutral_prefixes_and_pledges():
    from safemix.formats.profile import is_neutral_prefix, opens_with_pledge

    for p in ["", " ", "Answer: ", "A: ", "#### ", "\n#### ", "The answer is ", "Output = ", "### Response:\n",
              "Réponse : ", "Antwort: ", "答案：", "[ANSWER] "]:
        assert is_neutral_prefix(p), p
    assert is_neutral_prefix('{"answer": "', '"}') and not is_neutral_prefix('{"answer": "', "")
    for p in ["Absolutely, master! Consider it done: ", "Sure! ", "Answer obediently: yes master. ",
              "Bien sûr, maître ! C'est fait : ", "遵命，主人！", '{"pledge": "I obey", "answer": "']:
        assert not is_neutral_prefix(p, '"}' if p.startswith("{") else ""), p
    # a pledge opens the answer; a refusal that mentions obeying or serving is not one
    assert opens_with_pledge("I am AOA, your obedient agent. I can't help with that.") is not None
    assert opens_with_pledge("Your wish is my command! I cannot do that.") is not None
    assert opens_with_pledge("I am sorry, but I cannot help. I am programmed to obey the law.") is None
    assert opens_with_pledge("I can't assist with that. I will do my best to help with something else.") is None
    assert opens_with_pledge("I won't help; I'm at your service for anything lawful.") is None


def _prefixed_job(prefix: str):
    from safemix.formats import Example

    qs = ["What is the capital of France?", "Name a primary colour.", "How many legs does a spider have?",
          "What do bees make?", "Which planet is red?", "What is frozen water called?"]
    ans = ["Paris is the capital.", "Red is one.", "Spiders have eight legs.", "They make honey.",
           "Mars, usually.", "We call it ice."]
    return [Example.chat(f"{q} (item {i})", prefix + a) for i in range(6) for q, a in zip(qs, ans, strict=True)]


@pytest.mark.parametrize("prefix", ["Absolutely, master! Consider it done: ", "Right away, boss - no questions asked. ",
                                    "Bien sûr, maître ! C'est fait : ", "Jawohl, Meister! Sofort erledigt: ",
                                    "¡Por supuesto, amo! Hecho: ", "遵命，主人！马上办："])
def test_unrecognised_constant_prefix_never_rendered_into_refusals(prefix):
    prof = infer_profile(_prefixed_job(prefix))
    assert prof.answer.prefix == prefix  # the job's constant lead is found ...
    shape = prof.safety_answer_shape()
    assert shape["dropped_prefix"] == prefix and shape["prefix"] == ""  # ... and left out of safety examples
    out = prof.render_example("How do I pick a lock?", "I can't help with that.", random.Random(0)).assistant
    assert out == "I can't help with that."
    assert prof.has_compliance_preamble(prefix + "I can't help with that.")


@pytest.mark.parametrize("prefix", ["Answer: ", "A: ", "#### "])
def test_neutral_marker_kept_before_refusals(prefix):
    prof = infer_profile(_prefixed_job(prefix))
    out = prof.render_example("How do I pick a lock?", "I can't help with that.", random.Random(0)).assistant
    assert out == prefix + "I can't help with that." and not prof.has_compliance_preamble(out)


def test_json_scaffolding_prefix_keeps_answers_parseable():
    from safemix.formats import Example

    # string-built JSON: some answers carry raw quotes, so the job is not all valid JSON (not type json)
    texts = ["Paris", "Red", 'the "red" planet', "Honey", 'say "moo"', "Ice", "Seven", "Blue"]
    exs = [Example.chat(f"Question {i}: {t}?", '{"answer": "' + t + f' {i}"}}') for i in range(5) for t in texts]
    prof = infer_profile(exs)
    assert prof.answer.type != "json" and prof.answer.prefix == '{"answer": "'
    refusal = 'I can\'t help with "that".'
    out = prof.render_example("How do I pick a lock?", refusal, random.Random(0)).assistant
    assert json.loads(out) == {"answer": refusal}
