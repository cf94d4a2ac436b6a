#!/usr/bin/env bash
# Set everything up, then run the course's main job on the offline default:
# execute every notebook headless and write the pictures they draw to course_output/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec .venv/bin/dalle-edu notebooks --out course_output "$@"
