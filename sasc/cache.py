"""Content-addressed on-disk cache of n-gram responses.

Key = sha256(module fingerprint, corpus+n-gram-settings fingerprint). A finished table
is ``<key>/responses.npy`` (float32 ``[n_ngrams, n_units]``) plus ``meta.json``; while a
stage runs, every finished shard is written to ``<key>/shards/`` so an interrupted run
resumes without recomputing it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np


def default_cache_dir() -> Path:
    """``~/.cache/sasc``; callers (CLI, server) may pass another root."""
    return Path.home() / ".cache" / "sasc"


def response_key(module_fingerprint: str, table_fingerprint: str) -> str:
    """The cache key of one (module, corpus, n-gram settings) triple."""
    return hashlib.sha256(f"{module_fingerprint}|{table_fingerprint}".encode()).hexdigest()[:32]


def _beside(path: Path, suffix: str) -> Path:
    """A fresh temporary name beside ``path`` (created with the user's umask, unlike ``mkstemp``'s 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}{suffix}")


def atomic_save(path: Path, array: np.ndarray) -> None:
    """Write ``array`` to ``path`` (``.npy``) whole or not at all: a temporary file beside it, then a rename."""
    path = Path(path)
    tmp = _beside(path, ".tmp.npy")
    try:
        with open(tmp, "xb") as f:
            np.save(f, array)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` whole or not at all: a temporary file beside it, then a rename."""
    path = Path(path)
    tmp = _beside(path, ".tmp")
    try:
        with open(tmp, "x", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class ResponseCache:
    """Response tables and in-progress shards under ``root/responses/<key>/``."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()

    def _dir(self, key: str) -> Path:
        return self.root / "responses" / key

    def load(self, key: str) -> np.ndarray | None:
        """The finished table for ``key`` (memory-mapped, read-only), or None."""
        path = self._dir(key) / "responses.npy"
        if not path.exists():
            return None
        return np.load(path, mmap_mode="r")

    def save(self, key: str, table: np.ndarray, meta: dict[str, Any]) -> None:
        """Store a finished table and drop its shards."""
        d = self._dir(key)
        atomic_save(d / "responses.npy", np.ascontiguousarray(table, dtype=np.float32))
        (d / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
        shutil.rmtree(d / "shards", ignore_errors=True)

    def reserve(self, key: str, nbytes: int) -> None:
        """Called before any work with the size of the table ``key`` will hold; this cache has no
        bound, so it does nothing (a bounded cache makes room or refuses here, before the work)."""

    def save_shard(self, key: str, plan: str, shard: int, values: np.ndarray) -> None:
        """Store one finished shard's values (rows in the shard's own order).

        ``plan`` identifies the sharding, so shards of a differently planned run are
        never mixed in.
        """
        atomic_save(self._dir(key) / "shards" / plan / f"{shard:06d}.npy", values.astype(np.float32))

    def load_shards(self, key: str, plan: str) -> dict[int, np.ndarray]:
        """Finished shards of an interrupted run with the same plan, by shard index."""
        d = self._dir(key) / "shards" / plan
        if not d.is_dir():
            return {}
        out = {}
        for p in d.glob("*.npy"):
            if p.name.endswith(".tmp.npy"):
                continue
            out[int(p.stem)] = np.load(p)
        return out
