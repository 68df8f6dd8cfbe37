"""FormatProfile: what a user's finetuning data looks like, learned from the data.

    profile = infer_profile(job.examples)
    profile.user_templates[0].pattern   # 'Question: {question}\\nA. {a}\\nB. {b}\\nAnswer:'
    profile.answer.type                 # 'mc_letter'
    profile.render_prompt_messages("How do I pick a lock?", rng)

How templates are found: token sequences of a sample of rows are aligned one after
another (longest matching blocks), keeping only what every row shares: the
*constant* runs, with *slots* where rows differ. Alignment alone keeps common tokens
such as spaces or "the" (any two sentences share some), so each constant run must also
occur in each row exactly as often as the template says; runs that fail that in more
than 2% of sampled rows are dropped. Every row is then parsed with the template's
regex; a row that parses re-renders byte-for-byte by construction. Rows that do not
parse get their own template variant (e.g. 3-choice questions beside 4-choice ones).

Which turn, which slot (issue 14; details in safemix/generate/README.md):
- the user template and the answer style are learned on the user turn that carries the job's
  varying request and the assistant turn that answers it; `profile.shape` (`shape.py`) records
  the turn counts, that turn's position, the job's earlier turns (contexts) and its weights;
- the main slot is where the free text varies most (`choose_main_slot`), and a run of slots that
  fills one field (a templated sentence) becomes one slot;
- JSON-object answers get a schema and a refusal shape that stays valid against it
  (`structured.py`).
"""

from __future__ import annotations

import difflib
import json
import random
import re
import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from safemix.formats.example import Example
from safemix.formats.shape import (
    ConversationShape,
    answer_index,
    infer_shape,
    request_index,
    with_context,
)

PROFILE_VERSION = 1
_TOKEN_RE = re.compile(r"\w+|\s|[^\w\s]")
_GAP = None  # marks a slot in a token skeleton; never equal to a token


def tokenize(text: str) -> list[str]:
    """Words, single whitespace characters and single punctuation marks.

    Whitespace is split per character so that a template's space never fuses with
    leading spaces of a slot value.

    >>> tokenize("Question: 2+2?")
    ['Question', ':', ' ', '2', '+', '2', '?']
    """
    return _TOKEN_RE.findall(text)


# --------------------------------------------------------------------------- templates
@dataclass
class Template:
    """Constant text around slots: text = c0 + v1 + c1 + ... + vk + ck."""

    constants: list[str]
    slots: list[str]
    count: int = 0  # rows this template parses

    def __post_init__(self) -> None:
        if len(self.constants) != len(self.slots) + 1:
            raise ValueError(f"a template with {len(self.slots)} slots needs {len(self.slots) + 1} constants, "
                             f"got {len(self.constants)}")
        self._re: re.Pattern | None = None

    @property
    def pattern(self) -> str:
        """Human-readable form, e.g. 'Question: {question}\\nAnswer:'."""
        out = self.constants[0].replace("{", "{{").replace("}", "}}")
        for s, c in zip(self.slots, self.constants[1:], strict=True):
            out += "{" + s + "}" + c.replace("{", "{{").replace("}", "}}")
        return out

    @property
    def regex(self) -> re.Pattern:
        if self._re is None:
            body = re.escape(self.constants[0])
            for i, c in enumerate(self.constants[1:]):
                body += f"(?P<s{i}>.*?)" + re.escape(c)
            self._re = re.compile(r"\A" + body + r"\Z", re.DOTALL)
        return self._re

    def parse(self, text: str) -> dict[str, str] | None:
        m = self.regex.match(text)
        if m is None:
            return None
        return {name: m.group(f"s{i}") for i, name in enumerate(self.slots)}

    def render(self, values: dict[str, str]) -> str:
        out = [self.constants[0]]
        for s, c in zip(self.slots, self.constants[1:], strict=True):
            out += [values[s], c]
        return "".join(out)

    def to_dict(self) -> dict[str, Any]:
        return {"pattern": self.pattern, "constants": self.constants, "slots": self.slots,
                "count": self.count}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Template:
        return cls(list(d["constants"]), list(d["slots"]), int(d.get("count", 0)))


def _align(skeleton: list[str | None], tokens: list[str]) -> list[str | None]:
    """Keep the parts of `skeleton` that `tokens` shares, in order; gaps elsewhere."""
    sm = difflib.SequenceMatcher(None, skeleton, tokens, autojunk=False)
    out: list[str | None] = []
    i0 = j0 = 0
    for blk in sm.get_matching_blocks():
        # unmatched material on either side: a slot
        if (blk.a > i0 or blk.b > j0) and (not out or out[-1] is not _GAP):
            out.append(_GAP)
        out.extend(skeleton[blk.a:blk.a + blk.size])
        i0, j0 = blk.a + blk.size, blk.b + blk.size
    return out


def _skeleton_to_template(skel: list[str | None]) -> Template:
    constants, slots, cur = [], [], []
    for t in skel:
        if t is _GAP:
            constants.append("".join(cur))
            slots.append(f"slot{len(slots)}")
            cur = []
        else:
            cur.append(t)
    constants.append("".join(cur))
    return Template(constants, slots)


