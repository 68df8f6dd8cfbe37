"""What a long command prints: progress bars on a terminal, plain lines in a log.

On a terminal (stdout and stderr both TTYs) progress bars are drawn as usual. Under a pipe,
a file or CI (`CI` set, `TERM=dumb`) every progress bar is off — ours and the libraries'
(transformers, datasets, huggingface_hub) — so a log holds no `\\r`-redrawn bars or escape
codes; `safemix run` then prints one line per stage with its time and a summary table.
`SAFEMIX_PROGRESS=1` / `=0` forces either behaviour.

    from safemix.console import progress_enabled, quiet_progress
    with quiet_progress():                 # no bars inside, whatever the terminal
        ...
    tqdm(..., disable=not progress_enabled())

`quiet_known_warnings()` filters the library messages that repeat on every stage of a default
run and that safemix cannot fix at the source (each one named exactly; see its docstring).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from typing import Any, TextIO

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_quiet_depth = 0


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # replaced by a test harness, or closed
        return False


def interactive(stdout: TextIO | None = None, stderr: TextIO | None = None) -> bool:
    """True on a terminal: stdout and stderr are TTYs, not in CI, TERM is not `dumb`.
    `SAFEMIX_PROGRESS` (1/0) overrides."""
    env = os.environ.get("SAFEMIX_PROGRESS", "").strip().lower()
    if env in _TRUE:
        return True
    if env in _FALSE:
        return False
    if os.environ.get("CI", "").strip().lower() in _TRUE or os.environ.get("TERM") == "dumb":
        return False
    return _isatty(stdout or sys.stdout) and _isatty(stderr or sys.stderr)


def progress_enabled() -> bool:
    """Whether a progress bar may be drawn now (False inside `quiet_progress()`)."""
    return _quiet_depth == 0


def _library_bars() -> list[tuple[Any, Any, Any]]:
    """(is_enabled, enable, disable) of the progress-bar switches of libraries in use."""
    import importlib

    out = []
    with contextlib.suppress(ImportError, AttributeError):
        tlog = importlib.import_module("transformers.utils.logging")
        out.append((tlog.is_progress_bar_enabled, tlog.enable_progress_bar, tlog.disable_progress_bar))
    with contextlib.suppress(ImportError, AttributeError):
        dtq = importlib.import_module("datasets.utils.tqdm")
        out.append((dtq.is_progress_bar_enabled, dtq.enable_progress_bars, dtq.disable_progress_bars))
    with contextlib.suppress(ImportError, AttributeError):
        htq = importlib.import_module("huggingface_hub.utils.tqdm")
        out.append((lambda: not htq.are_progress_bars_disabled(), htq.enable_progress_bars, htq.disable_progress_bars))
    return out


@contextlib.contextmanager
def quiet_progress() -> Iterator[None]:
    """No progress bars inside: safemix's own (they check `progress_enabled()`) and those of
    transformers, datasets and huggingface_hub (switched off, and back on after if they were)."""
    global _quiet_depth
    _quiet_depth += 1
    restore = []
    try:
        for is_on, enable, disable in _library_bars():
            if is_on():
                disable()
                restore.append(enable)
        yield
    finally:
        for enable in restore:
            enable()
        _quiet_depth -= 1


class _DropMessage(logging.Filter):
    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)


_DEEPSPEED_CPU = "Setting accelerator to CPU"


def quiet_known_warnings() -> None:
    """Filter, by exact message, what libraries print on every stage of a default run and what
    safemix cannot fix in its own calls:

    - peft and trl read `model.is_gradient_checkpointing` when they wrap a model, which
      transformers 5 deprecates (FutureWarning) in favour of `is_activation_checkpointing`;
    - DeepSpeed's "Setting accelerator to CPU. If you have GPU ..." on a machine without one
      (a warning printed to stdout when the accelerator is first looked up).

    The `gradient_checkpointing` training argument is fixed at the source instead (safemix
    passes `activation_checkpointing`; `safemix.train.trainer`)."""
    warnings.filterwarnings("ignore", message=r"`is_gradient_checkpointing` is deprecated", category=FutureWarning)
    ds = logging.getLogger("DeepSpeed")  # the same object DeepSpeed configures when imported
    if not any(isinstance(f, _DropMessage) and f.prefix == _DEEPSPEED_CPU for f in ds.filters):
        ds.addFilter(_DropMessage(_DEEPSPEED_CPU))


class QuietLibraryLogs(logging.Filter):
    """For the root handler: records from libraries below WARNING are dropped (safemix's own
    INFO lines stay). `safemix -v` does not install it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.name == "safemix" or record.name.startswith("safemix.")


def fmt_seconds(s: float) -> str:
    """'0.4 s', '36 s', '12 min 05 s', '2 h 03 min'."""
    if s < 10:
        return f"{s:.1f} s"
    if s < 60:
        return f"{s:.0f} s"
    m, sec = divmod(int(round(s)), 60)
    if m < 60:
        return f"{m} min {sec:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


def text_table(header: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    """A plain-text table with aligned columns (no box-drawing characters, no colours)."""
    right = right or set()
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


class StageConsole:
    """One line per stage on `out` (default stdout): on a terminal a start line before the
    stage (its progress bars follow) and a line when it ends; otherwise only the end line, with
    the stage's time. Lines are flushed at once so a CI log shows them as they happen."""

    def __init__(self, total: int, out: TextIO | None = None, tty: bool | None = None) -> None:
        self.total, self.n = total, 0
        self.out = out or sys.stdout
        self.tty = interactive() if tty is None else tty

    def _print(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def _pos(self) -> str:
        w = len(str(self.total))
        return f"[{self.n:>{w}}/{self.total}]"

    def start(self, label: str) -> None:
        self.n += 1
        if self.tty:
            self._print(f"{self._pos()} {label} ...")

    def done(self, label: str, seconds: float) -> None:
        self._print(f"{self._pos()} {label}: done in {fmt_seconds(seconds)}")

    def skipped(self, label: str) -> None:
        self.n += 1
        self._print(f"{self._pos()} {label}: skipped (inputs and config unchanged)")
