"""The store on a real PostgreSQL (a throwaway cluster on 127.0.0.1, `pg_url` in conftest):
the backend-independent tests of test_store.py (SHARED) on a fresh database each, plus what is
PostgreSQL's own: claims skip rows another transaction has locked (SKIP LOCKED) and concurrent
first starts migrate once (advisory lock). Skips when PostgreSQL is not installed."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy")
pytest.importorskip("alembic")

from safemix.service.store import Store  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

_spec = importlib.util.spec_from_file_location("_service_store_cases",
                                               Path(__file__).with_name("test_store.py"))
cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cases)
globals().update({name: getattr(cases, name) for name in cases.SHARED})  # collected here again


@pytest.fixture
def store(pg_db_url, tmp_path):
    st = Store(pg_db_url, files=tmp_path / "files", cache_dir=tmp_path / "cache")
    assert st.dialect == "postgresql"
    yield st
    st.close()


def test_claim_skips_rows_locked_by_another_transaction(store):
    """The oldest job is locked by another host's open transaction: the claim takes the next
    one at once instead of waiting (FOR UPDATE SKIP LOCKED)."""
    from sqlalchemy import text

    org = store.create_org("acme")["id"]
    first = store.create_job(org, dict(cases.BODY))
    second = store.create_job(org, dict(cases.BODY))
    other = Store(store.url, create=False, files=store.blobs.url)
    try:
        with other.engine.begin() as conn:
            conn.execute(text("SELECT id FROM jobs WHERE id = :i FOR UPDATE"), {"i": first["id"]})
            got = store.claim_job("w1", 60)
            assert got["id"] == second["id"]
        assert store.claim_job("w2", 60)["id"] == first["id"]  # released with the transaction
    finally:
        other.close()


def test_concurrent_first_starts_migrate_once(pg_db_url, tmp_path):
    errors: list[BaseException] = []

    def start() -> None:
        try:
            Store(pg_db_url, files=tmp_path / "files").close()
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    cases._assert_schema_matches_models(Store(pg_db_url, files=tmp_path / "files"))
