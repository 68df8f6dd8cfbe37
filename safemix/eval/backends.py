"""Generation backends for evaluation: `hf`, `openai`, `dummy` from `safemix.llm`, plus `vllm`.

`vllm` is optional (GPU only, `pip install vllm`); it is wrapped here with the same `chat`
interface so that the evaluator does not care which backend answers. Endpoints are checked
before any work starts, so an unreachable server fails in a second, not after an hour.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from typing import Any

from safemix.console import progress_enabled
from safemix.errors import ConfigError
from safemix.llm.base import EndpointError, LLMBackend

log = logging.getLogger(__name__)

EVAL_BACKENDS = ("hf", "openai", "vllm", "dummy")


class VLLMBackend(LLMBackend):
    """Offline batched generation with vLLM (`vllm.LLM.chat`), greedy by default."""

    name = "vllm"

    def __init__(self, model: str | None = None, **engine_args: Any) -> None:
        super().__init__()
        if not model:
            raise ConfigError("the vllm backend needs a model path or id")
        try:
            from vllm import LLM
        except ImportError as e:
            raise ConfigError("the vllm backend needs vLLM and a GPU: pip install vllm "
                              "(or use backend: hf)") from e
        self.model = model
        self.llm = LLM(model=model, **engine_args)

    def _params(self, *, max_new_tokens: int, temperature: float, top_p: float, stop: list[str],
                seed: int | None):
        from vllm import SamplingParams

        return SamplingParams(max_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                              stop=stop or None, seed=seed)

    def _chat(self, conversations: list[list[dict]], **params: Any) -> list[str]:
        t0 = time.perf_counter()
        outs = self.llm.chat(conversations, self._params(**params), use_tqdm=progress_enabled())
        texts = [o.outputs[0].text for o in outs]
        self.stats.add(requests=len(texts), completed=len(texts), elapsed_s=time.perf_counter() - t0,
                       prompt_tokens=sum(len(o.prompt_token_ids or []) for o in outs),
                       completion_tokens=sum(len(o.outputs[0].token_ids) for o in outs))
        return texts

    def _complete(self, prompts: list[str], **params: Any) -> list[str]:
        outs = self.llm.generate(prompts, self._params(**params), use_tqdm=progress_enabled())
        self.stats.add(requests=len(outs), completed=len(outs))
        return [o.outputs[0].text for o in outs]


def check_endpoint(base_url: str | None, api_key: str | None = None, what: str = "endpoint",
                   timeout: float = 5.0) -> None:
    """Fail fast with a clear message when an OpenAI-compatible server cannot be reached.

    Only an unreachable host or a rejected key is an error; a server without `/models`
    (404) is accepted, since the chat endpoint may still work.
    """
    import os

    from safemix.llm.openai import DEFAULT_BASE_URL

    url = (base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/") + "/models"
    key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            r.read()
    except urllib.error.HTTPError as e:
        if e.code in (401, 403):
            raise EndpointError(f"{what}: {url} rejected the API key (HTTP {e.code}); "
                                "set api_key or OPENAI_API_KEY") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise EndpointError(f"{what}: cannot reach the OpenAI-compatible endpoint at "
                            f"{url.rsplit('/models', 1)[0]} ({reason}); is the server running?") from None


def make_backend(name: str, model: Any, gguf_file: str | None = None, args: dict[str, Any] | None = None,
                 what: str = "model") -> LLMBackend:
    """Build a generation backend by name; `what` names it in errors ("model", "base model", ...)."""
    args = dict(args or {})
    if name not in EVAL_BACKENDS:
        from safemix.config import did_you_mean

        raise ConfigError(f"unknown backend {name!r}" + did_you_mean(name, EVAL_BACKENDS, cutoff=0.4)
                          + f"; choose one of {', '.join(EVAL_BACKENDS)}")
    if name == "vllm":
        return VLLMBackend(model, **args)
    from safemix.llm import get_backend

    if name == "hf":
        if gguf_file:
            args.setdefault("gguf_file", gguf_file)
        args.setdefault("progress", True)
    if name == "openai":
        check_endpoint(args.get("base_url"), args.get("api_key"), what=what)
    return get_backend(name, model=model, **args)


def describe_backend(backend: LLMBackend) -> dict[str, Any]:
    """What a backend is, for results.json (no secrets)."""
    model = getattr(backend, "model", None)
    if model is not None and not isinstance(model, str):
        model = getattr(getattr(model, "config", None), "_name_or_path", type(model).__name__)
    d = {"backend": getattr(backend, "name", type(backend).__name__), "model": model}
    if getattr(backend, "base_url", None):
        d["base_url"] = backend.base_url
    return json.loads(json.dumps(d, default=str))


# ----------------------------------------------------------------------- log-likelihood
def loglik(backend: LLMBackend, conversation: list[dict], continuations: list[str]) -> list[float]:
    """Summed log-probability of each continuation, right after the chat-templated conversation.

    Scoring needs token log-probabilities, which only some backends have: the backend's own
    `loglik(conversation, continuations)` method (the local hf backend has one,
    `safemix.llm.hf.HFBackend.loglik`). Any other backend is a ConfigError that names it.
    """
    own = getattr(backend, "loglik", None)
    if callable(own):
        return own(conversation, continuations)
    name = getattr(backend, "name", type(backend).__name__)
    raise ConfigError("task_metric loglik_accuracy needs the hf backend (it reads token log-probabilities); "
                      f"the {name} backend cannot score continuations")
