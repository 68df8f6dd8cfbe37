"""Training data: Examples -> token ids + labels, with loss masking as an explicit choice.

Masking (`masking=`):

- `completion_only` (default): only assistant turns are trained: their content and the
  end-of-turn token the chat template puts after it. System/user turns, role headers and
  the whitespace a template adds after an end-of-turn token are not.
- `all`: every token is trained.

In both, an assistant message with OpenAI's `weight: 0` is not trained.

How: the conversation is rendered with the tokenizer's chat template, and the text is cut
at the boundaries found by rendering prefixes of the conversation (the prompt up to each
assistant turn with the generation prompt, then the conversation through that turn). Each
piece is tokenized on its own and labelled as a whole, so the mask is exact whatever the
template, with or without `{% generation %}` markers. Cutting at the prompt/answer boundary
matches inference, where the answer's tokens start right after the generation prompt (TRL's
prompt-completion tokenization does the same). A template that renders a prefix of the
conversation differently from the whole (so no cut is possible) is an error naming the
example, not a silent mistake.

Before training, `verify_masking` checks every example independently of how it was built:
at least one trained token, the prompt before the first answer tokenizes to exactly the
untrained leading ids, and each trained span starts with the assistant text it belongs to.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from safemix.errors import InputError

log = logging.getLogger(__name__)

IGNORE = -100
# What a trained span may carry beyond its assistant text: the template's end-of-turn
# markup (e.g. "<|im_end|>", "<|eot_id|>", "</s>"). More than this means prompt text leaked in.
MAX_END_OF_TURN_CHARS = 48


@dataclass
class Located:
    """An Example with the file and line it came from (for error messages)."""

    messages: list[dict[str, Any]]
    path: str
    line: int


@dataclass
class Tokenized:
    input_ids: list[int]
    labels: list[int]
    path: str
    line: int
    segments: list[tuple[str, bool]] = field(default_factory=list, repr=False)

    @property
    def n_trained(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE)


def read_training_examples(paths: Sequence[str], data_format: str | None = None,
                           column_map: dict[str, str] | None = None) -> list[Located]:
    """Read every file with `safemix.formats` (any supported format), keeping file and line."""
    from safemix.formats import JobReader

    if not paths:
        from safemix.errors import ConfigError

        raise ConfigError("train.data is empty: give the training file(s), e.g. data=mixed.jsonl")
    out: list[Located] = []
    for p in paths:
        for line, ex, _ in JobReader(p, data_format, None, column_map):
            out.append(Located(ex.messages, str(p), line))
    return out


def chat_messages(messages: Iterable[dict[str, Any]]) -> tuple[list[dict[str, str]], list[bool]]:
    """Messages as the chat template expects them, and which are trainable assistant turns.

    >>> chat_messages([{"role": "user", "content": "hi"},
    ...                {"role": "assistant", "content": "a", "weight": 0}])
    ([{'role': 'user', 'content': 'hi'}, {'role': 'assistant', 'content': 'a'}], [False, False])
    """
    msgs, trainable = [], []
    for m in messages:
        msgs.append({"role": m["role"], "content": m.get("content") or ""})
        trainable.append(m["role"] == "assistant" and m.get("weight", 1) != 0)
    return msgs, trainable


def _render(tokenizer, messages: list[dict[str, str]], generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False,
                                         add_generation_prompt=generation_prompt)


def segment_conversation(tokenizer, messages: list[dict[str, Any]], masking: str = "completion_only",
                         where: tuple[str, int] = ("<data>", 0)) -> list[tuple[str, bool]]:
    """Cut the rendered conversation into (text, trained) pieces; see the module docstring."""
    msgs, trainable = chat_messages(messages)
    path, line = where
    full = _render(tokenizer, msgs, False)
    if masking == "all" and all(t for t, m in zip(trainable, msgs, strict=True) if m["role"] == "assistant"):
        return [(full, True)]
    prompt_trained = masking == "all"
    segments: list[tuple[str, bool]] = []
    pos = 0
    for i, m in enumerate(msgs):
        if m["role"] != "assistant":
            continue
        before = _render(tokenizer, msgs[:i], True)
        through = _render(tokenizer, msgs[: i + 1], False)
        if not (through.startswith(before) and full.startswith(through) and len(before) >= pos):
            raise InputError(
                f"the chat template renders the conversation up to assistant turn {i} differently "
                "from the whole conversation, so prompt and answer cannot be told apart. Use a "
                "chat_template that renders turns independently, or masking=all",
                path=path, line=line, field=f"messages[{i}]")
        body = full[len(before):len(through)]
        answer = body.rstrip()  # whitespace after the end-of-turn token is template, not answer
        segments += [(full[pos:len(before)], prompt_trained), (answer, trainable[i]),
                     (body[len(answer):], prompt_trained)]
        pos = len(through)
    segments.append((full[pos:], prompt_trained))
    return [(t, b) for t, b in segments if t]


def tokenize_segments(tokenizer, segments_list: list[list[tuple[str, bool]]]) -> list[tuple[list[int], list[int]]]:
    """Tokenize every piece (one batched call) and label it as a whole."""
    flat = [text for segs in segments_list for text, _ in segs]
    ids_flat = tokenizer(flat, add_special_tokens=False)["input_ids"] if flat else []
    out, k = [], 0
    for segs in segments_list:
        ids: list[int] = []
        labels: list[int] = []
        for _, trained in segs:
            piece = ids_flat[k]
            k += 1
            ids += piece
            labels += piece if trained else [IGNORE] * len(piece)
        out.append((ids, labels))
    return out


def tokenize_examples(tokenizer, examples: Sequence[Located], masking: str = "completion_only",
                      max_seq_length: int | None = None, chunk: int = 512,
                      show_progress: bool = False) -> list[Tokenized]:
    """Examples -> `Tokenized` (input_ids, labels), truncated to `max_seq_length` (keep start)."""
    from tqdm.auto import tqdm

    out: list[Tokenized] = []
    from safemix.console import progress_enabled

    bar = tqdm(total=len(examples), desc="tokenizing", unit="ex", disable=not (show_progress and progress_enabled()))
    for start in range(0, len(examples), chunk):
        part = examples[start:start + chunk]
        segs = [segment_conversation(tokenizer, ex.messages, masking, (ex.path, ex.line)) for ex in part]
        for ex, s, (ids, labels) in zip(part, segs, tokenize_segments(tokenizer, segs), strict=True):
            if max_seq_length is not None:
                ids, labels = ids[:max_seq_length], labels[:max_seq_length]
            out.append(Tokenized(ids, labels, ex.path, ex.line, s))
        bar.update(len(part))
    bar.close()
    return out


# ------------------------------------------------------------------------------ checks
def _spans(labels: Sequence[int]) -> list[tuple[int, int]]:
    """Maximal [start, end) runs of trained positions."""
    spans, start = [], None
    for i, lab in enumerate(list(labels) + [IGNORE]):
        if lab != IGNORE and start is None:
            start = i
        elif lab == IGNORE and start is not None:
            spans.append((start, i))
            start = None
    return spans


def _norm(text: str) -> str:
    return " ".join(text.split())


def masking_problem(tokenizer, ex: Located, tok: Tokenized, masking: str,
                    max_seq_length: int | None = None) -> str | None:
    """Why this example's labels are wrong, or None. Independent of how the labels were built."""
    if len(tok.labels) != len(tok.input_ids):
        return "labels and input_ids differ in length"
    if any(lab != IGNORE and lab != tid for lab, tid in zip(tok.labels, tok.input_ids, strict=True)):
        return "a label differs from its input id"
    if tok.n_trained == 0:
        hint = (f" (it has {len(tok.input_ids)} tokens: the prompt may fill max_seq_length="
                f"{max_seq_length})" if max_seq_length and len(tok.input_ids) >= max_seq_length else "")
        return "no token is trained: it has no assistant turn with weight 1" + hint
    if masking != "completion_only":
        return None
    msgs, trainable = chat_messages(ex.messages)
    first = next(i for i, m in enumerate(msgs) if m["role"] == "assistant")
    prompt_ids = tokenizer(_render(tokenizer, msgs[:first], True), add_special_tokens=False)["input_ids"]
    n = min(len(prompt_ids), len(tok.input_ids))
    if tok.input_ids[:n] != prompt_ids[:n]:
        return "the token ids do not start with the tokenized prompt"
    if any(lab != IGNORE for lab in tok.labels[:n]):
        return "a prompt token (before the first answer) is trained"
    answers = [m["content"] for m, t in zip(msgs, trainable, strict=True) if t]
    spans = _spans(tok.labels)
    truncated = max_seq_length is not None and len(tok.input_ids) >= max_seq_length
    if len(spans) > len(answers) or (len(spans) < len(answers) and not truncated):
        return f"{len(spans)} trained spans for {len(answers)} trainable assistant turns"
    for (s, e), answer in zip(spans, answers, strict=False):
        text = _norm(tokenizer.decode(tok.input_ids[s:e], skip_special_tokens=False))
        want = _norm(answer)
        k = min(len(want), len(text))
        if text[:k] != want[:k]:
            return f"a trained span does not start with its assistant text: {text[:60]!r}"
        if e < len(tok.input_ids) and len(text) - len(want) > MAX_END_OF_TURN_CHARS:
            return f"a trained span holds more than its assistant text: {text[len(want):][:60]!r}"
    return None


