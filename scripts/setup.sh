#!/usr/bin/env bash
# Usage: bash scripts/setup.sh        -> creates .venv with safemix[ml,dev] installed (CPU torch).
# Idempotent: re-running only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
if ! python -c "import torch" 2>/dev/null; then
  # Pin first: an unpinned torch would pull a multi-GB CUDA build on a CPU-only machine.
  # Where a CUDA build is wanted, install it before running this script.
  pip install -q "torch==${SAFEMIX_TORCH_VERSION:-2.13.0}"
fi
if ! python -c "import safemix, trl, peft, deepspeed, sentence_transformers, pytest" 2>/dev/null \
   || [ pyproject.toml -nt .venv/.safemix-installed ]; then
  pip install -q -e ".[ml,dev]"
  touch .venv/.safemix-installed
fi
