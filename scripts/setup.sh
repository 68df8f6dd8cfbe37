#!/usr/bin/env bash
# Usage: bash scripts/setup.sh        -> creates .venv with safemix[ml,dev,serve,ray] installed (CPU
# torch), plus Debian's chromium and postgresql where apt-get may be used (for the browser and
# PostgreSQL tests; they skip without them). Idempotent: re-running only installs what is missing.
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
# serve: the fine-tuning service (`safemix serve/worker/keys`); ray: its Ray executor (tests/service).
if ! python -c "import safemix, trl, peft, deepspeed, sentence_transformers, pytest, fastapi, sqlalchemy, alembic, openai, ray" >/dev/null 2>&1 \
   || [ pyproject.toml -nt .venv/.safemix-installed ]; then
  pip install -q -e ".[ml,dev,serve,ray]"
  touch .venv/.safemix-installed
fi
# System packages some tests drive, from Debian/Ubuntu's apt-get where that is possible (root, or
# passwordless sudo). Never fatal: setup succeeds without them, and the tests that need them skip.
APT_SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then APT_SUDO="sudo -n"; else APT_SUDO="none"; fi
fi
APT_UPDATED=0
apt_install() {  # apt_install PACKAGE WHAT-SKIPS-WITHOUT-IT
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: $1 is not installed and there is no apt-get here; $2 will skip." >&2
  elif [ "$APT_SUDO" = "none" ]; then
    echo "setup: $1 is not installed (needs root or sudo for apt-get); $2 will skip." >&2
  elif ! $APT_SUDO apt-get install -y -q --no-install-recommends "$1" >/dev/null 2>&1 \
       && ! { [ "$APT_UPDATED" = 0 ] && APT_UPDATED=1 && $APT_SUDO apt-get update -q >/dev/null 2>&1 \
              && $APT_SUDO apt-get install -y -q --no-install-recommends "$1" >/dev/null 2>&1; }; then
    echo "setup: could not install $1 with apt-get; $2 will skip." >&2
  fi
  return 0
}
# The report's and the service dashboard's browser tests drive a system chromium
# (tests/eval/test_report_browser.py, tests/service/test_dashboard_browser.py).
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  apt_install chromium "the browser tests"
fi
# The service's PostgreSQL tests (integration tier) start a throwaway cluster with initdb/pg_ctl
# (safemix/service/pgcluster.py looks on PATH and in /usr/lib/postgresql/*/bin).
if ! command -v initdb >/dev/null 2>&1 && ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  apt_install postgresql "the PostgreSQL tests of tests/service"
fi
