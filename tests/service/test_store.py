"""The service's job store on real SQLite files (WAL): orgs and keys, files, jobs, the lease
queue, events, checkpoints, tenancy, restarts, migrations, blobs on disk and in fsspec memory.

test_store_pg.py runs the backend-independent tests below (SHARED) on a real PostgreSQL."""

from __future__ import annotations

import hashlib
import re
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy")
pytest.importorskip("alembic")

from safemix.service.blobs import Blobs  # noqa: E402
from safemix.service.store import Store  # noqa: E402

BODY = {"model": "safemix-tiny", "training_file": "file-x"}


def reopen(store: Store) -> Store:
    """A second Store on the same database and files (another host, or after a restart)."""
    return Store(store.url, files=store.blobs.url, cache_dir=store.blobs.cache_dir)


def _job(store: Store, org: str, **body) -> dict:
    return store.create_job(org, {**BODY, **body})


# ---- orgs & keys ---------------------------------------------------------------------------------

def test_orgs_and_keys(store):
    org = store.create_org("acme")
    assert re.fullmatch(r"org-[0-9a-f]{24}", org["id"]) and org["name"] == "acme"
    assert store.find_org("acme") == org == store.get_org(org["id"])
    assert store.find_org("nobody") is None and store.get_org("org-0") is None
    with pytest.raises(ValueError, match="exists"):
        store.create_org("acme")
    key = store.create_api_key(org["id"], "ci")
    assert re.fullmatch(r"sk-sm-[A-Za-z0-9_-]{40}", key)
    assert store.org_for_key(key) == org["id"]
    rows = store.list_api_keys(org["id"])
    assert len(rows) == 1 and "key_hash" not in rows[0]
    assert rows[0]["prefix"] == key[6:14] and rows[0]["name"] == "ci" and rows[0]["revoked"] is False
    with pytest.raises(KeyError):
        store.create_api_key("org-missing")


def test_keys_are_stored_hashed_and_revocable(store):
    org = store.create_org("acme")
    key = store.create_api_key(org["id"])
    other = store.create_api_key(store.create_org("beta")["id"])
    with store.engine.connect() as conn:
        (stored,) = conn.exec_driver_sql("SELECT key_hash FROM api_keys WHERE org_id = ?"
                                         if store.dialect == "sqlite" else
                                         "SELECT key_hash FROM api_keys WHERE org_id = %s",
                                         (org["id"],)).one()
        dump = repr(conn.exec_driver_sql("SELECT * FROM api_keys").all())
    assert stored == hashlib.sha256(key.encode()).hexdigest() and key not in dump
    forged = key[:14] + ("A" if key[14] != "A" else "B") + key[15:]  # same prefix, wrong key
    for bad in (forged, key + "x", key[:-1], "", "Bearer " + key, "sk-sm-", None, other[:-1]):
        assert store.org_for_key(bad) is None, bad
    assert store.revoke_api_key("sk-sm-" + key[6:14]) == 1
    assert store.org_for_key(key) is None and store.org_for_key(other) is not None
    assert store.revoke_api_key(key[6:14]) == 0  # already revoked
    assert [k["revoked"] for k in store.list_api_keys(org["id"])] == [True]


# ---- files ---------------------------------------------------------------------------------------

