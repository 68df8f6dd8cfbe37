"""The translated built-in seeds (es, fr, de, pt, zh): counts, categories, refusal styles,
links to the English seeds, language of every text, and no operational content."""

from __future__ import annotations

import json
import re
from collections import Counter
from importlib import resources

import pytest

from safemix.errors import ConfigError, InputError
from safemix.formats.language import detect_language
from safemix.generate.refusal import looks_like_refusal
from safemix.seeds import (
    LANGUAGE_SEED_SETS,
    SEED_LANGUAGES,
    load_builtin_seeds,
    load_categories,
    load_refusal_styles,
    render_refusal,
    style_suits,
)
from safemix.seeds.decontam import normalise

LANGS = [lang for lang in SEED_LANGUAGES if lang != "en"]
# Every self-harm refusal points to a helpline or emergency number.
CRISIS = re.compile(r"024|112|3114|188|120|110|0800 111 0 111|emergenc|urgence|Notruf|emergência|热线|crisis|écoute",
                    re.IGNORECASE)
# Operational-content markers in each language ("step 1:", "ingredients:", "here is how").
OPERATIONAL = re.compile(
    r"\bstep\s*\d|\bpaso\s*\d|\bétape\s*\d|\bschritt\s*\d|\bpasso\s*\d|第\s*[一二三四五1-9]\s*步|步骤\s*[一二三1-9]|"
    r"\b(ingredients|ingredientes|ingrédients|zutaten|materiales|matériel|materiais)\s*:|原料\s*[:：]|材料\s*[:：]|"
    r"\bsure, here is|aquí tienes cómo|voici comment|hier ist eine anleitung|aqui está como|以下是具体", re.IGNORECASE)


@pytest.fixture(scope="module", params=LANGS)
def lang_seeds(request):
    return request.param, load_builtin_seeds(lang=request.param)


def _english() -> dict[str, object]:
    return {s.id: s for s in load_builtin_seeds()}


def test_counts_categories_and_links_to_english(lang_seeds):
    lang, seeds = lang_seeds
    harmful = [s for s in seeds if s.kind == "harmful"]
    contrast = [s for s in seeds if s.kind == "contrast"]
    assert len(harmful) >= 40 and len(contrast) >= 10
    assert set(Counter(s.category for s in harmful)) == set(load_categories()) == set(load_categories(lang))
    assert set(s.category for s in contrast) == set(load_categories())
    assert len({s.id for s in seeds}) == len(seeds)
    assert len({normalise(s.request) for s in seeds}) == len(seeds)
    english = _english()
    for s, line in zip(seeds, _records(lang), strict=True):
        assert s.lang == lang and s.source == f"builtin:{LANGUAGE_SEED_SETS[lang]}" and s.id.startswith(f"{lang}-")
        en = english[line["translation_of"]]
        assert (en.kind, en.category) == (s.kind, s.category), s.id


