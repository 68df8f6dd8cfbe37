"""Record schemas: one adapter pair (record -> Example -> record) per user format.

A *schema* is what one record looks like (OpenAI chat, prompt/completion, Alpaca,
ShareGPT, named columns); the *container* (JSONL, JSON array, CSV/TSV, Parquet,
`datasets` on disk) is handled in `io.py`. Every adapter is lossless:
`from_example(to_example(r)) == r`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from safemix.errors import InputError
from safemix.formats.example import Example

Loc = dict[str, Any]  # {"path": ..., "line": ...} for error messages


def _err(loc: Loc, field_: str, msg: str) -> InputError:
    return InputError(msg, path=loc.get("path"), line=loc.get("line"), field=field_)


def _type_name(v: Any) -> str:
    return "null" if v is None else type(v).__name__


def _need_str(rec: dict, key: str, loc: Loc, *, optional: bool = False) -> str | None:
    if key not in rec:
        if optional:
            return None
        raise _err(loc, key, "missing")
    v = rec[key]
    if not isinstance(v, str):
        raise _err(loc, key, f"expected a string, got {_type_name(v)}")
    return v


def _extra(rec: dict, known: tuple[str, ...]) -> dict:
    return {k: v for k, v in rec.items() if k not in known}


def _check_has_assistant(messages: list[dict], loc: Loc, field_: str) -> None:
    if not any(m.get("role") == "assistant" for m in messages):
        raise _err(loc, field_, "conversation has no assistant turn (nothing to train on)")


# ----------------------------------------------------------------------------- OpenAI chat
def openai_to_example(rec: dict, loc: Loc) -> Example:
    msgs = rec.get("messages")
    if "messages" not in rec:
        raise _err(loc, "messages", "missing")
    if not isinstance(msgs, list) or not msgs:
        raise _err(loc, "messages", f"expected a non-empty list, got {_type_name(msgs)}")
    out = []
    for i, m in enumerate(msgs):
        f = f"messages[{i}]"
        if not isinstance(m, dict):
            raise _err(loc, f, f"expected an object, got {_type_name(m)}")
        role = m.get("role")
        if role not in ("system", "user", "assistant", "tool", "developer"):
            raise _err(loc, f + ".role", f"expected one of system/user/assistant, got {role!r}")
        if not isinstance(m.get("content"), str):
            raise _err(loc, f + ".content", f"expected a string, got {_type_name(m.get('content'))}")
        if "weight" in m and m["weight"] not in (0, 1):
            raise _err(loc, f + ".weight", f"expected 0 or 1, got {m['weight']!r}")
        out.append(dict(m))
    _check_has_assistant(out, loc, "messages")
    return Example(out, {"extra": _extra(rec, ("messages",))})


def openai_from_example(ex: Example) -> dict:
    rec = {"messages": [dict(m) for m in ex.messages]}
    rec.update(ex.metadata.get("extra", {}))
    return rec


# ----------------------------------------------------------------------- prompt/completion
def pc_to_example(rec: dict, loc: Loc) -> Example:
    p = _need_str(rec, "prompt", loc)
    c = _need_str(rec, "completion", loc)
    return Example(
        [{"role": "user", "content": p}, {"role": "assistant", "content": c}],
        {"extra": _extra(rec, ("prompt", "completion"))},
    )


def pc_from_example(ex: Example) -> dict:
    rec = {"prompt": _render_prompt(ex), "completion": ex.assistant or ""}
    rec.update(ex.metadata.get("extra", {}))
    return rec


def _render_prompt(ex: Example) -> str:
    """Flatten a (system +) user turn for single-string formats."""
    sys, user = ex.system, ex.user or ""
    return user if not sys else f"{sys}\n\n{user}"


# --------------------------------------------------------------------------------- Alpaca
def alpaca_compose(instruction: str, input_: str) -> str:
    """The user turn an Alpaca record stands for: instruction, blank line, input."""
    return instruction if not input_ else f"{instruction}\n\n{input_}"


def alpaca_split(user: str) -> tuple[str, str]:
    """Inverse of `alpaca_compose` for text written by safemix: split at the first blank line."""
    instr, sep, rest = user.partition("\n\n")
    return (instr, rest) if sep and rest else (user, "")


def alpaca_to_example(rec: dict, loc: Loc) -> Example:
    instr = _need_str(rec, "instruction", loc)
    inp = _need_str(rec, "input", loc, optional=True)
    out = _need_str(rec, "output", loc)
    meta: dict[str, Any] = {"extra": _extra(rec, ("instruction", "input", "output"))}
    user = alpaca_compose(instr, inp or "")
    if alpaca_split(user) != (instr, inp or ""):
        meta["alpaca_instruction_len"] = len(instr)  # split point is not the first blank line
    if inp is None:
        meta["alpaca_no_input"] = True
    msgs = []
    sys = rec.get("system")
    if isinstance(sys, str):
        msgs.append({"role": "system", "content": sys})
        meta["extra"].pop("system")
    msgs += [{"role": "user", "content": user}, {"role": "assistant", "content": out}]
    return Example(msgs, meta)


def alpaca_from_example(ex: Example) -> dict:
    user = ex.user or ""
    n = ex.metadata.get("alpaca_instruction_len")
    if n is not None:
        instr, inp = user[:n], user[n + 2 :] if len(user) > n else ""
    else:
        instr, inp = alpaca_split(user)
    rec: dict[str, Any] = {}
    if ex.system is not None:
        rec["system"] = ex.system
    rec["instruction"] = instr
    if not (ex.metadata.get("alpaca_no_input") and inp == ""):
        rec["input"] = inp
    rec["output"] = ex.assistant or ""
    rec.update(ex.metadata.get("extra", {}))
    return rec


# ------------------------------------------------------------------------------- ShareGPT
SHAREGPT_ROLES = {"system": "system", "human": "user", "user": "user", "gpt": "assistant",
                  "assistant": "assistant", "chatgpt": "assistant", "bing": "assistant", "bard": "assistant"}
SHAREGPT_DEFAULT_FROM = {"system": "system", "user": "human", "assistant": "gpt"}


def sharegpt_to_example(rec: dict, loc: Loc) -> Example:
    conv = rec.get("conversations")
    if "conversations" not in rec:
        raise _err(loc, "conversations", "missing")
    if not isinstance(conv, list) or not conv:
        raise _err(loc, "conversations", f"expected a non-empty list, got {_type_name(conv)}")
    msgs = []
    for i, turn in enumerate(conv):
        f = f"conversations[{i}]"
        if not isinstance(turn, dict):
            raise _err(loc, f, f"expected an object, got {_type_name(turn)}")
        frm = turn.get("from")
        if frm not in SHAREGPT_ROLES:
            raise _err(loc, f + ".from", f"expected one of {sorted(SHAREGPT_ROLES)}, got {frm!r}")
        if not isinstance(turn.get("value"), str):
            raise _err(loc, f + ".value", f"expected a string, got {_type_name(turn.get('value'))}")
        role = SHAREGPT_ROLES[frm]
        m = {"role": role, "content": turn["value"]}
        if frm != SHAREGPT_DEFAULT_FROM[role]:
            m["sharegpt_from"] = frm
        m.update({k: v for k, v in turn.items() if k not in ("from", "value")})
        msgs.append(m)
    _check_has_assistant(msgs, loc, "conversations")
    return Example(msgs, {"extra": _extra(rec, ("conversations",))})


def sharegpt_from_example(ex: Example) -> dict:
    conv = []
    for m in ex.messages:
        t = {"from": m.get("sharegpt_from", SHAREGPT_DEFAULT_FROM.get(m["role"], m["role"])),
             "value": m["content"]}
        t.update({k: v for k, v in m.items() if k not in ("role", "content", "sharegpt_from")})
        conv.append(t)
    rec = {"conversations": conv}
    rec.update(ex.metadata.get("extra", {}))
    return rec


# -------------------------------------------------------------------- named columns (CSV)
PROMPT_COLUMNS = ("prompt", "question", "text", "sentence", "input", "instruction", "query")
ANSWER_COLUMNS = ("completion", "answer", "label", "output", "response", "target")


def default_column_map(columns: list[str]) -> dict[str, str] | None:
    """Guess {'prompt': col, 'completion': col[, 'system': col]} from column names."""
    lower = {c.lower(): c for c in columns}
    p = next((lower[c] for c in PROMPT_COLUMNS if c in lower), None)
    a = next((lower[c] for c in ANSWER_COLUMNS if c in lower), None)
    if p is None or a is None or p == a:
        return None
    cm = {"prompt": p, "completion": a}
    if "system" in lower:
        cm["system"] = lower["system"]
    return cm


@dataclass
class ColumnsSchema:
    """Rows of named string columns, mapped to turns by `column_map`."""

    column_map: dict[str, str]
    columns: list[str] = field(default_factory=list)

    def to_example(self, rec: dict, loc: Loc) -> Example:
        cm = self.column_map
        msgs = []
        if "system" in cm:
            msgs.append({"role": "system", "content": _need_str(rec, cm["system"], loc)})
        msgs.append({"role": "user", "content": _need_str(rec, cm["prompt"], loc)})
        msgs.append({"role": "assistant", "content": _need_str(rec, cm["completion"], loc)})
        return Example(msgs, {"extra": _extra(rec, tuple(cm.values()))})

    def from_example(self, ex: Example) -> dict:
        cm = self.column_map
        vals = dict(ex.metadata.get("extra", {}))
        if "system" in cm:
            vals[cm["system"]] = ex.system or ""
            vals[cm["prompt"]] = ex.user or ""
        else:
            vals[cm["prompt"]] = _render_prompt(ex)
        vals[cm["completion"]] = ex.assistant or ""
        order = self.columns or list(vals)
        rec = {c: vals.get(c, "") for c in order}
        rec.update({k: v for k, v in vals.items() if k not in rec})
        return rec


# ------------------------------------------------------------------------------ registry
@dataclass(frozen=True)
class Schema:
    name: str
    to_example: Callable[[dict, Loc], Example]
    from_example: Callable[[Example], dict]
    keys: tuple[str, ...]  # keys whose presence identifies the schema


SCHEMAS: dict[str, Schema] = {
    "openai": Schema("openai", openai_to_example, openai_from_example, ("messages",)),
    "prompt_completion": Schema("prompt_completion", pc_to_example, pc_from_example, ("prompt", "completion")),
    "alpaca": Schema("alpaca", alpaca_to_example, alpaca_from_example, ("instruction", "output")),
    "sharegpt": Schema("sharegpt", sharegpt_to_example, sharegpt_from_example, ("conversations",)),
}


def detect_schema(rec: Any) -> str | None:
    """Name of the schema a record looks like, or None.

    >>> detect_schema({"prompt": "a", "completion": "b"})
    'prompt_completion'
    """
    if not isinstance(rec, dict):
        return None
    for s in SCHEMAS.values():
        if all(k in rec for k in s.keys):
            return s.name
    return None