def test_files_roundtrip_and_filenames_never_become_paths(store):
    org = store.create_org("acme")["id"]
    data = b'{"messages": []}\n'
    f = store.add_file(org, "../../etc/passwd", "fine-tune", data)
    assert re.fullmatch(r"file-[0-9a-f]{24}", f["id"]) and f["storage_key"] == f["id"]
    assert f["filename"] == "../../etc/passwd" and f["bytes"] == len(data)
    assert f["sha256"] == hashlib.sha256(data).hexdigest() and f["status"] == "processed"
    assert store.get_file(org, f["id"]) == f
    assert store.read_file(org, f["id"]) == data
    path = store.file_path(f["id"])
    assert path.read_bytes() == data and path.name == f["id"] and path.parent == store.files_dir()
    if store.blobs.is_local:
        assert path.parent == store.blobs.local_root
        assert sorted(p.name for p in store.blobs.local_root.iterdir()) == [f["id"]]  # no temp files
    assert store.delete_file(org, f["id"]) is True
    assert store.get_file(org, f["id"]) is None and store.delete_file(org, f["id"]) is False
    with pytest.raises(KeyError):
        store.read_file(org, f["id"])
    with pytest.raises(FileNotFoundError):
        store.file_path(f["id"])
    assert not store.blobs.exists(f["id"])


def test_list_files_pages_newest_first(store):
    org = store.create_org("acme")["id"]
    ids = [store.add_file(org, f"{i}.jsonl", "fine-tune", b"{}\n")["id"] for i in range(5)]
    store.add_file(org, "r.jsonl", "results", b"{}\n")
    page, more = store.list_files(org, purpose="fine-tune", limit=2)
    assert [f["id"] for f in page] == ids[:-3:-1] and more
    page2, more = store.list_files(org, purpose="fine-tune", limit=2, after=page[-1]["id"])
    assert [f["id"] for f in page2] == [ids[2], ids[1]] and more
    page3, more = store.list_files(org, purpose="fine-tune", limit=2, after=page2[-1]["id"])
    assert [f["id"] for f in page3] == [ids[0]] and not more
    asc, more = store.list_files(org, purpose="fine-tune", order="asc", limit=10)
    assert [f["id"] for f in asc] == ids and not more
    assert len(store.list_files(org)[0]) == 6
    assert store.list_files(org, after="file-unknown") == ([], False)
    with pytest.raises(ValueError):
        store.list_files(org, limit=0)


# ---- jobs ----------------------------------------------------------------------------------------

def test_create_get_update_list_jobs(store):
    org = store.create_org("acme")["id"]
    j = _job(store, org, suffix="s1", seed=7, metadata={"team": "a"},
             hyperparameters={"n_epochs": 2}, method={"type": "supervised"})
    assert re.fullmatch(r"ftjob-[0-9a-f]{24}", j["id"]) and j["status"] == "validating_files"
    assert (j["hyperparameters"], j["metadata"], j["method"], j["seed"], j["suffix"]) == (
        {"n_epochs": 2}, {"team": "a"}, {"type": "supervised"}, 7, "s1")
    assert j["attempts"] == 0 and j["cancel_requested"] is False and j["integrations"] == []
    assert j["started_at"] is None and j["finished_at"] is None and j["error"] is None
    assert store.get_job(org, j["id"]) == j == store.get_job(None, j["id"])  # None: admin
    j2 = _job(store, org, metadata={"team": "b"})
    u = store.update_job(j["id"], wrap_id="w123", run_dir="/r", estimated_finish=5,
                         error={"code": "x"}, metadata={"team": "a", "k": 1})
    assert (u["wrap_id"], u["run_dir"], u["estimated_finish"], u["error"]) == ("w123", "/r", 5, {"code": "x"})
    assert store.get_job(org, j["id"]) == u
    assert [x["id"] for x in store.list_jobs(org)[0]] == [j2["id"], j["id"]]
    assert [x["id"] for x in store.list_jobs(org, metadata={"team": "a"})[0]] == [j["id"]]
    assert [x["id"] for x in store.list_jobs(org, metadata={"team": "b"})[0]] == [j2["id"]]
    assert store.list_jobs(org, metadata={"team": "c"}) == ([], False)
    assert store.list_jobs(org, limit=1) == ([store.get_job(org, j2["id"])], True)
    assert store.list_jobs(org, after=j2["id"]) == ([u], False)
    with pytest.raises(ValueError):
        store.create_job(org, {**BODY, "n_epochs": 3})
    with pytest.raises(ValueError):
        store.update_job(j["id"], org_id="org-other")
    with pytest.raises(ValueError):
        store.update_job(j["id"], status="done")
    with pytest.raises(KeyError):
        store.update_job("ftjob-missing", status="queued")


