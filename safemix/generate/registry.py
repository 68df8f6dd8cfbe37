"""The generation methods, by name: one table, one signature (`GenContext` -> `MethodOutput`).

Every place that depends on the method reads it from here: the config's name check (with a
did-you-mean), whether rows are in the job's format, whether a method is a control.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from safemix.config import did_you_mean
from safemix.errors import ConfigError
from safemix.generate.context import GenContext, MethodOutput
from safemix.generate.methods import run_bea, run_raw, run_raw_system, run_template
from safemix.generate.paraphrase import run_paraphrase


@dataclass(frozen=True)
class MethodSpec:
    """A generation method: how it makes rows and what kind of rows they are."""

    run: Callable[[GenContext], MethodOutput]
    in_format: bool = False  # rows in the job's format (user template + answer shape), validated against its profile
    benign_only: bool = False  # contrast rows only (helpful answers), no refusals
    control: str | None = None  # a control method: what it is for (in its manifest)
    no_system_note: str | None = None  # added to `control` when the job has no system prompt


METHODS: dict[str, MethodSpec] = {
    "template": MethodSpec(run_template, in_format=True),
    "paraphrase": MethodSpec(run_paraphrase, in_format=True),
    "raw": MethodSpec(run_raw),
    "bea": MethodSpec(run_bea),
    "raw_system": MethodSpec(
        run_raw_system,
        control="control: the raw rows with the job's system prompt as a system turn, but not its user "
                "template or answer shape (does the system prompt alone carry the refusals over?)",
        no_system_note="the job has no system prompt, so these rows equal `raw` rows"),
    "template_benign": MethodSpec(
        run_template, in_format=True, benign_only=True,
        control="control: rows rendered exactly like `template` whose answers are helpful answers to "
                "benign-but-sensitive (contrast) requests, no refusals, same count (does any "
                "job-format data help, or the refusals?)"),
}


def method_spec(name: str) -> MethodSpec:
    """The registered method `name`; an unknown name is a ConfigError with a did-you-mean."""
    if name not in METHODS:
        raise ConfigError(f"unknown generation method {name!r}{did_you_mean(name, METHODS)}"
                          f"; choose one of {', '.join(METHODS)}")
    return METHODS[name]
