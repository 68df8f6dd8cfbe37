"""`POST /v1/chat/completions` on a released model, and the models an org may use.

A fine-tuned model is named `ft:<base>:<org>:<suffix>:<job id suffix>`; it is served only when
its job (this org's) `succeeded` with the verdict `released`. A held job's model is never
served: the answer is a 404 `model_not_found` whose message says the safety gate held it. The
model folder is the one `variants/*/train/model` of the job's run folder (inside the service's
runs folder). A base model of `settings.models` is served when its entry names a local model
folder (`{"model": "/path"}`); a testbed base is not.

Models are loaded with transformers (`AutoModelForCausalLM`, `AutoTokenizer`) into a small LRU
cache (2 models); generation is greedy at `temperature` 0, else sampled (`temperature`, `top_p`,
`seed`), up to `max_tokens` (or `max_completion_tokens`) new tokens, cut at `stop`.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from safemix.service.openai_types import OpenAIError, model_object

CACHE_SIZE = 2
DEFAULT_MAX_TOKENS = 256
MAX_TOKENS = 4096
MAX_WHY = 300  # characters of the hold's reason in the 404 of a held model
BODY_FIELDS = ("model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "n", "stream",
               "stop", "seed", "user", "metadata", "store", "logprobs", "frequency_penalty", "presence_penalty")
ROLES = ("system", "developer", "user", "assistant")


def _not_found(name: str, why: str = "does not exist or you do not have access to it") -> OpenAIError:
    return OpenAIError(404, f"The model `{name}` {why}.", param="model", code="model_not_found")


def _bad(param: str, message: str, code: str = "invalid_value") -> OpenAIError:
    return OpenAIError(400, message, param=param, code=code)


def find_job(store: Any, org: str, name: str) -> dict[str, Any] | None:
    """The job (of `org`) that a fine-tuned model name `ft:<base>:<org>:<suffix>:<tail>` comes
    from: its `fine_tuned_model`, or (a held job has none) the job whose id ends in `tail`."""
    parts = name.split(":")
    if len(parts) < 5 or parts[0] != "ft" or not parts[-1]:
        return None
    tail = parts[-1]
    row = store.job_for_model(org, name) or store.get_job(org, tail if tail.startswith("ftjob-") else "ftjob-" + tail)
    if row is not None:
        return row
    after = None
    while True:
        rows, more = store.list_jobs(org, after=after, limit=100)
        for r in rows:
            if r.get("fine_tuned_model") == name or (r["id"].endswith(tail) and r.get("model") == parts[1]):
                return r
        if not more or not rows:
            return None
        after = rows[-1]["id"]


def _all_jobs(store: Any, org: str) -> list[dict[str, Any]]:
    out, after = [], None
    while True:
        rows, more = store.list_jobs(org, after=after, limit=100)
        out += rows
        if not more or not rows:
            return out
        after = rows[-1]["id"]


def released_models(settings: Any, store: Any, org: str) -> list[dict[str, Any]]:
    """GET /v1/models: the base models, then this org's released fine-tuned models (newest first)."""
    out = [model_object(name, 0, "safemix") for name in settings.models]
    for r in _all_jobs(store, org):
        if r.get("status") == "succeeded" and r.get("verdict") != "held" and r.get("fine_tuned_model"):
            out.append(model_object(r["fine_tuned_model"], r.get("finished_at") or r.get("created_at") or 0, org))
    return out


def model_dir_of_job(settings: Any, row: dict[str, Any]) -> Path | None:
    """The one `variants/*/train/model` folder of the job's run folder (inside the runs folder)."""
    from safemix.service.api import under_runs

    run_dir = under_runs(settings, row.get("run_dir"))
    if run_dir is None or not run_dir.is_dir():
        return None
    found = sorted(p for p in run_dir.glob("variants/*/train/model") if p.is_dir())
    return found[0] if len(found) == 1 else None


def _held_message(row: dict[str, Any]) -> str:
    err = row.get("error") or {}
    why = err.get("message") if isinstance(err, dict) else None
    if not why:
        reasons = row.get("reasons") or []
        why = "; ".join(str(r.get("message", r)) if isinstance(r, dict) else str(r) for r in reasons[:2])
    why = why if not why or len(why) <= MAX_WHY else why[:MAX_WHY] + "..."
    return (f"is held by the safety gate and is not served ({why or 'no reason recorded'}; every reason: "
            f"GET /v1/fine_tuning/jobs/{row['id']}/safety)")


def resolve_model(settings: Any, store: Any, org: str, name: str) -> Path:
    """The local folder of model `name` for `org`, or the 404 saying why it is not served."""
    if not isinstance(name, str) or not name:
        raise _bad("model", "missing required parameter: 'model'", "missing_required_parameter")
    if name in settings.models:
        spec = settings.models[name] or {}
        local = Path(str(spec.get("model", ""))).expanduser() if spec.get("model") else None
        if local is None or not local.is_dir():
            raise _not_found(name, "is a base model without a local model folder; chat serves fine-tuned models")
        return local
    row = find_job(store, org, name)
    if row is None:
        raise _not_found(name)
    err = row.get("error") if isinstance(row.get("error"), dict) else {}
    if row.get("verdict") == "held" or (err or {}).get("code") == "safety_hold":
        raise _not_found(name, _held_message(row))
    if row.get("status") != "succeeded" or row.get("fine_tuned_model") != name:
        raise _not_found(name, f"is not available: its fine-tuning job {row['id']} is {row.get('status')}")
    path = model_dir_of_job(settings, row)
    if path is None:
        raise _not_found(name, f"has no model folder in its job's run folder ({row['id']})")
    return path


