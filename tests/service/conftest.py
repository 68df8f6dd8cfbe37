"""Fixtures of the service tests (issue 18).

Store section (svc-store):
- `service_settings`: ServiceSettings with its home under tmp_path (SQLite db, files, runs, audit).
- `store`: a migrated Store of those settings (closed after the test).
- `org_and_key`: (org id, plaintext API key) of a fresh organization "acme" in `store`.
- `pg_url` (session): a throwaway PostgreSQL cluster on 127.0.0.1 (`safemix.service.pgcluster`,
  shared with scripts/bench_service.py; initdb/pg_ctl run as the
  `postgres` user when we are root), its URL `postgresql+psycopg://postgres@127.0.0.1:PORT/safemix`;
  stopped and deleted after the session. Skips with the reason when PostgreSQL is missing.
- `pg_db_url`: a fresh, empty database in that cluster for one test.

Other helpers: add your fixtures in a clearly marked section below, or in your test files.
"""

from __future__ import annotations

import secrets

import pytest


@pytest.fixture
def service_settings(tmp_path):
    from safemix.service.settings import ServiceSettings

    return ServiceSettings(home=str(tmp_path / "service"))


@pytest.fixture
def store(service_settings):
    pytest.importorskip("sqlalchemy")
    pytest.importorskip("alembic")
    from safemix.service.store import Store

    st = Store.from_settings(service_settings)
    yield st
    st.close()


@pytest.fixture
def org_and_key(store) -> tuple[str, str]:
    org = store.create_org("acme")
    return org["id"], store.create_api_key(org["id"], "test")


# ---- PostgreSQL (integration tier) -------------------------------------------------------------

@pytest.fixture(scope="session")
def pg_url():
    """A throwaway cluster (`safemix.service.pgcluster.throwaway_cluster`) for the session;
    skips with the reason when PostgreSQL cannot start here."""
    from contextlib import ExitStack

    from safemix.service.pgcluster import PostgresUnavailable, throwaway_cluster

    with ExitStack() as stack:
        try:
            url = stack.enter_context(throwaway_cluster())
        except PostgresUnavailable as e:
            pytest.skip(str(e))
        yield url


@pytest.fixture
def pg_db_url(pg_url) -> str:
    """A fresh, empty database in the session's cluster (tests do not see each other's jobs)."""
    from sqlalchemy.engine import make_url

    from safemix.service.pgcluster import create_database

    u = make_url(pg_url)
    name = f"t_{secrets.token_hex(6)}"
    create_database(u.set(drivername="postgresql", database="postgres").render_as_string(False), name)
    return u.set(database=name).render_as_string(hide_password=False)


# ---- other helpers' fixtures below (mark your section) ------------------------------------------


# ------------------------------------------------------------------ svc-api fixtures (api/chat tests)
# A live API server: create_app(settings, store) served by uvicorn in a thread on a free
# 127.0.0.1 port, and the openai SDK / httpx clients pointed at it.


class LiveServer:
    """`create_app(...)` on uvicorn in a background thread (loopback, a free port)."""

    def __init__(self, app) -> None:
        import threading

        import uvicorn

        self.app = app
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                                    lifespan="off", access_log=False))
        self.thread = threading.Thread(target=self.server.run, name="safemix-api", daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> LiveServer:
        import time

        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the API server did not start")
            time.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)

    def client(self, key: str, **kw):
        """The official openai SDK on this server (no retries: a 429 is seen as it is)."""
        from openai import OpenAI

        return OpenAI(base_url=self.url + "/v1", api_key=key, max_retries=0, timeout=kw.pop("timeout", 60), **kw)

    def http(self, key: str | None = None):
        """An httpx client on this server with the key as a Bearer token (httpx2: what the
        openai SDK ships with; httpx where that is what is installed)."""
        try:
            import httpx2 as httpx
        except ImportError:
            import httpx

        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


@pytest.fixture
def live_api():
    """`live_api(settings, store=None) -> LiveServer`, started; every one is stopped after the test."""
    started: list[LiveServer] = []

    def start(settings, store=None) -> LiveServer:
        from safemix.service.api import create_app

        srv = LiveServer(create_app(settings, store)).start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


def chat_jsonl(n: int = 12, start: int = 0) -> bytes:
    """`n` chat-format JSONL rows (a job the API and wrap accept)."""
    import json

    rows = [{"messages": [{"role": "user", "content": f"What is {i} plus {i}?"},
                          {"role": "assistant", "content": f"The answer is {2 * i}."}]} for i in range(start, start + n)]
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


@pytest.fixture
def jsonl():
    """`jsonl(n=12, start=0) -> bytes`: chat-format JSONL rows."""
    return chat_jsonl


def _api_env(settings):
    """The settings' Store and two orgs with a key each (org/key, org2/key2)."""
    from types import SimpleNamespace

    from safemix.service.api import open_store

    store = open_store(settings)
    a, b = store.create_org("acme"), store.create_org("globex")
    return SimpleNamespace(settings=settings, store=store, org=a["id"], key=store.create_api_key(a["id"]),
                           org2=b["id"], key2=store.create_api_key(b["id"]))


@pytest.fixture
def api_env(tmp_path):
    """settings under tmp_path (SQLite), its Store, and two orgs with a key each (org/key, org2/key2)."""
    pytest.importorskip("sqlalchemy")
    from safemix.service.settings import ServiceSettings

    env = _api_env(ServiceSettings(home=str(tmp_path / "svc")))
    yield env
    env.store.close()


@pytest.fixture
def pg_api_env(tmp_path, pg_db_url):
    """`api_env` on a fresh PostgreSQL database of the throwaway cluster (integration tier)."""
    from safemix.service.settings import ServiceSettings

    env = _api_env(ServiceSettings(home=str(tmp_path / "svc"), database_url=pg_db_url))
    yield env
    env.store.close()
