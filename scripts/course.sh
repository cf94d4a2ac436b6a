#!/usr/bin/env bash
# Set everything up, then run the course's main job on the offline default: the
# text-to-image model shipped in the package ("diffusion", trained by `dalle-edu train
# --model diffusion --preset cpu`)
# draws a grid of prompts into course_output/prompt_grid.png.
# More: `.venv/bin/dalle-edu train --preset cpu` trains a GAN of your own (about 10 minutes on a
# laptop); `.venv/bin/dalle-edu notebooks --out course_output` runs every chapter headless.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
mkdir -p course_output
exec .venv/bin/dalle-edu generate \
  "a big red circle at the top left" \
  "a small yellow square in the center" \
  "a large cyan triangle at the bottom right" \
  "a blue circle" \
  "a green triangle" \
  "an orange square at the top" \
  -n 8 -o course_output/prompt_grid.png "$@"