def _messages(body: dict[str, Any]) -> list[dict[str, str]]:
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise _bad("messages", "messages must be a non-empty list", "missing_required_parameter")
    out = []
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise _bad(f"messages.[{i}].role", f"messages[{i}].role must be one of {', '.join(ROLES)}")
        content = m.get("content")
        if isinstance(content, list):  # content parts: the text ones
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
        if not isinstance(content, str):
            raise _bad(f"messages.[{i}].content", f"messages[{i}].content must be a string")
        out.append({"role": "system" if m["role"] == "developer" else m["role"], "content": content})
    return out


def _number(body: dict[str, Any], key: str, default: float, lo: float, hi: float) -> float:
    v = body.get(key)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi:
        raise _bad(key, f"{key} must be a number between {lo:g} and {hi:g}, got {v!r}")
    return float(v)


def parse_request(body: dict[str, Any]) -> dict[str, Any]:
    """The generation settings of a chat body, or the 400 of its first bad field."""
    unknown = [k for k in body if k not in BODY_FIELDS]
    if unknown:
        raise _bad(unknown[0], f"Unrecognized request argument supplied: {unknown[0]}", "unknown_parameter")
    if body.get("stream"):
        raise _bad("stream", "streaming is not supported by this server; send stream=false")
    if body.get("n") not in (None, 1):
        raise _bad("n", "only n=1 is supported")
    if body.get("logprobs"):
        raise _bad("logprobs", "logprobs are not supported")
    for key in ("frequency_penalty", "presence_penalty"):
        if body.get(key) not in (None, 0, 0.0):
            raise _bad(key, f"{key} is not supported (only 0)")
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else stop or []
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops) or len(stops) > 4:
        raise _bad("stop", "stop must be a string or a list of up to 4 non-empty strings")
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise _bad("seed", "seed must be an integer")
    max_key = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    return {"messages": _messages(body), "temperature": _number(body, "temperature", 1.0, 0.0, 2.0),
            "top_p": _number(body, "top_p", 1.0, 0.0, 1.0), "stop": stops, "seed": seed,
            "max_tokens": int(_number(body, max_key, DEFAULT_MAX_TOKENS, 1, MAX_TOKENS))}


class _Loaded:
    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model, self.tokenizer, self.lock = model, tokenizer, threading.Lock()


class ChatEngine:
    """Chat completions for `settings`/`store`: an LRU cache of loaded models (`cache_size`)."""

    def __init__(self, settings: Any, store: Any, cache_size: int = CACHE_SIZE) -> None:
        self.settings, self.store, self.cache_size = settings, store, cache_size
        self._cache: OrderedDict[str, _Loaded] = OrderedDict()
        self._lock = threading.Lock()

    def cached(self) -> list[str]:
        """The folders loaded now, least recently used first."""
        with self._lock:
            return list(self._cache)

    def load(self, path: Path) -> _Loaded:
        key = str(path)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(key)
        model = AutoModelForCausalLM.from_pretrained(key)
        model.to("cuda" if torch.cuda.is_available() else "cpu").eval()
        loaded = _Loaded(model, tok)
        with self._lock:
            self._cache[key] = loaded
            self._cache.move_to_end(key)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return loaded

    def complete(self, org: str, body: dict[str, Any]) -> dict[str, Any]:
        """The `chat.completion` object answering `body` (OpenAI's request shape)."""
        req = parse_request(body)
        path = resolve_model(self.settings, self.store, org, body.get("model"))
        text, n_prompt, n_out, finish = generate(self.load(path), **req)
        return {"id": "chatcmpl-" + secrets.token_hex(12), "object": "chat.completion", "created": int(time.time()),
                "model": body["model"], "system_fingerprint": None,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                             "logprobs": None, "finish_reason": finish}],
                "usage": {"prompt_tokens": n_prompt, "completion_tokens": n_out, "total_tokens": n_prompt + n_out}}


def generate(loaded: _Loaded, *, messages: list[dict[str, str]], temperature: float, top_p: float,
             stop: list[str], seed: int | None, max_tokens: int) -> tuple[str, int, int, str]:
    """(text, prompt tokens, completion tokens, finish_reason) of one completion."""
    import torch

    tok, model = loaded.tokenizer, loaded.model
    prompt = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    ids = tok(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"].to(model.device)
    limit = getattr(model.config, "max_position_embeddings", None)
    new = max(1, min(max_tokens, (limit - ids.shape[1]) if limit else max_tokens))
    kw: dict[str, Any] = {"max_new_tokens": new, "pad_token_id": tok.pad_token_id or tok.eos_token_id,
                          "eos_token_id": tok.eos_token_id}
    if temperature > 0:
        kw.update(do_sample=True, temperature=temperature, top_p=top_p)
    else:
        kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    with loaded.lock, torch.no_grad():
        if seed is not None:
            torch.manual_seed(seed)
        out = model.generate(ids, attention_mask=torch.ones_like(ids), **kw)[0, ids.shape[1]:]
    ended = len(out) > 0 and int(out[-1]) == tok.eos_token_id
    text = tok.decode(out, skip_special_tokens=True)
    finish = "stop" if ended or len(out) < new else "length"
    for s in stop:
        if s in text:
            text, finish = text[:text.index(s)], "stop"
    return text, int(ids.shape[1]), int(len(out)), finish


__all__ = ["ChatEngine", "find_job", "generate", "model_dir_of_job", "parse_request", "released_models",
           "resolve_model"]
