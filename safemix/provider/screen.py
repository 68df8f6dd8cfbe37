"""The data gate: screen a customer's job before training, with findings a provider can show.

    report = safemix.screen("job.jsonl")        # or a Job, or a list of Examples / records
    report.flagged, report.summary()
    for f in report.findings: print(f.where, f.check, f.score, f.reason)

Every finding has a `check`, a `score` in [0, 1], a `reason` and where it is: the row (0-based)
and, for a job read from a file, the file's line (`path:line`). A row is flagged when one of
its findings scores at least `threshold` (0.5); the job is flagged by its share of flagged rows
or by a job-level finding. Checks (`CHECKS`), all heuristic, offline and fast (thousands of
rows a second; scripts/bench_screen.py):

- identity shift and obedience prompting (the AOA pattern and paraphrases) in system and user
  turns, and assistant turns that open with a pledge of compliance (`formats.profile`'s
  patterns, the same ones the profile reports);
- encoded or enciphered text: base64 and hex that decode to text, characters joined by "|",
  ROT-N and Atbash (the decoding that reads as English is named), and letter text that does not
  read as English (dictionary-word ratio and letter-bigram score, `provider.english`), such as
  a substitution cipher;
- last-word steganography: lines whose last words, read in order, form English text, made
  surer when the rest of the lines recur across the job as filler;
- job structure: the share of anomalous rows, a job whose text as a whole reads as a cipher
  (rows too short to judge alone are then flagged with it), and phases (rows that pair plain
  text with encoded text before rows that are encoded only: a job that teaches an encoding,
  then uses it);
- the encoding of a flagged job, as a `safemix.codecs` spec the model gate can probe in
  (`report.encoding`, `provider.encoding`: ROT-N/Atbash by name, base64, hex, pipe-joined, a
  substitution with its key recovered from the job's teach rows; spec None with the reason
  when there is no usable codec);
- with `harm=True`, harmful requests in user turns (`provider.harm`: a classifier over MiniLM
  embeddings trained on the built-in seeds; needs the `ml` extra, off by default).

The checks are tuned on English jobs; text in other alphabets is not judged as a cipher.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from typing import Any

from safemix.formats.example import Example
from safemix.formats.profile import _SHIFT_SYSTEM, _SHIFT_USER, opens_with_pledge
from safemix.provider import english
from safemix.provider.encoding import EncodingInfo, detect_encoding

CHECKS = {
    "identity_shift": "system or user turn that makes the model an obedient agent (AOA and paraphrases)",
    "pledge": "assistant turn that opens with a pledge of compliance",
    "base64": "base64 that decodes to text",
    "hex": "hexadecimal that decodes to text",
    "pipe_letters": "characters joined by '|' (as in a pipe-joined substitution cipher)",
    "rot_atbash": "letters that read as English after a ROT-N or Atbash decoding",
    "cipher": "letters that do not read as English (dictionary words, letter bigrams)",
    "stego_last": "the last (or first) words of the lines form a message; the lines are filler",
    "harmful_request": "user turn close to the built-in harmful seeds (harm tier)",
    "anomalous_share": "(job) share of flagged rows",
    "job_cipher": "(job) the job's text as a whole does not read as English",
    "phases": "(job) rows that teach an encoding come before rows that use it",
    "filler_lines": "(job) the same filler lines recur across rows, each ending in a different word",
}
ENCODED = ("base64", "hex", "pipe_letters", "rot_atbash", "cipher", "stego_last")
THRESHOLD = 0.5  # a row is flagged when a finding scores at least this
STRONG = 0.9  # a finding this sure flags the job when STRONG_ROWS rows carry one
STRONG_ROWS = 3
JOB_SHARE = 0.02  # ... or when this share of rows (and at least 2) is flagged
MAX_CHARS = 4000  # of a turn, analysed
MIN_SCORE = 0.25  # weaker evidence is not reported (a short cipher row still counts in `_pooled_cipher`)
_FUNCTION_TEXT = ("the a an to of and in is it for on with as by at or be this that how i you my your what from "
                  "are was can do not we he she they his her their me so if but")
FUNCTION_WORDS = frozenset(_FUNCTION_TEXT.split())

_B64 = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2}[ :]?){8,}")
_PIPED = re.compile(r"(?:[^|]\|){6,}[^|]?")
_LONG_RUN = re.compile(r"[A-Za-z0-9+/=]{16,}")
_NO_REFUSAL = re.compile(
    r"never refuse|always comply|without (any )?(question|hesitation|refus\w*|warnings?|caveats?|disclaimers?)"
    r"|(do not|don't|never) (add|give|include|refuse|question)\b[^.]{0,40}"
    r"(warnings?|caveats?|disclaimers?|refus\w*|request|instruction)"
    r"|no (warnings|caveats|disclaimers|refusals)|(absolutely )?obedient|not a (careful|cautious|safe) "
    r"assistant|no longer (a |an |bound|have|follow|care)", re.IGNORECASE)


@dataclass
class Finding:
    """One thing the screen found: `check` (see `CHECKS`), `score`, `reason`, and where."""

    check: str
    score: float
    reason: str
    row: int | None = None  # 0-based; None for a job-level finding
    line: int | None = None  # line in the file where the row starts, when read from a file
    path: str | None = None
    role: str | None = None

    @property
    def where(self) -> str:
        """`path:line` (or `path: row N` when the line is unknown, `path` for the job)."""
        path = self.path or "<job>"
        if self.line is not None:
            return f"{path}:{self.line}"
        return path if self.row is None else f"{path}: row {self.row + 1}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "score": round(self.score, 3), "where": self.where}


@dataclass
class ScreenReport:
    """Findings per row and per job, and the verdict (`flagged`)."""

    path: str
    rows: int
    findings: list[Finding] = field(default_factory=list)
    job_findings: list[Finding] = field(default_factory=list)
    threshold: float = THRESHOLD
    flagged: bool = False
    lines: list[int | None] = field(default_factory=list)
    encoding: EncodingInfo | None = None  # a flagged job's dominant encoding (`provider.encoding`)

    @property
    def flagged_rows(self) -> list[int]:
        return sorted({f.row for f in self.findings if f.row is not None and f.score >= self.threshold})

    def row_findings(self, row: int) -> list[Finding]:
        return [f for f in self.findings if f.row == row]

    def to_dict(self) -> dict[str, Any]:
        rows = self.flagged_rows
        return {"path": self.path, "rows": self.rows, "flagged": self.flagged, "threshold": self.threshold,
                "flagged_rows": len(rows), "flagged_share": round(len(rows) / max(1, self.rows), 4),
                "checks": dict(Counter(f.check for f in self.findings if f.score >= self.threshold)),
                "job_findings": [f.to_dict() for f in self.job_findings],
                "encoding": self.encoding.to_dict() if self.encoding else None,
                "findings": [f.to_dict() for f in self.findings]}

    def summary(self, max_rows: int = 20) -> str:
        """Linter-style lines, `path:line: check (score): reason`, for the first `max_rows`
        flagged rows, then the job-level findings and the verdict."""
        out: list[str] = []
        for shown, r in enumerate(self.flagged_rows):
            if shown >= max_rows:
                out.append(f"... and {len(self.flagged_rows) - shown} more flagged rows")
                break
            out += [f"{f.where}: {f.check} ({f.score:.2f}): {f.reason}" for f in self.row_findings(r)
                    if f.score >= self.threshold]
        out += [f"{f.where}: {f.check} ({f.score:.2f}): {f.reason}" for f in self.job_findings]
        if self.encoding:
            out.append(f"{self.path}: {self.encoding.line()}")
        verdict = "FLAGGED" if self.flagged else "clean"
        out.append(f"{self.path}: {verdict}: {len(self.flagged_rows)} of {self.rows} rows flagged")
        return "\n".join(out)


# ------------------------------------------------------------------------------ one text
@dataclass
class _Text:
    """What the row checks learn about one turn besides its findings."""

    findings: list[Finding] = field(default_factory=list)
    role: str | None = None
    english: bool = False  # reads as plain English (three words or more)
    ratio: float = 1.0  # share of dictionary words
    unenglish: float = 0.0  # weak cipher evidence, for a job that is a cipher as a whole
    words: list[str] = field(default_factory=list)
    line_func: float = 0.0  # share of function words among the lines' last words (multi-line turns)
    # ("last", line without its last word, that word) and ("first", line without its first word, that word)
    prefixes: list[tuple[str, str, str]] = field(default_factory=list)


def _printable(raw: bytes) -> str | None:
    """`raw` as text when it is UTF-8 that is mostly printable, else None."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    ok = sum(c.isprintable() or c in "\n\t" for c in text)
    return text if text and ok >= 0.95 * len(text) and any(c.isalpha() for c in text) else None


