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