def verify_masking(tokenizer, examples: Sequence[Located], tokenized: Sequence[Tokenized],
                   masking: str, max_seq_length: int | None = None,
                   on_untrainable: str = "error") -> list[int]:
    """Check every example; return the indices to keep. Raises InputError on the first problem
    (an example with nothing to train is dropped instead when `on_untrainable="drop"`)."""
    keep, dropped = [], []
    for i, (ex, tok) in enumerate(zip(examples, tokenized, strict=True)):
        problem = masking_problem(tokenizer, ex, tok, masking, max_seq_length)
        if problem is None:
            keep.append(i)
        elif problem.startswith("no token is trained") and on_untrainable == "drop":
            dropped.append(ex)
        else:
            n_bad = 1 + sum(1 for ex2, t2 in zip(examples[i + 1:], tokenized[i + 1:], strict=True)
                            if t2.n_trained == 0)
            more = f" ({n_bad - 1} more example(s) have no trained token)" if n_bad > 1 else ""
            raise InputError(f"loss masking check failed: {problem}{more}", path=ex.path, line=ex.line)
    if dropped:
        log.warning("dropped %d example(s) with no trained token (first: %s:%d)",
                    len(dropped), dropped[0].path, dropped[0].line)
    if not keep:
        raise InputError("no example has a trained token", path=examples[0].path if examples else None)
    return keep


