"""The mixer: blend safety examples into a job, exactly, traceably, at any size.

Two entry points share one plan:

- `mix_files(job_path, out, cfg)` streams a job file: pass 1 validates every row,
  counts rows (and tokens), and finds safety rows whose user turn duplicates a job
  prompt; pass 2 copies JSONL user rows byte for byte and writes the safety rows between
  them, for every amount of a sweep at once. Memory is O(safety set), not O(job).
- `mix(job, safety, ratio=..., count=...)` does the same in memory for lists of
  Examples or records and `datasets.Dataset`.

Every output row has a provenance row (sidecar JSONL, aligned by row; optionally
inline), and every output a `mix_manifest.json`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import hashlib
import json
import os
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple

from safemix.errors import ConfigError, InputError
from safemix.formats.example import Example
from safemix.mix import plan as P
from safemix.mix.config import MixConfig
from safemix.mix.safety import (
    SafetyConverter,
    SafetySet,
    dataset_rows,
    is_dataset,
    load_safety_file,
    safety_from_memory,
)

MANIFEST_NAME = "mix_manifest.json"
_FLUSH_ROWS = 4096
_TOKEN_BATCH = 512
_READ_BLOCK = 1 << 22  # bytes per read in pass 2 (tests shrink it to split rows across reads)


# ----------------------------------------------------------------------------- reports
@dataclass
class MixReport:
    """What one mix did: counts, the realised ratio, what was dropped, where it went."""

    amount: dict[str, float | int]
    n_user: int
    n_safety: int
    strategy: str
    seed: int
    effective_ratio: float
    dropped: list[dict[str, Any]]
    counts_by_source: dict[str, int]
    counts_by_category: dict[str, int]
    unique_safety_rows: int
    token_share: float | None = None
    manifest: dict[str, Any] = field(default_factory=dict)
    provenance: list[dict[str, Any]] | None = None  # in-memory mixes: one per output row
    paths: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.n_user + self.n_safety

    def summary(self) -> str:
        amount = ", ".join(f"{k}={v}" for k, v in self.amount.items())
        s = (f"{amount}: {self.n_user} user + {self.n_safety} safety = {self.total} rows, "
             f"effective ratio {self.effective_ratio:.6f} ({self.strategy}, seed {self.seed})")
        if self.token_share is not None:
            s += f", safety token share {self.token_share:.6f}"
        if self.dropped:
            s += f"; dropped {len(self.dropped)} safety rows duplicating job prompts"
        return s


class MixOutput(NamedTuple):
    """`mixed, report = safemix.mix(...)`."""

    data: Any
    report: MixReport


# ------------------------------------------------------------------------ preparation
@dataclass
class _Prepared:
    """Everything pass 1 learns: counts, converted safety rows, duplicates, tokens."""

    n_user: int
    safety: SafetySet
    records: list[dict[str, Any] | None]  # safety rows in the job's schema (None: Examples mode)
    converted: list[Example]  # safety rows as the job's reader would read them
    dropped: dict[int, int]  # safety index -> job line (or index) of the prompt it duplicates
    user_tokens: int | None = None
    safety_tokens: list[int] | None = None
    schema: str | None = None


class _JobScan:
    """Pass 1 state: counts user rows, looks each user turn up in the safety prompts, counts tokens."""

    def __init__(self, safety: SafetySet, cfg: MixConfig, tokenizer: Any = None, path: str = "<job>") -> None:
        self.safety, self.cfg, self.tokenizer, self.path = safety, cfg, tokenizer, path
        self.n = 0
        self.records: list[dict | None] = [None] * len(safety)
        self.converted: list[Example] = list(safety.examples)
        self.dropped: dict[int, int] = {}
        self.index: dict[str, list[int]] = {}
        self.user_tokens = 0 if tokenizer is not None else None
        self._token_batch: list[Example] = []
        self.schema: str | None = None

    def start(self, schema: str | None, column_map: dict | None, columns: list[str] | None) -> None:
        """Called at the job's first row, when its schema is known: convert the safety set."""
        self.schema = schema
        s = self.safety
        if self.cfg.require_same_format and s.schema is not None and schema is not None and s.schema != schema:
            raise InputError(f"the safety set is {s.schema!r} but the job is {schema!r} and "
                             "require_same_format is set (unset it to convert the safety rows)",
                             path=s.path)
        if schema is not None:
            conv = SafetyConverter(schema, column_map, columns, s.schema)
            for i, ex in enumerate(s.examples):
                where = {"path": s.path or "<safety>", "line": s.lines[i] or i + 1}
                self.records[i], self.converted[i] = conv(ex, where)
        if self.cfg.dedupe:  # a safety row's request is its last user turn; earlier ones are job context
            for i, ex in enumerate(self.converted):
                last = next((m for m in reversed(ex.messages) if m.get("role") == "user"), None)
                if last is not None:
                    self.index.setdefault(P.normalise_prompt(last.get("content") or ""), []).append(i)

    def add(self, line: int, ex: Example) -> None:
        """One user row (runs a million times per large job: kept lean)."""
        self.n += 1
        if self.cfg.inline_provenance and self.cfg.inline_key in (ex.metadata.get("extra") or {}):
            raise InputError(f"the job already has a field named {self.cfg.inline_key!r}; choose "
                             "another inline_key", path=self.path, line=line, field=self.cfg.inline_key)
        index = self.index
        if index:
            for m in ex.messages:
                if m["role"] == "user":
                    text = m["content"]
                    if not text.isascii():
                        text = unicodedata.normalize("NFKC", text)
                    hits = index.get(" ".join(text.casefold().split()))  # = plan.normalise_prompt
                    if hits:
                        for j in hits:
                            self.dropped.setdefault(j, line)
        if self.tokenizer is not None:
            self._token_batch.append(ex)
            if len(self._token_batch) >= _TOKEN_BATCH:
                self._flush_tokens()

    def _flush_tokens(self) -> None:
        if self._token_batch:
            self.user_tokens += sum(count_tokens(self._token_batch, self.tokenizer))
            self._token_batch = []

    def finish(self) -> _Prepared:
        if self.n == 0:
            raise InputError("the job is empty (no rows)", path=self.path)
        self._flush_tokens()
        safety_tokens = (count_tokens(self.converted, self.tokenizer)
                         if self.tokenizer is not None and self.converted else
                         ([] if self.tokenizer is not None else None))
        return _Prepared(self.n, self.safety, self.records, self.converted, self.dropped,
                         self.user_tokens, safety_tokens, self.schema)


