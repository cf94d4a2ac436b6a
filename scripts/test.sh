#!/usr/bin/env bash
# Set everything up, then run every test: pytest on the package, every notebook
# executed by nbval under the smoke preset, and the book built with warnings as errors.
# Two workers (pytest-xdist), each taking whole files: a notebook's cells share one kernel
# and run in order on one worker, and the book is built once.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export DALLE_EDU_PRESET=smoke TF_CPP_MIN_LOG_LEVEL=3 MPLBACKEND=Agg PYTHONHASHSEED=0
exec .venv/bin/python -m pytest tests notebooks -n "${DALLE_EDU_TEST_WORKERS:-2}" --dist loadscope \
  --nbval-lax --nbval-current-env --nbval-cell-timeout=600 --durations=15 "$@"
