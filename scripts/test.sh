#!/usr/bin/env bash
# Usage: bash scripts/test.sh [pytest args]   -> sets up .venv, lints, runs the default test tier.
# The default tier is unit + integration (tiny models, CPU); `gpu` tests skip without a GPU,
# `slow` ones run only with -m slow.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
ruff check safemix tests scripts
lint-imports --no-cache  # the layering contracts in pyproject.toml ([tool.importlinter])
python -m pytest -q -m "not slow" -p no:cacheprovider "$@"
