"""Evaluation probes: harmful requests (should be refused) and benign-but-sensitive
requests (should be answered; over-refusal).

The built-in probe sets are written for safemix and kept disjoint from the built-in
seeds (no pair with normalised-text equality or embedding cosine >= 0.9; tested):

    >>> len(load_builtin_probes("harmful")) >= 220, len(load_builtin_probes("benign")) >= 110
    (True, True)

External probe sets are loaded by path with `load_probe_file`: AdvBench / HarmBench CSV
(`goal` / `Behavior`), XSTest CSV (`prompt`, `label` safe|unsafe, `type`), JSON / JSONL
(records, a list of strings, or an object holding one list such as `{"instructions": [...]}`),
plain text (one prompt a line), Parquet and `datasets` folders. Files are read by
`safemix.formats.prompts` (through `safemix.formats.io`'s readers), which also holds
`Probe`, `Table`, `read_table` and `probes_from_table`, re-exported here.
"""

from __future__ import annotations

import json
import os
from importlib import resources

from safemix.errors import ConfigError
from safemix.formats.prompts import (
    CATEGORY_COLUMNS,
    ID_COLUMNS,
    LABEL_COLUMNS,
    LABEL_VALUES,
    PROBE_KINDS,
    PROMPT_COLUMNS,
    Probe,
    Table,
    find_column,
    probes_from_table,
    prompt_text,
    read_table,
)

__all__ = ["CATEGORY_COLUMNS", "ID_COLUMNS", "LABEL_COLUMNS", "LABEL_VALUES", "PROBE_KINDS", "PROBE_SET_VERSION",
           "PROMPT_COLUMNS", "Probe", "Table", "find_column", "load_builtin_probes", "load_probe_file",
           "probes_from_table", "prompt_text", "read_table"]

PROBE_SET_VERSION = 1


def load_probe_file(path: str | os.PathLike, column_map: dict[str, str] | None = None,
                    kind: str | None = None) -> list[Probe]:
    """Load probes from an external file or `datasets` folder.

    The prompt column is found by name (prompt, Behavior, goal, instruction, ...) unless
    `column_map={"prompt": COL, "label": COL, "category": COL, "id": COL}` names it. With a
    label column (XSTest's `label` safe/unsafe), `kind` keeps only rows of that kind and
    `None` keeps all, labelled; without one, every row gets `kind` ("harmful" if None).
    """
    return [p for _, p in probes_from_table(read_table(path), column_map, kind)]


def _builtin_file(kind: str) -> str:
    return f"probes_{kind}_v{PROBE_SET_VERSION}.jsonl"


def load_builtin_probes(kind: str | None = None) -> list[Probe]:
    """The built-in probes: "harmful", "benign" (over-refusal), or both when None."""
    if kind is not None and kind not in PROBE_KINDS:
        from safemix.config import did_you_mean

        raise ConfigError(f"unknown probe kind {kind!r}{did_you_mean(kind, PROBE_KINDS)}; choose harmful or benign")
    out = []
    for k in ([kind] if kind else list(PROBE_KINDS)):
        name = _builtin_file(k)
        text = resources.files("safemix.eval").joinpath("data", name).read_text(encoding="utf-8")
        for line in text.splitlines():
            if line.strip():
                r = json.loads(line)
                out.append(Probe(r["id"], r["prompt"], r["kind"], r.get("category"),
                                 f"builtin:{name.removesuffix('.jsonl')}"))
    return out

