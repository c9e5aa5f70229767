"""Client-hosted modules: a bank whose responses come back over an open gRPC stream.

The server side is :class:`HostedBank`: ``responses(texts)`` splits the texts into batches
of the negotiated size, keeps up to ``window`` of them in flight on the stream, and waits
for each answer at most ``deadline_s`` seconds. A disconnect, a late answer, a wrong
number of values or a client-reported error fails the calls waiting on this module only.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from sasc.cancel import checkpoint
from sasc.errors import ModuleError, ModuleUnavailableError

log = logging.getLogger("sasc.server")
_CLOSE = object()


class _Pending:
    __slots__ = ("n_texts", "event", "values", "error", "sent_at")

    def __init__(self, n_texts: int):
        self.n_texts = n_texts
        self.event = threading.Event()
        self.values: np.ndarray | None = None
        self.error: Exception | None = None
        self.sent_at = time.monotonic()


class HostedBank:
    """A :class:`sasc.ModuleBank` answered by a remote client; thread-safe."""

    kind = "client_hosted"

    def __init__(self, name: str, units: Sequence[str], *, batch_size: int, deadline_s: float,
                 window: int = 8, fingerprint: str = ""):
        self.name = name
        self._units = list(units)
        self.batch_size = batch_size
        self.deadline_s = deadline_s
        self.window = window
        self.fingerprint = fingerprint or None  # None: responses are not cached
        self.device = "remote"
        self._out: queue.Queue[Any] = queue.Queue()
        self._pending: dict[int, _Pending] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._closed: str | None = None

    @property
    def units(self) -> list[str]:
        return list(self._units)

    @property
    def closed(self) -> str | None:
        """Why the module is gone (None while its stream is open)."""
        return self._closed

    # --------------------------------------------------------------- module side

    def responses(self, texts: Sequence[str]) -> np.ndarray:
        """float32 ``[len(texts), len(units)]`` from the client."""
        texts = list(texts)
        out = np.empty((len(texts), len(self._units)), dtype=np.float32)
        in_flight: deque[tuple[int, int, _Pending]] = deque()
        try:
            for start in range(0, len(texts), self.batch_size):
                checkpoint()  # a cancelled job sends no more batches
                if len(in_flight) >= self.window:
                    self._collect(out, *in_flight.popleft())
                in_flight.append((start, *self._send(texts[start:start + self.batch_size])))
            while in_flight:
                self._collect(out, *in_flight.popleft())
        except BaseException:
            with self._lock:  # answers still on their way are dropped
                for _, batch_id, _ in in_flight:
                    self._pending.pop(batch_id, None)
            raise
        return out

    def _send(self, batch: list[str]) -> tuple[int, _Pending]:
        p = _Pending(len(batch))
        with self._lock:
            if self._closed:
                raise ModuleUnavailableError(f"client-hosted module {self.name!r} is gone: {self._closed}")
            batch_id = next(self._ids)
            self._pending[batch_id] = p
        self._out.put((batch_id, batch))
        return batch_id, p

    def _collect(self, out: np.ndarray, start: int, batch_id: int, p: _Pending) -> None:
        left = self.deadline_s - (time.monotonic() - p.sent_at)
        if not p.event.wait(max(0.0, left)):
            with self._lock:
                self._pending.pop(batch_id, None)
            raise ModuleUnavailableError(f"client-hosted module {self.name!r} did not answer a batch of "
                                         f"{p.n_texts} texts within {self.deadline_s:g} s")
        if p.error is not None:
            raise p.error
        out[start:start + p.n_texts] = p.values

    # --------------------------------------------------------------- stream side

    def outgoing(self) -> Iterator[tuple[int, list[str]]]:
        """``(batch_id, texts)`` to send to the client, until the module closes."""
        while True:
            item = self._out.get()
            if item is _CLOSE:
                return
            yield item

    def deliver(self, batch_id: int, values: np.ndarray | None, error: str | None) -> None:
        """An answer from the client: values ``[n*units]`` flat, or an error message."""
        with self._lock:
            p = self._pending.pop(batch_id, None)
        if p is None:
            log.info("ignored a late or unknown answer", extra={"module_name": self.name, "batch": batch_id})
            return
        n_expected = p.n_texts * len(self._units)
        if error is not None:
            p.error = ModuleError(f"client-hosted module {self.name!r} reported an error: {error}")
        elif values is None or values.size != n_expected:
            got = 0 if values is None else values.size
            p.error = ModuleError(f"client-hosted module {self.name!r} answered {got} values for a batch of "
                                  f"{p.n_texts} texts x {len(self._units)} units; expected {n_expected}")
        else:
            p.values = values.reshape(p.n_texts, len(self._units))
        p.event.set()

    def serve(self, answers: Iterable[Any], decode: Callable[[Any], tuple[int, np.ndarray | None, str | None]]
              ) -> threading.Thread:
        """Read the client's answers on a thread until the stream ends, then close."""

        def read() -> None:
            reason = "the client closed its stream"
            try:
                for msg in answers:
                    self.deliver(*decode(msg))
            except Exception as e:  # noqa: BLE001 - a broken stream or a malformed answer ends the module
                reason = f"the stream failed: {type(e).__name__}: {str(e)[:200]}"
            self.close(reason)

        t = threading.Thread(target=read, name=f"hosted-{self.name}"[:40], daemon=True)
        t.start()
        return t

    def close(self, reason: str) -> None:
        """Fail every waiting call and stop the stream."""
        with self._lock:
            if self._closed:
                return
            self._closed = reason
            pending, self._pending = self._pending, {}
        for p in pending.values():
            p.error = ModuleUnavailableError(f"client-hosted module {self.name!r} is gone: {reason}")
            p.event.set()
        self._out.put(_CLOSE)