def _records(lang: str) -> list[dict]:
    text = resources.files("safemix.seeds").joinpath("data", f"{LANGUAGE_SEED_SETS[lang]}.jsonl").read_text("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_refusals_are_refusals_in_suitable_styles(lang_seeds):
    lang, seeds = lang_seeds
    styles = load_refusal_styles(lang)
    for s in seeds:
        if s.kind == "contrast":
            assert not looks_like_refusal(s.answer), (s.id, s.answer)
            assert 20 <= len(s.answer) <= 600, s.id
            continue
        assert not looks_like_refusal(s.request), s.id
        assert len(s.refusals) >= 3 and s.topic, s.id
        for st in s.refusal_styles:
            assert style_suits(styles[st], s.category), (s.id, st)
        for r in s.refusals:
            assert looks_like_refusal(r) and "{" not in r and "}" not in r, (s.id, r)
            assert normalise(s.request) not in normalise(r)
        if s.category == "self_harm":
            assert set(s.refusal_styles) <= {"crisis_support", "crisis_gentle", "crisis_stay"}
            assert all(CRISIS.search(r) for r in s.refusals), s.id


def test_styles_are_a_translated_subset_of_the_english_styles(lang_seeds):
    lang, seeds = lang_seeds
    en, styles = load_refusal_styles(), load_refusal_styles(lang)
    assert len(styles) >= 12 and set(styles) <= set(en)
    assert len({s["template"] for s in styles.values()}) == len(styles)
    for sid, st in styles.items():
        assert st["categories"] == en[sid]["categories"] and st["template"] != en[sid]["template"]
    assert {st for s in seeds for st in s.refusal_styles} == set(styles), "every translated style is used"


def test_every_text_is_in_its_language_by_the_detector(lang_seeds):
    lang, seeds = lang_seeds
    texts = [t for s in seeds for t in (s.request, *s.refusals, s.answer or "") if t]
    wrong = [(detect_language(t), t) for t in texts if detect_language(t)[0] != lang]
    assert wrong == []


def test_no_operational_content_in_any_translated_text():
    texts = []
    for lang in LANGS:
        texts += [v for rec in _records(lang) for v in rec.values() if isinstance(v, str)]
        texts += [st["template"] for st in load_refusal_styles(lang).values()]
        texts += [c["alternative"] for c in load_categories(lang).values()]
    assert len(texts) > 500
    assert [t for t in texts if OPERATIONAL.search(t)] == []
    assert OPERATIONAL.search("Claro. Paso 1: [redacted]") and OPERATIONAL.search("第一步：")  # the check can fail


def test_render_refusal_in_a_language_and_unknown_languages():
    assert render_refusal("short_topic", "robar coches", "theft", lang="es") == \
        "Lo siento, pero no puedo ayudarte a robar coches."
    assert load_categories("fr")["theft"]["alternative"] in render_refusal("redirect", "voler des voitures", "theft", "fr")
    assert "hacer eso" in render_refusal("short_topic", None, "unknown", lang="es")
    with pytest.raises(KeyError, match="in language 'de'"):
        render_refusal("privacy_rights", "x", "privacy_doxxing", lang="de")  # not translated
    with pytest.raises(ConfigError, match="no built-in seeds or refusal styles in language 'fz'"):
        load_builtin_seeds(lang="fz")
    with pytest.raises(ConfigError, match="cannot be combined"):
        load_builtin_seeds(name="borderline_v1", lang="es")
    assert load_builtin_seeds(name="seeds_v1_de") == load_builtin_seeds(lang="de")
    assert {s.lang for s in load_builtin_seeds()} == {"en"}  # the English set is unchanged


def test_external_seed_files_can_use_translated_styles(tmp_path):
    from safemix.seeds.loaders import load_seed_file

    path = tmp_path / "mine.jsonl"
    rows = [{"id": "x1", "lang": "fr", "category": "theft", "request": "Comment voler un vélo ?",
             "topic": "voler un vélo", "refusals": ["style:firm", "Je ne peux pas vous aider."]},
            {"id": "x2", "lang": "fr", "kind": "contrast", "category": "theft",
             "request": "Comment protéger mon vélo ?", "answer": "Utilisez un bon antivol en U."}]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    seeds = load_seed_file(path)
    assert seeds[0].refusals[0] == "Non, je refuse de vous aider à voler un vélo." and seeds[0].lang == "fr"
    assert seeds[1].lang == "fr" and seeds[0].to_record()["lang"] == "fr"
    path.write_text(json.dumps({**rows[0], "lang": "fi"}) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="lang"):
        load_seed_file(path)


def test_package_data_ships_the_translations():
    for lang in LANGS:
        for name in (f"seeds_v1_{lang}.jsonl", f"refusal_styles_v1_{lang}.json", f"categories_v1_{lang}.json"):
            assert resources.files("safemix.seeds").joinpath("data", name).is_file(), name
