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
  # torch first, and explicitly: an unpinned torch (or plain torch==V from PyPI) is a
  # multi-GB CUDA build. With an NVIDIA GPU we take PyPI's CUDA build; without one we ask
  # for the CPU build (V+cpu): from pip's configured sources (a local wheel), else from
  # PyTorch's CPU index. If neither has it we stop rather than download CUDA torch;
  # SAFEMIX_TORCH_SPEC overrides all of this (e.g. SAFEMIX_TORCH_SPEC="torch==2.13.0").
  TV=${SAFEMIX_TORCH_VERSION:-2.13.0}
  if [ -n "${SAFEMIX_TORCH_SPEC:-}" ]; then
    pip install -q "$SAFEMIX_TORCH_SPEC"
  elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    pip install -q "torch==$TV"
  elif ! pip install -q "torch==$TV+cpu" 2>/dev/null \
       && ! pip install -q --timeout 30 --retries 1 --index-url "${SAFEMIX_TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}" "torch==$TV+cpu"; then
    echo "setup: no CPU build of torch $TV could be installed, and this machine has no NVIDIA GPU." >&2
    echo "setup: install a torch first (then rerun), or set SAFEMIX_TORCH_SPEC to a pip requirement." >&2
    exit 1
  fi
fi
if ! python -c "import safemix, trl, peft, deepspeed, sentence_transformers, pytest" >/dev/null 2>&1 \
   || [ pyproject.toml -nt .venv/.safemix-installed ]; then
  pip install -q -e ".[ml,dev]"
  touch .venv/.safemix-installed
fi
# The report's browser test drives a system chromium (tests/eval/test_report_browser.py; it
# skips without one). Install Debian/Ubuntu's package where that is possible: apt-get present
# and root, or passwordless sudo. Never fatal: setup succeeds without the browser.
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1 \
   && command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO="none"; fi
  fi
  if [ "$SUDO" != "none" ]; then
    if ! { $SUDO apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 \
           || { $SUDO apt-get update -q >/dev/null 2>&1 \
                && $SUDO apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1; }; }; then
      echo "setup: could not install chromium with apt-get; the report's browser test will skip." >&2
    fi
  else
    echo "setup: chromium is not installed (needs root or sudo for apt-get); the report's browser test will skip." >&2
  fi
fi