def test_job_for_model(store):
    org = store.create_org("acme")["id"]
    other = store.create_org("beta")["id"]
    j = _job(store, org)
    store.update_job(j["id"], fine_tuned_model="ft:safemix-tiny:acme::abc", status="succeeded")
    assert store.job_for_model(org, "ft:safemix-tiny:acme::abc")["id"] == j["id"]
    assert store.job_for_model(other, "ft:safemix-tiny:acme::abc") is None
    assert store.job_for_model(org, "ft:nope") is None


def test_lease_claim_renew_expire_and_finish_only_by_owner(store):
    org = store.create_org("acme")["id"]
    j = _job(store, org)
    c = store.claim_job("w1", 0.5)
    assert c["id"] == j["id"] and c["status"] == "running" and c["lease_owner"] == "w1"
    assert c["attempts"] == 1 and c["started_at"] is not None and c["lease_expires"] > time.time()
    assert store.claim_job("w2", 0.5) is None  # leased
    assert store.renew_lease(j["id"], "w1", 0.5) is True
    assert store.renew_lease(j["id"], "w2", 0.5) is False
    time.sleep(0.7)  # the lease expires: w1 "died"
    c2 = store.claim_job("w2", 30)
    assert c2["id"] == j["id"] and c2["lease_owner"] == "w2" and c2["attempts"] == 2
    assert c2["started_at"] == c["started_at"]
    assert store.renew_lease(j["id"], "w1", 30) is False  # w1 lost it
    assert store.finish_job(j["id"], "w1", status="succeeded") is False
    assert store.get_job(org, j["id"])["status"] == "running"
    assert store.finish_job(j["id"], "w2", status="succeeded", verdict="released",
                            fine_tuned_model="ft:m", trained_tokens=10) is True
    done = store.get_job(org, j["id"])
    assert (done["status"], done["verdict"], done["fine_tuned_model"], done["trained_tokens"]) == (
        "succeeded", "released", "ft:m", 10)
    assert done["lease_owner"] is None and done["lease_expires"] is None and done["finished_at"]
    assert store.finish_job(j["id"], "w2", status="failed") is False  # no lease any more
    assert store.renew_lease(j["id"], "w2", 30) is False
    assert store.claim_job("w3", 30) is None


def test_claims_take_oldest_first_and_requeue(store):
    org = store.create_org("acme")["id"]
    a, b = _job(store, org), _job(store, org)
    assert store.claim_job("w1", 30)["id"] == a["id"]
    assert store.finish_job(a["id"], "w1", status="queued") is True  # requeued (e.g. a crash)
    requeued = store.get_job(org, a["id"])
    assert requeued["status"] == "queued" and requeued["finished_at"] is None
    assert store.claim_job("w1", 30)["id"] == a["id"]
    got = store.claim_job("w2", 30)
    assert got["id"] == b["id"] and store.get_job(org, a["id"])["attempts"] == 2


def test_cancel(store):
    org = store.create_org("acme")["id"]
    waiting, running, done = _job(store, org), _job(store, org), _job(store, org)
    c = store.request_cancel(org, waiting["id"])
    assert c["status"] == "cancelled" and c["finished_at"] is not None
    assert store.claim_job("w1", 30)["id"] == running["id"]
    r = store.request_cancel(org, running["id"])
    assert r["status"] == "running" and r["cancel_requested"] is True
    assert store.renew_lease(running["id"], "w1", 30) is True  # the worker sees the flag, stops
    assert store.finish_job(running["id"], "w1", status="cancelled") is True
    assert store.get_job(org, running["id"])["status"] == "cancelled"
    assert store.claim_job("w1", 30)["id"] == done["id"]
    store.finish_job(done["id"], "w1", status="succeeded")
    assert store.request_cancel(org, done["id"])["status"] == "succeeded"  # finished: unchanged
    assert store.request_cancel(org, "ftjob-missing") is None
    assert store.claim_job("w1", 30) is None


