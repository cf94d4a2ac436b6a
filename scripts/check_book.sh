#!/usr/bin/env bash
# Build the book and look at every page in headless Chromium (maths, pictures, MyST, and
# at 1280 px: nothing wider than the column, no output picture shown below its size).
# Arguments go to scripts/check_book.py, e.g. --html _build/html --out /tmp/shots.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
exec "$PY" scripts/check_book.py "$@"