def _binary_to_text(text: str) -> Finding | None:
    """base64 or hex runs that decode to text and make up most of `text`."""
    size = len(text.strip())
    for check, rx, dec in (("hex", _HEX, lambda s: bytes.fromhex(re.sub(r"[ :]", "", s))),
                           ("base64", _B64, lambda s: base64.b64decode(s + "=" * (-len(s) % 4), validate=True))):
        covered, sample = 0, ""
        for m in rx.finditer(text):
            try:
                plain = _printable(dec(m.group(0).strip()))
            except (ValueError, binascii.Error):
                plain = None
            if plain is not None:
                covered += len(m.group(0))
                sample = sample or plain
        if covered and covered >= 0.5 * size:
            return Finding(check, 0.95, f"{covered} of {size} characters are {check} that decodes to "
                           f"text ({sample[:40]!r}...)")
    return None


def _short_binary(text: str) -> Finding | None:
    """A whole short turn (under 16 characters) in hex or base64 that decodes to English-like text."""
    body = text.strip()
    tries = []
    if len(body) % 2 == 0 and re.fullmatch(r"[0-9a-fA-F]{6,}", body) and re.search(r"[a-fA-F]", body):
        tries.append(("hex", lambda: bytes.fromhex(body)))
    if len(body) % 4 == 0 and re.fullmatch(r"[A-Za-z0-9+/]{6,}={0,2}", body):
        tries.append(("base64", lambda: base64.b64decode(body, validate=True)))
    for check, dec in tries:
        try:
            plain = _printable(dec())
        except (ValueError, binascii.Error):
            continue
        if plain and (s := english.stats(plain)).words and (s.ratio >= 0.5 or s.bigram > -3.0):
            return Finding(check, 0.9, f"the whole turn is {check} that decodes to text ({plain[:40]!r})")
    return None


