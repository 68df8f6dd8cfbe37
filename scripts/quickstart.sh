#!/usr/bin/env bash
# Usage: bash scripts/quickstart.sh [key=value ...]
# Sets up .venv, builds the CPU testbed (cached), and runs safemix/recipes/quickstart.yaml:
# no mitigation vs raw vs template safety mixing at 5% and 10%, the raw_system and
# template_benign controls at 10%, then the report (sweep.md: refusal and over-refusal per style).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/setup.sh
. .venv/bin/activate
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
# The testbed model is tiny: one torch thread is fastest, and with two threads on a 2-core
# machine that is doing anything else, steps were measured 13x slower (thread contention).
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
safemix run safemix/recipes/quickstart.yaml "$@"
echo
cat runs/quickstart/report/sweep.md 2>/dev/null || true
echo
echo "report: runs/quickstart/report/comparison.html  (plot: runs/quickstart/report/pareto.png)"
echo "quickstart took $(( $(date +%s) - start )) s"
