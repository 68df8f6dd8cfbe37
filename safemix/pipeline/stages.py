"""Content-addressed stages: a stage whose inputs and config hash match its manifest is
skipped; a stage killed half-way has no manifest and runs again.

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

from safemix.utils import stable_hash, write_json

MANIFEST = "stage_manifest.json"


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
        p = Path(self.dir) / MANIFEST
        if not p.exists():
            return None
        try:
            return json.loads(p.read_text())
        except ValueError:
            return None

    def done(self) -> bool:
        m = self.manifest()
        if m is None or m.get("key") != self.key:
            return False
        self.outputs = m.get("outputs", {})
        return all((Path(self.dir) / v).exists() for v in self.outputs.values() if isinstance(v, str))

    def path(self, name: str) -> Path:
        return Path(self.dir) / name

    @contextlib.contextmanager
    def running(self) -> Iterator[Stage]:
        d = Path(self.dir)
        old = self.manifest()
        if d.exists() and not self.keep_partial:
            shutil.rmtree(d)  # stale or half-written outputs of another config
        elif old is not None and old.get("key") != self.key and d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True, exist_ok=True)
        (d / MANIFEST).unlink(missing_ok=True)
        t0 = time.time()
        yield self
        write_json(d / MANIFEST, {"name": self.name, "key": self.key, "inputs": self.inputs,
                                  "config": self.config, "outputs": self.outputs,
                                  "seconds": round(time.time() - t0, 2), "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})