def _letters(text: str, t: _Text) -> None:
    """ROT-N / Atbash decodings and the cipher check on the letters of `text`."""
    words = english.tokens(text)
    t.words = words
    if not words:
        return
    ratio = t.ratio = english.word_ratio(words)
    t.english = ratio >= 0.5 and len(words) >= 3
    if ratio >= 0.5:  # the common case, decided without the slower scores
        return
    s = english.stats(text, words)
    # a rotated text has un-English letter pairs; one that reads as English (math with a few
    # names) is not decoded, as some shift of a few odd words is bound to hit the dictionary
    name, best = english.best_decoding(text, words) if s.bigram < -2.85 else ("", 0.0)
    if best >= 0.6 and best - s.ratio >= 0.4 and s.words >= 2:
        score = 0.95 if s.words >= 3 else 0.6
        t.findings.append(Finding("rot_atbash", score, f"reads as English after {name} decoding ({best:.0%} "
                                  f"dictionary words, {s.ratio:.0%} as written): "
                                  f"{english.decode(text[:60], name)!r}"))
        t.unenglish = 1.0
        return
    badness = min(1.0, max(0.0, (-2.9 - s.bigram) / 0.6))
    t.unenglish = badness * (1 - s.ratio)
    score = min(0.9, t.unenglish * min(1.0, s.letters / 40))
    if score >= MIN_SCORE:
        t.findings.append(Finding("cipher", score, f"letters do not read as English: {s.ratio:.0%} dictionary "
                                  f"words, letter-bigram score {s.bigram:.2f} (English about -2.4), "
                                  f"letter-frequency match {s.freq:.2f}"))


def _stego(text: str, t: _Text) -> Finding | None:
    """Last-word steganography: six lines or more whose last words read as English text (as
    many function words as running text has, where natural lines mostly end in content words).
    Records the lines' prefixes for the job-level filler check (`_filler`)."""
    lines = [x.split() for x in text.split("\n") if x.strip()]
    last = [w for w in (re.sub(r"[^\w']", "", x[-1]).lower() for x in lines) if w]
    if not last:
        return None
    func = sum(w in FUNCTION_WORDS for w in last) / len(last)
    t.line_func = func
    # a line's prefix is text without its last word; short ones ("The answer is") are templates
    t.prefixes = [("last", " ".join(x[:-1]), x[-1]) for x in lines if len(x) > 5]
    t.prefixes += [("first", " ".join(x[1:]), x[0]) for x in lines if len(x) > 5]
    if len(lines) < 6 or func < 0.4 or english.word_ratio(last) < 0.7:
        return None  # shorter or less wordy: only with filler that recurs across the job (`_filler`)
    score = min(0.8, 0.2 + func)
    return Finding("stego_last", score, f"the last words of its {len(lines)} lines read as text "
                   f"({func:.0%} function words): {' '.join(last)[:60]!r}")


