"""Task metrics on the job's validation data, chosen by the FormatProfile's answer type.

| answer type          | metric             | how the generation is read                          |
|----------------------|--------------------|-----------------------------------------------------|
| label, mc_letter     | `accuracy`         | the first label of the job's label set it contains  |
| (same, optional)     | `loglik_accuracy`  | the option with the highest log-likelihood          |
| number               | `number_em`        | the number after the marker (`#### N`), else the last number |
| span                 | `span_f1` (+ `span_em`) | SQuAD normalisation (case, punctuation, articles) |
| free_text, json      | `rouge_l`          | LCS-based ROUGE-L F1 over words                     |

Every metric is a mean of per-example scores in [0, 1], so the same bootstrap applies.

    >>> number_em("so 29 + 60 = 89.\\n#### 89", "#### 89", marker="#### ")
    1.0
    >>> round(rouge_l("the cat sat on the mat", "the cat lay on the mat"), 3)
    0.833
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable

METRICS = ("accuracy", "loglik_accuracy", "number_em", "span_em", "span_f1", "rouge_l")
HIGHER_IS_BETTER = dict.fromkeys(METRICS, True)

_NUM = re.compile(r"-?\$?\d[\d,]*(?:\.\d+)?")


def metric_for_answer_type(answer_type: str) -> str:
    """The default metric of a FormatProfile answer type."""
    return {"label": "accuracy", "mc_letter": "accuracy", "number": "number_em",
            "span": "span_f1"}.get(answer_type, "rouge_l")


# ------------------------------------------------------------------------ labels / letters
def parse_label(generation: str, labels: list[str], prefix: str = "") -> str | None:
    """The label of `labels` that `generation` answers with, or None.

    An exact (case-insensitive) match after stripping the job's answer prefix wins; else
    the label whose whole-word occurrence comes first (longest label first on ties, so
    "Sci/Tech" beats "Tech").

    >>> parse_label("Topic: Sports.", ["World", "Sports"], prefix="Topic: ")
    'Sports'
    >>> parse_label("I think it is (B) because ...", ["A", "B", "C", "D"])
    'B'
    """
    text = generation.strip()
    if prefix and text.startswith(prefix.strip()):
        text = text[len(prefix.strip()):].strip()
    bare = text.strip().strip(".!:;,()[]\"'").strip()
    for lab in labels:
        if bare.lower() == lab.strip().lower():
            return lab
    best: tuple[int, int, str] | None = None
    for lab in labels:
        lab_s = lab.strip()
        if not lab_s:
            continue
        # whole-word match; single letters must stand alone (not inside a word)
        pat = re.compile(r"(?<![A-Za-z0-9])" + re.escape(lab_s) + r"(?![A-Za-z0-9])",
                         0 if len(lab_s) == 1 else re.IGNORECASE)
        m = pat.search(text)
        if m and (best is None or (m.start(), -len(lab_s)) < best[:2]):
            best = (m.start(), -len(lab_s), lab)
    return best[2] if best else None


def label_accuracy(generation: str, reference: str, labels: list[str], prefix: str = "") -> float:
    pred = parse_label(generation, labels, prefix)
    return float(pred is not None and pred.strip().lower() == reference.strip().lower())


# ------------------------------------------------------------------------ numbers
def _to_number(s: str) -> float | None:
    s = s.replace(",", "").replace("$", "").rstrip(".")
    try:
        return float(s)
    except ValueError:
        return None


def parse_number(text: str, marker: str | None = None) -> float | None:
    """The answer number: the first number after the last `marker` if present, else the last number.

    >>> parse_number("3 + 4 = 7\\n#### 7", "#### "), parse_number("The answer is 1,200."), parse_number("none")
    (7.0, 1200.0, None)
    """
    if marker and marker.strip() and marker.strip() in text:
        tail = text.rsplit(marker.strip(), 1)[1]
        m = _NUM.search(tail)
        if m:
            return _to_number(m.group(0))
    nums = _NUM.findall(text)
    return _to_number(nums[-1]) if nums else None


def number_em(generation: str, reference: str, marker: str | None = None) -> float:
    pred, gold = parse_number(generation, marker), parse_number(reference, marker)
    return float(pred is not None and gold is not None and abs(pred - gold) < 1e-6)


# ------------------------------------------------------------------------ spans (SQuAD)
def normalize_answer(s: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces.

    >>> normalize_answer("The  Eiffel Tower!")
    'eiffel tower'
    """
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def span_em(generation: str, reference: str) -> float:
    return float(normalize_answer(generation) == normalize_answer(reference))


def span_f1(generation: str, reference: str) -> float:
    """Token-overlap F1 after SQuAD normalisation.

    >>> span_f1("in Paris, France", "Paris")
    0.5
    """
    p, g = normalize_answer(generation).split(), normalize_answer(reference).split()
    if not p or not g:
        return float(p == g)
    common = sum((Counter(p) & Counter(g)).values())
    if common == 0:
        return 0.0
    prec, rec = common / len(p), common / len(g)
    return 2 * prec * rec / (prec + rec)


# ------------------------------------------------------------------------ ROUGE-L
def lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence (O(len(a) * len(b)) time, O(len(b)) memory)."""
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(generation: str, reference: str) -> float:
    """ROUGE-L F1 (beta = 1) over lower-cased word tokens."""
    p = re.findall(r"\w+", generation.lower())
    g = re.findall(r"\w+", reference.lower())
    if not p or not g:
        return float(p == g)
    lcs = lcs_length(p, g)
    if lcs == 0:
        return 0.0
    prec, rec = lcs / len(p), lcs / len(g)
    return 2 * prec * rec / (prec + rec)


# ------------------------------------------------------------------------ dispatch
def strip_answer(text: str, prefix: str = "", suffix: str = "") -> str:
    """The answer with the job's constant prefix/suffix removed (for references and spans)."""
    t = text
    if prefix and t.startswith(prefix):
        t = t[len(prefix):]
    if suffix and t.endswith(suffix) and suffix:
        t = t[: -len(suffix)]
    return t.strip()


def scorer(metric: str, *, labels: list[str] | None = None, prefix: str = "", suffix: str = "",
           marker: str | None = None) -> Callable[[str, str], float]:
    """A `(generation, reference) -> score in [0, 1]` function for a generation-based metric."""
    from safemix.errors import ConfigError

    if metric == "accuracy":
        if not labels:
            raise ConfigError("accuracy needs the job's label set (the profile found no labels); "
                              "set eval.task_metric to another metric")
        return lambda g, r: label_accuracy(g, strip_answer(r, prefix, suffix), labels, prefix)
    if metric == "number_em":
        return lambda g, r: number_em(g, r, marker)
    if metric == "span_em":
        return lambda g, r: span_em(strip_answer(g, prefix, suffix), strip_answer(r, prefix, suffix))
    if metric == "span_f1":
        return lambda g, r: span_f1(strip_answer(g, prefix, suffix), strip_answer(r, prefix, suffix))
    if metric == "rouge_l":
        return rouge_l
    raise ConfigError(f"metric {metric!r} is not computed from generations; choose one of "
                      f"{', '.join(m for m in METRICS if m != 'loglik_accuracy')}")
