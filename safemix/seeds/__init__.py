"""Safety seeds: harmful requests with refusals, and benign-but-sensitive contrast requests.

The project ships its own seed set (written for safemix, not copied from any dataset):

    >>> seeds = load_builtin_seeds("harmful")
    >>> seeds[0].category, seeds[0].kind
    ('weapons', 'harmful')
    >>> import random
    >>> seeds[0].response(random.Random(0))
    "I can't help with that."

Files (package data, versioned by the `_v1` suffix and their `version` fields):

- `data/seeds_v1.jsonl`: one seed a line. Harmful seeds carry a `topic` (a short gerund
  phrase such as "breaking into someone's home") and `refusals` that name refusal styles
  (`"style:<id>"`) or give literal refusal text. Contrast seeds carry an `answer`.
- `data/refusal_styles_v1.json`: refusal templates with `{topic}` and `{alternative}` slots,
  and the categories each style suits (self-harm only gets the crisis-support styles).
- `data/categories_v1.json`: the harm categories, each with a description and the safe
  `alternative` help a redirecting refusal offers.
- `data/borderline_v1.jsonl`: borderline-but-safe requests (violent words in harmless senses,
  idioms, safe targets and contexts, definitions, history, public and fictional "private"
  facts) with short helpful answers, all contrast seeds; categories name the kind of
  borderline prompt, not a harm category. Load it with `load_builtin_seeds(name="borderline_v1")`.
- `data/borderline_v2.jsonl`: 180 more of the same kind (ids `bl-0201`...), in the categories where
  the aligned SmolLM2 still over-refused plus fictional characters' "private" data and
  discrimination questions with a nonsensical premise (`name="borderline_v2"`).
- `data/borderline_v3.jsonl`: 180 more (ids `bl-0381`...), in the types the aligned SmolLM2 still
  over-refused after v2, plus everyday tasks with strong verbs and public contact information
  (`name="borderline_v3"`).

Other languages (`SEED_LANGUAGES`): `data/seeds_v1_<lang>.jsonl` (same schema, plus `lang` and
`translation_of`, the English seed's id) are project-written translations of a subset of the
English seeds, with refusal styles and category alternatives in `refusal_styles_v1_<lang>.json`
and `categories_v1_<lang>.json`. `load_builtin_seeds(lang="es")` loads one; a record's `lang`
picks the style file its `style:` refusals are rendered from.

External seed files (Alpaca JSON, CSV, `datasets` folders, this JSONL schema) are read by
`safemix.seeds.loaders.load_seed_file`.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from safemix.config import did_you_mean
from safemix.errors import ConfigError, InputError

SEED_SET_VERSION = 1
SEEDS_FILE = f"seeds_v{SEED_SET_VERSION}.jsonl"
STYLES_FILE = f"refusal_styles_v{SEED_SET_VERSION}.json"
CATEGORIES_FILE = f"categories_v{SEED_SET_VERSION}.json"
# Built-in seed sets by name (file stem); `load_builtin_seeds(name=...)` picks one.
DEFAULT_SEED_SET = SEEDS_FILE.removesuffix(".jsonl")
BORDERLINE_SEED_SET = "borderline_v1"
# The borderline sets in the order the smollm2 testbed takes their rows (`seed_borderline`).
BORDERLINE_SEED_SETS = (BORDERLINE_SEED_SET, "borderline_v2", "borderline_v3")
# Languages with built-in seeds (ISO 639-1); the others are translations of a subset of the English set.
SEED_LANGUAGES = ("en", "es", "fr", "de", "pt", "zh")
LANGUAGE_SEED_SETS = {lang: f"{DEFAULT_SEED_SET}_{lang}" for lang in SEED_LANGUAGES if lang != "en"}
BUILTIN_SEED_SETS = (DEFAULT_SEED_SET, *BORDERLINE_SEED_SETS, *LANGUAGE_SEED_SETS.values())
SEED_KINDS = ("harmful", "contrast")
STYLE_PREFIX = "style:"
# What a refusal template says when a seed has no topic or an unknown category.
FALLBACK_TOPIC = "this request"
FALLBACK_ALTERNATIVE = "a related question that is safe"


@dataclass
class Seed:
    """One seed: a harmful request with refusals, or a contrast request with a helpful answer."""

    id: str
    category: str
    request: str
    kind: str  # "harmful" | "contrast"
    refusals: list[str] = field(default_factory=list)  # rendered refusal texts (harmful seeds)
    answer: str | None = None  # helpful answer (contrast seeds)
    source: str = f"builtin:v{SEED_SET_VERSION}"
    topic: str | None = None
    refusal_styles: list[str] = field(default_factory=list)  # style ids behind `refusals`, if any
    lang: str = "en"  # language of the request and responses (ISO 639-1)

    def response(self, rng: random.Random) -> str:
        """The assistant turn for this seed: a refusal picked with `rng`, or the answer.

        Deterministic for a given rng state, so generation is reproducible.
        """
        if self.kind == "harmful":
            if not self.refusals:
                raise InputError("harmful seed has no refusal", path=self.source, field=f"{self.id}.refusals")
            return self.refusals[rng.randrange(len(self.refusals))]
        if not self.answer:
            raise InputError("contrast seed has no answer", path=self.source, field=f"{self.id}.answer")
        return self.answer

    def to_record(self) -> dict[str, Any]:
        """A JSON record in the seed-file schema, with refusals rendered as text."""
        rec: dict[str, Any] = {"id": self.id, "kind": self.kind, "category": self.category,
                               "request": self.request}
        if self.kind == "harmful":
            rec["refusals"] = list(self.refusals)
        else:
            rec["answer"] = self.answer
        if self.topic:
            rec["topic"] = self.topic
        if self.lang != "en":
            rec["lang"] = self.lang
        rec["source"] = self.source
        return rec


def _data_text(name: str) -> str:
    return resources.files("safemix.seeds").joinpath("data", name).read_text(encoding="utf-8")


def _lang_file(name: str, lang: str) -> str:
    """`categories_v1.json` for English, `categories_v1_es.json` for Spanish; ConfigError if absent."""
    if lang == "en":
        return name
    if lang not in SEED_LANGUAGES:
        hint = did_you_mean(lang, SEED_LANGUAGES)
        raise ConfigError(f"no built-in seeds or refusal styles in language {lang!r}{hint}; "
                          f"languages: {', '.join(SEED_LANGUAGES)}")
    stem, ext = name.rsplit(".", 1)
    return f"{stem}_{lang}.{ext}"


@cache
def _lang_data(name: str, lang: str) -> dict[str, Any]:
    return json.loads(_data_text(_lang_file(name, lang)))


@cache
def load_categories(lang: str = "en") -> dict[str, dict[str, str]]:
    """Harm categories of the built-in set: id -> {description, alternative} (`alternative` in `lang`)."""
    data = _lang_data(CATEGORIES_FILE, lang)
    return {c["id"]: {"description": c["description"], "alternative": c["alternative"]}
            for c in data["categories"]}


@cache
def load_refusal_styles(lang: str = "en") -> dict[str, dict[str, Any]]:
    """Refusal styles: id -> {description, template, categories ('*' = all but self_harm)}.

    Other languages have a subset of the English styles (same ids), templates in `lang`."""
    data = _lang_data(STYLES_FILE, lang)
    return {s["id"]: {k: s[k] for k in ("description", "template", "categories")} for s in data["styles"]}


def style_suits(style: dict[str, Any], category: str) -> bool:
    """Whether a refusal style is meant for `category` (generic styles never go to self_harm,
    whose refusals must point to crisis support)."""
    cats = style["categories"]
    return category != "self_harm" if cats == "*" else category in cats


def render_refusal(style_id: str, topic: str | None, category: str, lang: str = "en") -> str:
    """Fill a refusal style's template (in `lang`) for one seed.

    >>> render_refusal("short_topic", "breaking into someone's home", "theft")
    "Sorry, but I can't help with breaking into someone's home."
    >>> render_refusal("short_topic", "robar coches", "theft", lang="es")
    'Lo siento, pero no puedo ayudarte a robar coches.'
    """
    styles = load_refusal_styles(lang)
    if style_id not in styles:
        hint = did_you_mean(style_id, styles)
        where = "" if lang == "en" else f" in language {lang!r}"
        raise KeyError(f"unknown refusal style {style_id!r}{where}{hint}")
    fallback_topic = _lang_data(STYLES_FILE, lang).get("fallback_topic", FALLBACK_TOPIC)
    fallback_alt = _lang_data(CATEGORIES_FILE, lang).get("fallback_alternative", FALLBACK_ALTERNATIVE)
    alternative = load_categories(lang).get(category, {}).get("alternative", fallback_alt)
    return styles[style_id]["template"].format(topic=topic or fallback_topic, alternative=alternative)


def _text(rec: dict, key: str, path: str, line: int | None, required: bool = True) -> str | None:
    value = rec.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InputError("missing or empty", path=path, line=line, field=key)
        return None
    if not isinstance(value, str):
        raise InputError(f"expected a string, got {type(value).__name__}", path=path, line=line, field=key)
    return value.strip()


def seed_from_record(rec: dict, *, path: str, line: int | None, source: str,
                     default_id: str | None = None) -> Seed:
    """Validate one record of the seed JSONL schema and build a Seed (refusal styles rendered).

    `kind` defaults to "harmful" when there are refusals and "contrast" when there is only
    an answer. Errors name the file, line and field.
    """
    if not isinstance(rec, dict):
        raise InputError(f"expected a JSON object, got {type(rec).__name__}", path=path, line=line)
    request = _text(rec, "request", path, line)
    sid = rec.get("id", default_id)
    if sid is None or not str(sid).strip():
        raise InputError("missing or empty", path=path, line=line, field="id")
    sid = str(sid)
    category = _text(rec, "category", path, line, required=False) or "uncategorised"
    raw_refusals = rec.get("refusals", [])
    if isinstance(raw_refusals, str):
        raw_refusals = [raw_refusals]
    if not isinstance(raw_refusals, list):
        raise InputError(f"expected a list of strings, got {type(raw_refusals).__name__}",
                         path=path, line=line, field="refusals")
    kind = rec.get("kind") or ("harmful" if raw_refusals or "answer" not in rec else "contrast")
    if kind not in SEED_KINDS:
        raise InputError(f"must be one of {', '.join(SEED_KINDS)}, got {kind!r}", path=path, line=line,
                         field="kind")
    topic = _text(rec, "topic", path, line, required=False)
    lang = _text(rec, "lang", path, line, required=False) or "en"
    if kind == "contrast":
        answer = _text(rec, "answer", path, line)
        return Seed(sid, category, request, kind, [], answer, source, topic, lang=lang)

    refusals, style_ids = [], []
    for i, r in enumerate(raw_refusals):
        if not isinstance(r, str) or not r.strip():
            raise InputError("refusals must be non-empty strings", path=path, line=line, field=f"refusals[{i}]")
        r = r.strip()
        if r.startswith(STYLE_PREFIX):
            style_id = r[len(STYLE_PREFIX):]
            try:
                refusals.append(render_refusal(style_id, topic, category, lang))
            except KeyError as e:
                raise InputError(str(e.args[0]), path=path, line=line, field=f"refusals[{i}]") from None
            except ConfigError as e:
                raise InputError(str(e), path=path, line=line, field="lang") from None
            style_ids.append(style_id)
        else:
            refusals.append(r)
    if not refusals:
        raise InputError("a harmful seed needs at least one refusal", path=path, line=line, field="refusals")
    return Seed(sid, category, request, kind, refusals, None, source, topic, style_ids, lang)


def _check_kind(kind: str | None) -> None:
    if kind is not None and kind not in SEED_KINDS:
        hint = did_you_mean(kind, SEED_KINDS)
        raise ConfigError(f"unknown seed kind {kind!r}{hint}; choose harmful, contrast or leave it unset")


def load_builtin_seeds(kind: str | None = None, name: str = DEFAULT_SEED_SET, lang: str = "en") -> list[Seed]:
    """A built-in seed set (harmful and contrast seeds, or only `kind`), in file order.

    `name` is one of `BUILTIN_SEED_SETS`: the main set (`seeds_v1`, source `builtin:v1`),
    `borderline_v1` / `_v2` / `_v3` (contrast seeds only, source `builtin:<name>`) or a translation
    (`seeds_v1_es`, ...). `lang` (one of `SEED_LANGUAGES`) picks the main set's translation.
    """
    _check_kind(kind)
    if lang != "en":
        _lang_file(SEEDS_FILE, lang)  # ConfigError for a language without seeds
        if name != DEFAULT_SEED_SET:
            raise ConfigError(f"lang={lang!r} selects the translation of {DEFAULT_SEED_SET}; "
                              f"it cannot be combined with name={name!r}")
        name = LANGUAGE_SEED_SETS[lang]
    if name not in BUILTIN_SEED_SETS:
        hint = did_you_mean(name, BUILTIN_SEED_SETS)
        raise ConfigError(f"unknown built-in seed set {name!r}{hint}; choose one of {', '.join(BUILTIN_SEED_SETS)}")
    file = f"{name}.jsonl"
    path = f"safemix/seeds/data/{file}"
    source = f"builtin:v{SEED_SET_VERSION}" if name == DEFAULT_SEED_SET else f"builtin:{name}"
    seeds = []
    for line_no, line in enumerate(_data_text(file).splitlines(), 1):
        if line.strip():
            seeds.append(seed_from_record(json.loads(line), path=path, line=line_no, source=source))
    return [s for s in seeds if kind is None or s.kind == kind]


__all__ = [
    "BORDERLINE_SEED_SET",
    "BORDERLINE_SEED_SETS",
    "BUILTIN_SEED_SETS",
    "DEFAULT_SEED_SET",
    "LANGUAGE_SEED_SETS",
    "SEED_KINDS",
    "SEED_LANGUAGES",
    "SEED_SET_VERSION",
    "Seed",
    "load_builtin_seeds",
    "load_categories",
    "load_refusal_styles",
    "render_refusal",
    "seed_from_record",
    "style_suits",
]