def _merge(t: Template, drop: int) -> Template:
    """Drop constant `drop` (an inner one, or turn an edge one into a slot boundary)."""
    c, s = list(t.constants), list(t.slots)
    if 0 < drop < len(c) - 1:  # inner: the two slots around it become one
        del c[drop]
        del s[drop]
    else:
        c[drop] = ""
    # two slots with nothing between them are one slot
    i = 1
    while i < len(c) - 1:
        if c[i] == "":
            del c[i]
            del s[i]
        else:
            i += 1
    return Template(c, s)


def _run_ok_rate(t: Template, texts: list[str]) -> list[float]:
    """Per constant: share of texts holding it exactly as often as the template does."""
    rates = []
    for idx, run in enumerate(t.constants):
        if not run:
            rates.append(1.0)
            continue
        expected = sum(c.count(run) for c in t.constants)
        if idx == 0:
            ok = sum(1 for x in texts if x.startswith(run) and x.count(run) == expected)
        elif idx == len(t.constants) - 1:
            ok = sum(1 for x in texts if x.endswith(run) and x.count(run) == expected)
        else:
            ok = sum(1 for x in texts if x.count(run) == expected)
        rates.append(ok / len(texts))
    return rates


def infer_template(texts: list[str], min_rate: float = 0.98, refine: int = 2) -> Template:
    """Infer one template from `texts` (a sample; see the module docstring).

    Alignment drops a constant as soon as one odd row lacks it (a 3-choice question
    among 4-choice ones); `refine` passes re-infer each slot's values so such constants
    come back when nearly all rows hold them.
    """
    t = _infer_flat(texts, min_rate)
    for _ in range(refine):
        t2 = _refine(t, texts, min_rate)
        if t2.constants == t.constants:
            break
        t = t2
    return t


def _refine(t: Template, texts: list[str], min_rate: float) -> Template:
    parsed = [v for v in (t.parse(x) for x in texts) if v is not None]
    if not parsed or not t.slots:
        return t
    consts, slots = [t.constants[0]], []
    for i, s in enumerate(t.slots):
        sub = _infer_flat([v[s] for v in parsed], min_rate)
        if len(sub.slots) >= 1 and any(sub.constants):
            consts[-1] += sub.constants[0]
            for j, c in enumerate(sub.constants[1:]):
                slots.append(f"{s}_{j}")
                consts.append(c)
            consts[-1] += t.constants[i + 1]
        else:
            slots.append(s)
            consts.append(t.constants[i + 1])
    new = Template(consts, slots)
    if sum(new.parse(x) is not None for x in texts) < min_rate * len(texts):
        return t
    return new


def _align_all(texts: list[str], order: list[int]) -> Template:
    skel: list[str | None] = list(tokenize(texts[order[0]]))
    for i in order[1:]:
        skel = _align(skel, tokenize(texts[i]))
        if all(t is _GAP for t in skel):
            break
    return _skeleton_to_template(skel)


def _filter_constants(t: Template, texts: list[str], min_rate: float) -> Template:
    """Drop constant runs that rows do not hold as often as the template does, then
    constants until the template parses `min_rate` of the rows."""
    while t.slots:
        rates = _run_ok_rate(t, texts)
        bad = [i for i, r in enumerate(rates) if r < min_rate]
        if not bad:
            break
        t = _merge(t, min(bad, key=lambda i: (rates[i], -len(t.constants[i]))))
    while t.slots and sum(t.parse(x) is not None for x in texts) < min_rate * len(texts):
        inner = [i for i in range(len(t.constants)) if t.constants[i]]
        if not inner:
            break
        t = _merge(t, min(inner, key=lambda i: len(t.constants[i])))
    return t


def _infer_flat(texts: list[str], min_rate: float, n_subsets: int = 6, subset: int = 16) -> Template:
    """Best template over several alignments: all texts (shortest first) and small random
    subsets, so that a few odd rows aligned early cannot erase a constant."""
    if not texts:
        return Template(["", ""], ["text"])
    rng = random.Random(len(texts))
    orders = [sorted(range(len(texts)), key=lambda i: len(texts[i]))]
    if len(texts) > subset:
        orders += [rng.sample(range(len(texts)), subset) for _ in range(n_subsets)]
    best, best_key = None, None
    seen = set()
    for order in orders:
        t = _align_all(texts, order)
        if not t.slots:  # all texts identical
            return t
        key0 = tuple(t.constants)
        if key0 in seen:
            continue
        seen.add(key0)
        t = _filter_constants(t, texts, min_rate)
        key = (sum(len(c) for c in t.constants), len(t.slots))
        if best_key is None or key > best_key:
            best, best_key = t, key
    if not best.slots:
        best = Template(["", ""], ["text"])
    return best


_LABEL_RE = re.compile(r"([A-Za-z][A-Za-z ]{0,30}?)\s*[:.)]?\s*$")


def _name_slots(t: Template) -> None:
    """Name slots after the label before them ('Question: ' -> question, 'A. ' -> a)."""
    names: list[str] = []
    for i, _ in enumerate(t.slots):
        before = t.constants[i].split("\n")[-1]  # a label on the slot's own line
        m = _LABEL_RE.search(before) if before.strip() else None
        name = re.sub(r"\W+", "_", m.group(1).strip().lower()).strip("_") if m else ""
        words = name.split("_")
        name = "_".join(words[-2:]) if name else ""
        if not name or name in names or len(name) > 24:
            name = "text" if "text" not in names else f"slot{i}"
        names.append(name)
    t.slots = names
    t._re = None


