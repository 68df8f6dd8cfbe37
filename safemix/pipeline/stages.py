"""Content-addressed stages: a stage whose inputs and config hash match its manifest is
skipped; a stage killed half-way has no manifest and runs again (a training stage resumes
from its checkpoints when its key is unchanged, else starts clean).

    st = Stage(run_dir / "generate", "generate", inputs={"job": job_sha}, config=asdict(cfg))
    if not st.done():
        with st.running():
            ... write outputs into st.dir ...
            st.outputs["safety"] = "safety.jsonl"
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safemix.manifest import make_manifest, write_manifest
from safemix.utils import stable_hash, write_json

MANIFEST = "stage_manifest.json"
STARTED = "stage_started.json"  # written when a stage starts, removed when it finishes


@dataclass
class Stage:
    dir: Path
    name: str
    inputs: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    keep_partial: bool = False  # e.g. training checkpoints that a rerun resumes from

    @property
    def key(self) -> str:
        from safemix import __version__

        return stable_hash({"name": self.name, "inputs": self.inputs, "config": self.config,
                            "safemix": __version__})

    def manifest(self) -> dict[str, Any] | None:
        """The stage record (`safemix.manifest`, stage "pipeline"; one written before the
        envelope is read as it is); None when missing or unreadable (the stage runs again)."""
        from safemix.manifest import ManifestError, read_manifest

        p = Path(self.dir) / MANIFEST
        if not p.exists():
            return None
        try:
            return read_manifest(p, stage="pipeline", legacy=True)
        except ManifestError:
            return None

    def done(self) -> bool:
        m = self.manifest()
        if m is None or m.get("key") != self.key:
            return False
        self.outputs = m.get("outputs", {})
        return all((Path(self.dir) / v).exists() for v in self.outputs.values() if isinstance(v, str))

    def path(self, name: str) -> Path:
        return Path(self.dir) / name

    def _key_on_disk(self) -> str | None:
        """The key of whatever last ran in this folder: its manifest if it finished, else the
        marker it wrote when it started (a stage killed half-way)."""
        m = self.manifest()
        if m is not None:
            return m.get("key")
        try:
            return json.loads((Path(self.dir) / STARTED).read_text()).get("key")
        except (OSError, ValueError):
            return None

    @contextlib.contextmanager
    def running(self) -> Iterator[Stage]:
        d = Path(self.dir)
        # Partial outputs (training checkpoints) are kept only for a rerun of the same stage key;
        # anything else in the folder is stale or half-written output of another config.
        if d.exists() and not (self.keep_partial and self._key_on_disk() == self.key):
            shutil.rmtree(d)
        d.mkdir(parents=True, exist_ok=True)
        (d / MANIFEST).unlink(missing_ok=True)
        write_json(d / STARTED, {"name": self.name, "key": self.key})
        t0 = time.time()
        yield self
        # `name` is the pipeline stage (the envelope's `stage` is "pipeline": this record's shape);
        # `finished` (local time) is kept beside the envelope's `created` (UTC)
        write_manifest(d / MANIFEST, make_manifest("pipeline", {
            "name": self.name, "key": self.key, "inputs": self.inputs, "config": self.config,
            "outputs": self.outputs, "seconds": round(time.time() - t0, 2),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}))
        (d / STARTED).unlink(missing_ok=True)
