"""Open server streams (WatchJob, HostModule) counted per client and in all, so that one
client can never hold every RPC thread: other tenants, unary calls and health keep a thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sasc.errors import QuotaExceededError


class StreamSlots:
    """At most ``per_client`` open streams a client and ``total`` in all (``total`` < RPC threads)."""

    def __init__(self, per_client: int, total: int):
        self.per_client, self.total = per_client, total
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    def open_streams(self, client: str | None = None) -> int:
        """Streams open now (of ``client``, or of everyone)."""
        with self._lock:
            return sum(self._open.values()) if client is None else self._open.get(client, 0)

    @contextmanager
    def hold(self, client: str) -> Iterator[None]:
        """A slot for one stream while the block runs; QuotaExceededError when none is free."""
        with self._lock:
            if self._open.get(client, 0) >= self.per_client:
                raise QuotaExceededError(f"client {client!r} already has {self.per_client} open streams "
                                         "(WatchJob, HostModule; limit --max-streams-per-client): close one first")
            if sum(self._open.values()) >= self.total:
                raise QuotaExceededError(f"the server already serves {self.total} streams (limit --max-streams); "
                                         "try again later")
            self._open[client] = self._open.get(client, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self._open[client] -= 1
                if not self._open[client]:
                    del self._open[client]