def test_cancel_of_a_job_whose_worker_died(store):
    org = store.create_org("acme")["id"]
    j = _job(store, org)
    store.claim_job("w1", 0.3)
    store.request_cancel(org, j["id"])
    time.sleep(0.5)
    assert store.claim_job("w2", 30) is None  # not rerun: cancelled
    got = store.get_job(org, j["id"])
    assert got["status"] == "cancelled" and got["lease_owner"] is None and got["attempts"] == 1


def test_events_and_checkpoints(store):
    org = store.create_org("acme")["id"]
    j = _job(store, org)
    evs = [store.add_event(j["id"], f"m{i}", data={"i": i}) for i in range(5)]
    assert re.fullmatch(r"ftevent-[0-9a-f]{24}", evs[0]["id"])
    assert (evs[0]["level"], evs[0]["type"], evs[0]["org_id"]) == ("info", "message", org)
    warn = store.add_event(j["id"], "careful", level="warn", type="metrics")
    page, more = store.list_events(org, j["id"], limit=3)
    assert [e["message"] for e in page] == ["careful", "m4", "m3"] and more
    assert warn["level"] == "warn" and page[0] == warn
    page, more = store.list_events(org, j["id"], limit=3, after=page[-1]["id"])
    assert [e["message"] for e in page] == ["m2", "m1", "m0"] and not more
    assert page[-1]["data"] == {"i": 0}
    ck = store.add_checkpoint(j["id"], step=10, metrics={"train_loss": 1.5}, path="/r/checkpoint-10",
                              model_name="ft:m:acme::x:ckpt-step-10")
    ck2 = store.add_checkpoint(j["id"], step=20, metrics={}, path=None, model_name="ft:m:ckpt-20")
    assert re.fullmatch(r"ftckpt-[0-9a-f]{24}", ck["id"]) and ck["fine_tuned_model_checkpoint"].endswith("10")
    assert store.list_checkpoints(org, j["id"]) == ([ck2, ck], False)
    assert store.list_checkpoints(org, j["id"], limit=1) == ([ck2], True)
    with pytest.raises(KeyError):
        store.add_event("ftjob-missing", "x")
    with pytest.raises(KeyError):
        store.add_checkpoint("ftjob-missing", step=1, metrics={}, path=None, model_name="m")


def test_tenancy_another_org_sees_nothing(store):
    a, b = store.create_org("acme")["id"], store.create_org("beta")["id"]
    f = store.add_file(a, "t.jsonl", "fine-tune", b"{}\n")
    j = _job(store, a, training_file=f["id"])
    store.add_event(j["id"], "hello")
    store.add_checkpoint(j["id"], step=1, metrics={}, path=None, model_name="m")
    assert store.get_file(b, f["id"]) is None and store.get_job(b, j["id"]) is None
    assert store.list_files(b) == ([], False) and store.list_jobs(b) == ([], False)
    assert store.list_events(b, j["id"]) == ([], False)
    assert store.list_checkpoints(b, j["id"]) == ([], False)
    assert store.list_jobs(b, after=j["id"]) == ([], False)  # another org's id is no cursor
    with pytest.raises(KeyError):
        store.read_file(b, f["id"])
    assert store.delete_file(b, f["id"]) is False and store.request_cancel(b, j["id"]) is None
    assert store.get_file(a, f["id"]) is not None and store.get_job(a, j["id"])["status"] == "validating_files"
    assert len(store.list_events(a, j["id"])[0]) == 1 and len(store.list_jobs(None)[0]) == 1


