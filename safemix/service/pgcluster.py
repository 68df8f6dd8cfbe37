"""A throwaway PostgreSQL cluster on 127.0.0.1, for the service's tests and benchmark:

    with throwaway_cluster() as url:   # postgresql+psycopg://postgres@127.0.0.1:PORT/safemix
        store = Store(url)

`initdb` into a temporary folder (trust auth, fsync off: a scratch database, never a real one),
`pg_ctl start` on a free loopback port with its socket in that folder, one database; on exit
`pg_ctl stop -m immediate` and the folder is deleted. PostgreSQL refuses to run as root, so as
root its tools run as the `postgres` user (`runuser`, else `su`). `PostgresUnavailable` says
why it cannot start (no initdb/pg_ctl, no psycopg, root without a `postgres` user).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot be started on this machine (the message says why)."""


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


def pg_runner() -> tuple[list[str], tuple[int, int] | None]:
    """The command prefix that runs PostgreSQL's tools (not as root) and the (uid, gid) that
    must own the cluster's folder."""
    if os.geteuid() != 0:
        return [], None
    import pwd

    try:
        pw = pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailable("PostgreSQL refuses to run as root and there is no `postgres` user") from None
    runuser = shutil.which("runuser")
    prefix = [runuser, "-u", "postgres", "--"] if runuser else ["su", "postgres", "-s", "/bin/sh", "-c"]
    return prefix, (pw.pw_uid, pw.pw_gid)


def run_pg(prefix: list[str], cmd: list[str]) -> None:
    if prefix and prefix[0] == "su":
        import shlex

        cmd = prefix + [shlex.join(cmd)]
    else:
        cmd = prefix + cmd
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")


def create_database(admin_url: str, name: str) -> None:
    """CREATE DATABASE `name` through `admin_url` (a libpq URL of an existing database)."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def _tools() -> tuple[str, str]:
    initdb, pg_ctl = pg_binary("initdb"), pg_binary("pg_ctl")
    if not initdb or not pg_ctl:
        raise PostgresUnavailable("PostgreSQL is not installed: no initdb/pg_ctl on PATH or in "
                                  "/usr/lib/postgresql/*/bin (apt-get install postgresql)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise PostgresUnavailable("psycopg is not installed (pip install 'safemix[serve]')") from None
    return initdb, pg_ctl


@contextmanager
def throwaway_cluster(database: str = "safemix", max_connections: int = 200) -> Iterator[str]:
    """Start a scratch cluster, yield `postgresql+psycopg://postgres@127.0.0.1:PORT/<database>`,
    stop and delete it after. Raises PostgresUnavailable before starting anything."""
    initdb, pg_ctl = _tools()
    prefix, owner = pg_runner()
    base = Path(tempfile.mkdtemp(prefix="safemix-pg-"))  # in /tmp: the postgres user can reach it
    if owner:
        os.chown(base, *owner)
    data, port = base / "data", free_port()
    try:
        run_pg(prefix, [initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
        opts = (f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off "
                f"-c synchronous_commit=off -c full_page_writes=off -c max_connections={int(max_connections)}")
        run_pg(prefix, [pg_ctl, "-D", str(data), "-l", str(base / "log"), "-w", "-t", "60", "-o", opts, "start"])
        try:
            create_database(f"postgresql://postgres@127.0.0.1:{port}/postgres", database)
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/{database}"
        finally:
            run_pg(prefix, [pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"])
    finally:
        shutil.rmtree(base, ignore_errors=True)


__all__ = ["PostgresUnavailable", "create_database", "free_port", "pg_binary", "pg_runner", "run_pg",
           "throwaway_cluster"]
