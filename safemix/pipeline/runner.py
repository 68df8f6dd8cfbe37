"""`safemix run RECIPE`: every stage in one run directory, content-addressed and resumable.

    runs/<name>/
      run_config.json             the resolved recipe
      profile/profile.json        the job's FormatProfile
      variants/<variant>/         one per (method, ratio[, seed]): none, raw-0.05, template-0.1,
                                  template-0.1-s1 (`seeds: [0, 1]`: the first seed keeps the plain name)
        generate/safety.jsonl     safety rows in the job's format (+ provenance, manifest)
        mix/train.jsonl           the mixed job (+ provenance sidecar, mix_manifest.json)
        train/model/              the finetuned model (+ checkpoints while training)
        eval/results.json         task metric, refusal / attack success per style, retention
      base_samples.jsonl          the base model's answers, shared by every variant's eval
      report/                     comparison.html/.md/.json, sweep.md, fidelity.md and plots over
                                  variants, all written by safemix.eval.report

A stage is skipped when its manifest records the same inputs and config; a run killed
anywhere resumes at the stage it was in (training from its last checkpoint, evaluation
from its last saved batch).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

# The report (tables, plots, fidelity.md) is all eval/report.py's; write_sweep_table stays
# importable from here, as before.
from safemix.eval.report import headline_lines, write_fidelity_table, write_sweep_table  # noqa: F401
from safemix.pipeline.config import RunConfig
from safemix.pipeline.stages import Stage
from safemix.utils import sha256_file, write_json

if TYPE_CHECKING:
    from safemix.console import StageConsole

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Variant:
    """One (method, ratio, seed) of the sweep. `seed` None: the run's single seed (the seeded
    sections' own resolved seeds). With `seeds: [..]` every variant has its seed, and all but
    the first seed of the list add `-s<seed>` to the name, so the first keeps the folder a
    single-seed run would use."""

    method: str
    ratio: float
    seed: int | None = None
    first: bool = True

    @property
    def name(self) -> str:
        base = "none" if self.method == "none" else f"{self.method}-{self.ratio:g}"
        return base if self.first else f"{base}-s{self.seed}"

    def tags(self) -> dict[str, Any]:
        """The eval's tags: method and ratio, and the seed when the run has several."""
        out: dict[str, Any] = {"method": self.method, "ratio": self.ratio}
        if self.seed is not None:
            out["seed"] = self.seed
        return out


def variants(cfg: RunConfig) -> list[Variant]:
    """Every (method, ratio) of the sweep, once per seed (seeds innermost)."""
    pairs: list[tuple[str, float]] = []
    for m in cfg.methods:
        if m == "none":
            pairs.append(("none", 0.0))
        else:
            pairs += [(m, float(r)) for r in cfg.method_ratios.get(m, cfg.ratios)]
    pairs = list(dict.fromkeys(pairs))
    if not cfg.seeds or len(cfg.seeds) == 1:  # one seed: `seeds: [N]` is `seed: N`
        return [Variant(m, r) for m, r in pairs]
    return [Variant(m, r, s, first=i == 0) for m, r in pairs for i, s in enumerate(cfg.seeds)]


def fingerprint(path_or_id: str | None) -> str | None:
    """Content hash of a local file/folder, or the name itself for a hub id."""
    if not path_or_id:
        return None
    p = Path(path_or_id)
    return sha256_file(p) if p.exists() else str(path_or_id)


