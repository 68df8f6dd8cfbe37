"""ServiceSettings: one dataclass for `safemix serve`, `safemix worker` and `safemix keys`,
loaded like a recipe (`[CONFIG.yaml] [key=value ...]`, top-level keys, no section).

    settings = load_settings("serve.yaml", ["database_url=postgresql+psycopg://u@db/safemix"])
    store = Store.from_settings(settings)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

POLICY_EXAMPLE = Path(__file__).resolve().parents[1] / "provider" / "policy.example.yaml"


def _default_models() -> dict[str, dict]:
    return {"safemix-tiny": {"testbed": "tiny"}}


@dataclass
class ServiceSettings:
    home: str = field(default="~/.safemix/service", metadata={"help": "Data folder; the database, files, runs and audit log default to places under it."})
    database_url: str | None = field(default=None, metadata={"help": "SQLAlchemy URL of the job store; None: sqlite:///{home}/safemix.db (WAL). Several hosts: postgresql+psycopg://USER@HOST/DB."})
    files_url: str | None = field(default=None, metadata={"help": "Where uploaded files' bytes live: a folder or any fsspec URL (memory://, s3://...); None: {home}/files."})
    runs_dir: str | None = field(default=None, metadata={"help": "Folder of the jobs' wrap run folders (wrap's --out); None: {home}/runs."})
    audit_log: str | None = field(default=None, metadata={"help": "The JSONL audit log every job appends to; None: {home}/audit.jsonl."})
    policy: str | None = field(default=None, metadata={"help": "The provider's policy YAML; None: safemix/provider/policy.example.yaml."})
    policy_overrides: list[str] = field(default_factory=list, metadata={"help": "key=value overrides of the policy."})
    models: dict[str, dict] = field(default_factory=_default_models, metadata={"help": "Base model names clients may ask for -> {testbed: NAME} or {model: PATH} (run.testbed / train.model)."})
    max_file_bytes: int = field(default=50_000_000, metadata={"help": "Largest upload accepted (bytes)."})
    max_request_bytes: int = field(default=60_000_000, metadata={"help": "Largest request body accepted (bytes)."})
    rate_limit_per_minute: int = field(default=600, metadata={"help": "Requests per minute per API key (in-process token bucket)."})
    lease_seconds: float = field(default=60.0, metadata={"help": "A claimed job's lease; the worker's heartbeat renews it, another worker takes the job after it expires."})
    heartbeat_seconds: float = field(default=10.0, metadata={"help": "How often a worker renews its lease and mirrors events."})
    poll_seconds: float = field(default=1.0, metadata={"help": "How often an idle worker looks for a job."})
    admin_key: str | None = field(default=None, metadata={"help": "Key of the dashboard/admin, who sees every organization (compared by sha256)."})

    def __post_init__(self) -> None:
        from safemix.errors import ConfigError

        for name in ("max_file_bytes", "max_request_bytes", "rate_limit_per_minute", "lease_seconds",
                     "heartbeat_seconds", "poll_seconds"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.heartbeat_seconds >= self.lease_seconds:
            raise ConfigError(f"heartbeat_seconds ({self.heartbeat_seconds}) must be shorter than "
                              f"lease_seconds ({self.lease_seconds}): a lease expires between renewals")
        bad = [k for k, v in self.models.items() if not isinstance(v, dict)]
        if bad:
            raise ConfigError(f"models: {bad[0]!r} must map to {{testbed: NAME}} or {{model: PATH}}")

    def home_path(self) -> Path:
        return Path(self.home).expanduser()

    def db_url(self) -> str:
        """The database URL: `database_url`, or SQLite in {home}/safemix.db."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home_path() / 'safemix.db'}"

    def files_root(self) -> str:
        """Where the files' bytes live: a local folder path or an fsspec URL (as given)."""
        if self.files_url:
            return self.files_url if "://" in self.files_url else str(Path(self.files_url).expanduser())
        return str(self.home_path() / "files")

    def files_cache(self) -> Path:
        """Local folder of the copies `Store.file_path` makes of files kept at an fsspec URL."""
        return self.home_path() / "cache" / "files"

    def runs_root(self) -> Path:
        return Path(self.runs_dir).expanduser() if self.runs_dir else self.home_path() / "runs"

    def audit_path(self) -> Path:
        return Path(self.audit_log).expanduser() if self.audit_log else self.home_path() / "audit.jsonl"

    def policy_path(self) -> Path:
        return Path(self.policy).expanduser() if self.policy else POLICY_EXAMPLE


def load_settings(path: str | Path | None = None, overrides: list[str] | None = None) -> ServiceSettings:
    """Settings from a YAML file (top-level keys) plus key=value overrides."""
    from safemix.config import load_config

    return load_config(ServiceSettings, path, list(overrides or []))