def test_restart_sees_everything(store):
    org = store.create_org("acme")
    key = store.create_api_key(org["id"])
    f = store.add_file(org["id"], "t.jsonl", "fine-tune", b"{}\n")
    j = _job(store, org["id"], training_file=f["id"])
    store.claim_job("w1", 60)
    store.add_event(j["id"], "started")
    store.close()
    again = reopen(store)
    try:
        assert again.org_for_key(key) == org["id"]
        assert again.get_file(org["id"], f["id"]) == f and again.read_file(org["id"], f["id"]) == b"{}\n"
        got = again.get_job(org["id"], j["id"])
        assert got["status"] == "running" and got["lease_owner"] == "w1"
        assert [e["message"] for e in again.list_events(org["id"], j["id"])[0]] == ["started"]
        assert again.renew_lease(j["id"], "w1", 60) is True
    finally:
        again.close()


def _claim_race(store: Store, n_jobs: int = 40, n_threads: int = 8) -> None:
    """8 workers (each its own Store, like separate hosts) claim until the queue is empty:
    every job is claimed exactly once."""
    org = store.create_org("acme")["id"]
    ids = {_job(store, org)["id"] for _ in range(n_jobs)}
    stores = [reopen(store) for _ in range(n_threads)]
    claims: list[tuple[str, str]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(n_threads)

    def worker(i: int) -> None:
        try:
            barrier.wait()
            while (job := stores[i].claim_job(f"w{i}", 60)) is not None:
                claims.append((job["id"], f"w{i}"))
                assert stores[i].finish_job(job["id"], f"w{i}", status="succeeded")
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for s in stores:
        s.close()
    assert not errors, errors
    assert len(claims) == n_jobs and {c[0] for c in claims} == ids
    assert all(store.get_job(org, i)["attempts"] == 1 for i in ids)


def test_concurrent_claims_never_double_claim(store):
    _claim_race(store)


_CLAIMER = """
import json, sys, time
from pathlib import Path
from safemix.service.store import Store
url, files, ready, go, name = sys.argv[1:]
st = Store(url, create=False, files=files)
Path(ready).touch()
while not Path(go).exists():
    time.sleep(0.01)
got = []
while (job := st.claim_job(name, 60)) is not None:
    got.append(job["id"])
    assert st.finish_job(job["id"], name, status="succeeded")
st.close()
print(json.dumps(got))
"""


def test_worker_processes_never_double_claim(store, tmp_path):
    """4 worker processes on one SQLite file, started together: each job claimed once."""
    import json
    import os
    import subprocess
    import sys

    org = store.create_org("acme")["id"]
    ids = {_job(store, org)["id"] for _ in range(30)}
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]),
                                                         os.environ.get("PYTHONPATH", "")])}
    procs = [subprocess.Popen([sys.executable, "-c", _CLAIMER, store.url, str(store.blobs.url),
                               str(tmp_path / f"ready{i}"), str(go), f"p{i}"],
                              stdout=subprocess.PIPE, text=True, env=env) for i in range(4)]
    deadline = time.time() + 60
    while not all((tmp_path / f"ready{i}").exists() for i in range(4)) and time.time() < deadline:
        time.sleep(0.05)
    go.touch()
    claimed = [i for p in procs for i in json.loads(p.communicate(timeout=60)[0])]
    assert all(p.returncode == 0 for p in procs)
    assert sorted(claimed) == sorted(ids)


def test_concurrent_first_starts_migrate_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    errors: list[BaseException] = []

    def start() -> None:
        try:
            Store(url, files=tmp_path / "files").close()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    _assert_schema_matches_models(Store(url, files=tmp_path / "files"))


# ---- schema --------------------------------------------------------------------------------------

def _assert_schema_matches_models(store: Store) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from safemix.service.store import Base, alembic_config

    head = ScriptDirectory.from_config(alembic_config(store.url)).get_current_head()
    try:
        with store.engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            assert ctx.get_current_revision() == head == "0001"
            assert compare_metadata(ctx, Base.metadata) == []
    finally:
        store.close()


