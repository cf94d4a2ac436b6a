#!/usr/bin/env bash
# Create .venv (once) and install the course package with its dev tools into it.
# Sourced by scripts/course.sh and scripts/test.sh; safe to run again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "dalle_edu needs Python 3.10 or newer; '$PY' is $("$PY" --version 2>&1 || echo missing)." >&2
  echo "Set PYTHON=/path/to/python3.x and run again." >&2
  exit 2
fi
if [ ! -x .venv/bin/python ]; then
  if ! "$PY" -m venv .venv; then
    echo "Could not create a virtual environment. On Debian/Ubuntu: sudo apt install python3-venv" >&2
    exit 2
  fi
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet --progress-bar off -e ".[dev]"
