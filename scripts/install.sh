#!/usr/bin/env bash
# Installs jepakit, every plugin under plugins/ (with its `full` extra when it has one) and
# the test tools into ./.venv. Idempotent; safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
specs=(-e core)
for d in plugins/*/; do
  d=${d%/}
  [ -f "$d/pyproject.toml" ] || continue
  if grep -qE '^full *=' "$d/pyproject.toml"; then specs+=(-e "$d[full]"); else specs+=(-e "$d"); fi
done
# torch is named in the same command as everything else so pip cannot move it
.venv/bin/python -m pip install -q -c constraints.txt "torch==2.14.1" "torchvision==0.29.1" "${specs[@]}" pytest ruff
.venv/bin/python -c "import jepakit, timm, torch; print(f'jepakit {jepakit.__version__}, torch {torch.__version__}')"
