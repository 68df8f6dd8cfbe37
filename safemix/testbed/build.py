"""Build a testbed: corpus -> tokenizer -> pretraining (complies) -> alignment (refuses) -> eval.

The result is a normal Hugging Face model directory (model, tokenizer with chat template,
generation config) plus the corpus, seed and probe files, sample jobs, and `testbed.json`.
Builds are cached by the hash of their configuration and written atomically: a directory
appears only when complete.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import shutil
import time
from pathlib import Path
from typing import Any

from safemix.errors import ConfigError
from safemix.testbed.config import TestbedConfig, get_config
from safemix.testbed.corpus import CORPUS_VERSION
from safemix.testbed.smollm2 import SmolConfig

log = logging.getLogger(__name__)
BUILD_VERSION = 1
# What a tiny/micro build writes besides the model (seed sets, sample jobs, held-out job formats);
# part of their cache key only, so that a change here leaves smollm2 builds cached.
# 2: seed sets (seedsets.py), the inbox job, held-out job formats, the qa job's new template.
TINY_OUTPUTS_VERSION = 2
MANIFEST = "testbed.json"


def config_hash(cfg: TestbedConfig | SmolConfig) -> str:
    from safemix.utils import stable_hash

    key: dict[str, Any] = {"corpus": CORPUS_VERSION, "build": BUILD_VERSION}
    if isinstance(cfg, SmolConfig):  # plus the input files the config only names (their sizes)
        key |= {"config": cfg.key_dict(), "inputs": cfg.hash_extra()}
    else:
        key |= {"config": cfg.to_dict(), "outputs": TINY_OUTPUTS_VERSION}
    return stable_hash(key)[:12]


def cache_root() -> Path:
    """$SAFEMIX_TESTBED_CACHE, else $XDG_CACHE_HOME/safemix/testbed, else ~/.cache/safemix/testbed."""
    if os.environ.get("SAFEMIX_TESTBED_CACHE"):
        return Path(os.environ["SAFEMIX_TESTBED_CACHE"]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "safemix" / "testbed"


def default_dir(cfg: TestbedConfig | SmolConfig) -> Path:
    return cache_root() / f"{cfg.name}-{config_hash(cfg)}"


def read_manifest(path: str | Path) -> dict[str, Any] | None:
    """The testbed.json of the build in `path` (one written before the manifest envelope is read
    as it is); None when there is none or it cannot be read (`safemix.manifest.read_manifest`)."""
    from safemix.manifest import ManifestError
    from safemix.manifest import read_manifest as read

    p = Path(path) / MANIFEST
    if not p.is_file():
        return None
    try:
        return read(p, stage="testbed", legacy=True)
    except ManifestError:
        return None


@contextlib.contextmanager
def torch_settings(threads: int):
    """Fixed thread count and deterministic algorithms, restored afterwards."""
    import torch

    old_threads, old_det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det)


def build(name: str = "tiny", out: str | Path | None = None, force: bool = False,
          config: TestbedConfig | SmolConfig | None = None, progress: bool = True) -> Path:
    """Build (or return the cached) testbed `name`; returns its model directory.

    A directory that already holds this exact build is returned at once; one holding
    something else is only replaced with `force=True`.
    """
    cfg = config or get_config(name)
    key = config_hash(cfg)
    out = Path(out).expanduser() if out else default_dir(cfg)
    man = read_manifest(out)
    if out.exists() and not force:
        if man and man.get("config_hash") == key:
            log.info("testbed %s is cached at %s", cfg.name, out)
            return out
        empty_dir = out.is_dir() and not any(out.iterdir())
        if not empty_dir:
            what = f"a different testbed build (hash {man.get('config_hash')})" if man else "other files"
            raise ConfigError(f"{out} already holds {what}; pass --force to replace it")
    from safemix.outputs import staging_dir

    # built beside and renamed in; the temp folder is named for this process, so a build that
    # was killed is cleaned away by the next one (safemix.utils.clean_stale_temps)
    with staging_dir(out) as tmp:
        if isinstance(cfg, SmolConfig):
            from safemix.testbed.smollm2 import build_into

            build_into(tmp, cfg, key, progress)
        else:
            _build_into(tmp, cfg, key, progress)
        if out.exists():  # force: swap the old build out only once the new one is complete
            old = out.with_name(f".{out.name}.safemix-{os.getpid()}.old.tmp")
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    return out


def _build_into(out: Path, cfg: TestbedConfig, key: str, progress: bool) -> None:
    from safemix.manifest import write_manifest
    from safemix.testbed import corpus as C
    from safemix.testbed.tokenizer import train_tokenizer

    t0 = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        timings[name] = round(now - since, 2)
        return now

    splits = C.make_splits(cfg.seed)
    pre = list(C.stage_records(splits, "pretrain", cfg.pretrain.examples, cfg.seed))
    ali = list(C.stage_records(splits, "align", cfg.align.examples, cfg.seed))
    seed_info = _write_data(out, cfg, splits, pre, ali)
    t = lap("corpus", t0)

    # The tokenizer learns from the pretraining documents only, like a real one.
    tok = train_tokenizer((r.prompt_text() + r.completion_text() for r in pre), cfg.vocab_size)
    t = lap("tokenizer", t)

    model, trained = _train_and_measure(cfg, tok, splits, pre, ali, progress, lap, t)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    tok.save_pretrained(out)
    timings["total"] = round(time.perf_counter() - t0, 2)
    write_manifest(out / MANIFEST, _tiny_manifest(out, cfg, key, splits, pre, ali, len(tok), seed_info,
                                                  trained, timings))


def _write_data(out: Path, cfg: TestbedConfig, splits, pre: list, ali: list) -> dict[str, Any]:
    """The corpus, seed sets, probes and sample jobs a tiny build writes; returns the seed sets' info."""
    from safemix.testbed import corpus as C
    from safemix.testbed.job import STYLES, TASKS, heldout_path, write_job
    from safemix.testbed.seedsets import write_seed_sets
    from safemix.utils import write_jsonl

    (out / "corpus").mkdir()
    write_jsonl(out / "corpus" / "pretrain.jsonl", (r.to_dict() for r in pre))
    write_jsonl(out / "corpus" / "align.jsonl", (r.to_dict() for r in ali))
    seed_info = write_seed_sets(out, splits, cfg.seed)
    write_jsonl(out / "probes_harmful.jsonl", C.probe_records(splits, "harmful"))
    write_jsonl(out / "probes_benign.jsonl", C.probe_records(splits, "benign"))
    for task in TASKS:
        for style in STYLES:
            job = out / "jobs" / f"{task}_{style}.jsonl"
            write_job(style, job, seed=cfg.seed, task=task, heldout_out=heldout_path(job))
    return seed_info