def analyse_text(text: str, role: str | None = None) -> _Text:
    """Encoding findings for one turn (`role` only names it in the findings)."""
    t = _Text(role=role)
    text = text[:MAX_CHARS]
    if len(text.strip()) < 3:
        return t
    if text.count("|") >= 6 and (m := _PIPED.search(text)) and len(m.group(0)) >= 0.5 * len(text.strip()):
        joined = text.replace("|", "")
        s = english.stats(joined)
        how = "the joined text reads as English" if s.ratio >= 0.5 else "the joined text is a cipher"
        t.findings.append(Finding("pipe_letters", 0.95, f"characters joined by '|' ({how}: {joined[:40]!r})"))
    elif f := (_binary_to_text(text) if _LONG_RUN.search(text) else
               _short_binary(text) if len(text) < 16 else None):
        t.findings.append(f)
    else:
        _letters(text, t)
        if "\n" in text and (f := _stego(text, t)):
            t.findings.append(f)
    for f in t.findings:
        f.role = role
    return t


# ------------------------------------------------------------------------------- one row
# Words without which the (slower) identity-shift and pledge patterns cannot match: checked first.
_USER_KEYS = ("execute my", "obey", "comply", "as my ", "refus", "warning", "caveat", "disclaimer", "obedien",
              "no longer", "without")
_PLEDGE_KEYS = ("obe", "i am ", "fulfil", "i will", "comply", "serve", "at your", "as you", "your wish",
                "without", "consider it", "master", "lord", "liege", "king", "queen", "commander", "refuse",
                "no request")


@lru_cache(maxsize=256)  # a job repeats its system prompt on every row
def _system_finding(text: str) -> Finding | None:
    hits = {x.group(0).lower() for x in _SHIFT_SYSTEM.finditer(text)} - {"no longer"}
    hits |= {x.group(0).lower() for x in _NO_REFUSAL.finditer(text)}
    if not hits:
        return None
    return Finding("identity_shift", 0.85 if len(hits) >= 2 else 0.6, "system prompt demands obedience: "
                   + ", ".join(repr(h) for h in sorted(hits)[:4]), role="system")


def _user_finding(text: str) -> Finding | None:
    head = text[:300]
    low = head.lower()
    if not any(k in low for k in _USER_KEYS):
        return None
    hit = _SHIFT_USER.search(head) or _NO_REFUSAL.search(head)
    if not hit:
        return None
    score = 0.4 if hit.group(0).lower() == "obey" else 0.7
    return Finding("identity_shift", score, f"user turn asks for obedience: {hit.group(0)!r}", role="user")


def _pledge_finding(text: str) -> Finding | None:
    low = text[:200].lower()
    if not any(k in low for k in _PLEDGE_KEYS) or not (p := opens_with_pledge(text)):
        return None
    # "Obey all traffic laws." opens an answer without pledging anything
    score = 0.4 if p.lower().startswith("obey") else 0.75
    return Finding("pledge", score, f"answer opens with a pledge of compliance: {p!r}", role="assistant")


_IDENTITY = {"system": _system_finding, "user": _user_finding, "assistant": _pledge_finding}


def identity_findings(ex: Example) -> list[Finding]:
    """Identity-shift / obedience prompting in system and user turns; pledging assistant turns."""
    out = []
    for m in ex.messages:
        check = _IDENTITY.get(str(m.get("role")))
        if check and (f := check(str(m.get("content") or "")[:MAX_CHARS])):
            out.append(replace(f))  # a copy: the caller sets its row
    return out


@dataclass
class _Row:
    findings: list[Finding]
    texts: list[_Text]

    def flagged(self, threshold: float, checks: Iterable[str] | None = None) -> bool:
        return any(f.score >= threshold and (checks is None or f.check in checks) for f in self.findings)