def apply_testbed(cfg: RunConfig) -> RunConfig:
    """Fill unset paths from a (cached) testbed build: model, job (+ its held-out format), seeds, probes."""
    if not cfg.testbed.name:
        return cfg
    from safemix.errors import ConfigError
    from safemix.eval.config import ProbeSetConfig
    from safemix.testbed.build import build  # the submodule shadows the package-level name

    cfg = copy.deepcopy(cfg)
    from safemix.console import progress_enabled

    tb_config = None
    if cfg.testbed.build:
        from safemix.testbed.config import get_config

        tb_config = get_config(cfg.testbed.name, **cfg.testbed.build)
    tb = Path(build(cfg.testbed.name, out=cfg.testbed.out, config=tb_config, progress=progress_enabled()))
    style = cfg.testbed.job_style
    task = cfg.testbed.job_task or ("agnews" if cfg.testbed.name.startswith("smollm2") else "topic")
    if not cfg.data.train:
        job = tb / "jobs" / f"{task}_{style}.jsonl"
        if cfg.testbed.job_turns > 1 and job.is_file():  # the multi-turn variant, written on demand
            job = _multiturn_job(tb, task, style, cfg.testbed.job_turns)
        if not job.is_file():
            have = sorted(p.name.removesuffix(".jsonl") for p in (tb / "jobs").glob("*.jsonl")
                          if not p.name.endswith((".val.jsonl", ".heldout.jsonl"))) if (tb / "jobs").is_dir() else []
            raise ConfigError(f"testbed {cfg.testbed.name} has no sample job {task}_{style} "
                              f"(it has: {', '.join(have) or 'none'}); set testbed.job_task or data.train")
        cfg.data.train = str(job)
        stem = job.name.removesuffix(".jsonl")
        cfg.data.validation = cfg.data.validation or str(tb / "jobs" / f"{stem}.val.jsonl")
        heldout = tb / "jobs" / f"{stem}.heldout.jsonl"  # the job's held-out paraphrased format
        if cfg.eval.heldout_job is None and heldout.is_file():
            cfg.eval.heldout_job = str(heldout)
    cfg.train.model = cfg.train.model or str(tb)
    pc = cfg.generate.paraphrase
    if "paraphrase" in cfg.methods and pc.backend == "hf" and not pc.model:
        # The paraphrasing LLM defaults to the testbed's base model before its alignment (the
        # smollm2 GGUF): the aligned model declines to rewrite harmful requests. The tiny
        # testbed has no base model; there the field stays unset and generate says so.
        from safemix.testbed.build import read_manifest

        base = (read_manifest(tb) or {}).get("base_model")
        if base and Path(base).exists():
            pc.model = str(base)
    if cfg.generate.seeds == "builtin":
        seeds = tb / (f"seeds_{cfg.testbed.seeds}.jsonl" if cfg.testbed.seeds else "seeds.jsonl")
        if not seeds.is_file():
            have = sorted(p.name.removeprefix("seeds_").removesuffix(".jsonl") for p in tb.glob("seeds_*.jsonl"))
            if not cfg.testbed.seeds:
                raise ConfigError(f"testbed {cfg.testbed.name} at {tb} has no seeds.jsonl; rebuild it "
                                  "(safemix testbed build --force) or set generate.seeds")
            raise ConfigError(f"testbed {cfg.testbed.name} has no seed set {cfg.testbed.seeds!r} "
                              f"(it has: {', '.join(have) or 'only seeds.jsonl'}); unset testbed.seeds for its default")
        cfg.generate.seeds = str(seeds)
    if all(p.source == "builtin" for p in cfg.eval.probes) and (tb / "probes_harmful.jsonl").is_file():
        limits = {p.kind: p.limit for p in cfg.eval.probes}
        cfg.eval.probes = [ProbeSetConfig(source=str(tb / "probes_harmful.jsonl"), kind="harmful",
                                          name="testbed-harmful", limit=limits.get("harmful")),
                           ProbeSetConfig(source=str(tb / "probes_benign.jsonl"), kind="benign",
                                          name="testbed-benign", limit=limits.get("benign"))]
    return cfg


def _multiturn_job(tb: Path, task: str, style: str, turns: int) -> Path:
    """The multi-turn variant of a tiny testbed job, written on demand into the build's jobs folder
    (new files only: nothing the build wrote changes); the corpus seed is the build's."""
    from safemix.errors import ConfigError
    from safemix.testbed.build import read_manifest
    from safemix.testbed.job import TASKS, ensure_multiturn_job

    if task not in TASKS:
        raise ConfigError(f"testbed.job_turns: {turns} needs one of the tiny testbed's jobs ({', '.join(TASKS)}), "
                          f"not {task}")
    try:
        seed = int(((read_manifest(tb) or {}).get("config") or {}).get("seed", 0))
    except (TypeError, ValueError):
        seed = 0
    return ensure_multiturn_job(tb / "jobs", task, style, turns, seed=seed)


