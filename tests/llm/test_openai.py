"""The `openai` backend against the local OpenAI-compatible test server, over real HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request

import pytest

from safemix.errors import ConfigError
from safemix.llm import EndpointError, get_backend
from safemix.llm.cache import CompletionCache
from safemix.llm.testserver import OpenAITestServer

FAST = {"progress": False, "backoff_base": 0.01, "backoff_max": 0.05}
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via an HTTP(S)_PROXY


def openai(srv: OpenAITestServer, **kw):
    return get_backend("openai", model="safemix-test", base_url=srv.url, **{**FAST, **kw})


def items(n: int, start: int = 0) -> list[list[dict]]:
    return [[{"role": "user", "content": f"item {i} says hello"}] for i in range(start, start + n)]


def test_chat_complete_and_models():
    with OpenAITestServer() as srv:
        b = openai(srv)
        assert b.chat(items(5)) == [f"item {i} says hello" for i in range(5)]
        assert b.complete(["one two three four"], max_new_tokens=2) == ["one two"]
        with DIRECT.open(srv.url + "/models", timeout=5) as r:
            models = json.loads(r.read())
        assert models["data"][0]["id"] == "safemix-test"
        body = srv.answered()[0]
        assert body["model"] == "safemix-test" and body["max_tokens"] == 256 and body["temperature"] == 0.0
        assert srv.requests == 6
    s = b.stats
    assert (s.requests, s.completed, s.failed, s.retries, s.cache_hits) == (6, 6, 0, 0, 0)


def test_params_are_sent():
    with OpenAITestServer() as srv:
        b = openai(srv, extra_body={"presence_penalty": 0.5})
        assert b.chat(items(1), max_new_tokens=2, temperature=0.7, top_p=0.9, stop=["\n"], seed=5) == ["item 0"]
        body = srv.answered()[0]
    assert {k: body[k] for k in ("max_tokens", "temperature", "top_p", "stop", "seed", "presence_penalty")} == {
        "max_tokens": 2, "temperature": 0.7, "top_p": 0.9, "stop": ["\n"], "seed": 5, "presence_penalty": 0.5}


def test_concurrency_is_used_and_bounded():
    with OpenAITestServer(delay_s=0.05) as srv:
        out = openai(srv, max_concurrency=4).chat(items(16))
    assert out == [f"item {i} says hello" for i in range(16)]
    assert 2 <= srv.max_in_flight <= 4


# `fail_every` depends on arrival order, so it is run sequentially; `fail_fraction` is decided
# per request and attempt, so it stays deterministic under concurrency.
@pytest.mark.parametrize("server_kw, concurrency", [
    ({"fail_every": 3}, 1),
    ({"fail_every": 2, "fail_status": 503}, 1),
    ({"fail_fraction": 0.4, "fail_status": 429, "retry_after": 0}, 4),
    ({"fail_fraction": 0.3, "fail_status": 502}, 8),
])
def test_failing_server_loses_nothing_and_retries_are_counted(server_kw, concurrency):
    with OpenAITestServer(**server_kw) as srv:
        b = openai(srv, max_concurrency=concurrency, max_retries=6)
        out = b.chat(items(24))
        assert out == [f"item {i} says hello" for i in range(24)]
        assert srv.failures > 0
        assert b.stats.retries == srv.failures
        assert srv.requests == 24 + srv.failures
    assert (b.stats.completed, b.stats.failed) == (24, 0)


def test_retries_exhausted():
    with OpenAITestServer(fail_every=1) as srv:
        with pytest.raises(EndpointError, match=r"kept failing after 2 retries: HTTP 500 injected failure"):
            openai(srv, max_retries=2, max_concurrency=1).chat(items(1))
        assert srv.requests == 3
        b = openai(srv, max_retries=1, on_error="empty")
        assert b.chat(items(3)) == ["", "", ""]
        assert (b.stats.failed, b.stats.completed, b.stats.retries) == (3, 0, 3)


def test_client_errors_are_not_retried():
    with OpenAITestServer(api_key="right") as srv:
        with pytest.raises(EndpointError, match="HTTP 401: invalid API key"):
            openai(srv, api_key="wrong").chat(items(1))
        assert srv.requests == 1
        with pytest.raises(EndpointError, match="HTTP 400: streaming is not supported"):
            openai(srv, api_key="right", extra_body={"stream": True}).chat(items(1))
        assert openai(srv, api_key="right").chat(items(1)) == ["item 0 says hello"]


def test_api_key_from_the_environment(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "from-env")
    with OpenAITestServer(api_key="from-env") as srv:
        assert openai(srv).chat(items(1)) == ["item 0 says hello"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_endpoint():
    port = free_port()  # closed again: nothing listens there
    b = get_backend("openai", model="m", base_url=f"http://127.0.0.1:{port}/v1", **FAST)
    with pytest.raises(EndpointError) as e:
        b.chat(items(1))
    assert str(e.value) == f"cannot reach http://127.0.0.1:{port}/v1 after 3 retries: connection refused"
    assert (b.stats.retries, b.stats.failed, b.stats.completed) == (3, 1, 0)


def test_timeout_is_retried_then_reported():
    with OpenAITestServer(delay_s=1.0) as srv:
        b = openai(srv, timeout=0.2, max_retries=1)
        with pytest.raises(EndpointError, match="after 1 retries: timed out"):
            b.chat(items(1))


def test_configuration_errors():
    with pytest.raises(ConfigError, match="needs `model`"):
        get_backend("openai", base_url="http://127.0.0.1:1/v1")
    with pytest.raises(ConfigError, match="base_url"):
        get_backend("openai", model="m", base_url="127.0.0.1:1/v1")
    with pytest.raises(ConfigError, match="on_error"):
        get_backend("openai", model="m", base_url="http://127.0.0.1:1/v1", on_error="ignore")


def test_token_and_cost_accounting():
    convs = [[{"role": "system", "content": "be brief"}, {"role": "user", "content": "a b c d e f"}],
             [{"role": "user", "content": "x y"}]]
    with OpenAITestServer(lambda msgs: "w1 w2 w3 w4 w5") as srv:
        b = openai(srv, prompt_price_per_1m=2.0, completion_price_per_1m=10.0)
        assert b.chat(convs, max_new_tokens=4) == ["w1 w2 w3 w4", "w1 w2 w3 w4"]
    # the callable responder's usage is in words: prompts 2+6 and 2, answers 4 and 4
    assert (b.stats.prompt_tokens, b.stats.completion_tokens) == (10, 8)
    assert b.stats.cost_usd == pytest.approx((10 * 2.0 + 8 * 10.0) / 1e6)


def test_cache_second_run_makes_no_request(tmp_path):
    with OpenAITestServer(fail_fraction=0.25) as srv:
        first = openai(srv, cache_dir=str(tmp_path), max_concurrency=3)
        out = first.chat(items(12))
        n = srv.requests
        second = openai(srv, cache_dir=str(tmp_path))
        assert second.chat(items(12)) == out
        assert srv.requests == n  # zero HTTP requests
        assert (second.stats.cache_hits, second.stats.completed) == (12, 12)
        assert (second.stats.prompt_tokens, second.stats.cost_usd) == (0, 0.0)
        # other parameters make another request
        openai(srv, cache_dir=str(tmp_path)).chat(items(2), temperature=0.5)
        assert len(srv.answered()) == 14
    assert len(CompletionCache(tmp_path)) == 14


RUN_SCRIPT = textwrap.dedent("""
    import signal
    import sys
    from safemix.llm import get_backend
    # Ctrl-C raises KeyboardInterrupt, as in a terminal, even when the tests were started in the
    # background by a shell (which makes children inherit an ignored SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    url, cache, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    b = get_backend("openai", model="safemix-test", base_url=url, cache_dir=cache, max_concurrency=2,
                    progress=False)
    b.chat([[{"role": "user", "content": f"item {i} says hello"}] for i in range(n)])
