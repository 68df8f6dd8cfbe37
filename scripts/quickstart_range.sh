#!/usr/bin/env bash
# Usage: bash scripts/quickstart_range.sh [key=value ...]
# The quickstart on three testbed builds (build seeds 0, 1, 2; seed 0 is the default build), then
# the min-max of every cell over them (scripts/sweep_range.py): the spread a reader should expect
# between machines and builds. Extra arguments go to every run (e.g. testbed.job_style=aoa).
# SAFEMIX_RANGE_BUILDS="2 0 1" changes the order (two ranges in parallel share the cached builds).
# About 3 x (build + sweep): ~30 min on a quiet 2-core box.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
tag=${SAFEMIX_RANGE_TAG:-quickstart_range}
runs=()
for s in ${SAFEMIX_RANGE_BUILDS:-0 1 2}; do
  safemix run safemix/recipes/quickstart.yaml name=${tag}_b$s "testbed.build={seed: $s}" "$@"
  runs+=("runs/${tag}_b$s")
done
python scripts/sweep_range.py "${runs[@]}" --kinds refused,complied,OR | tee "runs/${tag}.md"
echo "range table: runs/${tag}.md"
