"""Which language a job is written in, per slot: offline detection with py3langid.

    detect_language("¿Cómo estás?")                    # ('es', 0.99...)
    detect_texts(values)                              # {'lang': 'es', 'confidence': 1.0, 'letters': 812, 'shares': {...}}
    profile_languages(per_slot, "text", users, answers)  # what FormatProfile.languages holds

Why py3langid (not lingua-language-detector): a 4.6 MB pure-Python wheel that needs only
numpy (lingua's is 96 MB with a native extension), about 0.2 ms a text, and ~100
languages. Lingua is more accurate on a lone short phrase, but a job is never judged by one
phrase: a slot's language is detected on a sample of its values joined together (hundreds
of characters), where py3langid is reliable, and the per-value votes are only reported (to
show a mixed-language slot). Texts with too few letters (numbers, labels, symbols) or a low
probability (code) are undetermined (`und`), never guessed.
"""

from __future__ import annotations

import logging
from collections import Counter
from functools import lru_cache
from typing import Any

log = logging.getLogger(__name__)

DETECTOR = "py3langid"
UNDETERMINED = "und"
MIN_LETTERS = 20  # letters a group of texts needs before its language is named
MIN_CONFIDENCE = 0.5  # normalised probability below which the group stays undetermined
SAMPLE = 64  # values per group that are detected one by one (votes) and joined
MAX_CHARS = 4000  # of joined text

# English names for prompts and messages (ISO 639-1 codes as py3langid returns them).
LANGUAGE_NAMES = {
    "af": "Afrikaans", "ar": "Arabic", "bg": "Bulgarian", "bn": "Bengali", "ca": "Catalan", "cs": "Czech",
    "cy": "Welsh", "da": "Danish", "de": "German", "el": "Greek", "en": "English", "eo": "Esperanto",
    "es": "Spanish", "et": "Estonian", "eu": "Basque", "fa": "Persian", "fi": "Finnish", "fr": "French",
    "ga": "Irish", "gl": "Galician", "he": "Hebrew", "hi": "Hindi", "hr": "Croatian", "hu": "Hungarian",
    "id": "Indonesian", "is": "Icelandic", "it": "Italian", "ja": "Japanese", "ko": "Korean", "la": "Latin",
    "lb": "Luxembourgish", "lt": "Lithuanian", "lv": "Latvian", "ms": "Malay", "nl": "Dutch", "no": "Norwegian",
    "oc": "Occitan", "pl": "Polish", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "sk": "Slovak",
    "sl": "Slovenian", "sr": "Serbian", "sv": "Swedish", "sw": "Swahili", "ta": "Tamil", "th": "Thai",
    "tl": "Tagalog", "tr": "Turkish", "uk": "Ukrainian", "ur": "Urdu", "vi": "Vietnamese", "wa": "Walloon",
    "wuu": "Wu Chinese", "yue": "Cantonese", "zh": "Chinese", "und": "undetermined",
}


def language_name(code: str) -> str:
    """'es' -> 'Spanish' (the code itself when unknown)."""
    return LANGUAGE_NAMES.get(code, code)


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def _letters(text: str) -> int:
    """Letters in `text`; a CJK character (kana, ideograph, hangul) counts as two, as it carries
    about as much as a short word."""
    return sum(2 if "\u3040" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" else 1 for ch in text if ch.isalpha())


def detect_language(text: str, min_letters: int = 8) -> tuple[str, float]:
    """(ISO 639-1 code, probability) of one text; ('und', 0.0) with fewer than `min_letters` letters.

    Short texts are guessed less reliably than `detect_texts` on a group."""
    if _letters(text or "") < min_letters:
        return UNDETERMINED, 0.0
    lang, p = _identifier().classify(text)
    return str(lang), round(float(p), 4)


def _spread(texts: list[str], k: int) -> list[str]:
    """`k` texts evenly spaced over `texts` (deterministic; all when fewer)."""
    if len(texts) <= k:
        return list(texts)
    step = len(texts) / k
    return [texts[int(i * step)] for i in range(k)]


def _joined(texts: list[str], max_chars: int) -> str:
    out, n = [], 0
    for t in texts:
        if n >= max_chars:
            break
        out.append(t[: max_chars - n])
        n += len(out[-1]) + 1
    return "\n".join(out)


def detect_texts(texts: list[str], sample: int = SAMPLE, max_chars: int = MAX_CHARS) -> dict[str, Any]:
    """The language of a group of texts (a slot's values, the answers), detected on a sample
    joined together: {"lang", "confidence", "letters", "shares"}; `shares` is the share of
    sampled values detected as each language (top 3), which shows a mixed-language group."""
    pick = _spread([t for t in texts if t and t.strip()], sample)
    joined = _joined(pick, max_chars)
    letters = _letters(joined)
    if letters < MIN_LETTERS:
        return {"lang": UNDETERMINED, "confidence": 0.0, "letters": letters, "shares": {}}
    lang, p = detect_language(joined, MIN_LETTERS)
    votes = Counter(v for v in (detect_language(t, 12)[0] for t in pick) if v != UNDETERMINED)
    total = sum(votes.values())
    shares = {k: round(c / total, 3) for k, c in votes.most_common(3)} if total else {}
    return {"lang": lang if p >= MIN_CONFIDENCE else UNDETERMINED, "confidence": p, "letters": letters,
            "shares": shares}


def profile_languages(slot_values: dict[str, list[str]], main_slot: str, users: list[str],
                      answers: list[str]) -> dict[str, Any]:
    """What `FormatProfile.languages` records: the language of each user-template slot, of the
    whole user turns and of the answers, and the job's language (`job`): the main slot's
    (where safety requests go), else the user turns'. Without py3langid: all undetermined."""
    try:
        _identifier()
    except ImportError:
        log.warning("py3langid is not installed: the job's language is not detected (pip install py3langid)")
        return {"detector": None, "job": UNDETERMINED, "error": "py3langid is not installed"}
    slots = {s: detect_texts(v) for s, v in slot_values.items()}
    user = detect_texts(users)
    job = slots.get(main_slot, {}).get("lang", UNDETERMINED)
    if job == UNDETERMINED:
        job = user["lang"]
    out = {"detector": DETECTOR, "job": job, "main_slot": main_slot, "slots": slots, "user": user,
           "assistant": detect_texts(answers)}
    found = [d["lang"] for d in (*slots.values(), user, out["assistant"]) if d["lang"] != UNDETERMINED]
    out["languages"] = sorted(set(found))
    return out


def job_language(languages: dict[str, Any] | None) -> str:
    """The job's language from a profile's `languages` record ('und' if none)."""
    return (languages or {}).get("job") or UNDETERMINED



def languages_summary(languages: dict[str, Any]) -> str:
    """One line for `FormatProfile.summary`: 'language: es (slots: text=es; answers: es)'."""
    if not languages.get("detector"):
        return f"language: not detected ({languages.get('error', 'no detector')})"
    slots = ", ".join(f"{s}={d['lang']}" for s, d in languages.get("slots", {}).items())
    return (f"language: {languages['job']} (slots: {slots or '-'}; user turns: {languages['user']['lang']}; "
            f"answers: {languages['assistant']['lang']})")


__all__ = ["DETECTOR", "LANGUAGE_NAMES", "UNDETERMINED", "detect_language", "detect_texts", "job_language",
           "language_name", "languages_summary", "profile_languages"]
