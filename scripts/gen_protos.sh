#!/usr/bin/env bash
# Generate the Python gRPC stubs in sasc/_grpc/ from proto/sasc/v1/*.proto.
#
#   scripts/gen_protos.sh [OUT_DIR]    (default: sasc/_grpc)
#
# Uses grpcio-tools (pip install grpcio-tools). The stubs are committed; tests/test_proto_stubs.py
# regenerates them into a temp dir and compares byte for byte, so never edit them by hand.
# protoc names imports after the proto package (`from sasc.v1 import ...`); they are rewritten
# to `sasc._grpc` because the Python package `sasc` already exists.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT/sasc/_grpc}"
PY="${PYTHON:-python}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
cd "$ROOT"
"$PY" -m grpc_tools.protoc -I proto --python_out="$TMP" --pyi_out="$TMP" --grpc_python_out="$TMP" \
  proto/sasc/v1/*.proto
mkdir -p "$OUT"
for f in "$TMP"/sasc/v1/*.py "$TMP"/sasc/v1/*.pyi; do
  sed -e 's/^from sasc\.v1 import /from sasc._grpc import /' "$f" > "$OUT/$(basename "$f")"
done
printf '%s\n' '"""Generated gRPC stubs for proto/sasc/v1 (scripts/gen_protos.sh); do not edit."""' > "$OUT/__init__.py"
