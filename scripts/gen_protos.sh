#!/usr/bin/env bash
# Generate the Python gRPC stubs in sasc/_grpc/ from proto/sasc/v1/*.proto.
#
#   scripts/gen_protos.sh [OUT_DIR]    (default: sasc/_grpc)
#
# Uses grpcio-tools (the release pinned in constraints.txt). The stubs are committed; tests/test_proto_stubs.py
# checks they describe proto/ (any protoc) and regenerate byte for byte (the pinned one); never edit them by hand.
# protoc names imports after the proto package (`from sasc.v1 import ...`); they are rewritten
# to `sasc._grpc` because the Python package `sasc` already exists.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT/sasc/_grpc}"
PY="${PYTHON:-python}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
cd "$ROOT"
# The stubs are made by one pinned grpcio-tools (constraints.txt), so regenerating never drifts with
# the day's release. To move to another release on purpose: install it, run this script with
# GEN_PROTOS_ANY_TOOLS=1, then bash scripts/lock.sh (it pins the release the stubs name) and raise
# the grpcio/protobuf floors in pyproject.toml and sasc/grpc_runtime.py to what the stubs declare.
pinned=$(sed -n 's/^grpcio-tools==//p' constraints.txt)
installed=$("$PY" -c 'import importlib.metadata as m; print(m.version("grpcio-tools"))')
if [[ "${GEN_PROTOS_ANY_TOOLS:-}" != 1 && "$installed" != "$pinned" ]]; then
  echo "gen_protos.sh: grpcio-tools $installed is installed, the stubs are made by $pinned (constraints.txt):" \
       "python -m pip install grpcio-tools==$pinned" >&2
  exit 1
fi
"$PY" -m grpc_tools.protoc -I proto --python_out="$TMP" --pyi_out="$TMP" --grpc_python_out="$TMP" \
  proto/sasc/v1/*.proto
mkdir -p "$OUT"
for f in "$TMP"/sasc/v1/*.py "$TMP"/sasc/v1/*.pyi; do
  sed -e 's/^from sasc\.v1 import /from sasc._grpc import /' "$f" > "$OUT/$(basename "$f")"
done
cat > "$OUT/__init__.py" <<'PY'
"""Generated gRPC stubs for proto/sasc/v1 (scripts/gen_protos.sh); do not edit."""
# The generated modules check grpcio/protobuf themselves with errors that do not say how to fix them;
# check first and raise one sasc DependencyError instead.
from sasc.grpc_runtime import require_grpc_runtime

require_grpc_runtime()
PY