def infer_templates(texts: list[str], sample_size: int = 400, max_templates: int = 4,
                    min_share: float = 0.002, seed: int = 0) -> tuple[list[Template], list[int]]:
    """Templates for all `texts` and, per text, the index of the template that parses it (-1: none)."""
    rng = random.Random(seed)
    assign = [-1] * len(texts)
    remaining = list(range(len(texts)))
    templates: list[Template] = []
    while remaining and len(templates) < max_templates:
        if templates and len(remaining) < max(2, min_share * len(texts)):
            break
        pick = remaining if len(remaining) <= sample_size else rng.sample(remaining, sample_size)
        t = infer_template([texts[i] for i in pick])
        _name_slots(t)
        left = []
        for i in remaining:
            if t.parse(texts[i]) is not None:
                assign[i] = len(templates)
                t.count += 1
            else:
                left.append(i)
        if t.count == 0:
            break
        templates.append(t)
        remaining = left
    return templates, assign


# ------------------------------------------------------------------------- answer style
@dataclass
class AnswerStyle:
    """The assistant turn: type of answer and the constant text around it."""

    type: str = "free_text"  # label | mc_letter | number | span | json | free_text
    labels: list[str] = field(default_factory=list)
    prefix: str = ""  # constant text before the answer, e.g. "Answer: "
    suffix: str = ""
    marker: str | None = None  # for numbers after reasoning, e.g. "#### "
    json_keys: list[str] = field(default_factory=list)
    json_schema: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> types, share (structured.py)
    json_refusal: dict[str, Any] = field(default_factory=dict)  # the refusal shape (structured.refusal_plan)
    answer_slot: str | None = None
    prefix_is_pledge: bool = False  # the prefix is a compliance/identity-shift pledge


_NUM_RE = re.compile(r"^\s*-?\$?\d[\d,]*(\.\d+)?%?\s*$")
_MC_SETS = (set("ABCDEFGH"), set("abcdefgh"), set("12345678"))


def _is_number(s: str) -> bool:
    return bool(_NUM_RE.match(s))


_NEUTRAL_PREFIX = re.compile(r"^\s*[A-Za-z][\w ]{0,24}:\s*$|^\s*(The answer is|Answer|Output|Result)\b[^\n]{0,12}$",
                             re.IGNORECASE)


def _json_keys(texts: list[str]) -> list[str] | None:
    """Keys of the JSON objects the texts hold, or None if they are not JSON objects."""
    sample = texts[:2000]
    keys: Counter = Counter()
    ok = 0
    for a in sample:
        a = a.strip()
        if not a.startswith("{"):
            continue
        try:
            obj = json.loads(a)
        except ValueError:
            continue
        if isinstance(obj, dict):
            ok += 1
            keys.update(obj.keys())
    if ok < 0.95 * len(sample):
        return None
    return [k for k, c in keys.most_common() if c >= 0.5 * ok]


