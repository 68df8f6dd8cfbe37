"""The job store: SQLAlchemy 2 models and `Store`, the one interface the API, the workers and
the dashboard share.

SQLite by default (one file, WAL, `busy_timeout`, foreign keys on; every write transaction is
`BEGIN IMMEDIATE`, so writers queue instead of failing); PostgreSQL by URL
(`postgresql+psycopg://...`) for several hosts. The schema is made only by the Alembic
migrations in `safemix/service/migrations` (`Store(url, create=True)` runs `upgrade head`).

The queue lives in the `jobs` table: `claim_job` takes the oldest waiting job (or a running job
whose lease expired: its worker died) and leases it to a worker, which renews the lease
(`renew_lease`) and ends it (`finish_job`). Claims are atomic: `BEGIN IMMEDIATE` on SQLite,
`SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL.

IDs are random (`file-`, `ftjob-`, `ftevent-`, `ftckpt-`, `org-`, `key-` + 24 hex); times are
unix seconds (lease times on PostgreSQL come from the database's clock, which every host
shares). Methods return plain dicts of the columns (JSON decoded). Every object of an
organization is looked up with its org id: another organization's id gives None.
Lists are newest first (`seq`, an autoincrement column, orders rows), paged with `after` (an
id of the previous page) and `limit`, and return `(rows, has_more)`.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import os
import secrets
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    and_,
    create_engine,
    event,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from safemix.service.blobs import Blobs

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
KEY_PREFIX = "sk-sm-"
WAITING = ("validating_files", "queued")
TERMINAL = ("succeeded", "failed", "cancelled")
STATUSES = (*WAITING, "running", *TERMINAL)
JOB_BODY_FIELDS = ("model", "training_file", "validation_file", "hyperparameters", "method",
                   "suffix", "seed", "metadata", "integrations")
_ADVISORY_LOCK = 0x5AFE_0018  # PostgreSQL: one migrating host at a time

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _json() -> JSON:
    return JSON(none_as_null=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Org(Base):
    __tablename__ = "orgs"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    created_at: Mapped[int] = mapped_column(BigInteger)


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    name: Mapped[str] = mapped_column(String(256))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class File(Base):
    __tablename__ = "files"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    filename: Mapped[str] = mapped_column(String(512))
    purpose: Mapped[str] = mapped_column(String(64))
    bytes: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(32))
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[int] = mapped_column(BigInteger)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_seq", "status", "seq"),)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    model: Mapped[str] = mapped_column(String(256))
    training_file: Mapped[str] = mapped_column(String(64))
    validation_file: Mapped[str | None] = mapped_column(String(64))
    hyperparameters: Mapped[Any] = mapped_column(_json())
    method: Mapped[Any] = mapped_column(_json(), nullable=True)
    suffix: Mapped[str | None] = mapped_column(String(64))
    seed: Mapped[int | None] = mapped_column(BigInteger)
    meta: Mapped[Any] = mapped_column("metadata", _json(), nullable=True)
    status: Mapped[str] = mapped_column(String(32))
    fine_tuned_model: Mapped[str | None] = mapped_column(String(512), index=True)
    error: Mapped[Any] = mapped_column(_json(), nullable=True)
    verdict: Mapped[str | None] = mapped_column(String(32))
    reasons: Mapped[Any] = mapped_column(_json())
    result_files: Mapped[Any] = mapped_column(_json())
    trained_tokens: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
    started_at: Mapped[int | None] = mapped_column(BigInteger)
    finished_at: Mapped[int | None] = mapped_column(BigInteger)
    estimated_finish: Mapped[int | None] = mapped_column(BigInteger)
    wrap_id: Mapped[str | None] = mapped_column(String(128))
    run_dir: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(256))
    lease_expires: Mapped[float | None] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    integrations: Mapped[Any] = mapped_column(_json())


class Event(Base):
    __tablename__ = "events"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"))
    created_at: Mapped[int] = mapped_column(BigInteger)
    level: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(32))
    data: Mapped[Any] = mapped_column(_json(), nullable=True)


class Checkpoint(Base):
    __tablename__ = "checkpoints"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"))
    created_at: Mapped[int] = mapped_column(BigInteger)
    step: Mapped[int] = mapped_column(Integer)
    metrics: Mapped[Any] = mapped_column(_json())
    fine_tuned_model_checkpoint: Mapped[str] = mapped_column(String(512))
    path: Mapped[str | None] = mapped_column(Text)


# column name -> attribute name of each model (Job's `metadata` column is the attribute `meta`)
_COLUMNS = {cls: {p.columns[0].name: p.key for p in inspect(cls).column_attrs}
            for cls in (Org, ApiKey, File, Job, Event, Checkpoint)}


def _row(obj: Any, skip: tuple[str, ...] = ("seq",)) -> dict:
    """The columns of ORM object `obj` as a plain dict (JSON values copied)."""
    return {name: copy.deepcopy(getattr(obj, key)) for name, key in _COLUMNS[type(obj)].items()
            if name not in skip}


def _now() -> int:
    return int(time.time())


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_prefix(key: str) -> str:
    """The 8 characters after `sk-sm-`: what `safemix keys list` shows, and the lookup index."""
    return key[len(KEY_PREFIX):len(KEY_PREFIX) + 8]



def _pragma(cur: Any, pragma: str) -> None:
    """One PRAGMA; `journal_mode=WAL` on a new database file is retried while another connection
    holds the file (switching the journal mode does not wait for busy_timeout: "database is
    locked" when several processes or threads open a fresh database at once)."""
    import sqlite3
    import time

    for attempt in range(200):
        try:
            cur.execute(f"PRAGMA {pragma}")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or attempt == 199:
                raise
            time.sleep(0.05)

def make_engine(url: str) -> Engine:
    """One engine: SQLite in WAL mode with busy_timeout and foreign keys, writes as
    `BEGIN IMMEDIATE` (see `Store`); PostgreSQL with pre-ping."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    pool: dict[str, Any] = {}
    if u.database and u.database != ":memory:":
        Path(u.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        pool = {"pool_size": 10, "max_overflow": 20}
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **pool)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy's begin event below emits BEGIN itself
        cur = dbapi_conn.cursor()
        for pragma in ("busy_timeout=30000", "journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL"):
            _pragma(cur, pragma)
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        write = conn.get_execution_options().get("safemix_write")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def alembic_config(url: str) -> Any:
    """An Alembic Config for the packaged migrations (no alembic.ini needed)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _default_dirs(url: str) -> tuple[str, Path]:
    """Files folder and local cache of a store given no `files`: next to a SQLite file, else
    under the default service home."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:":
        base = Path(u.database).expanduser().resolve().parent
        return str(base / "files"), base / "cache" / "files"
    from safemix.service.settings import ServiceSettings

    s = ServiceSettings()
    return s.files_root(), s.files_cache()


class Store:
    """The service's state. `files`: where file bytes go (folder or fsspec URL; default next to
    a SQLite database); `cache_dir`: local copies of remote files (`file_path`)."""

    def __init__(self, url: str, *, create: bool = True, files: str | Path | None = None,
                 cache_dir: str | Path | None = None):
        self.url = url
        self.engine = make_engine(url)
        self.dialect = self.engine.dialect.name
        ref = weakref.ref(self.engine)  # a forked child opens its own connections, never the parent's
        os.register_at_fork(after_in_child=lambda: (e := ref()) is not None and e.dispose(close=False))
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._writes = sessionmaker(self.engine.execution_options(safemix_write=True),
                                    expire_on_commit=False)
        if create:
            self.migrate()
        default_files, default_cache = _default_dirs(url) if files is None or cache_dir is None else (None, None)
        self.blobs = Blobs(files if files is not None else default_files,
                           cache_dir if cache_dir is not None else default_cache)

    @classmethod
    def from_settings(cls, settings: Any, *, create: bool = True) -> Store:
        """The store of ServiceSettings `settings` (database, files, cache)."""
        return cls(settings.db_url(), create=create, files=settings.files_root(),
                   cache_dir=settings.files_cache())

    def files_dir(self) -> Path:
        """The local folder the paths of `file_path` lie in (the files folder itself, or the
        local cache of files kept at an fsspec URL): the policy's `files.allowed_roots`."""
        return self.blobs.local_root if self.blobs.local_root is not None else self.blobs.cache_dir

    def migrate(self) -> None:
        """`alembic upgrade head`, in one transaction that also serializes concurrent starts
        (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory transaction lock)."""
        from alembic import command

        cfg = alembic_config(self.url)
        with self.engine.execution_options(safemix_write=True).begin() as conn:
            if self.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """One write transaction (committed at the end, rolled back on an exception)."""
        with self._writes() as s, s.begin():
            yield s

    @contextmanager
    def _reading(self) -> Iterator[Session]:
        with self._read() as s, s.begin():
            yield s

    # ---- orgs & keys -------------------------------------------------------------------------
    def create_org(self, name: str) -> dict:
        org = Org(id=new_id("org"), name=name, created_at=_now())
        with self._write() as s:
            if s.scalar(select(Org).where(Org.name == name)) is not None:
                raise ValueError(f"organization {name!r} exists")
            s.add(org)
        return _row(org)

    def get_org(self, org_id: str) -> dict | None:
        with self._reading() as s:
            org = s.get(Org, org_id)
            return _row(org) if org else None

    def find_org(self, name: str) -> dict | None:
        with self._reading() as s:
            org = s.scalar(select(Org).where(Org.name == name))
            return _row(org) if org else None

    def list_orgs(self) -> list[dict]:
        with self._reading() as s:
            return [_row(o) for o in s.scalars(select(Org).order_by(Org.created_at, Org.name))]

    def create_api_key(self, org_id: str, name: str = "default") -> str:
        """A new key of `org_id`; the plaintext `sk-sm-...` is returned once, only its sha256
        and its prefix are stored."""
        key = KEY_PREFIX + secrets.token_urlsafe(30)  # 40 urlsafe characters
        with self._write() as s:
            if s.get(Org, org_id) is None:
                raise KeyError(f"no organization {org_id}")
            s.add(ApiKey(id=new_id("key"), org_id=org_id, name=name, key_hash=hash_key(key),
                         prefix=key_prefix(key), created_at=_now(), revoked=False))
        return key

    def org_for_key(self, key: str) -> str | None:
        """The org id of API key `key`; None when it is unknown, malformed or revoked."""
        if not isinstance(key, str) or not key.startswith(KEY_PREFIX) or len(key) > 200:
            return None
        digest = hash_key(key)
        with self._reading() as s:
            rows = s.scalars(select(ApiKey).where(ApiKey.prefix == key_prefix(key))).all()
        found = None
        for row in rows:  # constant-time compare of every candidate
            if hmac.compare_digest(row.key_hash, digest) and not row.revoked:
                found = row.org_id
        return found

    def list_api_keys(self, org_id: str | None = None) -> list[dict]:
        """Keys (no hashes) of `org_id`, or of every org when None."""
        stmt = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
        if org_id is not None:
            stmt = stmt.where(ApiKey.org_id == org_id)
        with self._reading() as s:
            return [_row(k, skip=("key_hash",)) for k in s.scalars(stmt)]

    def revoke_api_key(self, prefix_or_id: str) -> int:
        """Revoke the key(s) with this id or prefix (`sk-sm-` optional); how many were revoked."""
        p = prefix_or_id[len(KEY_PREFIX):] if prefix_or_id.startswith(KEY_PREFIX) else prefix_or_id
        with self._write() as s:
            res = s.execute(update(ApiKey).where(or_(ApiKey.id == p, ApiKey.prefix == p[:8]),
                                                 ApiKey.revoked.is_(False)).values(revoked=True))
            return res.rowcount

    # ---- paging ------------------------------------------------------------------------------
    @staticmethod
    def _page(s: Session, stmt: Any, model: Any, after: str | None, limit: int,
              order: str = "desc") -> tuple[list[dict], bool]:
        """Rows of `stmt` (already filtered by org) after the row with id `after`, `limit` of
        them, and whether there are more. An unknown `after` gives an empty page."""
        if int(limit) < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        if order not in ("asc", "desc"):
            raise ValueError(f"order must be asc or desc, got {order!r}")
        desc = order == "desc"
        if after is not None:
            anchor = s.scalar(stmt.with_only_columns(model.seq).where(model.id == after))
            if anchor is None:
                return [], False
            stmt = stmt.where(model.seq < anchor if desc else model.seq > anchor)
        stmt = stmt.order_by(model.seq.desc() if desc else model.seq.asc()).limit(int(limit) + 1)
        rows = list(s.scalars(stmt))
        return [_row(r) for r in rows[:limit]], len(rows) > limit

    # ---- files -------------------------------------------------------------------------------
    def add_file(self, org_id: str, filename: str, purpose: str, data: bytes) -> dict:
        """Write the bytes (atomically, under the file id, never the filename), then the row."""
        fid = new_id("file")
        digest = self.blobs.put(fid, data)
        f = File(id=fid, org_id=org_id, filename=filename, purpose=purpose, bytes=len(data),
                 status="processed", sha256=digest, storage_key=fid, created_at=_now(), deleted=False)
        try:
            with self._write() as s:
                s.add(f)
        except BaseException:
            self.blobs.delete(fid)
            raise
        return _row(f)

    def _file(self, s: Session, org_id: str | None, file_id: str) -> File | None:
        f = s.scalar(select(File).where(File.id == file_id, File.deleted.is_(False)))
        if f is None or (org_id is not None and f.org_id != org_id):
            return None
        return f

    def get_file(self, org_id: str | None, file_id: str) -> dict | None:
        """The file's row; None when unknown, deleted or another org's (org_id None: any org)."""
        with self._reading() as s:
            f = self._file(s, org_id, file_id)
            return _row(f) if f else None

    def list_files(self, org_id: str | None, *, purpose: str | None = None, after: str | None = None,
                   limit: int = 20, order: str = "desc") -> tuple[list[dict], bool]:
        stmt = select(File).where(File.deleted.is_(False))
        if org_id is not None:
            stmt = stmt.where(File.org_id == org_id)
        if purpose is not None:
            stmt = stmt.where(File.purpose == purpose)
        with self._reading() as s:
            return self._page(s, stmt, File, after, limit, order)

    def file_path(self, file_id: str) -> Path:
        """A local path of the file's bytes (for the worker; files at an fsspec URL are copied
        into the local cache). FileNotFoundError when there is no such file."""
        with self._reading() as s:
            f = self._file(s, None, file_id)
            if f is None:
                raise FileNotFoundError(f"no file {file_id}")
            key = f.storage_key
        return self.blobs.local_path(key)

    def read_file(self, org_id: str | None, file_id: str) -> bytes:
        """The file's bytes; KeyError when unknown, deleted or another org's."""
        with self._reading() as s:
            f = self._file(s, org_id, file_id)
            if f is None:
                raise KeyError(file_id)
            key = f.storage_key
        return self.blobs.get(key)

    def delete_file(self, org_id: str | None, file_id: str) -> bool:
        """Mark the file deleted and remove its bytes; False when there is no such file."""
        with self._write() as s:
            f = self._file(s, org_id, file_id)
            if f is None:
                return False
            f.deleted = True
            key = f.storage_key
        self.blobs.delete(key)
        return True

    # ---- jobs --------------------------------------------------------------------------------
    def create_job(self, org_id: str, body: dict) -> dict:
        """A job from an (already validated) OpenAI job body; status `validating_files`."""
        unknown = sorted(set(body) - set(JOB_BODY_FIELDS))
        if unknown:
            raise ValueError(f"unknown job fields: {', '.join(unknown)}")
        job = Job(id=new_id("ftjob"), org_id=org_id, model=body["model"],
                  training_file=body["training_file"], validation_file=body.get("validation_file"),
                  hyperparameters=body.get("hyperparameters") or {}, method=body.get("method"),
                  suffix=body.get("suffix"), seed=body.get("seed"), meta=body.get("metadata"),
                  integrations=body.get("integrations") or [], status="validating_files",
                  reasons=[], result_files=[], created_at=_now(), attempts=0,
                  cancel_requested=False)
        with self._write() as s:
            s.add(job)
        return _row(job)

    def _job(self, s: Session, org_id: str | None, job_id: str, lock: bool = False) -> Job | None:
        stmt = select(Job).where(Job.id == job_id)
        if lock:
            stmt = stmt.with_for_update()
        job = s.scalar(stmt)
        if job is None or (org_id is not None and job.org_id != org_id):
            return None
        return job

    def get_job(self, org_id: str | None, job_id: str) -> dict | None:
        """The job; None when unknown or another org's (org_id None = admin: any org)."""
        with self._reading() as s:
            job = self._job(s, org_id, job_id)
            return _row(job) if job else None

    def list_jobs(self, org_id: str | None, *, after: str | None = None, limit: int = 20,
                  metadata: dict | None = None, status: str | None = None) -> tuple[list[dict], bool]:
        """Newest first; `metadata`: {key: value} every listed job's metadata has."""
        stmt = select(Job)
        if org_id is not None:
            stmt = stmt.where(Job.org_id == org_id)
        if status is not None:
            stmt = stmt.where(Job.status == status)
        for k, v in (metadata or {}).items():
            stmt = stmt.where(Job.meta[k].as_string() == str(v))
        with self._reading() as s:
            return self._page(s, stmt, Job, after, limit)

    def job_for_model(self, org_id: str | None, fine_tuned_model: str) -> dict | None:
        """The job of `org_id` whose `fine_tuned_model` this is (chat completions); None if none."""
        stmt = select(Job).where(Job.fine_tuned_model == fine_tuned_model)
        if org_id is not None:
            stmt = stmt.where(Job.org_id == org_id)
        with self._reading() as s:
            job = s.scalars(stmt.order_by(Job.seq.desc())).first()
            return _row(job) if job else None

    def _set(self, job: Job, fields: dict) -> None:
        cols = _COLUMNS[Job]
        bad = sorted(k for k in fields if k not in cols or k in ("seq", "id", "org_id"))
        if bad:
            raise ValueError(f"cannot set job fields: {', '.join(bad)}")
        if "status" in fields and fields["status"] not in STATUSES:
            raise ValueError(f"unknown job status {fields['status']!r}")
        for k, v in fields.items():
            setattr(job, cols[k], v)

    def update_job(self, job_id: str, **fields: Any) -> dict:
        """Set columns of the job (e.g. status, wrap_id, run_dir, estimated_finish); KeyError
        when there is no such job."""
        with self._write() as s:
            job = self._job(s, None, job_id, lock=True)
            if job is None:
                raise KeyError(job_id)
            self._set(job, fields)
            return _row(job)

    def request_cancel(self, org_id: str | None, job_id: str) -> dict | None:
        """Cancel: a waiting job is cancelled now; a running one gets `cancel_requested` (its
        worker stops it and finishes it as cancelled); a finished job is left as it is.
        None when the job is unknown or another org's."""
        with self._write() as s:
            job = self._job(s, org_id, job_id, lock=True)
            if job is None:
                return None
            if job.status in WAITING:
                job.status, job.finished_at = "cancelled", _now()
                job.lease_owner = job.lease_expires = None
            elif job.status == "running":
                job.cancel_requested = True
            return _row(job)

    def claim_job(self, worker_id: str, lease_seconds: float) -> dict | None:
        """Lease the oldest waiting job, or a running job whose lease expired, to `worker_id`:
        status running, `lease_owner`, `lease_expires`, `attempts` + 1 (`started_at` kept from
        an earlier attempt). An expired job whose cancel was requested is cancelled instead.
        None when there is nothing to do."""
        with self._write() as s:
            return self._claim(s, worker_id, lease_seconds, self._clock(s))

    def _clock(self, s: Session) -> float:
        """Now, for leases: the database's clock on PostgreSQL (hosts' clocks may differ),
        this host's on SQLite (one host)."""
        if self.dialect == "postgresql":
            return float(s.scalar(text("SELECT extract(epoch FROM clock_timestamp())")))
        return time.time()

    def _claim(self, s: Session, worker_id: str, lease_seconds: float, now: float) -> dict | None:
        claimable = or_(and_(Job.status.in_(WAITING), Job.cancel_requested.is_(False)),
                        and_(Job.status == "running", Job.lease_expires < now))
        stmt = select(Job).where(claimable).order_by(Job.seq).limit(1).with_for_update(skip_locked=True)
        while True:
            job = s.scalars(stmt).first()
            if job is None:
                return None
            if not job.cancel_requested:
                break
            job.status, job.finished_at = "cancelled", int(now)  # its worker died after a cancel
            job.lease_owner = job.lease_expires = None
            s.flush()
        job.status, job.started_at = "running", job.started_at or int(now)
        job.lease_owner, job.lease_expires = worker_id, now + lease_seconds
        job.attempts = (job.attempts or 0) + 1
        return _row(job)

    def renew_lease(self, job_id: str, worker_id: str, lease_seconds: float) -> bool:
        """Extend the lease; False when `worker_id` no longer holds it (another worker took the
        job after it expired, or the job was finished)."""
        with self._write() as s:
            res = s.execute(update(Job).where(Job.id == job_id, Job.lease_owner == worker_id,
                                              Job.status == "running")
                            .values(lease_expires=self._clock(s) + lease_seconds))
            return res.rowcount == 1

    def finish_job(self, job_id: str, worker_id: str, *, status: str, **fields: Any) -> bool:
        """End `worker_id`'s lease with `status` (and other columns); `finished_at` is set for
        succeeded/failed/cancelled (a requeue passes status="queued"). False, and nothing
        changed, when `worker_id` does not hold the lease."""
        with self._write() as s:
            job = s.scalar(select(Job).where(Job.id == job_id).with_for_update())
            if job is None or job.lease_owner != worker_id or job.status != "running":
                return False
            if status in TERMINAL:
                fields.setdefault("finished_at", _now())
            self._set(job, {**fields, "status": status})
            job.lease_owner = job.lease_expires = None
            return True

    # ---- events & checkpoints ----------------------------------------------------------------
    def add_event(self, job_id: str, message: str, *, level: str = "info", type: str = "message",
                  data: Any = None) -> dict:
        with self._write() as s:
            org_id = s.scalar(select(Job.org_id).where(Job.id == job_id))
            if org_id is None:
                raise KeyError(job_id)
            ev = Event(id=new_id("ftevent"), job_id=job_id, org_id=org_id, created_at=_now(),
                       level=level, message=message, type=type, data=data)
            s.add(ev)
        return _row(ev)

    def list_events(self, org_id: str | None, job_id: str, *, after: str | None = None,
                    limit: int = 20) -> tuple[list[dict], bool]:
        """The job's events, newest first; empty for another org's job."""
        stmt = select(Event).where(Event.job_id == job_id)
        if org_id is not None:
            stmt = stmt.where(Event.org_id == org_id)
        with self._reading() as s:
            return self._page(s, stmt, Event, after, limit)

    def add_checkpoint(self, job_id: str, *, step: int, metrics: dict, path: str | None,
                       model_name: str) -> dict:
        with self._write() as s:
            org_id = s.scalar(select(Job.org_id).where(Job.id == job_id))
            if org_id is None:
                raise KeyError(job_id)
            ck = Checkpoint(id=new_id("ftckpt"), job_id=job_id, org_id=org_id, created_at=_now(),
                            step=int(step), metrics=metrics, fine_tuned_model_checkpoint=model_name,
                            path=None if path is None else str(path))
            s.add(ck)
        return _row(ck)

    def list_checkpoints(self, org_id: str | None, job_id: str, *, after: str | None = None,
                         limit: int = 10) -> tuple[list[dict], bool]:
        stmt = select(Checkpoint).where(Checkpoint.job_id == job_id)
        if org_id is not None:
            stmt = stmt.where(Checkpoint.org_id == org_id)
        with self._reading() as s:
            return self._page(s, stmt, Checkpoint, after, limit)
