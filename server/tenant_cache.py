"""Where a tenant's jobs cache what they computed, and how much they may keep.

Each client has its own folder under the server's ``cache/``: n-gram response tables in
``cache/clients/<id>/responses`` and helper replies in ``cache/llm/clients/<id>`` (``<id>``:
24 hex digits of sha256 of the client name). A tenant therefore never reads, and never learns
of, what another tenant's jobs computed. The anonymous client of a server without tokens (one
user on loopback) keeps the server-wide folders ``cache/responses`` and ``cache/llm``.

A tenant's response tables are bounded by ``--max-cache-mb-per-client``: before a job runs its
module, :meth:`TenantCache.reserve` makes room for the table it will write by evicting that
tenant's least recently written other tables (never one written in the last minute, which
may belong to a job still running); a table that still does not fit is refused with
RESOURCE_EXHAUSTED naming the flag, before any work.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
import time
from pathlib import Path

from sasc.cache import ResponseCache
from sasc.errors import QuotaExceededError

from .auth import ANONYMOUS

BUSY_S = 60.0
"""A table written to within this many seconds may be in use by a running job: never evicted."""
_LOCK = threading.Lock()


def client_id(owner: str) -> str:
    """The folder name of ``owner``'s caches."""
    return hashlib.sha256(owner.encode("utf-8")).hexdigest()[:24]


def reply_dir(cache_dir: Path, owner: str) -> Path:
    """Helper-reply cache of ``owner``'s jobs (the anonymous client keeps ``llm/``)."""
    return cache_dir / "llm" if owner == ANONYMOUS else cache_dir / "llm" / "clients" / client_id(owner)


def response_root(cache_dir: Path, owner: str) -> Path:
    """Root of ``owner``'s response cache (tables go in ``responses/`` under it)."""
    return cache_dir if owner == ANONYMOUS else cache_dir / "clients" / client_id(owner)


def _size(path: Path) -> tuple[int, float]:
    """(bytes, newest modification time) of the files under ``path``."""
    total, newest = 0, 0.0
    for p in path.rglob("*"):
        try:
            st = p.stat()
        except OSError:  # removed meanwhile
            continue
        if p.is_file():
            total += st.st_size
        newest = max(newest, st.st_mtime)
    return total, newest


class TenantCache(ResponseCache):
    """One tenant's response cache, at most ``limit_mb`` MiB (see the module docstring)."""

    def __init__(self, cache_dir: Path, owner: str, limit_mb: int):
        super().__init__(response_root(cache_dir, owner))
        self.owner, self.limit_mb = owner, limit_mb

    def reserve(self, key: str, nbytes: int) -> None:
        limit = self.limit_mb * 2**20
        if nbytes > limit:
            raise self._refusal(f"this job's response table needs {nbytes / 2**20:,.1f} MiB")
        with _LOCK:  # one tenant's jobs make room one at a time
            tables = [(d, *_size(d)) for d in (self.root / "responses").glob("*")
                      if d.is_dir() and d.name != key]
            used = sum(size for _, size, _ in tables)
            now = time.time()
            for d, size, newest in sorted(tables, key=lambda t: t[2]):  # least recently written first
                if used + nbytes <= limit:
                    break
                if now - newest > BUSY_S:
                    shutil.rmtree(d, ignore_errors=True)
                    used -= size
            if used + nbytes > limit:
                raise self._refusal(f"its cached response tables take {used / 2**20:,.1f} MiB (some still in use) "
                                    f"and this job's needs {nbytes / 2**20:,.1f} MiB")

    def _refusal(self, what: str) -> QuotaExceededError:
        return QuotaExceededError(f"client {self.owner!r}: {what}; at most {self.limit_mb:,} MiB of cached responses "
                                  "per client (--max-cache-mb-per-client): explain fewer units or a smaller corpus "
                                  "per job, or ask the operator to raise the limit")
