"""`openai`: any OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp server, TGI, ...).

Stdlib HTTP only (urllib). Requests run in a thread pool of `max_concurrency`; 429, 5xx and
connection errors are retried with exponential backoff and jitter (honouring Retry-After);
every answer is committed to an optional on-disk cache as soon as it arrives, so a rerun
after a crash or Ctrl-C asks only for what is missing. Token usage comes from the server's
`usage` field; cost from per-million-token prices.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import random
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Any

from safemix.errors import ConfigError
from safemix.llm.base import EndpointError, LLMBackend, truncate_at_stop
from safemix.llm.cache import CompletionCache, cache_key

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
DEFAULT_BASE_URL = "https://api.openai.com/v1"


class _Retryable(Exception):
    """A failure worth another try; `reason` is what the final error message says."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.retry_after = reason, retry_after


class OpenAIBackend(LLMBackend):
    """Chat (`/chat/completions`) and raw completions (`/completions`) over HTTP.

    `on_error="raise"` (default) stops the call at the first request that still fails after
    `max_retries` (answers already received stay cached); `"empty"` returns "" for it and
    counts it in `stats.failed`.
    """

    name = "openai"

    def __init__(self, model: str | None = None, *, base_url: str | None = None, api_key: str | None = None,
                 max_concurrency: int = 8, max_retries: int = 3, timeout: float = 60.0,
                 backoff_base: float = 0.5, backoff_max: float = 30.0, cache_dir: str | None = None,
                 prompt_price_per_1m: float = 0.0, completion_price_per_1m: float = 0.0,
                 extra_body: dict[str, Any] | None = None, on_error: str = "raise",
                 progress: bool = True) -> None:
        super().__init__()
        if not model:
            raise ConfigError("the openai backend needs `model`: the model name the endpoint serves")
        if max_concurrency < 1 or max_retries < 0 or timeout <= 0:
            raise ConfigError("openai backend: max_concurrency >= 1, max_retries >= 0 and timeout > 0 are required")
        if on_error not in ("raise", "empty"):
            raise ConfigError(f"on_error must be 'raise' or 'empty', got {on_error!r}")
        self.model = model
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"base_url must start with http:// or https://, got {self.base_url!r}")
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.max_concurrency, self.max_retries, self.timeout = max_concurrency, max_retries, timeout
        self.backoff_base, self.backoff_max = backoff_base, backoff_max
        self.prices = (prompt_price_per_1m, completion_price_per_1m)
        self.extra_body = dict(extra_body or {})
        self.on_error, self.progress = on_error, progress
        self.cache = CompletionCache(cache_dir) if cache_dir else None
        # a local server is reached directly even where HTTP(S)_PROXY is set
        host = urllib.parse.urlsplit(self.base_url).hostname or ""
        local = host in ("localhost", "::1") or host.startswith("127.")
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}) if local else
                                                   urllib.request.ProxyHandler())

    # ------------------------------------------------------------------ public API hooks
    def _chat(self, conversations: list[list[dict]], **params: Any) -> list[str]:
        # role and content only: extra keys (weights, metadata) would upset strict servers
        bodies = [{"model": self.model, "messages": [{"role": m["role"], "content": m["content"]} for m in c],
                   **self._params(**params)} for c in conversations]
        return self._run("chat/completions", bodies, params["stop"])

    def _complete(self, prompts: list[str], **params: Any) -> list[str]:
        bodies = [{"model": self.model, "prompt": p, **self._params(**params)} for p in prompts]
        return self._run("completions", bodies, params["stop"])

    def _params(self, *, max_new_tokens: int, temperature: float, top_p: float, stop: list[str],
                seed: int | None) -> dict[str, Any]:
        p: dict[str, Any] = {"max_tokens": max_new_tokens, "temperature": temperature, "top_p": top_p}
        if stop:
            p["stop"] = stop
        if seed is not None:
            p["seed"] = seed
        p.update(self.extra_body)
        return p

    # ------------------------------------------------------------------ the run
    def _run(self, endpoint: str, bodies: list[dict], stop: list[str]) -> list[str]:
        """Answer every body: cache first, then the endpoint in a thread pool."""
        from tqdm.auto import tqdm

        from safemix.console import progress_enabled

        t0 = time.perf_counter()
        outs: list[str | None] = [None] * len(bodies)
        keys = [cache_key(endpoint, b) for b in bodies]
        todo = []
        for i, k in enumerate(keys):
            hit = self.cache.get(k) if self.cache is not None else None
            if hit is not None:
                outs[i] = hit["text"]
            else:
                todo.append(i)
        hits = len(bodies) - len(todo)
        self.stats.add(requests=len(bodies), cache_hits=hits, completed=hits)
        abort = threading.Event()  # set when the call gives up: in-flight requests stop retrying
        bar = tqdm(total=len(bodies), initial=hits, desc=f"{self.name} {self.model}", unit="req",
                   disable=not (self.progress and progress_enabled()), leave=False)
        pool = ThreadPoolExecutor(max_workers=self.max_concurrency, thread_name_prefix="safemix-llm")
        futures: dict = {}
        try:
            futures = {pool.submit(self._request_one, endpoint, bodies[i], keys[i], abort): i for i in todo}
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    i, err = futures[f], f.exception()
                    if err is not None and self.on_error == "raise":
                        raise err
                    if err is not None:
                        log.warning("request %d failed: %s", i, err)
                        self.stats.add(failed=1)
                    outs[i] = "" if err is not None else f.result()
                    bar.update(1)
        except BaseException:
            # an error or Ctrl-C: drop the queue instead of running it to the end
            abort.set()
            pool.shutdown(wait=True, cancel_futures=True)
            ok = sum(1 for f in futures if not f.cancelled() and f.exception() is None)
            self.stats.add(failed=len(todo) - ok)
            raise
        finally:
            pool.shutdown(wait=True)
            bar.close()
            self.stats.add(elapsed_s=time.perf_counter() - t0)
        return [truncate_at_stop(o or "", stop) if stop else (o or "") for o in outs]

    def _request_one(self, endpoint: str, body: dict, key: str, abort: threading.Event) -> str:
        """One request with retries; caches and accounts the answer."""
        url = f"{self.base_url}/{endpoint}"
        last: _Retryable | None = None
        for attempt in range(self.max_retries + 1):
            if abort.is_set():
                raise EndpointError(f"request to {url} abandoned: another request failed")
            if attempt:
                self.stats.add(retries=1)
            try:
                text, pt, ct = parse_response(endpoint, self._post(url, body), url)
            except _Retryable as e:
                last = e
                if attempt < self.max_retries:
                    abort.wait(self._backoff(attempt, e.retry_after))
                continue
            if self.cache is not None:
                self.cache.put(key, text, pt, ct)
            cost = (pt * self.prices[0] + ct * self.prices[1]) / 1e6
            self.stats.add(completed=1, prompt_tokens=pt, completion_tokens=ct, cost_usd=cost)
            return text
        if last is None:  # max_retries < 0: no attempt was made
            raise EndpointError(f"{url}: no attempt made (max_retries={self.max_retries})")
        if last.reason.startswith("HTTP"):
            raise EndpointError(f"{url} kept failing after {self.max_retries} retries: {last.reason}")
        raise EndpointError(f"cannot reach {self.base_url} after {self.max_retries} retries: {last.reason}")

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with jitter; a server's Retry-After wins when it is longer."""
        delay = min(self.backoff_max, self.backoff_base * 2 ** attempt) * random.uniform(0.5, 1.0)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max))
        return delay

    def _post(self, url: str, body: dict) -> dict:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(url, data=json.dumps(body).encode("utf-8"), headers=headers, method="POST")
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            detail = _error_detail(e)
            if e.code in RETRY_STATUS:
                raise _Retryable(f"HTTP {e.code} {detail}".strip(), _retry_after(e.headers)) from None
            raise EndpointError(f"{url} answered HTTP {e.code}: {detail}") from None
        except urllib.error.URLError as e:
            raise _Retryable(_reason(e.reason)) from None
        except TimeoutError:
            raise _Retryable(f"timed out after {self.timeout}s") from None
        except (ConnectionError, http.client.HTTPException, OSError) as e:
            raise _Retryable(_reason(e)) from None
        try:
            return json.loads(raw)
        except ValueError:
            raise _Retryable(f"invalid JSON in the response: {raw[:200]!r}") from None