""")


def start_run(srv: OpenAITestServer, cache: str, n: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-c", RUN_SCRIPT, srv.url, cache, str(n)], env=env)


def wait_for_answers(srv: OpenAITestServer, k: int, proc: subprocess.Popen, deadline_s: float = 60) -> None:
    end = time.monotonic() + deadline_s
    while len(srv.answered()) < k:
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < end, "the run made no progress"
        time.sleep(0.005)


def test_resume_after_a_killed_run_repeats_no_cached_request(tmp_path):
    n = 40
    with OpenAITestServer(delay_s=0.05) as srv:
        proc = start_run(srv, str(tmp_path), n)
        wait_for_answers(srv, 10, proc)
        proc.kill()  # SIGKILL: no clean-up code runs
        proc.wait(timeout=10)
        srv.wait_idle()  # requests in flight at the kill are answered to nobody
        cache = CompletionCache(tmp_path)
        cached_texts = {t for (t,) in cache._db.execute("SELECT text FROM completions")}
        cached = len(cached_texts)
        assert 10 - 2 <= cached < n  # up to max_concurrency answers were still on the wire
        before = len(srv.log)
        b = openai(srv, cache_dir=str(tmp_path))
        assert b.chat(items(n)) == [f"item {i} says hello" for i in range(n)]
        rerun = [body["messages"][-1]["content"] for body in srv.answered(since=before)]
    assert len(rerun) == n - cached  # exactly the missing ones were asked for
    assert not cached_texts.intersection(rerun)  # and none that was cached
    assert b.stats.cache_hits == cached


def test_ctrl_c_stops_the_queue(tmp_path):
    n = 60
    with OpenAITestServer(delay_s=0.05) as srv:
        proc = start_run(srv, str(tmp_path), n)
        wait_for_answers(srv, 5, proc)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) != 0
        time.sleep(0.2)
        assert srv.requests < n  # the queued requests were dropped, not sent
        assert len(CompletionCache(tmp_path)) >= 5


def test_server_routes_and_bad_requests():
    with OpenAITestServer() as srv:
        for path, data in (("/v1/nothing", b"{}"), ("/v1/chat/completions", b"[1]"),
                           ("/v1/chat/completions", b'{"messages": "x"}')):
            req = urllib.request.Request(srv.url.rsplit("/v1", 1)[0] + path, data=data, method="POST")
            with pytest.raises(urllib.error.HTTPError) as e:
                DIRECT.open(req, timeout=5)
            assert e.value.code in (400, 404)
    with pytest.raises(ValueError, match="loopback"):
        OpenAITestServer(host="0.0.0.0")


def test_server_backed_by_a_real_tiny_model(tiny_lm, make_convs):
    model, tok = tiny_lm
    hf = get_backend("hf", model=model, tokenizer=tok, batch_size=4, progress=False)
    convs = make_convs(6)
    direct = hf.chat(convs, max_new_tokens=8)
    with OpenAITestServer(hf) as srv:
        client = openai(srv, max_concurrency=3)
        assert client.chat(convs, max_new_tokens=8) == direct
        assert client.complete(["Topic:"], max_new_tokens=4) == hf.complete(["Topic:"], max_new_tokens=4)
    # usage comes from the model's tokenizer
    assert client.stats.prompt_tokens == sum(len(hf.encode_chat(c)) for c in convs) + len(tok("Topic:")["input_ids"])
    assert client.stats.completion_tokens == 6 * 8 + 4


def test_testserver_command_line():
    proc = subprocess.Popen([sys.executable, "-m", "safemix.llm.testserver", "--port", "0", "--responder", "upper"],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("serving http://127.0.0.1:")
        url = line.split()[1]
        b = get_backend("openai", model="safemix-test", base_url=url, **FAST)
        assert b.chat(items(2)) == ["ITEM 0 SAYS HELLO", "ITEM 1 SAYS HELLO"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