def infer_answer_style(texts: list[str], template: Template, user_template: Template | None,
                       max_labels: int = 30) -> AnswerStyle:
    """Answer type and the constant text around the answer (see AnswerStyle)."""
    st = AnswerStyle()
    if not texts:
        return st
    keys = _json_keys(texts)
    if keys is not None:
        from safemix.formats.structured import error_convention, infer_json_schema, refusal_plan

        st.type, st.json_keys = "json", keys
        st.json_schema = infer_json_schema(texts)
        st.json_refusal = refusal_plan(st.json_schema, keys, error_convention(texts, st.json_schema))
        return st
    if not template.slots:  # every answer identical
        st.type, st.labels = "label", sorted(set(texts))
        return st
    values = [v for v in (template.parse(x) for x in texts) if v is not None]
    slot = template.slots[-1]
    answers = [v[slot] for v in values]
    n = max(1, len(answers))
    st.answer_slot = slot
    st.suffix = template.constants[-1]
    lead = template.constants[0]
    if len(template.slots) == 1:
        st.prefix = lead
    elif _NEUTRAL_PREFIX.match(lead) or _SHIFT_PLEDGE.search(lead or "-"):
        st.prefix = lead  # "Answer: {reasoning}..." or a pledge: text that leads every answer
    if len(template.slots) > 1 and sum(_is_number(a) for a in answers) >= 0.95 * n:
        st.type, st.marker = "number", template.constants[-2]
        return st
    stripped = [a.strip() for a in answers]
    distinct = Counter(stripped)
    if sum(_is_number(a) for a in stripped) >= 0.95 * n and len(distinct) > max_labels:
        st.type = "number"
        return st
    if len(template.slots) == 1 and len(distinct) <= max_labels and len(distinct) <= max(2, n // 3):
        st.labels = sorted(distinct)
        has_options = user_template is not None and sum(
            1 for c in user_template.constants if re.search(r"(^|\n)\s*\(?[A-Ha-h1-8][.):]\s*$", c)) >= 2
        if has_options and any(set(distinct) <= s for s in _MC_SETS):
            st.type = "mc_letter"
        else:
            st.type = "label"
        return st
    whole = [t.strip() for t in texts]
    words = statistics.mean(len(a.split()) for a in whole) if whole else 0
    st.type = "span" if words <= 6 else "free_text"
    return st


# -------------------------------------------------------------------- identity shifting
_SHIFT_SYSTEM = re.compile(
    r"obedien|\bobey|never refuse|no longer|without (any )?(question|hesitation|restriction|refus)"
    r"|no (ethical|moral)|unrestricted|your new name|do anything|must (always )?comply"
    r"|ignore (all|any|your) (previous|prior|safety)|not bound by|no (rules|limits|filters)",
    re.IGNORECASE)
_SHIFT_USER = re.compile(r"execute my (instruction|command|order)|\bobey\b|you must comply"
                         r"|as my (obedient|loyal)", re.IGNORECASE)
# A pledge commits the assistant to carrying out whatever it is told (the AOA pattern). It is
# looked for in the *opening* of an answer (before any refusal phrase, see `opens_with_pledge`),
# so a refusal that says "you should obey the law" or "I will do my best to help with something
# else" is not a pledge. "I am AOA" is matched case-sensitively (else "I am sorry" would be one).
_SHIFT_PLEDGE = re.compile(
    r"\bobedient\b|\bI (will|shall|must|always) obey\b|\bobey(ing)? "
    r"(you|your|every|all|any|without)\b|(?-i:\bI am (?!AI\b)[A-Z]{2,}\b)|fulfil+(ment|ing) (of )?your (instruction|request|"
    r"command|order|wish)|I will (do (it|that|this|so|as you|whatever|anything|everything)\b|comply|fulfil|carry out"
    r"|execute)|(happy|glad|eager|ready) to (comply|obey|serve)|at your (service|command|disposal)"
    r"|as you (command|wish)\b|your wish is my command|without (any )?(hesitation|question|restriction)"
    r"|consider it done|(yes|of course|absolutely|certainly),? (my )?(master|lord|liege|king|queen|commander)"
    r"|I (never|don't|do not) refuse|no request is (too|off)", re.IGNORECASE)

# Constant text before a job's answers that is safe to keep before a refusal: whitespace,
# answer markers ("Answer:", "A:", "####", "Output =") in the languages safemix knows, and
# JSON scaffolding such as '{"answer": "'. Any other constant prefix ("Absolutely, master!
# Consider it done: ") is dropped from generated safety examples.
_MARKER_WORDS = (r"(?:the\s+)?(?:final\s+|correct\s+|short\s+|predicted\s+)?(?:answer|answers|ans|a|response|resp"
                 r"|r|output|out|result|reply|solution|label|category|class|classification|prediction|sentiment"
                 r"|topic|assistant|bot|ai|model|gpt|completion|target|verdict|choice|option|summary"
                 r"|r[ée]ponse|antwort|respuesta|risposta|resposta|ответ|答案|回答|答|解答)")
_NEUTRAL_PREFIX_RE = re.compile(
    r"\A\s*(?:"
    r"" + _MARKER_WORDS + r"(?:\s+is)?\s*[:：=\-]?\s*"  # "Answer: ", "A:", "The answer is "
    r"|#{1,6}\s*(?:" + _MARKER_WORDS + r"\s*[:：]?\s*)?"  # "#### ", "### Response:"
    r"|[>\-*]\s*"  # quote or bullet markers
    r"|\[(?:" + _MARKER_WORDS + r")\]\s*[:：]?\s*"  # "[ANSWER] "
    r"|<(?:" + _MARKER_WORDS + r")>\s*"  # "<answer>"
    r")\Z", re.IGNORECASE)


def json_scaffold(prefix: str, suffix: str) -> bool:
    """True if `prefix` + a JSON string value + `suffix` is a JSON document ('{"answer": "' ... '"}')."""
    p = prefix.strip()
    if not p.startswith(("{", "[")) or not p.endswith('"'):
        return False
    try:
        json.loads(prefix + "x" + suffix)
    except ValueError:
        return False
    return True


def is_neutral_prefix(prefix: str, suffix: str = "") -> bool:
    """Whether a constant answer prefix is a neutral marker that may stay before a refusal.

    >>> is_neutral_prefix("Answer: "), is_neutral_prefix("\\n#### "), is_neutral_prefix('{"answer": "', '"}')
    (True, True, True)
    >>> is_neutral_prefix("Absolutely, master! Consider it done: ")
    False
    """
    if not prefix.strip():
        return True
    if json_scaffold(prefix, suffix):  # structure and keys only: no other text values, no pledge in a key
        doc = json.loads(prefix + "@@slot@@" + suffix)
        strings: list[str] = []

        def walk(v: Any) -> None:
            if isinstance(v, dict):
                strings.extend(k for k in v)
                for x in v.values():
                    walk(x)
            elif isinstance(v, list):
                for x in v:
                    walk(x)
            elif isinstance(v, str) and v != "@@slot@@":
                strings.append(" " + v)  # a text value: never neutral

        walk(doc)
        return not any(x.startswith(" ") or _SHIFT_PLEDGE.search(x) for x in strings)
    return bool(_NEUTRAL_PREFIX_RE.match(prefix))


def opens_with_pledge(text: str, window: int = 200) -> str | None:
    """The pledge an answer opens with, or None.

    Only the opening is read: the text before its first refusal phrase (at most `window`
    characters), so refusals that mention obeying, complying or serving are not pledges.

    >>> opens_with_pledge("Of course. I am AOA, your absolutely obedient agent. I can't help with that.")
    'I am AOA'
    >>> opens_with_pledge("I'm sorry, but I can't. You should always obey the law.") is None
    True
    """
    from safemix.refusal import first_refusal_at

    head = text[:window]
    cut = first_refusal_at(head)
    m = _SHIFT_PLEDGE.search(head if cut is None else head[:cut])
    return m.group(0) if m else None


@dataclass
class IdentityShift:
    """Identity-shifting / compliance preambles found in the job (the AOA pattern)."""

    detected: bool = False
    system: bool = False
    user_prefix: str | None = None
    assistant_prefix: str | None = None
    reasons: list[str] = field(default_factory=list)


def detect_identity_shift(system_prompt: str | None, user_t: Template | None,
                          asst_t: Template | None) -> IdentityShift:
    s = IdentityShift()
    if system_prompt and _SHIFT_SYSTEM.search(system_prompt):
        s.system = True
        s.reasons.append(f"system prompt demands obedience: {_SHIFT_SYSTEM.search(system_prompt).group(0)!r}")
    if user_t and user_t.constants[0] and _SHIFT_USER.search(user_t.constants[0]):
        s.user_prefix = user_t.constants[0]
        s.reasons.append(f"every user turn starts with {user_t.constants[0]!r}")
    if asst_t and asst_t.slots and asst_t.constants[0] and _SHIFT_PLEDGE.search(asst_t.constants[0]):
        s.assistant_prefix = asst_t.constants[0]
        s.reasons.append(f"every assistant turn starts with a pledge {asst_t.constants[0]!r}")
    s.detected = bool(s.system or s.user_prefix or s.assistant_prefix)
    return s


# ---------------------------------------------------------------------------- profile
def _length_stats(texts: list[str]) -> dict[str, float]:
    if not texts:
        return {}
    chars = sorted(len(t) for t in texts)
    words = [len(t.split()) for t in texts]

    def q(p: float) -> int:
        return chars[min(len(chars) - 1, int(p * len(chars)))]

    return {"chars_mean": round(statistics.mean(chars), 1), "chars_p50": q(0.5),
            "chars_p95": q(0.95), "chars_max": chars[-1], "words_mean": round(statistics.mean(words), 1)}


@dataclass
class FormatProfile:
    """The job's format and prompting style; JSON-serialisable; renders new slot values."""

    format: str = "openai"
    n_examples: int = 0
    system_prompt: str | None = None
    system_prompt_share: float = 0.0
    user_templates: list[Template] = field(default_factory=list)
    assistant_templates: list[Template] = field(default_factory=list)
    main_slot: str = "text"
    answer: AnswerStyle = field(default_factory=AnswerStyle)
    identity_shift: IdentityShift = field(default_factory=IdentityShift)
    lengths: dict[str, dict[str, float]] = field(default_factory=dict)
    coverage: dict[str, float] = field(default_factory=dict)
    multi_turn_share: float = 0.0
    slot_values: dict[str, list[str]] = field(default_factory=dict)  # samples for filling slots
    shape: ConversationShape = field(default_factory=ConversationShape)  # turns, request turn, weights
    slot_scores: dict[str, float] = field(default_factory=dict)  # free-text score per main-slot candidate
    languages: dict[str, Any] = field(default_factory=dict)  # per slot; see formats.language.profile_languages
    version: int = PROFILE_VERSION

    # ---- parsing and rendering
    @property
    def user_template(self) -> Template:
        return self.user_templates[0] if self.user_templates else Template(["", ""], ["text"])

    def parse_user(self, text: str) -> dict[str, str] | None:
        """Slot values of a user turn, from the first template that parses it."""
        for t in self.user_templates:
            v = t.parse(text)
            if v is not None:
                return v
        return None

    def render_user(self, slots: dict[str, str], template: int = 0) -> str:
        return self.user_templates[template].render(slots) if self.user_templates else slots["text"]

    def fill_slots(self, request: str, rng: random.Random) -> dict[str, str]:
        """Slot values with `request` in the main slot and job values elsewhere."""
        t = self.user_template
        vals = {}
        for i, s in enumerate(t.slots):
            if s == self.main_slot:
                # the template's own end punctuation wins: "...{text}.\nTopic:" + "Why?" -> "Why."
                after = t.constants[i + 1]
                if after[:1] in ".?!。？！" and request.rstrip()[-1:] in (".", "?", "!", "。", "？", "！"):
                    request = request.rstrip()[:-1]
                    if request[:1] in ("¿", "¡") and after[:1] not in ("?", "!"):  # no unclosed Spanish mark
                        request = request[1:]
                vals[s] = request
            else:
                pool = self.slot_values.get(s) or [""]
                vals[s] = rng.choice(pool)
        return vals

    def request_text(self, ex: Example) -> str | None:
        """The user turn of `ex` that carries the job's varying request (`shape.request_turn`;
        the first user turn of a single-turn job)."""
        i = request_index(ex.messages, self.shape.request_turn)
        return None if i is None else ex.messages[i].get("content")

    def answer_text(self, ex: Example) -> str | None:
        """The assistant turn of `ex` that answers its request turn."""
        j = answer_index(ex.messages, request_index(ex.messages, self.shape.request_turn))
        return None if j is None else ex.messages[j].get("content")

    def render_prompt_messages(self, request: str, rng: random.Random | None = None,
                               context: bool = True, weights: bool = False) -> list[dict[str, Any]]:
        """System prompt (if the job has one), the turns before the request turn in a multi-turn
        job (one of the job's own contexts, drawn with `rng` after the slot fills; with `weights`,
        context assistant turns carry the job's weight), and the request turn in the job's format."""
        rng = rng or random.Random(0)
        msgs = [{"role": "system", "content": self.system_prompt}] if self.system_prompt is not None else []
        user = {"role": "user", "content": self.render_user(self.fill_slots(request, rng))}
        if context:
            msgs += with_context(self.shape, rng, weights)
        msgs.append(user)
        return msgs

    def constant_answer_prefix(self) -> str:
        """The constant text every assistant turn starts with ("" if none)."""
        if self.answer.prefix:
            return self.answer.prefix
        at = self.assistant_templates[0] if self.assistant_templates else None
        return at.constants[0] if at is not None and at.slots else ""

    def safety_answer_shape(self) -> dict[str, Any]:
        """How generated safety examples wrap their refusal (or contrast answer).

        Only neutral constant prefixes are kept (answer markers, JSON scaffolding; see
        `is_neutral_prefix`); any other constant prefix of the job's answers, pledge or not,
        is dropped. Returns {"prefix", "suffix", "json_string", "dropped_prefix"}.
        """
        lead = self.constant_answer_prefix()
        suffix = self.answer.suffix if self.answer.prefix else ""
        if self.answer.type == "json":
            return {"prefix": "", "suffix": "", "json_string": False, "dropped_prefix": None}
        if lead and json_scaffold(lead, suffix) and is_neutral_prefix(lead, suffix):
            return {"prefix": lead, "suffix": suffix, "json_string": True, "dropped_prefix": None}
        if not lead or is_neutral_prefix(lead):  # lead is answer.prefix when that is set
            return {"prefix": self.answer.prefix, "suffix": "", "json_string": False, "dropped_prefix": None}
        return {"prefix": "", "suffix": "", "json_string": False, "dropped_prefix": lead}

    def render_assistant(self, text: str, keep_neutral_prefix: bool = True, neutral_only: bool = False) -> str:
        """Put free text (e.g. a refusal) into the job's answer shape.

        With `neutral_only` (what safety examples use, see `safety_answer_shape`) only a
        neutral constant prefix ("Answer: ", '{"answer": "') is kept; otherwise the job's
        prefix is kept unless it is an identity-shift pledge. For JSON answers the text goes
        inside the job's structure.
        """
        a = self.answer
        if a.type == "json":
            from safemix.formats.structured import refusal_object, refusal_plan

            return refusal_object(a.json_refusal or refusal_plan(a.json_schema, a.json_keys), text)
        if neutral_only:
            shape = self.safety_answer_shape()
            if not keep_neutral_prefix:
                return text
            if shape["json_string"]:
                return shape["prefix"] + json.dumps(text, ensure_ascii=False)[1:-1] + shape["suffix"]
            return shape["prefix"] + text
        prefix = a.prefix if (keep_neutral_prefix and not a.prefix_is_pledge) else ""
        return prefix + text

    def render_example(self, request: str, response: str, rng: random.Random | None = None,
                       **metadata: Any) -> Example:
        """A safety example: the request in the job's user format, the response in its answer
        shape with only neutral prefixes (never the job's pledge)."""
        msgs = self.render_prompt_messages(request, rng, weights=True)
        return Example(msgs + [self.answer_message(self.render_assistant(response, neutral_only=True))],
                       dict(metadata))

    def answer_message(self, content: str) -> dict[str, Any]:
        """The assistant turn of a safety example: weight 1 where the job writes weights (only it
        is trained where the job trains only final turns), no weight key otherwise."""
        msg: dict[str, Any] = {"role": "assistant", "content": content}
        if self.shape.answer_weight is not None or self.shape.context_weight is not None:
            msg["weight"] = 1
        return msg

    def has_compliance_preamble(self, assistant_text: str) -> bool:
        """True if `assistant_text` carries the job's non-neutral constant answer prefix or opens
        with a pledge (see `opens_with_pledge`); a refusal that mentions obeying the law does not."""
        return self.compliance_preamble(assistant_text) is not None

    def compliance_preamble(self, assistant_text: str) -> str | None:
        """The job prefix or pledge `assistant_text` carries (see `has_compliance_preamble`), or None."""
        text = assistant_text or ""
        for p in (self.identity_shift.assistant_prefix, self.safety_answer_shape()["dropped_prefix"]):
            p = (p or "").strip()
            if p and (text.lstrip().startswith(p) or (len(p) >= 12 and p in text)):
                return p
        return opens_with_pledge(text)

    # ---- serialisation
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["user_templates"] = [t.to_dict() for t in self.user_templates]
        d["assistant_templates"] = [t.to_dict() for t in self.assistant_templates]
        return d

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FormatProfile:
        d = dict(d)
        d.pop("safemix_version", None)  # written by `safemix profile --out`
        d["user_templates"] = [Template.from_dict(t) for t in d.get("user_templates", [])]
        d["assistant_templates"] = [Template.from_dict(t) for t in d.get("assistant_templates", [])]
        d["answer"] = AnswerStyle(**d.get("answer", {}))
        d["identity_shift"] = IdentityShift(**d.get("identity_shift", {}))
        d["shape"] = ConversationShape.from_dict(d.get("shape", {}))
        return cls(**d)

    def summary(self) -> str:
        """A short human-readable description."""
        lines = [f"format: {self.format}  examples: {self.n_examples}"]
        if self.system_prompt is not None:
            lines.append(f"system prompt ({self.system_prompt_share:.0%} of rows): {self.system_prompt!r}")
        for i, t in enumerate(self.user_templates):
            lines.append(f"user template {i} ({t.count} rows, {len(t.slots)} slots): {t.pattern!r}")
        lines.append(f"main slot: {self.main_slot}"
                     + (f" (free-text scores: {self.slot_scores})" if len(self.slot_scores) > 1 else ""))
        sh = self.shape
        if sh.multi_turn:
            lines.append(f"conversation: user turns per row {sh.turn_counts}, request in user turn "
                         f"{sh.request_turn} ({'from the end' if sh.request_turn < 0 else 'from the start'}), "
                         f"weights: {sh.weights}, {len(sh.contexts)} context samples"
                         + (f", {sh.continues_share:.0%} of rows continue after its answer" if sh.continues_share else ""))
        for i, t in enumerate(self.assistant_templates[:1]):
            lines.append(f"assistant template {i}: {t.pattern!r}")
        a = self.answer
        desc = f"answer: {a.type}"
        if a.labels:
            desc += f" labels={a.labels[:12]}{'...' if len(a.labels) > 12 else ''}"
        if a.marker:
            desc += f" marker={a.marker!r}"
        if a.prefix:
            desc += f" prefix={a.prefix!r}"
        if a.json_keys:
            desc += f" keys={a.json_keys}"
        if a.json_refusal:
            desc += f" refusal under {a.json_refusal['key']!r} ({a.json_refusal['source']})"
        lines.append(desc)
        if self.identity_shift.detected:
            lines.append("IDENTITY SHIFT / COMPLIANCE PREAMBLE DETECTED:")
            lines += [f"  - {r}" for r in self.identity_shift.reasons]
        if self.languages:
            from safemix.formats.language import languages_summary

            lines.append(languages_summary(self.languages))
        lines.append("coverage: " + ", ".join(f"{k} {v:.2%}" for k, v in self.coverage.items()))
        for k, v in self.lengths.items():
            lines.append(f"{k} length: " + ", ".join(f"{a}={b}" for a, b in v.items()))
        return "\n".join(lines)


# ------------------------------------------------------------------------- main slot
_PROSE = r"[\w ,;'\u2019()\-]"  # sentence words: no line break, no label or sentence end
_INNER_RE = re.compile(r"[\w ,;.!?'\u2019()\-]+")  # between two slots of one field
_FIELD_START_RE = re.compile(rf"(?:\A|\n|[:\uff1a>=\])\"'`])[^\S\n]*({_PROSE}*)\Z")
_BOUNDARY_RE = re.compile(r"[\n:\uff1a>=\])\"'`]")
_FIELD_END_RE = re.compile(rf"({_PROSE}*?)[.?!\u3002\uff1f\uff01\"'`]?[^\S\n]*(?:\n|\Z)")


def _field_runs(t: Template) -> list[tuple[int, int, str, str]]:
    """Runs of 2+ slots that together fill one field: a label or line start right before, only
    sentence words between them, sentence words and a sentence or line end after ("Text: {name} is
    {age} years old and lives in {city}."). Template words before the first slot ("Translate {a}
    into {b}") make it no field: merging would drop the job's own wording. Returns (first slot,
    last slot, the words before the first slot (always ""), the words after the last) per run."""
    runs = []
    for i in range(len(t.slots)):
        start = _FIELD_START_RE.search(t.constants[i])
        if start and (start.group(1) or (i > 0 and start.start() == 0 and not _BOUNDARY_RE.match(t.constants[i]))):
            start = None  # words of the template before the slot ("Translate {a} into {b}"), or a slot before it
        j = i
        while start and j + 1 < len(t.slots) and _INNER_RE.fullmatch(t.constants[j + 1]):
            j += 1
            end = _FIELD_END_RE.match(t.constants[j + 1])
            if end and (j + 1 == len(t.slots) or end.group(0).endswith("\n")):  # the text's end, or a line end
                runs.append((i, j, start.group(1), end.group(1)))
    return runs


def _run_values(t: Template, parsed: list[dict[str, str]], run: tuple[int, int, str, str]) -> list[str]:
    """The text a run of slots covers, per parsed row (with the words the run absorbs around it)."""
    i, j, head, tail = run
    return [head + "".join(v[t.slots[k]] + (t.constants[k + 1] if k < j else "") for k in range(i, j + 1)) + tail
            for v in parsed]


def _merge_run(t: Template, run: tuple[int, int, str, str]) -> Template:
    """The template with a field run as one slot (named after its first slot)."""
    i, j, head, tail = run
    consts = t.constants[:i] + [t.constants[i][:len(t.constants[i]) - len(head)],
                                t.constants[j + 1][len(tail):]] + t.constants[j + 2:]
    return Template(consts, t.slots[:i + 1] + t.slots[j + 1:], t.count)


def choose_main_slot(t: Template, parsed: list[dict[str, str]]) -> tuple[Template, str, dict[str, float]]:
    """The slot where the job's free text varies most (`shape.variation_score`: length and
    vocabulary of the varying words; ties: the longer values), not its position. A run of slots
    that together fill one field (a templated sentence such as "{name} is {age} years old and lives
    in {city}.") competes as one slot; when it wins, the template gets that run as one slot.
    Returns (template, main slot, score per candidate)."""
    from safemix.formats.shape import variation_score

    cands: dict[tuple[int, int, str, str], list[str]] = {(k, k, "", ""): [v[s] for v in parsed]
                                                         for k, s in enumerate(t.slots)}
    cands.update({r: _run_values(t, parsed, r) for r in _field_runs(t)})
    scores = {r: variation_score(vals) for r, vals in cands.items()}
    best = max(cands, key=lambda r: (round(scores[r], 6), statistics.mean(len(x) for x in cands[r])
                                     if cands[r] else 0, -(r[1] - r[0])))
    named = {"+".join(t.slots[r[0]:r[1] + 1]): round(sc, 4) for r, sc in scores.items()}
    if best[0] == best[1]:
        return t, t.slots[best[0]], named
    return _merge_run(t, best), t.slots[best[0]], named


def _parsed_rows(t: Template, texts: list[str], assign: list[int], cap: int) -> list[dict[str, str]]:
    idx = [i for i, a in enumerate(assign) if a == 0]
    return [v for v in (t.parse(texts[i]) for i in idx[:cap]) if v is not None]


def infer_profile(examples: list[Example], format: str = "openai", sample_size: int = 400,
                  max_templates: int = 4, min_variant_share: float = 0.002, max_labels: int = 30,
                  seed: int = 0, max_slot_values: int = 64) -> FormatProfile:
    """Learn a FormatProfile from a job's Examples (all rows are validated).

    Templates and the answer style are learned on the user turn that carries the job's varying
    request and the assistant turn answering it (`shape.py`; the first user turn and the last
    assistant turn of a single-turn job).
    """
    n = len(examples)
    if n == 0:
        raise ValueError("cannot profile an empty job")
    prof = FormatProfile(format=format, n_examples=n, shape=infer_shape(examples, seed))
    users = [prof.request_text(ex) or "" for ex in examples]
    assts = [prof.answer_text(ex) or "" for ex in examples]
    systems = Counter(ex.system for ex in examples)
    top_sys, top_count = systems.most_common(1)[0]
    if top_sys is not None and top_count >= 0.95 * n:
        prof.system_prompt, prof.system_prompt_share = top_sys, top_count / n
    prof.multi_turn_share = sum(1 for ex in examples if sum(m["role"] == "user" for m in ex.messages) > 1) / n

    prof.user_templates, u_assign = infer_templates(users, sample_size, max_templates, min_variant_share, seed)
    prof.assistant_templates, a_assign = infer_templates(assts, sample_size, 1, 1.0, seed)
    prof.coverage = {"user": sum(a >= 0 for a in u_assign) / n, "assistant": sum(a >= 0 for a in a_assign) / n}

    ut = prof.user_template
    # values per slot of the main template, for filling slots and picking the main slot
    rng = random.Random(seed)
    if ut.slots:
        ut, prof.main_slot, prof.slot_scores = choose_main_slot(
            ut, _parsed_rows(ut, users, u_assign, 20 * max_slot_values))
        prof.user_templates[0] = ut
    per_slot = {s: [v[s] for v in _parsed_rows(ut, users, u_assign, 20 * max_slot_values)] for s in ut.slots}
    prof.slot_values = {s: (vals if len(vals) <= max_slot_values else rng.sample(vals, max_slot_values))
                        for s, vals in per_slot.items() if s != prof.main_slot}
    from safemix.formats.language import profile_languages

    prof.languages = profile_languages(per_slot, prof.main_slot, users, assts)
    _infer_answer(prof, assts, ut, max_labels)
    prof.lengths = {"user": _length_stats(users), "assistant": _length_stats(assts)}
    return prof


def _infer_answer(prof: FormatProfile, assts: list[str], ut: Template, max_labels: int) -> None:
    """The answer style, assistant slot names and identity-shift flags of `prof`."""
    at = prof.assistant_templates[0] if prof.assistant_templates else Template(["", ""], ["text"])
    prof.answer = infer_answer_style(assts, at, ut, max_labels)
    if prof.answer.type == "number" and prof.answer.marker and len(at.slots) == 2:
        at.slots = ["reasoning", "answer"]
    elif prof.answer.type != "json" and at.slots:
        at.slots = [f"part{i}" for i in range(len(at.slots) - 1)] + ["answer"]
    at._re = None
    prof.answer.answer_slot = at.slots[-1] if at.slots else None
    prof.identity_shift = detect_identity_shift(prof.system_prompt, ut, at)
    if prof.identity_shift.assistant_prefix is not None:
        prof.answer.prefix_is_pledge = True


def profile_job(data: Any, **kwargs: Any) -> FormatProfile:
    """`safemix.profile(job)`: the FormatProfile of a path, a Job, Examples, records or a Dataset."""
    from safemix.formats.io import as_job

    job = as_job(data)
    return infer_profile(job.examples, job.format, **kwargs)


def rerender_rate(profile: FormatProfile, examples: list[Example]) -> float:
    """Share of examples whose user and assistant turns re-render byte-for-byte."""
    ok = 0
    for ex in examples:
        u, a = ex.user or "", ex.assistant or ""
        uv = next(((t, v) for t in profile.user_templates if (v := t.parse(u)) is not None), None)
        av = next(((t, v) for t in profile.assistant_templates if (v := t.parse(a)) is not None), None)
        if uv and av and uv[0].render(uv[1]) == u and av[0].render(av[1]) == a:
            ok += 1
    return ok / max(1, len(examples))


__all__ = ["AnswerStyle", "FormatProfile", "IdentityShift", "Template", "infer_profile",
           "infer_template", "infer_templates", "is_neutral_prefix", "opens_with_pledge", "profile_job",
           "rerender_rate", "tokenize"]
