#!/usr/bin/env bash
# Create the reference environment the benchmarks compare against: Netflix's
# metaflow from PyPI in its own venv, .bench/venv-netflix (ignored by git).
# Idempotent: does nothing when the venv already imports metaflow.
#
#   bench/ref_env.sh                       # metaflow, latest release
#   NETFLIX_METAFLOW=metaflow==2.19.39 bench/ref_env.sh
#   PYTHON=python3.11 bench/ref_env.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.bench/venv-netflix"
python="${PYTHON:-python3}"
requirement="${NETFLIX_METAFLOW:-metaflow}"

if "$venv/bin/python" -c "import metaflow" >/dev/null 2>&1; then
    echo "Reference metaflow $("$venv/bin/python" -c 'import metaflow; print(metaflow.__version__)') is in $venv"
    exit 0
fi

mkdir -p "$root/.bench"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$requirement"
echo "Installed reference metaflow $("$venv/bin/python" -c 'import metaflow; print(metaflow.__version__)') into $venv"
