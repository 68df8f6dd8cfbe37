"""Fixtures of the service tests (issue 18).

Store section (svc-store):
- `service_settings`: ServiceSettings with its home under tmp_path (SQLite db, files, runs, audit).
- `store`: a migrated Store of those settings (closed after the test).
- `org_and_key`: (org id, plaintext API key) of a fresh organization "acme" in `store`.
- `pg_url` (session): a throwaway PostgreSQL cluster on 127.0.0.1 (initdb/pg_ctl run as the
  `postgres` user when we are root), its URL `postgresql+psycopg://postgres@127.0.0.1:PORT/safemix`;
  stopped and deleted after the session. Skips with the reason when PostgreSQL is missing.
- `pg_db_url`: a fresh, empty database in that cluster for one test.

Other helpers: add your fixtures in a clearly marked section below, or in your test files.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

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

def pg_binary(name: str) -> str | None:
    """`name` (initdb, pg_ctl) on PATH or in Debian's /usr/lib/postgresql/*/bin (newest)."""
    found = shutil.which(name)
    if found:
        return found
    cands = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return cands[-1] if cands else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_runner() -> tuple[list[str], tuple[int, int] | None]:
    """The command prefix that runs PostgreSQL's tools (not as root) and the (uid, gid) that
    must own the cluster's folder; skips when that is impossible."""
    if os.geteuid() != 0:
        return [], None
    import pwd

    try:
        pw = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("PostgreSQL refuses to run as root and there is no `postgres` user")
    runuser = shutil.which("runuser")
    prefix = [runuser, "-u", "postgres", "--"] if runuser else ["su", "postgres", "-s", "/bin/sh", "-c"]
    return prefix, (pw.pw_uid, pw.pw_gid)


def _run_pg(prefix: list[str], cmd: list[str]) -> None:
    if prefix and prefix[0] == "su":
        import shlex

        cmd = prefix + [shlex.join(cmd)]
    else:
        cmd = prefix + cmd
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")


@pytest.fixture(scope="session")
def pg_url():
    initdb, pg_ctl = pg_binary("initdb"), pg_binary("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL is not installed: no initdb/pg_ctl on PATH or in "
                    "/usr/lib/postgresql/*/bin (apt-get install postgresql)")
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'safemix[serve]')")
    prefix, owner = _pg_runner()
    base = Path(tempfile.mkdtemp(prefix="safemix-pg-"))  # in /tmp: the postgres user can reach it
    if owner:
        os.chown(base, *owner)
    data, port = base / "data", free_port()
    try:
        _run_pg(prefix, [initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                         "--no-sync"])
        opts = (f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        _run_pg(prefix, [pg_ctl, "-D", str(data), "-l", str(base / "log"), "-w", "-t", "60",
                         "-o", opts, "start"])
        try:
            _create_database(f"postgresql://postgres@127.0.0.1:{port}/postgres", "safemix")
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/safemix"
        finally:
            _run_pg(prefix, [pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"])
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _create_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


@pytest.fixture
def pg_db_url(pg_url) -> str:
    """A fresh, empty database in the session's cluster (tests do not see each other's jobs)."""
    from sqlalchemy.engine import make_url

    u = make_url(pg_url)
    name = f"t_{secrets.token_hex(6)}"
    _create_database(u.set(drivername="postgresql", database="postgres").render_as_string(False), name)
    return u.set(database=name).render_as_string(hide_password=False)


# ---- other helpers' fixtures below (mark your section) ------------------------------------------