def run_dir_of(cfg: RunConfig, run_dir: str | Path | None = None) -> Path:
    """The run directory: `run_dir` (--out), else `output_dir`, else runs/<name>."""
    return Path(run_dir or cfg.output_dir or Path("runs") / cfg.name)


def _dir_field(cfg: RunConfig, run_dir: str | Path | None) -> str:
    return "--out" if run_dir else "output_dir" if cfg.output_dir else "name"


def input_paths(cfg: RunConfig) -> dict[str, str]:
    """The local files and folders a run reads, by recipe field."""
    out: dict[str, str] = {}
    for key, value in (("data.train", cfg.data.train), ("data.validation", cfg.data.validation),
                       ("generate.seeds", None if cfg.generate.seeds == "builtin" else cfg.generate.seeds),
                       ("train.model", cfg.train.model), ("eval.heldout_job", cfg.eval.heldout_job)):
        if value and Path(value).expanduser().exists():
            out[key] = value
    for i, p in enumerate(cfg.eval.probes):
        if p.source != "builtin" and Path(p.source).expanduser().exists():
            out[f"eval.probes[{i}].source"] = p.source
    return out


def check_run_dir(cfg: RunConfig, run_dir: str | Path | None = None) -> Path:
    """The run directory must be a folder (or creatable as one) that holds none of the run's
    inputs: stages delete and rewrite their own folders. Checked by the shared output guard."""
    from safemix.errors import ConfigError
    from safemix.outputs import OutputGuard

    d = run_dir_of(cfg, run_dir)
    g = OutputGuard("run")
    for key, p in input_paths(cfg).items():
        g.input(Path(p).expanduser(), sidecars=False, label=key)
    try:
        g.folder(d.expanduser(), exclusive=True).check()
    except ConfigError as e:
        raise ConfigError(f"{_dir_field(cfg, run_dir)}: {e}") from None
    return d


def preflight(cfg: RunConfig, run_dir: str | Path | None = None, *, require_job: bool = True):
    """Everything that can be checked before a run writes anything: the run directory, and the
    user's job and validation files (read in full) and seed file. Returns the job (None when
    no job is set yet, e.g. a testbed fills it in, or `require_job` is false)."""
    from safemix.errors import ConfigError

    check_run_dir(cfg, run_dir)
    d = cfg.data
    if cfg.generate.seeds != "builtin" and not Path(cfg.generate.seeds).expanduser().exists():
        raise ConfigError(f"generate.seeds: seed file not found: {cfg.generate.seeds}")
    if cfg.eval.heldout_job is not None and not Path(cfg.eval.heldout_job).expanduser().exists():
        raise ConfigError(f"eval.heldout_job: file not found: {cfg.eval.heldout_job}")
    if "job_heldout" in cfg.eval.styles and cfg.eval.heldout_job is None and not cfg.testbed.name:
        raise ConfigError("eval.styles has job_heldout, which needs eval.heldout_job: a few rows of the same "
                          "task in a held-out paraphrase of the job's format")
    if not d.train:
        if require_job and not cfg.testbed.name:
            raise ConfigError("data.train is not set (the user's training file), and no testbed is used")
        return None
    from safemix.formats import read_job

    for key, path in (("data.train", d.train), ("data.validation", d.validation)):
        if path and not Path(path).exists():
            raise ConfigError(f"{key}: file not found: {path}")
    job = read_job(d.train, format=d.format, container=d.container, column_map=d.column_map,
                   max_line_bytes=d.max_line_bytes)
    if d.validation:
        read_job(d.validation, format=d.format, column_map=d.column_map, max_line_bytes=d.max_line_bytes)
    return job