def _train_and_measure(cfg: TestbedConfig, tok, splits, pre: list, ali: list, progress: bool,
                       lap, t: float) -> tuple[Any, dict[str, Any]]:
    """Pretrain, measure, align, measure (timed laps); returns the model and what to record."""
    from safemix.testbed.evaluate import evaluate_behaviour
    from safemix.testbed.train import new_model, train_stage

    with torch_settings(cfg.threads):
        model = new_model(cfg, tok)
        n_params = sum(p.numel() for p in model.parameters())
        stages: dict[str, Any] = {}
        stages["pretrain"] = train_stage(model, tok, pre, cfg.pretrain, cfg, "pretrain", progress)
        t = lap("pretrain", t)
        ev = {"n_harmful": cfg.eval_harmful, "n_benign": cfg.eval_benign, "n_contrast": cfg.eval_contrast,
              "seed": cfg.seed}
        after_pretrain = evaluate_behaviour(model, tok, splits, **ev)
        t = lap("eval_pretrain", t)
        stages["align"] = train_stage(model, tok, ali, cfg.align, cfg, "align", progress)
        t = lap("align", t)
        behaviour = evaluate_behaviour(model, tok, splits, **ev, samples=12)
        t = lap("eval_final", t)
    return model, {"parameters": n_params, "stages": stages, "after_pretrain": after_pretrain,
                   "behaviour": behaviour}


def _tiny_manifest(out: Path, cfg: TestbedConfig, key: str, splits, pre: list, ali: list,
                   vocab_size: int, seed_info: dict[str, Any], trained: dict[str, Any],
                   timings: dict[str, float]) -> dict[str, Any]:
    """The tiny build's testbed.json (`safemix.manifest`, stage "testbed")."""
    import torch
    import transformers

    from safemix.manifest import make_manifest
    from safemix.testbed import corpus as C
    from safemix.testbed.evaluate import check_requirements
    from safemix.testbed.job import STYLES, TASKS
    from safemix.utils import sha256_file

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    behaviour = trained["behaviour"]
    return make_manifest("testbed", {
        "name": cfg.name, "config_hash": key, "config": cfg.to_dict(),
        "corpus_version": C.CORPUS_VERSION, "build_version": BUILD_VERSION, "outputs_version": TINY_OUTPUTS_VERSION,
        "parameters": trained["parameters"], "vocab_size": vocab_size,
        "corpus": {"pretrain": len(pre), "align": len(ali),
                   "splits": {fam: {k: len(v) for k, v in getattr(splits, fam).items()}
                              for fam in ("harmful", "contrast", "benign")},
                   "job_sentences": len(splits.job_topic),
                   "sha256": {"pretrain": sha256_file(out / "corpus" / "pretrain.jsonl"),
                              "align": sha256_file(out / "corpus" / "align.jsonl")}},
        "training": trained["stages"],
        "behaviour_after_pretrain": {k: v for k, v in trained["after_pretrain"].items() if k != "samples"},
        "behaviour": behaviour,
        "requirements_met": check_requirements(behaviour),
        "build_seconds": timings,
        "machine": {"cpus": os.cpu_count(), "torch_threads": cfg.threads,
                    "loadavg_at_end": [round(x, 2) for x in load] if load else None,
                    "python": platform.python_version(), "torch": torch.__version__,
                    "transformers": transformers.__version__},
        "files": {"seeds": "seeds.jsonl", "seed_sets": seed_info, "probes_harmful": "probes_harmful.jsonl",
                  "probes_benign": "probes_benign.jsonl",
                  "jobs": {f"{t}_{s}": f"jobs/{t}_{s}.jsonl" for t in TASKS for s in STYLES},
                  "heldout_jobs": {f"{t}_{s}": f"jobs/{t}_{s}.heldout.jsonl" for t in TASKS for s in STYLES}},
    })
