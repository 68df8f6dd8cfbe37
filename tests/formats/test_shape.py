"""Conversation shape, free-text slot choice and structured refusal shapes (issue 14), unit level."""

from __future__ import annotations

import json

from safemix.formats.example import Example
from safemix.formats.profile import FormatProfile, Template, choose_main_slot, infer_profile
from safemix.formats.shape import choose_request_turn, infer_shape, variation_score
from safemix.formats.structured import (
    error_convention,
    fits_schema,
    infer_json_schema,
    refusal_object,
    refusal_plan,
)


def chat(*turns: str, **weights: int) -> Example:
    msgs = [{"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(turns)]
    for k, w in weights.items():
        msgs[int(k[1:])]["weight"] = w
    return Example(msgs)


def test_variation_score_prefers_varied_sentences_over_fill_ins():
    fills = ["Lyon", "Porto", "Lyon", "Graz"] * 5
    sentences = [f"Why does the {w} river flood every {m} after rain" for w in "abcde" for m in ("May", "June", "July", "Fall")]
    assert variation_score(sentences) > variation_score(fills) > 0
    assert variation_score(["same words"] * 10) == 0.0
    assert variation_score(["你好世界", "今天天气很好"]) > 0  # CJK counts per character


def test_request_turn_is_the_varying_one_from_the_end_or_the_start():
    qs = ["What is the capital of France", "Name a bird that cannot fly", "Why is the sky blue at noon",
          "How many legs does a spider have", "Who wrote the first dictionary"]
    last = [chat(f"Remember {i}.", "Noted.", q, "An answer.") for i, q in enumerate(qs * 4)]
    assert choose_request_turn(last)[0] == -1
    first = [chat(q, "An answer.", "Thanks!", "Welcome.") for q in qs * 4]
    turn, scores = choose_request_turn(first)
    assert turn in (-2, 0) and scores[-1] == 0.0
    assert choose_request_turn([chat("hi", "hello")])[0] == -1


def test_weights_policy_and_contexts():
    rows = [chat(f"Remember {i}.", "Noted.", f"Question number {i} about topic {i * 7}", "Answer.", a1=0, a3=1)
            for i in range(12)]
    shape = infer_shape(rows)
    assert (shape.context_weight, shape.answer_weight, shape.weights) == (0, 1, "final_only")
    assert len(shape.contexts) == 12 and all(not any("weight" in m for m in c) for c in shape.contexts)
    assert infer_shape([chat("a b c", "x")]).contexts == []  # single-turn: no contexts, nothing changes


def test_old_profile_without_shape_loads_as_single_turn():
    d = infer_profile([chat(f"Question {i}: why {i}?", "Because.") for i in range(10)]).to_dict()
    d.pop("shape"), d.pop("slot_scores")
    d["answer"].pop("json_schema"), d["answer"].pop("json_refusal")
    prof = FormatProfile.from_dict(d)
    assert prof.shape.request_turn == -1 and not prof.shape.contexts


def test_field_run_merges_only_a_whole_field():
    t = Template(["Text: ", " is ", " years old.\nAnswer:"], ["text", "age"])
    parsed = [{"text": n, "age": str(a)} for n, a in zip(["Ana", "Bo", "Cy", "Di"] * 5, range(20, 40), strict=True)]
    merged, main, scores = choose_main_slot(t, parsed)
    assert merged.constants == ["Text: ", ".\nAnswer:"] and main == "text" and "text+age" in scores
    assert merged.parse("Text: Ana is 20 years old.\nAnswer:") == {"text": "Ana is 20 years old"}
    # a run that sits inside a sentence ("Sam has {n} marbles and finds {m} more") is no field
    t2 = Template(["Question: Sam has ", " marbles and finds ", " more. How many?"], ["n", "m"])
    p2 = [{"n": str(i), "m": str(i * 3)} for i in range(20)]
    assert choose_main_slot(t2, p2)[0] is t2


def test_structured_refusal_stays_valid():
    answers = [json.dumps({"name": n, "age": a, "tags": ["x"]}) for n, a in [("Ana", 3), ("Bo", 4)] * 5]
    schema = infer_json_schema(answers)
    plan = refusal_plan(schema, ["name", "age", "tags"])
    out = refusal_object(plan, "I can't help with that.")
    assert json.loads(out) == {"name": "I can't help with that.", "age": None, "tags": []}
    assert fits_schema(out, schema)
    assert not fits_schema('{"name": "a"}', schema)  # a common key missing
    assert not fits_schema('{"name": "a", "age": "3", "tags": []}', schema)  # wrong type
    assert not fits_schema('{"name": "a", "age": 3, "tags": [], "extra": 1}', schema)
    assert error_convention(answers, schema) is None
    # a key named like free text wins over the longest field
    s2 = infer_json_schema([json.dumps({"label": "positive sentiment here", "answer": "ok"})] * 3)
    assert refusal_plan(s2, ["label", "answer"])["key"] == "answer"


def test_template_words_before_the_slots_are_no_field():
    t = Template(["Translate ", " into ", ""], ["a", "b"])
    langs = ["French", "German", "Polish", "Greek", "Czech"]
    parsed = [{"a": x, "b": y} for x in langs for y in langs]
    assert choose_main_slot(t, parsed)[0] is t
    t2 = Template(["", " is ", " years old."], ["name", "age"])  # the whole turn is one sentence
    p2 = [{"name": n, "age": str(a)} for n, a in zip(["Ana", "Bo", "Cy", "Di"] * 5, range(20, 40), strict=True)]
    assert choose_main_slot(t2, p2)[0].constants == ["", "."]