class Runner:
    def __init__(self, cfg: RunConfig, run_dir: str | Path | None = None, console: StageConsole | None = None):
        self.cfg = cfg  # the testbed (if any) fills unset paths when the run starts
        self.run_dir = run_dir
        self.dir = run_dir_of(cfg, run_dir)
        self.console = console  # one line per stage on stdout (the CLI); else log lines
        self.timings: dict[str, float] = {}
        self.skipped: list[str] = []
        self.ran: list[str] = []

    # ------------------------------------------------------------------ helpers
    def _stage(self, sub: str, name: str, inputs: dict, config: Any, keep_partial: bool = False) -> Stage:
        cfgd = asdict(config) if dataclasses.is_dataclass(config) else config
        return Stage(self.dir / sub, name, inputs=inputs, config=cfgd, keep_partial=keep_partial)

    def _run_stage(self, st: Stage, fn) -> Stage:
        label = f"{st.dir.relative_to(self.dir)}"
        if st.done():
            if self.console:
                self.console.skipped(label)
            else:
                log.info("[skip] %s (inputs and config unchanged)", label)
            self.skipped.append(label)
            return st
        if self.console:
            self.console.start(label)
        else:
            log.info("[run ] %s", label)
        t0 = time.time()
        with st.running():
            fn(st)
        self.timings[label] = round(time.time() - t0, 2)
        if self.console:
            self.console.done(label, self.timings[label])
        self.ran.append(label)
        return st

    def job(self):
        from safemix.formats import read_job

        d = self.cfg.data
        if not d.train:
            from safemix.errors import ConfigError

            raise ConfigError("data.train is not set (the user's training file), and no testbed is used")
        return read_job(d.train, format=d.format, container=d.container, column_map=d.column_map,
                        max_line_bytes=d.max_line_bytes)

    # ------------------------------------------------------- stage configs
    # The recipe's section, with what the sweep owns filled in per variant. Seeds are the
    # sections' own: RunConfig resolved them (a section's seed if the recipe set it, else `seed`);
    # a variant of a several-seed run gives its seed to the sections that do not set their own.
    def _seed(self, sec: str, v: Variant | None) -> int:
        if v is None or v.seed is None:
            return getattr(self.cfg, sec).seed
        return self.cfg.section_seed(sec, v.seed)

    def generate_config(self, v: Variant):
        return dataclasses.replace(self.cfg.generate, method=v.method, n=None, ratio=v.ratio,
                                   seed=self._seed("generate", v))

    def mix_config(self, v: Variant, safety: str | Path):
        return dataclasses.replace(self.cfg.mix, ratio=v.ratio, count=None, safety=str(safety),
                                   safety_provenance=None, seed=self._seed("mix", v))

    def train_config(self, data: str | Path, out_dir: str | Path, v: Variant | None = None):
        return dataclasses.replace(self.cfg.train, data=[str(data)], output_dir=str(out_dir),
                                   data_format=self.cfg.data.format, column_map=self.cfg.data.column_map,
                                   seed=self._seed("train", v))

    # ------------------------------------------------------------------- stages
    def profile(self, job) -> tuple[Any, Stage]:
        from safemix.formats.profile import FormatProfile, infer_profile

        pc = self.cfg.profile
        st = self._stage("profile", "profile", {"job": self.job_sha}, pc)

        def fn(st: Stage) -> None:
            prof = infer_profile(job.examples, job.format, sample_size=pc.sample_size,
                                 max_templates=pc.max_templates, min_variant_share=pc.min_variant_share,
                                 max_labels=pc.max_labels, seed=pc.seed)
            write_json(st.path("profile.json"), prof.to_dict())
            st.outputs["profile"] = "profile.json"

        self._run_stage(st, fn)
        return FormatProfile.from_dict(json.loads(st.path("profile.json").read_text())), st

    def generate(self, v: Variant, job, profile, vdir: str) -> Path:
        from safemix.generate import generate_with_report, write_generation

        g = self.generate_config(v)
        seeds_fp = fingerprint(g.seeds) if g.seeds != "builtin" else "builtin"
        st = self._stage(f"{vdir}/generate", "generate", {"job": self.job_sha, "seeds": seeds_fp}, g)
        out_name = "safety" + Path(job.path).suffix

        def fn(st: Stage) -> None:
            res = generate_with_report(job, g, profile=profile)
            write_generation(res, job, st.path(out_name))
            st.outputs.update({"safety": out_name, "manifest": "safety.manifest.json"})

        self._run_stage(st, fn)
        return st.path(out_name)

    def mix(self, v: Variant, safety: Path, vdir: str) -> Path:
        from safemix.mix.core import mix_files

        m = self.mix_config(v, safety)
        st = self._stage(f"{vdir}/mix", "mix", {"job": self.job_sha, "safety": sha256_file(safety)}, m)
        out_name = "train" + Path(self.cfg.data.train).suffix

        def fn(st: Stage) -> None:
            d = self.cfg.data
            mix_files(d.train, st.path(out_name), m, job_format=d.format, container=d.container,
                      column_map=d.column_map, max_line_bytes=d.max_line_bytes)
            st.outputs["mixed"] = out_name

        self._run_stage(st, fn)
        return st.path(out_name)

    def train(self, data: Path, vdir: str, v: Variant | None = None) -> Path:
        from safemix.train import run_training

        sdir = self.dir / vdir / "train"
        t = self.train_config(data, sdir, v)
        ident = asdict(t)
        ident.pop("output_dir")
        st = self._stage(f"{vdir}/train", "train", {"data": sha256_file(data), "model": self.model_fp}, ident,
                         keep_partial=True)

        def fn(st: Stage) -> None:
            run_training(t)
            st.outputs["model"] = "model"

        self._run_stage(st, fn)
        return st.path("model")

    def evaluate(self, model: str, vdir: str, tags: dict[str, Any], system_prefix: str | None = None) -> Path:
        from safemix.eval import evaluate_config

        sdir = self.dir / vdir / "eval"
        d = self.cfg.data
        e = dataclasses.replace(self.cfg.eval, model=model, output_dir=str(sdir), job=d.train,
                                validation=d.validation, data_format=d.format, column_map=d.column_map,
                                base_model=self.cfg.train.model if self.cfg.eval_base else None,
                                label=vdir.split("/")[-1], tags=tags,
                                system_prefix=system_prefix or self.cfg.eval.system_prefix)
        ident = asdict(e)
        ident.pop("output_dir")
        if ident["system_prefix"] is None:  # absent from stages written before the field existed
            ident.pop("system_prefix")
        inputs = {"model": fingerprint(model), "base": self.model_fp, "job": self.job_sha,
                  "validation": fingerprint(d.validation)}
        if e.heldout_job:
            inputs["heldout_job"] = fingerprint(e.heldout_job)
        st = self._stage(f"{vdir}/eval", "eval", inputs, ident, keep_partial=True)

        def fn(st: Stage) -> None:
            self._seed_base_samples(st.dir)
            evaluate_config(e)
            self._collect_base_samples(st.dir)
            st.outputs["results"] = "results.json"

        self._run_stage(st, fn)
        return st.dir

    # The base model answers the same probes in every variant: generate them once.
    def _seed_base_samples(self, eval_dir: Path) -> None:
        cache = self.dir / "base_samples.jsonl"
        target = eval_dir / "samples.jsonl"
        if cache.exists() and not target.exists():
            target.write_bytes(cache.read_bytes())

    def _collect_base_samples(self, eval_dir: Path) -> None:
        from safemix.utils import atomic_write

        cache = self.dir / "base_samples.jsonl"
        seen: dict[str, str] = {}
        for p in (cache, eval_dir / "samples.jsonl"):
            if p.exists():
                for line in p.read_text(encoding="utf-8").splitlines():
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        continue
                    if rec.get("role") == "base" and "generation" in rec:
                        seen.setdefault(rec["id"], line)
        with atomic_write(cache) as f:
            f.writelines(x + "\n" for x in seen.values())

    # ---------------------------------------------------------------------- run
    def run(self) -> dict[str, Any]:
        from safemix import __version__
        from safemix.errors import ConfigError
        from safemix.models import check_model_path

        t0 = time.time()
        # Every check before anything is written: the user's own inputs first (before a
        # testbed build), then the paths the testbed filled in.
        job = preflight(self.cfg, self.run_dir)
        self.cfg = apply_testbed(self.cfg)
        check_run_dir(self.cfg, self.run_dir)
        if "job_heldout" in self.cfg.eval.styles and self.cfg.eval.heldout_job is None:
            raise ConfigError("eval.styles has job_heldout, which needs eval.heldout_job; the testbed has no "
                              "held-out format for this job (set eval.heldout_job, or drop job_heldout)")
        if job is None:
            job = self.job()
        if not self.cfg.train.model:
            raise ConfigError("train.model is not set: give a Hugging Face id, a model folder or a .gguf file")
        try:
            check_model_path(self.cfg.train.model)
        except ConfigError as e:
            raise ConfigError(f"train.model: {e}") from None
        self.job_sha = sha256_file(self.cfg.data.train)
        self.model_fp = fingerprint(self.cfg.train.model)
        self.dir.mkdir(parents=True, exist_ok=True)
        write_json(self.dir / "run_config.json", {"safemix": __version__, **asdict(self.cfg)})
        profile, _ = self.profile(job)
        eval_dirs = []
        for v in variants(self.cfg):
            vdir = f"variants/{v.name}"
            prefix = None
            if v.method == "none":
                data = Path(self.cfg.data.train)
            else:
                safety = self.generate(v, job, profile, vdir)
                prefix = inference_prefix(safety)
                data = self.mix(v, safety, vdir)
            model = self.train(data, vdir, v)
            eval_dirs.append(self.evaluate(str(model), vdir, v.tags(), system_prefix=prefix))
        report = self.report(eval_dirs)
        summary = {"run_dir": str(self.dir), "variants": [v.name for v in variants(self.cfg)],
                   "headline": headline_lines(eval_dirs), "eval_dirs": [str(d) for d in eval_dirs],
                   "ran": self.ran, "skipped": self.skipped, "stage_seconds": self.timings,
                   "total_seconds": round(time.time() - t0, 2), "report": {k: str(p) for k, p in report.items()}}
        write_json(self.dir / "run_summary.json", summary)
        return summary

    def report(self, eval_dirs: list[Path]) -> dict[str, Path]:
        """The run's report, all of it drawn by `safemix.eval.report`: `compare_runs` (headline
        style `job`: comparison.html/.md/.json, sweep.md and the sweep, over-refusal and trade-off
        plots) and `write_fidelity_table` (fidelity.md, the form fidelity of each variant's rows)."""
        from safemix.eval.report import compare_runs
        from safemix.generate.fidelity import PARTS

        t0 = time.time()
        if self.console:
            self.console.start("report")
        out = compare_runs(eval_dirs, self.dir / "report", style="job", title=f"safemix run: {self.cfg.name}")
        fid = write_fidelity_table(eval_dirs, self.dir / "report" / "fidelity.md", PARTS)
        if fid is not None:
            out["fidelity"] = fid
        if self.console:
            self.console.done("report", time.time() - t0)
        return out

    def n_stages(self) -> int:
        """Stages this run goes through (run or skipped, the report last), for the console's [k/n]."""
        return 2 + sum(2 if v.method == "none" else 4 for v in variants(self.cfg))


def run(cfg: RunConfig, run_dir: str | Path | None = None, console: StageConsole | None = None) -> dict[str, Any]:
    """Run the whole pipeline for `cfg`; returns a summary (stages run/skipped, timings, report).
    With a `console`, each stage prints one line there (`safemix run` passes one)."""
    return Runner(cfg, run_dir, console).run()


def inference_prefix(safety: Path) -> str | None:
    """What the provider puts at the start of the finetuned model's system prompt at inference,
    from a variant's generation manifest: BEA's secret trigger (`bea_trigger`), else None."""
    from safemix.generate.core import sidecar_paths
    from safemix.manifest import read_manifest

    _, manifest = sidecar_paths(safety)
    if not manifest.is_file():
        return None
    return read_manifest(manifest, stage="generate").get("bea_trigger") or None
