"""An on-disk completion cache (SQLite), so an interrupted run resumes without repeating calls.

Each answer is committed as soon as it arrives; SQLite's locking makes the file safe to
share between threads (one connection behind a lock) and processes (WAL + busy timeout).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from safemix.utils import stable_hash

CACHE_FILE = "llm_cache.sqlite"


def cache_key(endpoint: str, body: dict[str, Any]) -> str:
    """Key of one request: the endpoint kind plus model, messages/prompt and all parameters."""
    return stable_hash({"endpoint": endpoint, "body": body})


class CompletionCache:
    """`get(key) -> dict | None` and `put(key, text, prompt_tokens, completion_tokens)`."""

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        if path.suffix != ".sqlite":  # a folder was given
            path = path / CACHE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), timeout=30.0, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS completions (key TEXT PRIMARY KEY, text TEXT NOT NULL, "
            "prompt_tokens INTEGER, completion_tokens INTEGER, created REAL)"
        )

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT text, prompt_tokens, completion_tokens FROM completions WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        return {"text": row[0], "prompt_tokens": row[1], "completion_tokens": row[2]}

    def put(self, key: str, text: str, prompt_tokens: int = 0, completion_tokens: int = 0) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO completions VALUES (?, ?, ?, ?, ?)",
                (key, text, prompt_tokens, completion_tokens, time.time()),
            )

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM completions").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
