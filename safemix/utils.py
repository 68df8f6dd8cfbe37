"""Small shared helpers: atomic writes, hashing, JSON lines."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import types
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

TMP_TAG = ".safemix-"  # temp files are named .<name>.safemix-<pid>.<random>.tmp


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temps(folder: str | os.PathLike, name: str | None = None) -> list[Path]:
    """Remove temp files and folders that a killed safemix left in `folder` (for `name`, or all).

    A temp carries the writer's pid; it is stale when that process is gone. Returns what was removed.
    """
    import re
    import shutil

    folder = Path(folder)
    pat = re.compile(r"^\.(?P<name>.+)\.safemix-(?P<pid>\d+)\.[^/]*\.tmp$")
    removed = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for p in entries:
        m = pat.match(p.name)
        if not m or (name is not None and m["name"] != name) or _pid_alive(int(m["pid"])):
            continue
        with contextlib.suppress(OSError):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(p)
    return removed


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Write to a temp file beside `path` and rename it into place only on success.

    A crash (or exception) leaves no partial file at `path`; the temp file of a process
    that was killed (SIGKILL, power loss) is removed by the next write of the same path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(path.parent, path.name)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}{TMP_TAG}{os.getpid()}.", suffix=".tmp",
                               dir=path.parent)
    try:
        kwargs = {} if "b" in mode else {"encoding": encoding, "newline": ""}
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | os.PathLike, obj: Any, indent: int = 2) -> None:
    with atomic_write(path) as f:
        json.dump(obj, f, indent=indent, ensure_ascii=False, sort_keys=False, default=str)
        f.write("\n")


def write_jsonl(path: str | os.PathLike, rows: Iterable[Any]) -> int:
    n = 0
    with atomic_write(path) as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def read_jsonl(path: str | os.PathLike) -> list[Any]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    p = Path(path)
    files = sorted(x for x in p.rglob("*") if x.is_file()) if p.is_dir() else [p]
    for fp in files:
        if p.is_dir():
            h.update(str(fp.relative_to(p)).encode())
        with open(fp, "rb") as f:
            while block := f.read(chunk):
                h.update(block)
    return h.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def stable_hash(obj: Any) -> str:
    """Hash of a JSON-serialisable object, independent of dict key order."""
    return sha256_text(json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str))


class CallablePackage(types.ModuleType):
    """The type of a stage package that is also its main function: calling the package
    `safemix.mix` calls its function `safemix.mix.mix` (the function named like the package).

    Importing a package makes it the attribute of its parent, so after any `import
    safemix.mix...` the name `safemix.mix` is the package; for `safemix.mix(...)` and
    `from safemix import mix` to call the function, the package itself must be callable.
    A module's type is the one place for `__call__`: the package sets it with
    `sys.modules[__name__].__class__ = CallablePackage` (the mechanism the Python reference
    gives for customising a module, "Customizing module attribute access").
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return getattr(self, self.__name__.rpartition(".")[2])(*args, **kwargs)
