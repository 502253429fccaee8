#!/usr/bin/env bash
# Creates (or reuses) .venv and installs cnn with its test extra.
# With --data, also makes sure Fashion-MNIST is on disk for the default experiment.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet --editable '.[test]'

if [ "${1:-}" = "--data" ]; then
  if ! .venv/bin/python -c "from cnn.data import locate; locate('fashion_mnist')" 2>/dev/null; then
    if [ "$(id -u)" = 0 ]; then
      apt-get install -y dataset-fashion-mnist || { apt-get update && apt-get install -y dataset-fashion-mnist; }
    else
      echo "Fashion-MNIST is missing. Run: sudo apt-get install -y dataset-fashion-mnist" >&2
      echo "(or put its four IDX files in a folder and export CNN_DATA_DIR=that/folder), then rerun." >&2
      exit 1
    fi
  fi
fi