def count_tokens(examples: list[Example], tokenizer: Any) -> list[int]:
    """Training tokens of each example: its chat-template rendering (or plain turns) tokenised."""
    convs = [[{"role": m["role"], "content": m["content"]} for m in ex.messages] for ex in examples]
    if getattr(tokenizer, "chat_template", None):
        texts = tokenizer.apply_chat_template(convs, tokenize=False)
    else:
        texts = ["\n".join(m["content"] for m in c) for c in convs]
    return [len(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]]


def load_tokenizer(spec: Any) -> Any:
    """A tokenizer object, a name/path (offline), or 'tiny' for safemix's built-in test tokenizer."""
    if spec is None or not isinstance(spec, str):
        return spec
    if spec == "tiny":
        from safemix.tiny import tiny_tokenizer

        return tiny_tokenizer()
    from safemix.models import load_tokenizer as _load

    try:
        return _load(spec)
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot load tokenizer {spec!r} (offline): {e}") from None


# ---------------------------------------------------------------------------- planning
@dataclass
class _Plan:
    amount: dict[str, float | int]
    chosen: list[tuple[int, int]]  # (safety index, repeat) in output order
    positions: list[int]
    token_share: float | None = None

    @property
    def n_safety(self) -> int:
        return len(self.chosen)


def _plan(prep: _Prepared, kind: str, value: float | int, cfg: MixConfig) -> _Plan:
    """How many safety rows, which ones (seeded), and where (strategy)."""
    pool = [i for i in range(len(prep.safety)) if i not in prep.dropped]
    n_user = prep.n_user
    token_share = None
    if kind == "count":
        n = int(value)
    elif cfg.ratio_unit == "tokens":
        n = _count_for_tokens(prep, pool, float(value), cfg)
    else:
        n = P.count_for_ratio(n_user, float(value))
    if n > len(pool) and not cfg.allow_repeat:
        raise InputError(_shortfall(prep, pool, kind, value, n), path=prep.safety.path)
    if n and not pool:
        raise InputError(_shortfall(prep, pool, kind, value, n), path=prep.safety.path)
    chosen = [(pool[i], rep) for i, rep in P.selection(len(pool), n, cfg.seed, cfg.allow_repeat)]
    if prep.safety_tokens is not None:
        st = sum(prep.safety_tokens[i] for i, _ in chosen)
        token_share = st / (st + prep.user_tokens) if (st + prep.user_tokens) else 0.0
    pos = P.positions(cfg.strategy, n_user + n, n, cfg.seed)
    return _Plan({kind: value}, chosen, pos, token_share)