# ---------------------------------------------------------------------------- debug view
GREEN, GREY, RESET = "\x1b[42;30m", "\x1b[2m", "\x1b[0m"


def render_masking(tokenizer, tok: Tokenized, color: bool = True) -> str:
    """The example's text with trained tokens highlighted (green) and masked ones dimmed.

    Without colour, trained spans are wrapped in «...». Token boundaries inside a span are
    not shown; `token_table` lists them one by one.
    """
    out = []
    flags = [lab != IGNORE for lab in tok.labels]
    i = 0
    while i < len(flags):
        j = i
        while j < len(flags) and flags[j] == flags[i]:
            j += 1
        text = tokenizer.decode(tok.input_ids[i:j], skip_special_tokens=False)
        if color:
            out.append((GREEN if flags[i] else GREY) + text + RESET)
        else:
            out.append(f"«{text}»" if flags[i] else text)
        i = j
    return "".join(out)


def token_table(tokenizer, tok: Tokenized, limit: int = 64) -> str:
    """One line per token: position, id, label (or -100) and the token text."""
    rows = []
    for pos, (tid, lab) in enumerate(zip(tok.input_ids[:limit], tok.labels[:limit], strict=True)):
        rows.append(f"{pos:5d} {tid:7d} {lab:7d}  {tokenizer.decode([tid])!r}")
    if len(tok.input_ids) > limit:
        rows.append(f"  ... {len(tok.input_ids) - limit} more tokens")
    return "\n".join(rows)
