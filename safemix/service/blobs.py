"""The bytes of uploaded files: a local folder (written atomically: temp file + rename) or any
fsspec URL (`memory://`, `s3://bucket/prefix`, ...).

A blob's name is its storage key, which the store sets to the file id (`file-<24 hex>`); a
client's filename never becomes a path. `local_path(key)` gives a local path of the bytes: the
file itself in a local folder, or a copy in a local cache for a remote URL.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from pathlib import Path

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


def check_key(key: str) -> str:
    """`key` when it is a plain name (letters, digits, `-`, `_`); ValueError otherwise, so that
    no `/`, `..` or other path syntax reaches the filesystem."""
    if not isinstance(key, str) or not _KEY.match(key):
        raise ValueError(f"invalid storage key {key!r}")
    return key


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".tmp-{path.name}-{secrets.token_hex(6)}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class Blobs:
    """Blob storage at `root` (a folder path, `file://` URL or any fsspec URL); `cache_dir`
    holds local copies of remote blobs (default: `<root's home>/cache`, given by the store)."""

    def __init__(self, root: str | Path, cache_dir: str | Path | None = None):
        self.url = str(root)
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else None
        self.fs = None
        self.local_root: Path | None = None
        if "://" not in self.url:
            self.local_root = Path(self.url).expanduser()
        else:
            import fsspec
            from fsspec.implementations.local import LocalFileSystem

            fs, path = fsspec.core.url_to_fs(self.url)
            if isinstance(fs, LocalFileSystem):
                self.local_root = Path(path)
            else:
                self.fs, self.path = fs, path.rstrip("/")
        if self.local_root is not None:
            self.local_root.mkdir(parents=True, exist_ok=True)

    @property
    def is_local(self) -> bool:
        return self.local_root is not None

    def _remote(self, key: str) -> str:
        return f"{self.path}/{check_key(key)}"

    def put(self, key: str, data: bytes) -> str:
        """Store `data` under `key` (replacing it); returns its sha256 hex."""
        check_key(key)
        digest = hashlib.sha256(data).hexdigest()
        if self.local_root is not None:
            _atomic_write(self.local_root / key, data)
        else:  # an object store's PUT is atomic; other fsspec backends write in one call
            self.fs.pipe_file(self._remote(key), data)
        return digest

    def get(self, key: str) -> bytes:
        check_key(key)
        if self.local_root is not None:
            return (self.local_root / key).read_bytes()
        return self.fs.cat_file(self._remote(key))

    def exists(self, key: str) -> bool:
        check_key(key)
        if self.local_root is not None:
            return (self.local_root / key).is_file()
        return self.fs.exists(self._remote(key))

    def delete(self, key: str) -> None:
        check_key(key)
        if self.local_root is not None:
            (self.local_root / key).unlink(missing_ok=True)
        elif self.fs.exists(self._remote(key)):
            self.fs.rm_file(self._remote(key))
        if self.cache_dir is not None:
            (self.cache_dir / key).unlink(missing_ok=True)

    def local_path(self, key: str) -> Path:
        """A local path of the blob's bytes (remote blobs: copied once into `cache_dir`; blobs
        never change, so a cached copy stays valid)."""
        check_key(key)
        if self.local_root is not None:
            p = self.local_root / key
            if not p.is_file():
                raise FileNotFoundError(p)
            return p
        if self.cache_dir is None:
            raise ValueError(f"blobs at {self.url} need a local cache folder for file paths")
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        p = self.cache_dir / key
        if not p.is_file():
            _atomic_write(p, self.get(key))
        return p