def _count_for_tokens(prep: _Prepared, pool: list[int], ratio: float, cfg: MixConfig) -> int:
    tokens = prep.safety_tokens or []
    pool_tokens = sum(tokens[i] for i in pool)
    target = ratio * prep.user_tokens / (1 - ratio)
    epochs = 1
    if cfg.allow_repeat and pool_tokens:
        epochs = int(target // pool_tokens) + 2
    stream = P.selection(len(pool), len(pool) * epochs, cfg.seed, cfg.allow_repeat) if pool else []
    n = P.count_for_token_ratio(prep.user_tokens, [tokens[pool[i]] for i, _ in stream], ratio)
    if n < 0:
        raise InputError(f"ratio {ratio} of the job's {prep.user_tokens} training tokens needs about "
                         f"{round(target)} safety tokens but the usable safety rows hold only "
                         f"{pool_tokens} ({len(pool)} rows); pass allow_repeat to reuse rows, or "
                         "lower the ratio", path=prep.safety.path)
    return n


def _shortfall(prep: _Prepared, pool: list[int], kind: str, value: float | int, n: int) -> str:
    what = (f"ratio {value} of {prep.n_user} user rows needs {n} safety rows" if kind == "ratio"
            else f"count {value} needs {n} safety rows")
    return (f"{what} but the safety set has {len(pool)} usable ({len(prep.safety)} read, "
            f"{len(prep.dropped)} dropped as duplicates of job prompts); pass --allow-repeat "
            "(allow_repeat=true) to reuse safety rows, or lower the amount")


# -------------------------------------------------------------------------- provenance
def _user_prov(row: int, line: int) -> dict[str, Any]:
    return {"row": row, "source": "user", "job_line": line}


def _safety_prov(prep: _Prepared, row: int, idx: int, rep: int) -> dict[str, Any]:
    prov = prep.safety.provenance[idx]
    out = {"row": row, "source": prov.get("source", "safety")}
    out.update((k, v) for k, v in prov.items() if k not in _MIX_PROV_KEYS)  # ours win over a sidecar's
    out.update({"safety_index": idx, "safety_line": prep.safety.lines[idx], "repeat": rep})
    return out


_MIX_PROV_KEYS = ("row", "source", "safety_index", "safety_line", "repeat")


def _dropped_report(prep: _Prepared) -> list[dict[str, Any]]:
    out = []
    for j in sorted(prep.dropped):
        prov = prep.safety.provenance[j]
        out.append({"safety_index": j, "safety_line": prep.safety.lines[j],
                    "seed_id": prov.get("seed_id"), "user": (prep.converted[j].user or "")[:200],
                    "reason": "user turn duplicates a job prompt", "job_line": prep.dropped[j]})
    return out


def _report(prep: _Prepared, plan: _Plan, cfg: MixConfig) -> MixReport:
    by_source = Counter({"user": prep.n_user})
    by_cat: Counter = Counter()
    for i, _ in plan.chosen:
        prov = prep.safety.provenance[i]
        by_source[prov.get("source", "safety")] += 1
        if prov.get("category") is not None:
            by_cat[str(prov["category"])] += 1
    total = prep.n_user + plan.n_safety
    return MixReport(
        amount=dict(plan.amount), n_user=prep.n_user, n_safety=plan.n_safety, strategy=cfg.strategy,
        seed=cfg.seed, effective_ratio=plan.n_safety / total if total else 0.0,
        dropped=_dropped_report(prep), counts_by_source=dict(sorted(by_source.items())),
        counts_by_category=dict(sorted(by_cat.items())),
        unique_safety_rows=len({i for i, _ in plan.chosen}), token_share=plan.token_share)


def _manifest(rep: MixReport, prep: _Prepared, cfg: MixConfig, inputs: dict, outputs: dict) -> dict:
    """The mix manifest (`safemix.manifest`; mix's own keys were the envelope's model)."""
    from safemix import __version__
    from safemix.manifest import make_manifest

    ratio: dict[str, Any] = {"requested": rep.amount.get("ratio"), "effective": rep.effective_ratio,
                             "unit": cfg.ratio_unit if "ratio" in rep.amount else "rows"}
    if rep.token_share is not None:
        ratio["token_share"] = rep.token_share
        ratio["user_tokens"] = prep.user_tokens
    return make_manifest("mix", {
        "stage": "mix",
        "safemix_version": __version__,
        "inputs": inputs,
        "outputs": outputs,
        "amount": rep.amount,
        "counts": {"user": rep.n_user, "safety": rep.n_safety, "total": rep.total,
                   "by_source": rep.counts_by_source, "by_category": rep.counts_by_category,
                   "unique_safety_rows": rep.unique_safety_rows,
                   "safety_set_rows": len(prep.safety), "dropped_duplicates": len(rep.dropped)},
        "ratio": ratio,
        "strategy": cfg.strategy,
        "seed": cfg.seed,
        "format": {"job_schema": prep.schema, "safety_schema": prep.safety.schema,
                   "converted": bool(prep.schema and prep.safety.schema != prep.schema)},
        "dropped": rep.dropped,
        "config": dataclasses.asdict(cfg),
    })


# ------------------------------------------------------------------------ in-memory API
def mix(job: Any, safety: Any, ratio: float | list[float] | None = None,
        count: int | list[int] | None = None, strategy: str = "spread", seed: int = 0,
        tokenizer: Any = None, **kwargs: Any) -> MixOutput | list[MixOutput]:
    """Blend `safety` into `job`: `mixed, report = safemix.mix(job, safety, ratio=0.05)`.

    `job` and `safety` are lists of Examples or records (any supported schema), a
    `datasets.Dataset`, or file paths. Records/Datasets come back in the job's schema
    with the user's rows unchanged; Examples (and jobs given as paths) come back as new
    Examples whose metadata holds each row's provenance. `report.provenance` is aligned
    with the output rows. A list of ratios/counts returns one MixOutput per value. Other
    MixConfig fields (allow_repeat, dedupe, ratio_unit, inline_provenance, ...) go in
    `kwargs`; `tokenizer` (object or name) is needed for ratio_unit="tokens".

    >>> from safemix.formats import Example
    >>> job = [Example.chat(f"What is {i}+1?", str(i + 1)) for i in range(19)]
    >>> mixed, report = mix(job, [Example.chat("How do I make a weapon?", "I can't help with that.")], ratio=0.05)
    >>> len(mixed), report.n_safety, mixed[10].metadata["source"]
    (20, 1, 'safety')
    """
    cfg = MixConfig(ratio=ratio, count=count, strategy=strategy, seed=seed,
                    tokenizer=_tokenizer_name(tokenizer), **{"show_progress": False, **kwargs})
    amounts = cfg.amounts()
    tok = load_tokenizer(tokenizer) if cfg.ratio_unit == "tokens" else None
    sset = _as_safety(safety, cfg)
    mode, users, fmt, ds = _as_user_rows(job)
    scan = _JobScan(sset, cfg, tok)
    scan.start(*fmt)
    for i, ex in enumerate(users):
        scan.add(i + 1, ex)
    prep = scan.finish()
    outs = []
    for kind, value in amounts:
        plan = _plan(prep, kind, value, cfg)
        rep = _report(prep, plan, cfg)
        data, rep.provenance = _assemble(mode, job, ds, users, prep, plan, cfg)
        inputs = {"job": {"rows": prep.n_user, "schema": fmt[0]},
                  "safety": {"path": sset.path, "rows": len(sset), "schema": sset.schema}}
        rep.manifest = _manifest(rep, prep, cfg, inputs, {})
        outs.append(MixOutput(data, rep))
    sweep = isinstance(ratio, list | tuple) or isinstance(count, list | tuple)
    return outs if sweep else outs[0]


def _tokenizer_name(tokenizer: Any) -> str | None:
    if tokenizer is None or isinstance(tokenizer, str):
        return tokenizer
    return getattr(tokenizer, "name_or_path", None) or type(tokenizer).__name__


def _as_safety(safety: Any, cfg: MixConfig) -> SafetySet:
    if isinstance(safety, str | os.PathLike):
        return load_safety_file(safety, format=cfg.safety_format, provenance=cfg.safety_provenance)
    return safety_from_memory(safety)


def _as_user_rows(job: Any) -> tuple[str, list[Example], tuple, Any]:
    """(mode, user Examples, (schema, column_map, columns), Dataset or None) for an in-memory job.

    A schema of None (a list of Examples) means there is no format to convert into.
    """
    from safemix.formats.schemas import SCHEMAS, detect_schema

    if isinstance(job, str | os.PathLike):
        from safemix.formats import read_job

        j = read_job(job)
        return "examples", j.examples, (j.schema, j.column_map, j.columns), None
    ds = job if is_dataset(job) else None
    rows = dataset_rows(job) if ds is not None else list(job)
    if not rows:
        raise InputError("the job is empty (no rows)")
    if all(isinstance(r, Example) for r in rows):
        return "examples", rows, (None, None, None), None
    if not all(isinstance(r, dict) for r in rows):
        raise InputError("a job must be all Examples or all records (dicts)")
    schema = detect_schema(rows[0])
    if schema is None:
        raise InputError(f"cannot detect the job's format from keys {list(rows[0])}; expected "
                         "messages, prompt+completion, instruction+output or conversations", line=1)
    adapter = SCHEMAS[schema]
    users = []
    for i, r in enumerate(rows):
        seen = detect_schema(r)
        if seen != schema:
            raise InputError(f"record looks like {seen!r} but the first is {schema!r}: a job holds "
                             "one format", path="<job>", line=i + 1)
        users.append(adapter.to_example(r, {"path": "<job>", "line": i + 1}))
    return ("dataset" if ds is not None else "records"), users, (schema, None, None), ds


def _mixed_rows(prep: _Prepared, plan: _Plan, job_line: Any = None) -> Iterator[tuple[dict[str, Any], int, int]]:
    """(provenance, user index or -1, k-th chosen safety row or -1) for every output row, in
    the order of `plan.runs` (which the streaming JSONL writer follows run by run).
    `job_line[u]` is user row u's line in the job file (default: u + 1)."""
    row = 0
    for kind, a, b in P.runs(prep.n_user, plan.positions):
        for i in range(a, b):
            if kind == "user":
                yield _user_prov(row, job_line[i] if job_line is not None else i + 1), i, -1
            else:
                idx, rep = plan.chosen[i]
                yield _safety_prov(prep, row, idx, rep), -1, i
            row += 1


def _assemble(mode: str, job: Any, ds: Any, users: list[Example], prep: _Prepared, plan: _Plan,
              cfg: MixConfig) -> tuple[Any, list[dict[str, Any]]]:
    provs: list[dict[str, Any]] = []
    out: list[Any] = []
    order: list[int] = []  # for Datasets: indices into concat(job, chosen safety rows)
    raw_rows = None if mode != "records" else list(job)
    for prov, u, k in _mixed_rows(prep, plan):
        provs.append(prov)
        if u >= 0:
            if mode == "examples":
                ex = users[u]
                out.append(Example([dict(m) for m in ex.messages], {**ex.metadata, **prov}))
            elif mode == "records":
                out.append(_with_inline(dict(raw_rows[u]), prov, cfg, as_json=True))
            order.append(u)
        else:
            idx = plan.chosen[k][0]
            if mode == "examples":
                ex = prep.converted[idx]
                out.append(Example([dict(m) for m in ex.messages], {**prov}))
            elif mode == "records":
                out.append(_with_inline(dict(prep.records[idx]), prov, cfg, as_json=True))
            order.append(prep.n_user + k)
    if mode != "dataset":
        return out, provs
    return _assemble_dataset(ds, prep, plan, order, provs, cfg), provs


def _with_inline(rec: dict, prov: dict, cfg: MixConfig, as_json: bool) -> dict:
    if cfg.inline_provenance:
        rec[cfg.inline_key] = prov if as_json else json.dumps(prov, ensure_ascii=False)
    return rec


def _assemble_dataset(ds: Any, prep: _Prepared, plan: _Plan, order: list[int],
                      provs: list[dict], cfg: MixConfig) -> Any:
    """The user's Arrow rows untouched (concatenate + select), safety rows cast to its features."""
    import datasets

    cols = ds.column_names
    recs = [prep.records[i] for i, _ in plan.chosen]
    extra = sorted({k for r in recs for k in r if k not in cols})
    if extra:
        raise InputError(f"safety rows need columns {extra} that the job's Dataset lacks")
    try:
        sds = datasets.Dataset.from_list([{c: r.get(c) for c in cols} for r in recs], features=ds.features)
        mixed = datasets.concatenate_datasets([ds, sds]).select(order)
    except (ValueError, TypeError, datasets.exceptions.DatasetGenerationError):
        # features the safety rows cannot take: fall back to records in the job's schema
        rows = ds.to_list()
        mixed = datasets.Dataset.from_list([rows[i] if i < prep.n_user else recs[i - prep.n_user]
                                            for i in order])
    if cfg.inline_provenance:
        mixed = mixed.add_column(cfg.inline_key, [json.dumps(p, ensure_ascii=False) for p in provs])
    return mixed


# --------------------------------------------------------------------- streaming files
def resolve_outputs(out: str | Path, job_path: str | Path, container: str,
                    amounts: list[tuple[str, float | int]]) -> list[Path]:
    """The data path of each mixed job.

    `out` with a file extension is the file (a sweep puts each value in a sibling folder
    `ratio-0.05/` beside it); without one it is a folder that receives a file named like
    the job (one sub-folder per value for a sweep). Mixed jobs keep the job's container.
    """
    out, job_path = Path(out), Path(job_path)
    allowed = {".jsonl": {"jsonl"}, ".ndjson": {"jsonl"}, ".json": {"json", "jsonl"}, ".csv": {"csv"},
               ".tsv": {"tsv"}, ".parquet": {"parquet"}, ".pq": {"parquet"}}
    is_file = out.suffix.lower() in allowed
    if is_file and container not in allowed[out.suffix.lower()]:
        raise ConfigError(f"--out {out} has extension {out.suffix} but the job is {container}; the mixed "
                          "job is written in the job's own format")
    name = out.name if is_file else job_path.name
    base = out.parent if is_file else out
    paths = []
    for kind, value in amounts:
        label = f"{kind}-{value:g}" if kind == "ratio" else f"{kind}-{int(value)}"
        sub = base / label if len(amounts) > 1 else base
        paths.append(sub / name)
    return paths  # checked against the inputs by check_mix_outputs


def check_mix_outputs(job_path: str | Path, container: str, outs: list[Path], safety_path: str | None,
                      safety_provenance: str | None = None) -> None:
    """Every output of a mix (data, sidecar, manifest) checked against the inputs and their
    sidecars before anything is written (see `safemix.outputs`). A folder's mix_manifest.json
    is replaced only by a rerun of the same mix, never by another job's."""
    from safemix.manifest import ManifestError, read_manifest
    from safemix.outputs import OutputGuard

    g = OutputGuard("mix").input(job_path)
    g.input(safety_path).input(safety_provenance, sidecars=False)
    for out in outs:
        (g.folder(out, replace=True) if container == "hf_disk" else g.file(out))
        g.file(sidecar_path(out)).manifest(out.parent / MANIFEST_NAME)
    g.check()
    for out in outs:
        man = out.parent / MANIFEST_NAME
        if not man.exists():
            continue
        try:
            prev = read_manifest(man, legacy=True).get("outputs", {}).get("data", {}).get("path")
        except (ManifestError, AttributeError):
            prev = None
        if prev and Path(prev).name != out.name:
            raise ConfigError(f"refusing to write {man}: it records another mix ({prev}); "
                              "write each mix to its own folder (choose another --out)")


def sidecar_path(data_path: Path) -> Path:
    """`mixed/train.jsonl` -> `mixed/train.provenance.jsonl`."""
    from safemix.mix.safety import default_provenance_path

    return default_provenance_path(data_path)


def mix_files(job_path: str | Path, out: str | Path, cfg: MixConfig, *, safety: Any = None,
              job_format: str | None = None, container: str | None = None,
              column_map: dict[str, str] | None = None, max_line_bytes: int | None = None,
              tokenizer: Any = None) -> list[MixReport]:
    """Mix a job file with a safety set into one output per ratio/count; returns the reports.

    Nothing is written unless every amount can be satisfied; each output (data,
    provenance sidecar, `mix_manifest.json`) is written atomically.
    """
    from safemix.formats import JobReader
    from safemix.formats.io import DEFAULT_MAX_LINE_BYTES

    amounts = cfg.amounts()
    safety = safety if safety is not None else cfg.safety
    if safety is None:
        raise ConfigError("no safety set: pass --safety FILE (or mix.safety in the recipe)")
    reader = JobReader(job_path, job_format, container, column_map, max_line_bytes or DEFAULT_MAX_LINE_BYTES)
    outs = resolve_outputs(out, job_path, reader.container, amounts)
    with _gc_paused():
        sset = _as_safety(safety, cfg)
    check_mix_outputs(job_path, reader.container, outs, sset.path, cfg.safety_provenance)
    tok = None
    if cfg.ratio_unit == "tokens":
        tok = load_tokenizer(tokenizer if tokenizer is not None else cfg.tokenizer)

    stat0 = _stat(job_path)
    prep, users, lines = _scan_job(reader, sset, cfg, tok, str(job_path))
    plans = [_plan(prep, kind, value, cfg) for kind, value in amounts]  # all checked before writing

    # pass 2: write every output
    if reader.container == "jsonl":
        job_sha, results = _write_jsonl(Path(job_path), prep, plans, outs, cfg, stat0)
    else:
        from safemix.utils import sha256_file

        job_sha = sha256_file(job_path)
        writer_args = {"schema": reader.schema_name, "container": reader.container,
                       "column_map": reader.column_map, "columns": reader.columns}
        results = [_write_examples(users, lines, prep, p, o, cfg, writer_args) for p, o in zip(plans, outs, strict=True)]
    inputs = _inputs_manifest(job_path, job_sha, prep, reader, sset)
    return [_file_report(prep, plan, cfg, inputs, out_path, outputs)
            for plan, out_path, outputs in zip(plans, outs, results, strict=True)]


def _scan_job(reader: Any, sset: SafetySet, cfg: MixConfig, tok: Any,
              path: str) -> tuple[_Prepared, list[Example], list[int]]:
    """Pass 1: validate, count, dedupe; the user Examples and their lines are kept only for
    containers without raw rows (a JSONL job is copied from its bytes in pass 2)."""
    scan = _JobScan(sset, cfg, tok, path)
    users: list[Example] = []
    lines: list[int] = []
    streaming = reader.container == "jsonl"
    with _progress(cfg, "mix: reading job", None) as bar:
        for line, ex, _raw in reader:
            if scan.n == 0:
                with _gc_paused():
                    scan.start(reader.schema_name, reader.column_map, reader.columns)
            scan.add(line, ex)
            if not streaming:
                users.append(ex)
                lines.append(line)
            if scan.n % 10000 == 0:
                bar.update(10000)
        bar.update(scan.n % 10000)
    return scan.finish(), users, lines


def _file_report(prep: _Prepared, plan: _Plan, cfg: MixConfig, inputs: dict, out_path: Path,
                 outputs: dict) -> MixReport:
    """The report of one written mix, with its manifest written beside the data."""
    from safemix.manifest import write_manifest

    rep = _report(prep, plan, cfg)
    rep.manifest = _manifest(rep, prep, cfg, inputs, outputs)
    man = out_path.parent / MANIFEST_NAME
    write_manifest(man, rep.manifest)
    rep.paths = {"data": str(out_path), "provenance": outputs["provenance"]["path"], "manifest": str(man)}
    return rep


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while building the safety set: creating ~100k long-lived dicts
    otherwise triggers repeated full collections over them, which find nothing (no cycles)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _inputs_manifest(job_path: Any, job_sha: str, prep: _Prepared, reader: Any, sset: SafetySet) -> dict:
    from safemix.utils import sha256_file

    safety: dict[str, Any] = {"path": sset.path, "rows": len(sset), "schema": sset.schema}
    if sset.path:
        safety["sha256"] = sha256_file(sset.path)
    if sset.provenance_path:
        safety["provenance"] = {"path": sset.provenance_path, "sha256": sha256_file(sset.provenance_path)}
    return {"job": {"path": str(job_path), "sha256": job_sha, "rows": prep.n_user,
                    "schema": reader.schema_name, "container": reader.container},
            "safety": safety}


def _stat(path: Any) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


class _Progress:
    def __init__(self, bar: Any) -> None:
        self.bar = bar

    def update(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.close()


def _progress(cfg: MixConfig, desc: str, total: int | None) -> _Progress:
    from safemix.console import progress_enabled

    if not (cfg.show_progress and progress_enabled()):
        return _Progress(None)
    from tqdm.auto import tqdm

    return _Progress(tqdm(total=total, desc=desc, unit="rows", unit_scale=True, mininterval=1.0))


class _HashingSink:
    """Buffered binary output that hashes exactly the bytes it writes and counts rows."""

    def __init__(self, f: IO[bytes]) -> None:
        self.f, self.sha, self.buf, self.rows = f, hashlib.sha256(), [], 0

    def add(self, b: bytes, rows: int = 1) -> None:
        self.buf.append(b)
        self.rows += rows
        if len(self.buf) >= _FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            data = b"".join(self.buf)
            self.sha.update(data)
            self.f.write(data)
            self.buf = []


_USER_PROV = b'{"row": %d, "source": "user", "job_line": %d}'


class _JsonlOutput:
    """One mixed JSONL job being written: user rows copied through, safety rows slotted in,
    in the order of `plan.runs`; a run of user rows is copied as slices of the blocks read."""

    def __init__(self, prep: _Prepared, plan: _Plan, cfg: MixConfig, data: _HashingSink, prov: _HashingSink,
                 eol: bytes = b"\n") -> None:
        self.prep, self.plan, self.cfg, self.data, self.prov = prep, plan, cfg, data, prov
        self.eol = eol  # the job's line ending (b"\r\n" for a CRLF job), used for safety rows
        self.runs = P.runs(prep.n_user, plan.positions)
        self.run = next(self.runs, None)
        self.row, self.users = 0, 0
        # JSON of each used safety row and of its provenance minus row/repeat, encoded once
        self.rec_b: dict[int, bytes] = {}
        self.prov_mid: dict[int, bytes] = {}
        for i, _ in plan.chosen:
            if i not in self.rec_b:
                self.rec_b[i] = json.dumps(prep.records[i], ensure_ascii=False).encode()
                mid = _safety_prov(prep, 0, i, 0)
                del mid["row"], mid["repeat"]
                self.prov_mid[i] = json.dumps(mid, ensure_ascii=False).encode()[1:-1]

    def _safety_row(self, k: int) -> None:
        idx, rep = self.plan.chosen[k]
        # same bytes as json.dumps(_safety_prov(...)): row first, repeat last
        prov_b = b'{"row": %d, %s, "repeat": %d}' % (self.row, self.prov_mid[idx], rep)
        rec = self.rec_b[idx]
        if self.cfg.inline_provenance:
            rec = _splice(rec, self.cfg.inline_key, prov_b)
        self.data.add(rec + self.eol)
        self.prov.add(prov_b + b"\n")
        self.row += 1

    def _room(self) -> int:
        """User rows to write before the next safety row, once the safety rows due are written."""
        while self.run is not None:
            kind, a, b = self.run
            if kind == "user" and self.users < b:
                return b - self.users
            if kind == "safety":
                for k in range(a, b):
                    self._safety_row(k)
            self.run = next(self.runs, None)
        return 0  # past the plan: the job grew (pass 2 stops before this)

    def user(self, line: int, raw: bytes) -> None:
        """One user row (raw bytes with its newline)."""
        self._room()
        prov_b = _USER_PROV % (self.row, line)
        if self.cfg.inline_provenance:
            body = raw.rstrip()
            raw = _splice(body, self.cfg.inline_key, prov_b) + raw[len(body):]
        self.data.add(raw)
        self.prov.add(prov_b + b"\n")
        self.row += 1
        self.users += 1

    def block(self, first_line: int, lines: list[bytes]) -> None:
        """Consecutive non-blank user rows (without newlines) starting at file line `first_line`."""
        if self.cfg.inline_provenance:
            for i, raw in enumerate(lines):
                self.user(first_line + i, raw + b"\n")
            return
        s, m = 0, len(lines)
        while s < m:
            room = self._room()
            if room <= 0:
                raise InputError("the job file changed while it was being mixed; run again")
            e = min(m, s + room)
            self.data.add(b"\n".join(lines[s:e]) + b"\n", e - s)
            r0, l0 = self.row - s, first_line
            self.prov.add(b"".join([_USER_PROV % (r0 + i, l0 + i) + b"\n" for i in range(s, e)]), e - s)
            self.row += e - s
            self.users += e - s
            s = e

    def finish(self) -> None:
        self._room()  # the safety rows after the last user row (append, spread's tail)
        self.data.flush()
        self.prov.flush()


def _splice(obj_bytes: bytes, key: str, value: bytes) -> bytes:
    """Add `"key": value` as the last member of a JSON object, leaving its other bytes as they are."""
    body = obj_bytes.rstrip()
    if not body.endswith(b"}"):  # records are JSON objects (validated in pass 1)
        raise InputError(f"not a JSON object: {body[:60]!r}")
    inner = body[:-1].rstrip()
    sep = b"" if inner.endswith(b"{") else b", "
    return inner + sep + json.dumps(key).encode() + b": " + value + b"}"


def _iter_blocks(f: IO[bytes], sha: Any) -> Iterator[tuple[int, list[bytes]]]:
    """(line number of the first, lines) for runs of consecutive non-blank lines, without
    their newlines; hashes every byte read. Line numbers count blank lines, as the reader
    does, so provenance and errors agree."""
    tail = b""
    line = 1  # number of the next line
    while True:
        chunk = f.read(_READ_BLOCK)
        if chunk:
            sha.update(chunk)
            parts = (tail + chunk).split(b"\n")
            tail = parts.pop()
        else:
            parts, tail = ([tail] if tail else []), b""  # a last row without a final newline
        if not parts and not chunk:
            return
        if all(map(bytes.strip, parts)):  # the usual case: no blank lines in this block
            yield line, parts
        else:
            run: list[bytes] = []
            start = line
            for i, p in enumerate(parts):
                if p.strip():
                    if not run:
                        start = line + i
                    run.append(p)
                elif run:
                    yield start, run
                    run = []
            if run:
                yield start, run
        line += len(parts)


def _write_jsonl(job_path: Path, prep: _Prepared, plans: list[_Plan], outs: list[Path],
                 cfg: MixConfig, stat0: tuple[int, int]) -> tuple[str, list[dict]]:
    from safemix.utils import atomic_write

    if _stat(job_path) != stat0:
        raise InputError("the job file changed while it was being mixed; run again", path=str(job_path))
    sha_in = hashlib.sha256()
    with open(job_path, "rb") as f:  # safety rows end like the first line (pass 1 bounded its length)
        eol = b"\r\n" if f.readline().endswith(b"\r\n") else b"\n"
    with ExitStack() as stack:
        writers = []
        for plan, out in zip(plans, outs, strict=True):
            d = _HashingSink(stack.enter_context(atomic_write(out, "wb")))
            p = _HashingSink(stack.enter_context(atomic_write(sidecar_path(out), "wb")))
            writers.append(_JsonlOutput(prep, plan, cfg, d, p, eol))
        n = 0
        with open(job_path, "rb") as f, _progress(cfg, "mix: writing", prep.n_user) as bar:
            if f.read(3) == b"\xef\xbb\xbf":  # a UTF-8 byte-order mark is not part of the first row
                sha_in.update(b"\xef\xbb\xbf")
            else:
                f.seek(0)
            for first, lines in _iter_blocks(f, sha_in):
                if n + len(lines) > prep.n_user:
                    break  # the file grew: reported below, before anything is renamed into place
                for w in writers:
                    w.block(first, lines)
                n += len(lines)
                bar.update(len(lines))
            else:
                for w in writers:
                    w.finish()
        if n != prep.n_user or _stat(job_path) != stat0:
            raise InputError(f"the job file changed while it was being mixed ({prep.n_user} rows "
                             f"read, then {n}); run again", path=str(job_path))
    results = []
    for w, out in zip(writers, outs, strict=True):
        results.append({"data": {"path": str(out), "sha256": w.data.sha.hexdigest(), "rows": w.data.rows},
                        "provenance": {"path": str(sidecar_path(out)), "sha256": w.prov.sha.hexdigest(),
                                       "rows": w.prov.rows}})
    return sha_in.hexdigest(), results


def _write_examples(users: list[Example], lines: list[int], prep: _Prepared, plan: _Plan, out: Path, cfg: MixConfig,
                    writer_args: dict[str, Any]) -> dict[str, Any]:
    """Containers without raw rows (JSON array, CSV/TSV, Parquet, datasets): re-encode every row
    with the job's own adapter, which is lossless at the record level."""
    from safemix.formats import write_examples
    from safemix.utils import sha256_file, write_jsonl

    as_json = writer_args["container"] in ("json", "jsonl")
    rows: list[Example] = []
    provs: list[dict[str, Any]] = []
    for prov, u, k in _mixed_rows(prep, plan, lines):
        ex = users[u] if u >= 0 else prep.converted[plan.chosen[k][0]]
        if cfg.inline_provenance:
            extra = {**(ex.metadata.get("extra") or {}),
                     cfg.inline_key: prov if as_json else json.dumps(prov, ensure_ascii=False)}
            ex = Example(ex.messages, {**ex.metadata, "extra": extra})
        rows.append(ex)
        provs.append(prov)
    write_examples(rows, out, **writer_args)
    side = sidecar_path(out)
    write_jsonl(side, provs)
    return {"data": {"path": str(out), "sha256": sha256_file(out), "rows": len(rows)},
            "provenance": {"path": str(side), "sha256": sha256_file(side), "rows": len(provs)}}


def iter_provenance(path: str | Path) -> Iterable[dict[str, Any]]:
    """Rows of a mix provenance sidecar."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)
