"""The committed stubs in sasc/_grpc describe proto/ as it is, and are what scripts/gen_protos.sh makes.

Two checks, so that the suite neither fails on a new grpcio-tools patch release nor misses a real change:
- *semantic*, always: protoc (any version) compiles proto/ to descriptors, which must equal the
  descriptors embedded in the committed ``*_pb2.py`` files. Every message, field, enum, service and
  RPC is in them, so a .proto edited without regenerating fails here whatever generator is installed.
- *byte for byte*, when the installed grpcio-tools is the release that generated the stubs (the one
  constraints.txt pins, so README's install and CI always run it): the regenerated files equal the
  committed ones.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STUBS = ROOT / "sasc" / "_grpc"
PROTO = ROOT / "proto"


def _generated_by() -> str:
    text = (STUBS / "jobs_pb2_grpc.py").read_text()
    return re.search(r"^GRPC_GENERATED_VERSION = '([^']+)'$", text, re.M).group(1)


def _embedded_descriptor(pb2_file: Path) -> bytes:
    """The serialized FileDescriptorProto a generated ``*_pb2.py`` registers, read without importing it."""
    for node in ast.walk(ast.parse(pb2_file.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "AddSerializedFile":
            return ast.literal_eval(node.args[0])
    raise AssertionError(f"{pb2_file.name} registers no descriptor")


def _default_json_name(field_name: str) -> str:
    """protoc's JSON name for a field: underscores dropped, the letter after each capitalized."""
    parts = field_name.split("_")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def _without_json_names(file):
    """A copy without the *default* ``json_name``s: descriptor sets carry them, the copy a generated
    module embeds does not. A custom ``[json_name = ...]`` is kept, so changing one is still caught."""
    file = type(file).FromString(file.SerializeToString())

    def strip(fields):
        for f in fields:
            if f.json_name == _default_json_name(f.name):
                f.ClearField("json_name")

    def walk(messages):
        for m in messages:
            strip(m.field)
            strip(m.extension)
            walk(m.nested_type)

    walk(file.message_type)
    strip(file.extension)
    return file


def stale_stubs(proto_root: Path, stub_dir: Path, tmp: Path) -> list[str]:
    """The .proto files under ``proto_root/sasc/v1`` whose descriptor differs from the one in
    ``stub_dir``'s ``*_pb2.py`` (or that have no stub, or stubs with no .proto)."""
    import grpc_tools
    from google.protobuf import descriptor_pb2
    from grpc_tools import protoc

    protos = sorted((proto_root / "sasc" / "v1").glob("*.proto"))
    out = tmp / "descriptors.pb"
    well_known = Path(grpc_tools.__file__).parent / "_proto"  # google/protobuf/*.proto
    code = protoc.main(["protoc", f"-I{proto_root}", f"-I{well_known}", f"--descriptor_set_out={out}",
                        *map(str, protos)])
    assert code == 0, f"protoc failed on {proto_root}"
    fresh = {Path(f.name).stem: f for f in descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file}
    committed = {p.name.removesuffix("_pb2.py") for p in stub_dir.glob("*_pb2.py")}
    stale = sorted(f"{name}.proto" for name in committed ^ set(fresh))
    for name in sorted(committed & set(fresh)):
        embedded = descriptor_pb2.FileDescriptorProto.FromString(_embedded_descriptor(stub_dir / f"{name}_pb2.py"))
        if _without_json_names(embedded) != _without_json_names(fresh[name]):
            stale.append(f"{name}.proto")
    return stale


def test_stubs_describe_the_protos_whatever_protoc_is_installed(tmp_path):
    pytest.importorskip("grpc_tools")
    assert stale_stubs(PROTO, STUBS, tmp_path) == [], "proto/ changed without regenerating: run scripts/gen_protos.sh"


@pytest.mark.parametrize("edit", [
    ("message JobError {", "message JobError {\n  string added_field = 99;"),  # a new field
    ("rpc CancelJob(", "rpc AddedRpc(CancelJobRequest) returns (Job);\n  rpc CancelJob("),  # a new RPC
    ("int32 max_n", "int64 max_n"),  # a changed type
    ("string message = 2;", "string detail_message = 2;"),  # a renamed field
    ("string message = 2;", 'string message = 2 [json_name = "msg"];'),  # a custom JSON name
])
def test_an_edited_proto_is_caught(tmp_path, edit):
    pytest.importorskip("grpc_tools")
    shutil.copytree(PROTO, tmp_path / "proto")
    jobs = tmp_path / "proto" / "sasc" / "v1" / "jobs.proto"
    text = jobs.read_text()
    old, new = edit
    assert old in text, f"the edit no longer applies to jobs.proto: {old!r}"
    jobs.write_text(text.replace(old, new, 1))
    assert stale_stubs(tmp_path / "proto", STUBS, tmp_path) == ["jobs.proto"]


def test_a_proto_without_stubs_is_caught(tmp_path):
    pytest.importorskip("grpc_tools")
    shutil.copytree(PROTO, tmp_path / "proto")
    (tmp_path / "proto" / "sasc" / "v1" / "extra.proto").write_text(
        'syntax = "proto3";\npackage sasc.v1;\nmessage Extra { string x = 1; }\n')
    assert stale_stubs(tmp_path / "proto", STUBS, tmp_path) == ["extra.proto"]


def test_stubs_regenerate_byte_for_byte(tmp_path):
    pytest.importorskip("grpc_tools")
    installed, pinned = importlib.metadata.version("grpcio-tools"), _generated_by()
    if installed != pinned:
        pytest.skip(f"grpcio-tools {installed} is installed; the stubs were generated by {pinned} "
                    "(constraints.txt); the descriptor check above still ran")
    env = {**os.environ, "PYTHON": sys.executable}
    subprocess.run(["bash", str(ROOT / "scripts" / "gen_protos.sh"), str(tmp_path)], check=True, env=env,
                   capture_output=True, text=True)
    fresh = sorted(p.name for p in tmp_path.iterdir())
    assert fresh == sorted(p.name for p in STUBS.iterdir() if p.is_file() and p.suffix in (".py", ".pyi"))
    for name in fresh:
        assert (tmp_path / name).read_bytes() == (STUBS / name).read_bytes(), f"{name} is stale: run scripts/gen_protos.sh"


def test_the_generator_is_pinned_where_the_installs_read_it():
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", (ROOT / "constraints.txt").read_text(), re.M))
    assert pins["grpcio-tools"] == _generated_by()


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