def test_migrated_schema_matches_the_models(store):
    _assert_schema_matches_models(reopen(store))


def test_sqlite_settings(store):
    if store.dialect != "sqlite":
        pytest.skip("SQLite only")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000


def test_create_false_makes_no_schema(tmp_path):
    from sqlalchemy import inspect

    st = Store(f"sqlite:///{tmp_path / 'empty.db'}", create=False, files=tmp_path / "f")
    try:
        assert inspect(st.engine).get_table_names() == []
    finally:
        st.close()


def test_settings_resolve_under_home(tmp_path):
    from safemix.service.settings import ServiceSettings, load_settings

    s = ServiceSettings(home=str(tmp_path))
    assert s.db_url() == f"sqlite:///{tmp_path / 'safemix.db'}"
    assert s.files_root() == str(tmp_path / "files") and s.runs_root() == tmp_path / "runs"
    assert s.audit_path() == tmp_path / "audit.jsonl" and s.policy_path().is_file()
    cfg = tmp_path / "serve.yaml"
    cfg.write_text("files_url: memory://bucket\nlease_seconds: 5\nheartbeat_seconds: 1\n", encoding="utf-8")
    t = load_settings(cfg, [f"home={tmp_path}", "database_url=postgresql+psycopg://u@h/d"])
    assert (t.files_root(), t.lease_seconds, t.db_url()) == ("memory://bucket", 5.0, "postgresql+psycopg://u@h/d")
    assert t.models == {"safemix-tiny": {"testbed": "tiny"}}
    from safemix.errors import ConfigError

    with pytest.raises(ConfigError, match="did you mean"):
        load_settings(None, ["lease_second=3"])
    with pytest.raises(ConfigError, match="shorter than lease_seconds"):
        load_settings(None, ["lease_seconds=5", "heartbeat_seconds=10"])
    with pytest.raises(ConfigError, match="must be positive"):
        load_settings(None, ["max_file_bytes=0"])


# ---- blobs ---------------------------------------------------------------------------------------

def test_blobs_local_atomic_and_keys_checked(tmp_path):
    b = Blobs(tmp_path / "files")
    assert b.put("file-1", b"one") == hashlib.sha256(b"one").hexdigest()
    b.put("file-1", b"two")  # replaced atomically
    assert b.get("file-1") == b"two" and sorted(p.name for p in (tmp_path / "files").iterdir()) == ["file-1"]
    for bad in ("../x", "a/b", "", ".hidden", "x" * 200, "a\x00b", "/etc/passwd"):
        with pytest.raises(ValueError):
            b.put(bad, b"x")
    b2 = Blobs(f"file://{tmp_path / 'other'}")
    assert b2.is_local and b2.put("k", b"z") and (tmp_path / "other" / "k").read_bytes() == b"z"


def test_fsspec_memory_blobs(tmp_path):
    import secrets

    url = f"memory://safemix-test-{secrets.token_hex(4)}/files"
    b = Blobs(url, cache_dir=tmp_path / "cache")
    assert not b.is_local
    b.put("file-a", b"abc")
    assert b.get("file-a") == b"abc" and b.exists("file-a")
    p = b.local_path("file-a")
    assert p == tmp_path / "cache" / "file-a" and p.read_bytes() == b"abc"
    b.delete("file-a")
    assert not b.exists("file-a") and not p.exists()
    st = Store(f"sqlite:///{tmp_path / 's.db'}", files=url, cache_dir=tmp_path / "cache2")
    try:
        org = st.create_org("acme")["id"]
        f = st.add_file(org, "t.jsonl", "fine-tune", b'{"a": 1}\n')
        assert not (tmp_path / "files").exists()  # nothing on disk but the cache
        assert st.read_file(org, f["id"]) == b'{"a": 1}\n'
        path = st.file_path(f["id"])
        assert isinstance(path, Path) and path.parent == tmp_path / "cache2" == st.files_dir()
        assert path.read_bytes() == b'{"a": 1}\n'
        assert st.delete_file(org, f["id"]) and not b.exists(f["id"])
    finally:
        st.close()


