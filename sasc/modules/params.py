"""Parameters the model-backed banks share: index selections (layers, units, factors) and weight
arrays (read from ``.npy``/``.safetensors`` and fingerprinted for cache keys)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..lists import parse_ranges


def parse_indices(spec: Any, limit: int, what: str) -> list[int]:
    """Indices from ``None`` (all), an int, ``"0-1535"``, ``"3,7,10-12"`` or a list of those.

    Raises :class:`ConfigError` for anything outside ``0..limit-1`` or unparseable.
    """
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("", "all")):
        return list(range(limit))
    items = spec if isinstance(spec, (list, tuple, range, np.ndarray)) else [spec]
    out: list[int] = []
    for item in items:
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            out.append(int(item))
            continue
        try:
            out.extend(parse_ranges(str(item), what, limit))  # bounds checked before a range is expanded
        except ValueError as e:
            raise ConfigError(str(e)) from None
    bad = [i for i in out if not 0 <= i < limit]
    if bad:
        raise ConfigError(f"{what} {bad[0]} out of range: valid {what}s are 0..{limit - 1}")
    if not out:
        raise ConfigError(f"no {what}s selected")
    return list(dict.fromkeys(out))


def load_array(path: str | Path, key: str | None = None) -> np.ndarray:
    """A float32 array from ``.npy`` or ``.safetensors`` (``key`` picks the tensor; default: the only
    one, or ``"dictionary"``)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"array file {p} does not exist")
    if p.suffix == ".npy":
        return np.asarray(np.load(p), dtype=np.float32)
    if p.suffix == ".safetensors":
        from safetensors.numpy import load_file

        tensors = load_file(str(p))
        if key is None:
            key = "dictionary" if "dictionary" in tensors or len(tensors) != 1 else next(iter(tensors))
        if key not in tensors:
            raise ConfigError(f"{p} has no tensor {key!r}; it holds: {', '.join(sorted(tensors))}")
        return np.asarray(tensors[key], dtype=np.float32)
    raise ConfigError(f"unsupported array file {p.name!r}: accepted .npy and .safetensors")


def array_sha256(a: np.ndarray) -> str:
    """sha256 over an array's dtype, shape and bytes."""
    a = np.ascontiguousarray(a)
    return hashlib.sha256(f"{a.dtype.str}{a.shape}".encode() + a.tobytes()).hexdigest()
