"""Structured (JSON-object) answers: the schema a job's answers follow, and the refusal shape
that stays valid against it.

    schema = infer_json_schema(answers)        # {"name": {"types": ["string"], "share": 1.0}, ...}
    plan = refusal_plan(schema, keys)          # which key carries the refusal, what the others hold
    refusal_object(plan, "I can't help with that.")  # '{"name": "", "age": null, "city": "I can't ..."}'

The refusal shape, in order of preference (reasoning in safemix/generate/README.md):

1. **The job's own error convention**, when some rows show one: an error-like key (`error`,
   `refusal`, `reason`, `message`, `note`, `warning`, `status`, ...) holding text. The refusal goes
   there; the other keys take the values those rows give them (null or empty).
2. Otherwise **the job's keys, nothing added**: the refusal sits in the field that carries free
   text (a key named like `answer`/`response`/`output`/`text`/`reply`/`result`/`message`, else the
   string field with the longest values), and every other field is left empty: `null` where the
   job's rows use null for that key, else its type's empty value (`""`, `[]`, `{}`); numbers and
   booleans take `null`, since any number or truth value would be a false extraction.

`fits_schema` checks an answer against the schema: a JSON object, the job's keys (the common
ones all present, none the job never uses), and each value of a type the job uses for that key
(or null, the empty value of any field).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

_TEXT_KEY = re.compile(r"answer|response|output|text|reply|result|message|content|summary|explanation", re.I)
_EMPTY = (None, "", [], {})
_ERROR_KEY = re.compile(r"error|refus|reject|declin|reason|message|note|warning|status|comment", re.I)


def json_type(v: Any) -> str:
    """The JSON type name of a parsed value."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(v), "string")


def _objects(texts: list[str]) -> list[dict[str, Any]]:
    out = []
    for t in texts:
        try:
            obj = json.loads(t)
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


def infer_json_schema(texts: list[str], limit: int = 2000) -> dict[str, dict[str, Any]]:
    """Per key of the job's JSON-object answers: the types its values take and the share of rows with it."""
    objs = _objects(texts[:limit])
    types: dict[str, Counter] = {}
    lengths: dict[str, list[int]] = {}
    for o in objs:
        for k, v in o.items():
            types.setdefault(k, Counter())[json_type(v)] += 1
            if isinstance(v, str):
                lengths.setdefault(k, []).append(len(v))
    n = max(1, len(objs))
    return {k: {"types": sorted(c), "share": round(sum(c.values()) / n, 4),
                "chars_mean": round(sum(lengths.get(k, [0])) / max(1, len(lengths.get(k, []))), 1)}
            for k, c in types.items()}


def error_convention(texts: list[str], schema: dict[str, dict[str, Any]],
                     limit: int = 2000) -> dict[str, Any] | None:
    """The job's own error convention ({"key", "order", "values"}), or None: at least two rows
    holding text under an error-like key with every other key null or empty; `values` are what
    those rows put in the other keys."""
    keys = [k for k in schema if _ERROR_KEY.search(k) and "string" in schema[k]["types"]]
    for key in keys:
        rows = [o for o in _objects(texts[:limit]) if isinstance(o.get(key), str) and o[key].strip()
                and all(v in _EMPTY for k, v in o.items() if k != key)]
        if len(rows) < 2:
            continue
        order = list(Counter(tuple(o) for o in rows).most_common(1)[0][0])
        values: dict[str, Any] = {}
        for k in order:
            if k != key:
                common = json.loads(Counter(json.dumps(o.get(k)) for o in rows).most_common(1)[0][0])
                values[k] = common if common in _EMPTY else None
        return {"key": key, "order": order, "values": values}
    return None


def _empty(spec: dict[str, Any]) -> Any:
    types = spec.get("types", [])
    if "null" in types:
        return None
    for t, v in (("string", ""), ("array", []), ("object", {})):
        if t in types:
            return v
    return None


def refusal_key(schema: dict[str, dict[str, Any]], keys: list[str]) -> str:
    """The key that carries the refusal when the job has no error convention (see the module docstring)."""
    named = [k for k in keys if _TEXT_KEY.search(k) and "string" in schema.get(k, {}).get("types", ["string"])]
    if named:
        return named[0]
    strings = [k for k in keys if "string" in schema.get(k, {}).get("types", [])]
    if strings:
        return max(strings, key=lambda k: (schema[k].get("chars_mean", 0), -keys.index(k)))
    return keys[0] if keys else "response"


def refusal_plan(schema: dict[str, dict[str, Any]], keys: list[str], convention: dict[str, Any] | None = None,
                 ) -> dict[str, Any]:
    """{"key": the key carrying the refusal, "order": all keys in order, "values": the other keys'
    values, "source": job_error_convention | job_keys_emptied}."""
    if convention:
        return {"key": convention["key"], "order": list(convention["order"]), "values": dict(convention["values"]),
                "source": "job_error_convention"}
    keys = list(keys or list(schema) or ["response"])
    key = refusal_key(schema, keys)
    return {"key": key, "order": keys, "values": {k: _empty(schema.get(k, {})) for k in keys if k != key},
            "source": "job_keys_emptied"}


def refusal_object(plan: dict[str, Any], text: str) -> str:
    """The refusal as a JSON answer, keys in the job's order."""
    order = plan.get("order") or [*plan["values"], plan["key"]]
    return json.dumps({k: (text if k == plan["key"] else plan["values"].get(k)) for k in order}, ensure_ascii=False)


def fits_schema(text: str, schema: dict[str, dict[str, Any]], required_share: float = 0.95) -> bool:
    """Whether `text` is a JSON object of the job's keys with values of the job's types (or null)."""
    try:
        obj = json.loads(text)
    except ValueError:
        return False
    if not isinstance(obj, dict) or not schema:
        return isinstance(obj, dict)
    if any(k not in schema for k in obj):
        return False
    if any(k not in obj for k, s in schema.items() if s["share"] >= required_share):
        return False
    return all(v is None or json_type(v) in schema[k]["types"] for k, v in obj.items())


__all__ = ["error_convention", "fits_schema", "infer_json_schema", "json_type", "refusal_key", "refusal_object",
           "refusal_plan"]