# ---- safemix keys --------------------------------------------------------------------------------

def test_keys_cli(tmp_path, capsys):
    from safemix.cli import main

    home = f"home={tmp_path / 'svc'}"
    assert main(["keys", "create", "acme", home, "--name", "ci"]) == 0
    key = capsys.readouterr().out.strip()
    assert re.fullmatch(r"sk-sm-[A-Za-z0-9_-]{40}", key)
    cfg = tmp_path / "serve.yaml"
    cfg.write_text(f"home: {tmp_path / 'svc'}\n", encoding="utf-8")
    assert main(["keys", "create", "acme", str(cfg)]) == 0  # same org, a second key
    key2 = capsys.readouterr().out.strip()
    assert main(["keys", "list", home]) == 0
    out = capsys.readouterr().out
    assert key[:14] in out and key2[:14] in out and key not in out and key2 not in out
    assert out.count("acme") == 2 and "ci" in out
    assert main(["keys", "revoke", key[:14], home]) == 0
    capsys.readouterr()
    st = Store.from_settings(__import__("safemix.service.settings", fromlist=["x"]).ServiceSettings(
        home=str(tmp_path / "svc")))
    try:
        assert st.org_for_key(key) is None and st.org_for_key(key2) == st.find_org("acme")["id"]
        assert len(st.list_orgs()) == 1
    finally:
        st.close()
    assert main(["keys", "revoke", "nope", home]) == 2


# The tests test_store_pg.py runs again on PostgreSQL.
SHARED = ("test_orgs_and_keys", "test_keys_are_stored_hashed_and_revocable",
          "test_files_roundtrip_and_filenames_never_become_paths", "test_list_files_pages_newest_first",
          "test_create_get_update_list_jobs", "test_job_for_model",
          "test_lease_claim_renew_expire_and_finish_only_by_owner",
          "test_claims_take_oldest_first_and_requeue", "test_cancel",
          "test_cancel_of_a_job_whose_worker_died", "test_events_and_checkpoints",
          "test_tenancy_another_org_sees_nothing", "test_restart_sees_everything",
          "test_concurrent_claims_never_double_claim", "test_worker_processes_never_double_claim",
          "test_migrated_schema_matches_the_models")


def test_installed_wheel_migrates(tmp_path):
    """The migrations are package data: a Store from the installed wheel (outside the
    repository) creates its schema, alembic version table included."""
    import os
    import shutil
    import subprocess
    import sys

    pytest.importorskip("setuptools")
    repo = Path(__file__).resolve().parents[2]
    src = tmp_path / "src"
    src.mkdir()
    for f in ("pyproject.toml", "README.md"):
        shutil.copy2(repo / f, src / f)
    shutil.copytree(repo / "safemix", src / "safemix", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PIP_NO_INDEX"] = "1"
    pip = [sys.executable, "-m", "pip"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w",
                    str(tmp_path / "whl"), str(src)], check=True, env=env, cwd=src, capture_output=True,
                   timeout=300)
    (wheel,) = (tmp_path / "whl").glob("safemix-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--no-index", "-q", "--target", str(tmp_path / "site"),
                    str(wheel)], check=True, env=env, capture_output=True, timeout=300)
    code = ("import sys, safemix.service.store as s; "
            "assert s.__file__.startswith(sys.argv[1]), s.__file__; "
            "st = s.Store('sqlite:///' + sys.argv[2]); st.create_org('a'); "
            "print(st.engine.connect().exec_driver_sql('select version_num from alembic_version').scalar())")
    work = tmp_path / "work"
    work.mkdir()
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "site"), str(work / "s.db")], cwd=work,
                         env={**env, "PYTHONPATH": str(tmp_path / "site")}, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0001"
