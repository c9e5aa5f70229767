#!/usr/bin/env bash
# Refresh constraints.txt: resolve sasc's dependencies (every extra) afresh in a throwaway venv
# and pin each version exactly. Review the diff and commit it: README's installs and CI resolve
# from that file, so a version changes only in a reviewed commit.
#   bash scripts/lock.sh
# torch is left out (install.sh installs the CPU build itself, and GPU users keep their own).
# grpcio-tools is pinned to the release that generated the committed stubs in sasc/_grpc.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
tools=$(sed -n "s/^GRPC_GENERATED_VERSION = '\(.*\)'$/\1/p" sasc/_grpc/jobs_pb2_grpc.py)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$py" -m venv "$tmp/venv"
vpy="$tmp/venv/bin/python"
"$vpy" -m pip install -qq --disable-pip-version-check "torch==2.13.0"
"$vpy" -m pip install -qq --disable-pip-version-check ".[llm,fmri,dev,ray]" "grpcio-tools==$tools"
{
  echo "# Exact versions for README's installs and CI (scripts/install.sh uses them with pip -c)."
  echo "# Made by scripts/lock.sh on $("$vpy" -c 'import platform; print("CPython", platform.python_version(), platform.machine())'); refresh with: bash scripts/lock.sh"
  echo "# pyproject.toml keeps ranges for everyone else. torch is installed by install.sh, not pinned here."
  "$vpy" -m pip freeze --all --disable-pip-version-check \
    | grep -viE '^(sasc|pip|torch|nvidia-[a-z0-9-]+|triton)( @|==)' | LC_ALL=C sort -f
} > constraints.txt.new
mv constraints.txt.new constraints.txt
echo "wrote constraints.txt ($(grep -vc '^#' constraints.txt) pins); review with: git diff constraints.txt"
