"""The committed stubs in sasc/_grpc are exactly what scripts/gen_protos.sh makes from proto/."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_stubs_regenerate_byte_for_byte(tmp_path):
    pytest.importorskip("grpc_tools")
    env = {**os.environ, "PYTHON": sys.executable}
    subprocess.run(["bash", str(ROOT / "scripts" / "gen_protos.sh"), str(tmp_path)], check=True, env=env,
                   capture_output=True, text=True)
    committed = ROOT / "sasc" / "_grpc"
    fresh = sorted(p.name for p in tmp_path.iterdir())
    assert fresh == sorted(p.name for p in committed.iterdir() if p.is_file() and p.suffix in (".py", ".pyi"))
    for name in fresh:
        assert (tmp_path / name).read_bytes() == (committed / name).read_bytes(), f"{name} is stale: run scripts/gen_protos.sh"


def test_stubs_import_from_the_package_and_name_the_services():
    from sasc._grpc import jobs_pb2, jobs_pb2_grpc, modules_pb2, modules_pb2_grpc

    assert jobs_pb2.DESCRIPTOR.package == "sasc.v1" and modules_pb2.DESCRIPTOR.package == "sasc.v1"
    assert set(modules_pb2.DESCRIPTOR.services_by_name) == {"ModuleService"}
    assert set(jobs_pb2.DESCRIPTOR.services_by_name) == {"JobService"}
    assert hasattr(jobs_pb2_grpc, "JobServiceStub") and hasattr(modules_pb2_grpc, "ModuleServiceStub")


def test_requests_cannot_carry_code():
    """No message has a bytes field except float32 array data, and nothing names an import path."""
    from sasc._grpc import jobs_pb2, modules_pb2

    bytes_fields = []
    for mod in (jobs_pb2, modules_pb2):
        for msg in mod.DESCRIPTOR.message_types_by_name.values():
            for f in msg.fields:
                if f.type == f.TYPE_BYTES:
                    bytes_fields.append(f"{msg.name}.{f.name}")
                assert not any(w in f.name for w in ("pickle", "import", "callable", "code_")), f.name
    assert bytes_fields == ["ArrayChunk.data"]
