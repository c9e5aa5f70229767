"""A too-old grpcio or protobuf gives one clear sasc error, not a generated stub's RuntimeError."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sasc.errors import DependencyError, SascError
from sasc.grpc_runtime import SERVER_NEEDS, STUBS_NEED, is_older, release, require_grpc_runtime

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("installed, needed, older", [
    ("1.85.1", "1.85.1", False), ("1.85.4", "1.85.1", False), ("1.86", "1.85.1", False),
    ("1.85", "1.85.1", True), ("1.70.0", "1.85.1", True), ("1.9.0", "1.85.1", True),
    ("7.36.2", "7.35.1", False), ("6.33.0", "7.35.1", True), ("7.35.1rc1", "7.35.1", False),
    ("10.0", "9.99.99", False),
])
def test_version_order(installed, needed, older):
    assert is_older(installed, needed) is older


def test_release_parsing():
    assert release("1.85.1rc2") == (1, 85, 1) and release(" 7.35 ") == (7, 35) and release("dev") == ()


def _fake_versions(**versions):
    def version(dist):
        if dist not in versions:
            raise importlib.metadata.PackageNotFoundError(dist)
        return versions[dist]
    return version


def test_every_problem_named_in_one_error():
    with pytest.raises(DependencyError) as info:
        require_grpc_runtime(STUBS_NEED, _fake_versions(grpcio="1.70.0", protobuf="5.29.3"))
    msg = str(info.value)
    assert "grpcio 1.70.0 is installed, but sasc needs grpcio>=1.85.1" in msg
    assert "protobuf 5.29.3 is installed, but sasc needs protobuf>=7.35.1" in msg
    assert "pip install 'grpcio>=1.85.1' 'protobuf>=7.35.1'" in msg
    assert isinstance(info.value, SascError) and isinstance(info.value, ImportError)


def test_missing_package_is_named():
    with pytest.raises(DependencyError, match="grpcio-reflection is not installed"):
        require_grpc_runtime(SERVER_NEEDS, _fake_versions(**{"grpcio": "1.85.1", "protobuf": "7.35.1",
                                                            "grpcio-health-checking": "1.85.1"}))


def test_new_enough_versions_pass():
    require_grpc_runtime(SERVER_NEEDS, _fake_versions(**{d: v for d, v in SERVER_NEEDS.items()}))
    require_grpc_runtime(SERVER_NEEDS)  # this environment


def test_floors_agree_with_pyproject_and_the_stubs():
    pyproject = (ROOT / "pyproject.toml").read_text()
    for dist, floor in SERVER_NEEDS.items():
        assert f'"{dist}>={floor}"' in pyproject, dist
    stubs = ROOT / "sasc" / "_grpc"
    generated = re.search(r"^GRPC_GENERATED_VERSION = '([^']+)'$", (stubs / "jobs_pb2_grpc.py").read_text(), re.M)
    assert generated.group(1) == STUBS_NEED["grpcio"]
    for pb2 in stubs.glob("*_pb2.py"):
        declared = re.search(r"^# Protobuf Python Version: (\S+)$", pb2.read_text(), re.M)
        assert declared.group(1) == STUBS_NEED["protobuf"], pb2.name


@pytest.mark.parametrize("module", ["sasc.client", "server", "server.app"])
@pytest.mark.parametrize("dist, old", [("grpcio", "1.70.0"), ("protobuf", "5.29.3")])
def test_importing_under_an_old_runtime_raises_the_sasc_error(tmp_path, module, dist, old):
    """A fake distribution record shadows the real one, as an older install would."""
    site = tmp_path / "site"
    info = site / f"{dist}-{old}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {old}\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    proc = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("sasc.errors.DependencyError: "), proc.stderr[-2000:]
    assert f"{dist} {old} is installed, but sasc needs {dist}>=" in last
    assert "RuntimeError" not in proc.stderr and "VersionError" not in proc.stderr


def test_the_library_imports_without_touching_grpc():
    """``import sasc`` works (and explains) without the gRPC runtime at all."""
    proc = subprocess.run([sys.executable, "-c", "import sys, sasc; print('grpc' in sys.modules)"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "False"