def parse_response(endpoint: str, data: Any, url: str) -> tuple[str, int, int]:
    """(text, prompt_tokens, completion_tokens) from an OpenAI-style response body."""
    try:
        choice = data["choices"][0]
        text = choice["message"]["content"] if endpoint == "chat/completions" else choice["text"]
    except (KeyError, IndexError, TypeError):
        raise EndpointError(f"{url} returned an unexpected response: {json.dumps(data)[:300]}") from None
    usage = data.get("usage") or {}
    return text or "", int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)


def _reason(err: Any) -> str:
    """A short lower-case reason, e.g. 'connection refused'."""
    if isinstance(err, ConnectionRefusedError):
        return "connection refused"
    if isinstance(err, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(err, socket.gaierror):
        return f"name resolution failed ({err})"
    return str(getattr(err, "strerror", None) or err).lower() or type(err).__name__


def _error_detail(e: urllib.error.HTTPError) -> str:
    try:
        body = e.read().decode("utf-8", "replace")
        err = json.loads(body).get("error", body)
        return err.get("message", str(err)) if isinstance(err, dict) else str(err)
    except Exception:
        return e.reason or ""


def _retry_after(headers: Any) -> float | None:
    try:
        return float(headers.get("Retry-After")) if headers and headers.get("Retry-After") else None
    except ValueError:
        return None