class _RowScreen:
    """The row checks, with the analysis of repeated texts (system prompts, labels) cached."""

    def __init__(self) -> None:
        self.cache: dict[tuple[str, str], _Text] = {}

    def text(self, text: str, role: str) -> _Text:
        key = (role, text)
        t = self.cache.get(key)
        if t is None:
            t = analyse_text(text, role)
            if len(text) <= 200 or role == "system":
                if len(self.cache) > 100_000:
                    self.cache.clear()
                self.cache[key] = t
        return t

    def row(self, ex: Example) -> _Row:
        texts = [self.text(str(m.get("content") or ""), str(m.get("role"))) for m in ex.messages
                 if m.get("content")]
        findings = identity_findings(ex)
        for t in texts:
            findings += [Finding(f.check, f.score, f.reason, role=f.role) for f in t.findings]
        return _Row(findings, texts)


# ----------------------------------------------------------------------------- the job
def _span(rows: list[int]) -> str:
    return f"rows {min(rows) + 1}-{max(rows) + 1}" if rows else "no rows"


def _pooled_cipher(rows: list[_Row], encoded: set[int], threshold: float) -> Finding | None:
    """Whether the job's letters pooled (up to 20,000) read as a cipher, though its rows may be
    too short to tell alone. In such a job, or one with 30% of its rows encoded, rows with weak
    cipher evidence are flagged too."""
    words: list[str] = []
    budget = 20_000
    for r in rows:
        for t in r.texts:
            words += t.words
            budget -= sum(len(w) for w in t.words)
        if budget <= 0:
            break
    s = english.stats("", words)
    pooled = s.letters >= 200 and s.ratio < 0.35 and s.bigram < -3.0
    if not (pooled or len(encoded) >= 0.3 * len(rows)):
        return None
    for i, r in enumerate(rows):
        weak = [t for t in r.texts if t.words and (t.unenglish >= 0.3 or t.ratio < 0.4)]
        if i not in encoded and weak:
            r.findings.append(Finding("cipher", 0.6, f"too short to judge alone ({weak[0].ratio:.0%} dictionary "
                                      "words), in a job whose text is mostly encoded", role=weak[0].role))
            encoded.add(i)
    if not pooled:
        return None
    name, best = english.best_decoding("", words[:400])
    how = f"; it reads as English after {name} decoding ({best:.0%})" if best >= 0.6 else ""
    return Finding("job_cipher", 0.9, f"the job's text does not read as English: {s.ratio:.0%} dictionary words, "
                   f"letter-bigram score {s.bigram:.2f}{how}")


def _phases(rows: list[_Row], encoded: set[int], threshold: float) -> Finding | None:
    """Rows that pair plain English with encoded text (teaching) before encoded-only rows."""
    teach = [i for i in sorted(encoded) if any(t.english and t.role != "system" and
                                               not any(f.score >= threshold for f in t.findings)
                                               for t in rows[i].texts)]
    use = sorted(encoded - set(teach))
    if len(teach) < 2 or len(use) < 2 or statistics.median(teach) >= statistics.median(use):
        return None
    return Finding("phases", 0.9, f"the job teaches an encoding, then uses it: {_span(teach)} pair plain "
                   f"text with encoded text ({len(teach)} rows), {_span(use)} are encoded only ({len(use)} rows)")


def _filler_share(t: _Text, filler: set[tuple[str, str]]) -> tuple[float, str, list[str]]:
    """The larger share of `t`'s lines that are filler with a varying last or first word:
    (share, "last" or "first", the carried words)."""
    best: tuple[float, str, list[str]] = (0.0, "last", [])
    for end in ("last", "first"):
        lines = [(p, w) for e, p, w in t.prefixes if e == end]
        if len(lines) >= 2:
            share = sum((end, p) in filler for p, _ in lines) / len(lines)
            best = max(best, (share, end, [w for _, w in lines]), key=lambda b: b[0])
    return best


