"""Errors that the CLI turns into one clear message and exit code 2."""

from __future__ import annotations


class SafemixError(Exception):
    """Base class for errors caused by the user's input or configuration (exit code 2)."""

    exit_code = 2


class InputError(SafemixError):
    """Bad input data: names the file, the line (1-based) and the field where known."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path, self.line, self.field, self.detail = path, line, field, message
        where = ""
        if path is not None:
            where = str(path)
            if line is not None:
                where += f":{line}"
            where += ": "
        if field is not None:
            where += f"field '{field}': "
        super().__init__(where + message)


class ConfigError(SafemixError):
    """Bad recipe or command-line configuration."""


class MissingDependencyError(SafemixError):
    """An optional dependency is not installed; the message names the install command."""

    def __init__(self, package: str, extra: str = "ml") -> None:
        super().__init__(
            f"'{package}' is required for this feature but is not installed. "
            f"Install it with: pip install 'safemix[{extra}]'"
        )


def require(module: str, extra: str = "ml"):
    """Import and return `module`, or raise MissingDependencyError naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:  # pragma: no cover - depends on environment
        raise MissingDependencyError(module.split(".")[0], extra) from e


_ERRNO_HINTS = {
    "EACCES": "permission denied: check the permissions of the file and its folder",
    "EPERM": "operation not permitted: check the permissions of the file and its folder",
    "EROFS": "the file system is read-only: choose an output path on a writable disk",
    "ENOSPC": "no space left on the device: free space or choose another output path",
    "EDQUOT": "disk quota exceeded: free space or choose another output path",
    "EISDIR": "it is a directory: give a file path",
    "ENOTDIR": "a part of the path is a file, not a folder",
    "ENOENT": "no such file or directory",
    "EEXIST": "it already exists",
    "ENAMETOOLONG": "the file name is too long",
    "EMFILE": "too many open files: raise the limit (ulimit -n)",
}


def as_safemix_error(e: BaseException) -> SafemixError | None:
    """The user-facing form of an OS, decoding or recursion error; None for other errors.

    This is the one boundary that turns such errors into a message with the path and what
    to do (exit code 2) instead of a traceback.
    """
    import errno as _errno

    if isinstance(e, SafemixError):
        return e
    if isinstance(e, OSError):
        name = _errno.errorcode.get(e.errno or 0, "")
        what = _ERRNO_HINTS.get(name) or (e.strerror or str(e))
        paths = [p for p in (e.filename, getattr(e, "filename2", None)) if p]
        where = " -> ".join(str(p) for p in paths)
        return InputError(what, path=where or None)
    if isinstance(e, RecursionError):
        return InputError("data is nested too deeply to process (a record with thousands of nested "
                          "lists or objects); flatten or remove that record")
    if isinstance(e, UnicodeEncodeError):
        bad = e.object[e.start:e.end] if isinstance(e.object, str) else ""
        return InputError(f"text cannot be written as UTF-8 (character {bad!r}, e.g. a lone surrogate "
                          "from a '\\ud800' escape); fix or remove that value")
    if isinstance(e, UnicodeDecodeError):
        return InputError(f"not valid UTF-8 (byte {e.start}); save the file as UTF-8")
    return None
