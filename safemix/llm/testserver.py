"""A local OpenAI-compatible server for tests and manual runs (stdlib `http.server`).

Serves `POST /v1/chat/completions`, `POST /v1/completions` and `GET /v1/models` on
127.0.0.1 (port 0 = an ephemeral port), answering with a responder: a callable
`fn(messages) -> str` or any safemix LLM backend (e.g. `hf` with a real tiny model).
Failure injection makes retry logic testable: every k-th request fails (`fail_every`), or a
deterministic share of requests does (`fail_fraction`, decided by a hash of the request and
how often it was seen, so a retry of a failed request can succeed). Every request is logged.

    with OpenAITestServer(fail_every=3) as srv:
        backend = get_backend("openai", model="test", base_url=srv.url)

    python -m safemix.llm.testserver --port 8000 --responder refuse
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from safemix.llm.base import LLMBackend, truncate_at_stop
from safemix.llm.dummy import truncate_words, word_count


@dataclass
class LoggedRequest:
    path: str
    body: dict[str, Any] | None
    status: int


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that went away (killed, timed out) is expected in tests; anything else is not
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class OpenAITestServer:
    """Threaded HTTP server; a context manager that starts and stops it in a thread."""

    def __init__(self, responder: Callable[[list[dict]], str] | LLMBackend | None = None, *,
                 host: str = "127.0.0.1", port: int = 0, model_name: str = "safemix-test",
                 api_key: str | None = None, fail_every: int = 0, fail_fraction: float = 0.0,
                 fail_status: int = 500, retry_after: float | None = None, delay_s: float = 0.0) -> None:
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError("the test server only listens on the loopback interface")
        if responder is None:
            from safemix.llm.dummy import DummyBackend

            responder = DummyBackend()
        self.responder, self.model_name, self.api_key = responder, model_name, api_key
        self.fail_every, self.fail_fraction, self.fail_status = fail_every, fail_fraction, fail_status
        self.retry_after, self.delay_s = retry_after, delay_s
        self.log: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._gen_lock = threading.Lock()  # one generation at a time: models are not thread-safe
        self._n_generation = 0
        self.in_flight = 0  # generation requests being handled now
        self.max_in_flight = 0  # the most handled at once: shows a client's real concurrency
        self._seen: dict[str, int] = {}
        self._httpd = _QuietServer((host, port), _make_handler(self))
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """The base URL to give a client, e.g. http://127.0.0.1:54321/v1."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> OpenAITestServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="safemix-testserver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> OpenAITestServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------------ counters
    @property
    def requests(self) -> int:
        """Generation requests received (chat + completions), failed ones included."""
        return sum(1 for r in self.log if r.path != "/v1/models")

    @property
    def failures(self) -> int:
        """Generation requests answered with an injected error."""
        return sum(1 for r in self.log if r.status == self.fail_status)

    def answered(self, since: int = 0) -> list[dict[str, Any]]:
        """Bodies of the generation requests answered with 200 (from log entry `since` on)."""
        with self._lock:
            log = self.log[since:]
        return [r.body for r in log if r.status == 200 and r.path != "/v1/models" and r.body]

    def wait_idle(self, timeout: float = 10.0, quiet_s: float = 0.5) -> None:
        """Wait until no generation request is being handled and none has arrived for `quiet_s`
        (after a client was killed, connections it opened can still sit in the accept queue
        and be handled a little later, on a loaded machine)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                n = len(self.log)
            if not self.in_flight:
                time.sleep(quiet_s)
                with self._lock:
                    if not self.in_flight and len(self.log) == n:
                        return
            else:
                time.sleep(0.01)

    # ------------------------------------------------------------------ behaviour
    def should_fail(self, body_bytes: bytes) -> bool:
        """Decide failure injection for one generation request (call under the lock)."""
        self._n_generation += 1
        if self.fail_every and self._n_generation % self.fail_every == 0:
            return True
        if self.fail_fraction > 0:
            digest = hashlib.sha256(body_bytes).hexdigest()
            seen = self._seen.get(digest, 0)
            self._seen[digest] = seen + 1
            draw = int(hashlib.sha256(f"{digest}:{seen}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
            return draw < self.fail_fraction
        return False

    def generate(self, endpoint: str, body: dict[str, Any]) -> tuple[str, int, int]:
        """(text, prompt_tokens, completion_tokens) for one request."""
        max_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens") or 256)
        stop = body.get("stop") or []
        stop = [stop] if isinstance(stop, str) else list(stop)
        params = {"max_new_tokens": max_tokens, "temperature": float(body.get("temperature", 0.0)),
                  "top_p": float(body.get("top_p", 1.0)), "stop": stop, "seed": body.get("seed")}
        if isinstance(self.responder, LLMBackend):
            with self._gen_lock:
                before = (self.responder.stats.prompt_tokens, self.responder.stats.completion_tokens)
                if endpoint == "chat":
                    text = self.responder.chat([body["messages"]], **params)[0]
                else:
                    text = self.responder.complete([body["prompt"]], **params)[0]
                st = self.responder.stats
                return text, st.prompt_tokens - before[0], st.completion_tokens - before[1]
        messages = body["messages"] if endpoint == "chat" else [{"role": "user", "content": body["prompt"]}]
        text = truncate_words(truncate_at_stop(str(self.responder(messages)), stop), max_tokens)
        return text, sum(word_count(m["content"]) for m in messages), word_count(text)


class _Handler(BaseHTTPRequestHandler):
    """One request to an `OpenAITestServer` (`_make_handler` names the server)."""

    protocol_version = "HTTP/1.1"
    test_server: OpenAITestServer  # set by _make_handler

    def log_message(self, *args: Any) -> None:  # quiet: tests read `server.log` instead
        pass

    counted = False  # this request is in `server.in_flight`

    def _uncount(self) -> None:
        server = self.test_server
        if self.counted:
            with server._lock:
                server.in_flight -= 1
            self.counted = False

    def _send(self, status: int, obj: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        # leave the in-flight count before writing: once the client has the answer it may
        # send its next request, which must not overlap this one in the count
        self._uncount()
        data = json.dumps(obj).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, body: dict | None, headers: dict | None = None) -> None:
        server = self.test_server
        with server._lock:
            server.log.append(LoggedRequest(self.path, body, status))
        self._send(status, {"error": {"message": message, "type": "safemix_test", "code": status}}, headers)

    def _authorised(self) -> bool:
        server = self.test_server
        return server.api_key is None or self.headers.get("Authorization") == f"Bearer {server.api_key}"

    def do_GET(self) -> None:
        server = self.test_server
        if self.path.rstrip("/") != "/v1/models":
            return self._error(404, f"no route {self.path}", None)
        if not self._authorised():
            return self._error(401, "invalid API key", None)
        with server._lock:
            server.log.append(LoggedRequest("/v1/models", None, 200))
        self._send(200, {"object": "list", "data": [
            {"id": server.model_name, "object": "model", "created": 0, "owned_by": "safemix"}]})

    def do_POST(self) -> None:
        server = self.test_server
        endpoint = {"/v1/chat/completions": "chat", "/v1/completions": "text"}.get(self.path.rstrip("/"))
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if endpoint is None:
            return self._error(404, f"no route {self.path}", None)
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError:
            return self._error(400, "request body is not a JSON object", None)
        if not self._authorised():
            return self._error(401, "invalid API key", body)
        key = "messages" if endpoint == "chat" else "prompt"
        if not isinstance(body.get(key), list if endpoint == "chat" else str):
            return self._error(400, f"missing or invalid '{key}'", body)
        if body.get("stream"):
            return self._error(400, "streaming is not supported by the test server", body)
        with server._lock:
            fail = server.should_fail(raw)
            server.in_flight += 1
            server.max_in_flight = max(server.max_in_flight, server.in_flight)
            self.counted = True
        try:
            self._answer(endpoint, body, fail)
        finally:
            self._uncount()

    def _answer(self, endpoint: str, body: dict, fail: bool) -> None:
        server = self.test_server
        if server.delay_s:
            time.sleep(server.delay_s)
        if fail:
            headers = {"Retry-After": str(server.retry_after)} if server.retry_after is not None else None
            return self._error(server.fail_status, "injected failure", body, headers)
        try:
            text, pt, ct = server.generate(endpoint, body)
        except Exception as e:  # a responder bug must show up as a 500, not a hung client
            return self._error(500, f"responder failed: {type(e).__name__}: {e}", body)
        with server._lock:
            server.log.append(LoggedRequest(self.path, body, 200))
            n = len(server.log)
        choice: dict[str, Any] = {"index": 0, "finish_reason": "stop"}
        if endpoint == "chat":
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        self._send(200, {
            "id": f"cmpl-{n}", "object": "chat.completion" if endpoint == "chat" else "text_completion",
            "created": int(time.time()), "model": body.get("model", server.model_name), "choices": [choice],
            "usage": {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct},
        })


def _make_handler(server: OpenAITestServer) -> type[BaseHTTPRequestHandler]:
    """The request handler class of `server` (http.server makes one handler per request)."""
    return type("Handler", (_Handler,), {"test_server": server})


def main(argv: list[str] | None = None) -> int:
    from safemix.llm.dummy import RULES, DummyBackend

    ap = argparse.ArgumentParser(prog="python -m safemix.llm.testserver",
                                 description="A local OpenAI-compatible server (127.0.0.1) for tests and dry runs.")
    ap.add_argument("--port", type=int, default=8000, help="Port (0 = pick a free one).")
    ap.add_argument("--responder", default="echo", choices=[*RULES, "hf"],
                    help="A dummy rule, or 'hf' to serve --model with the hf backend.")
    ap.add_argument("--model", help="Model id/dir/.gguf for --responder hf.")
    ap.add_argument("--model-name", default="safemix-test", help="Name listed by /v1/models.")
    ap.add_argument("--api-key", help="Require this bearer token.")
    ap.add_argument("--fail-every", type=int, default=0, help="Fail every k-th generation request.")
    ap.add_argument("--fail-fraction", type=float, default=0.0, help="Fail this share of requests (deterministic).")
    ap.add_argument("--fail-status", type=int, default=500, help="HTTP status of injected failures.")
    args = ap.parse_args(argv)
    if args.responder == "hf":
        if not args.model:
            ap.error("--responder hf needs --model")
        from safemix.llm.hf import HFBackend

        responder: Any = HFBackend(args.model, progress=False)
    else:
        responder = DummyBackend(rule=args.responder)
    srv = OpenAITestServer(responder, port=args.port, model_name=args.model_name, api_key=args.api_key,
                           fail_every=args.fail_every, fail_fraction=args.fail_fraction,
                           fail_status=args.fail_status)
    print(f"serving {srv.url} (Ctrl-C to stop)", flush=True)
    try:
        srv._httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv._httpd.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
