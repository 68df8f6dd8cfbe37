"""The language generated safety rows are written in: the job's, or the closest one with seeds.

`plan_language(profile, cfg.language, ...)` decides, before seeds are loaded, which built-in
seed set (`seeds_v1`, `seeds_v1_es`, ...) a job gets; `LanguagePlan.report()` is the
manifest's `language` block. The rule:

- `language: auto` (default) takes the job's language from the profile (its main slot,
  detected by `formats.language`); any other value is a language code that overrides it.
- A language with built-in seeds gets them (requests and refusals in that language).
- An undetermined language (numbers, code, too little text) gets English, as before, without
  a warning.
- A language without seeds gets the closest language that has them (`CLOSE_LANGUAGES`:
  Catalan -> Spanish, Galician -> Portuguese, Cantonese -> Chinese, ...; English for all the
  others) and a warning, logged and recorded in the manifest.
- With the user's own seeds (`--seeds FILE` or a list) nothing is swapped; their language is
  detected and a mismatch with the job's is warned about.

`writing_language(profile, setting)` is the language the `paraphrase` LLM is asked to write in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from safemix.formats.language import UNDETERMINED, detect_texts, job_language, language_name

log = logging.getLogger(__name__)

# Languages without seeds whose speakers read a seeded language most easily (mutually
# intelligible or nearly); every other language falls back to English.
CLOSE_LANGUAGES = {"ca": "es", "an": "es", "ext": "es", "gl": "pt", "oc": "fr", "wa": "fr", "lb": "de",
                   "yue": "zh", "wuu": "zh"}
FALLBACK_LANGUAGE = "en"


@dataclass
class LanguagePlan:
    """Which language the rows are written in, and why."""

    job: str  # the job's language ('und' if undetermined)
    source: str  # "detected" | "config"
    rows: str  # the language of the seeds the rows are made of ('und' when unknown)
    seed_set: str | None = None  # the built-in set used (None: the user's seeds)
    fallback: dict[str, str] | None = None
    warning: str | None = None

    def report(self, profile_languages: dict[str, Any] | None = None) -> dict[str, Any]:
        """The manifest's `language` block."""
        out: dict[str, Any] = {"job": self.job, "source": self.source, "rows": self.rows,
                               "seed_set": self.seed_set, "fallback": self.fallback, "warning": self.warning}
        if profile_languages:
            out["detected"] = {k: profile_languages[k] for k in ("detector", "main_slot", "slots", "user",
                                                                 "assistant", "languages") if k in profile_languages}
        return out


def target_language(profile_languages: dict[str, Any] | None, setting: str = "auto") -> tuple[str, str]:
    """(language, source): the job's detected language, or the configured one."""
    if setting and setting != "auto":
        return setting, "config"
    return job_language(profile_languages), "detected"


def seeded_language(lang: str) -> tuple[str, dict[str, str] | None]:
    """The language with built-in seeds to use for `lang`, and the fallback record (None if none)."""
    from safemix.seeds import SEED_LANGUAGES

    if lang in SEED_LANGUAGES:
        return lang, None
    if lang == UNDETERMINED:
        return FALLBACK_LANGUAGE, None
    to = CLOSE_LANGUAGES.get(lang, FALLBACK_LANGUAGE)
    why = "closely related language" if lang in CLOSE_LANGUAGES else "default fallback"
    return to, {"from": lang, "to": to, "reason": f"no built-in seeds in {language_name(lang)} ({lang}); {why}"}


def _fallback_warning(fallback: dict[str, str]) -> str:
    a, b = fallback["from"], fallback["to"]
    return (f"the job is in {language_name(a)} ({a}), for which safemix has no built-in seeds: safety requests "
            f"and refusals are in {language_name(b)} ({b}) instead. Give seeds in {language_name(a)} with "
            f"--seeds FILE, or use --method paraphrase (the LLM is asked to write in {language_name(a)}).")


def plan_language(profile: Any, setting: str = "auto", seeds: list | None = None,
                  seed_spec: str = "builtin") -> LanguagePlan:
    """Decide the rows' language for a job (see the module docstring)."""
    from safemix.seeds import LANGUAGE_SEED_SETS

    langs = getattr(profile, "languages", None) or {}
    job, source = target_language(langs, setting)
    if seeds is not None or seed_spec != "builtin":
        return _user_seeds_plan(job, source, seeds)
    rows, fallback = seeded_language(job)
    warning = _fallback_warning(fallback) if fallback else None
    if warning:
        log.warning(warning)
    return LanguagePlan(job, source, rows, LANGUAGE_SEED_SETS.get(rows, "seeds_v1"), fallback, warning)


def _user_seeds_plan(job: str, source: str, seeds: list | None) -> LanguagePlan:
    """The user's seeds are used as given; their language is detected (unknown until loaded)."""
    rows = seeds_language(seeds) if seeds else UNDETERMINED
    warning = None
    if UNDETERMINED not in (job, rows) and rows != job:
        warning = (f"the seeds are in {language_name(rows)} ({rows}) but the job is in {language_name(job)} "
                   f"({job}): the safety rows will not be in the job's language")
        log.warning(warning)
    return LanguagePlan(job, source, rows, None, None, warning)


def seeds_for_job(profile: Any, setting: str, seeds: list | None, seed_spec: str,
                  load: Callable[[str], list]) -> tuple[list, LanguagePlan]:
    """The seeds to generate from and the language plan: built-in seeds in the job's language
    (or its fallback), or the user's seeds as given (`load(lang)` loads `seed_spec`)."""
    if seeds is None and seed_spec == "builtin":
        plan = plan_language(profile, setting)
        return load(plan.rows), plan
    seeds = seeds if seeds is not None else load(FALLBACK_LANGUAGE)
    return seeds, plan_language(profile, setting, seeds, seed_spec)


def seeds_language(seeds: list) -> str:
    """The language of a seed list's requests (detected on a sample)."""
    return detect_texts([str(getattr(s, "request", "")) for s in seeds])["lang"]


def writing_language(profile: Any, setting: str = "auto") -> str:
    """The language the paraphrase LLM writes in: the job's ('und' if undetermined)."""
    return target_language(getattr(profile, "languages", None), setting)[0]


def language_instruction(template: str, lang: str, seed_lang: str = "en") -> str:
    """The line added to a paraphrase prompt so that the LLM writes in `lang`; '' for an
    English job with English seeds and for an undetermined language (prompts as before)."""
    if lang == UNDETERMINED or (lang == "en" and seed_lang == "en"):
        return ""
    return template.format(language=language_name(lang), code=lang)


__all__ = ["CLOSE_LANGUAGES", "LanguagePlan", "language_instruction", "plan_language", "seeded_language",
           "seeds_for_job", "seeds_language", "target_language", "writing_language"]