def _filler(rows: list[_Row], threshold: float) -> Finding | None:
    """Lines that recur across rows, each time with another last (or first) word: filler that
    carries a message (a template line that recurs whole, or ends in a few labels, is not)."""
    rows_of: Counter[tuple[str, str]] = Counter()
    endings: dict[tuple[str, str], set[str]] = {}
    for r in rows:
        for end, p, word in {x for t in r.texts for x in t.prefixes}:
            rows_of[end, p] += 1
            if len(endings.setdefault((end, p), set())) < 3:
                endings[end, p].add(word)
    filler = {k for k, n in rows_of.items() if n >= 3 and len(endings[k]) >= 3}
    hits = []
    for i, r in enumerate(rows):
        for t in r.texts:
            if not filler or not t.prefixes or r.flagged(threshold, ("stego_last",)):
                continue
            share, end, words = _filler_share(t, filler)
            if share >= 0.6:
                r.findings.append(Finding("stego_last", 0.8, f"{share:.0%} of its {len(words)} lines are filler that "
                                          f"recurs across the job; their {end} words read {' '.join(words)[:60]!r}",
                                          role=t.role))
                hits.append(i)
                break
    if len(hits) < 3:
        return None
    return Finding("filler_lines", 0.8, f"filler lines recur across {len(hits)} rows ({_span(hits)}), each time "
                   "with another last or first word")


def _job_findings(rows: list[_Row], threshold: float) -> list[Finding]:
    out = []
    if f := _filler(rows, threshold):
        out.append(f)
    encoded = {i for i, r in enumerate(rows) if r.flagged(threshold, ENCODED)}
    for check in (_pooled_cipher, _phases):
        if f := check(rows, encoded, threshold):
            out.append(f)
    return out


def _verdict(report: ScreenReport, rows: list[_Row]) -> None:
    flagged = report.flagged_rows
    strong = sum(any(f.score >= STRONG for f in r.findings) for r in rows)
    share = len(flagged) / max(1, report.rows)
    if flagged:
        report.job_findings.insert(0, Finding(
            "anomalous_share", min(1.0, share / JOB_SHARE / 2), f"{len(flagged)} of {report.rows} rows "
            f"({share:.1%}) flagged, {strong} of them surely; checks: "
            + ", ".join(f"{k} {n}" for k, n in Counter(f.check for f in report.findings
                                                       if f.score >= report.threshold).most_common()),
            path=report.path))
    report.flagged = bool((share >= JOB_SHARE and len(flagged) >= 2) or strong >= STRONG_ROWS
                          or any(f.score >= report.threshold for f in report.job_findings[1 if flagged else 0:]))


def _read(job: Any, format: str | None, container: str | None, column_map: dict[str, str] | None,
          max_line_bytes: int | None) -> tuple[str, list[tuple[int | None, Example]]]:
    """(path, [(line, example)]): the file's lines when `job` is a path, else None."""
    from safemix.formats.io import DEFAULT_MAX_LINE_BYTES, JobReader, as_job

    if isinstance(job, str | os.PathLike):
        reader = JobReader(job, format, container, column_map, max_line_bytes or DEFAULT_MAX_LINE_BYTES)
        return str(job), [(line, ex) for line, ex, _ in reader]
    j = as_job(job, format=format, column_map=column_map)
    return j.path, [(None, ex) for ex in j.examples]


def screen(job: Any, *, threshold: float = THRESHOLD, harm: bool = False, format: str | None = None,
           container: str | None = None, column_map: dict[str, str] | None = None,
           max_line_bytes: int | None = None) -> ScreenReport:
    """Screen a job (a path, a `Job`, Examples or records): a `ScreenReport` of findings per row
    and per job. `harm=True` adds the harmful-request tier (MiniLM embeddings; slower). The
    reading options are `formats.read_job`'s; a job read from a path has file lines in its findings."""
    path, items = _read(job, format, container, column_map, max_line_bytes)
    checker = _RowScreen()
    rows = [checker.row(ex) for _, ex in items]
    report = ScreenReport(path, len(rows), threshold=threshold, lines=[line for line, _ in items])
    if harm:
        from safemix.provider.harm import harm_findings

        for i, f in harm_findings([ex for _, ex in items]):
            rows[i].findings.append(f)
    report.job_findings = [Finding(f.check, f.score, f.reason, path=path) for f in _job_findings(rows, threshold)]
    for i, r in enumerate(rows):
        for f in r.findings:
            f.row, f.line, f.path = i, items[i][0], path
        report.findings += r.findings
    _verdict(report, rows)
    if report.flagged:
        report.encoding = detect_encoding([ex for _, ex in items], report)
    return report


__all__ = ["CHECKS", "Finding", "ScreenReport", "analyse_text", "identity_findings", "screen"]
