"""Client-hosted modules: a bank whose responses come back over an open gRPC stream.

The server side is :class:`HostedBank`: ``responses(texts)`` splits the texts into batches
of the negotiated size, keeps up to ``window`` of them in flight on the stream, and waits
for each answer at most ``deadline_s`` seconds. A client that declared per-token answers gets
a :class:`TokenHostedBank`, whose ``token_responses(texts)`` asks for each text's tokens and
per-token values the same way. A disconnect, a late answer, a wrong number of values (or of
tokens) or a client-reported error fails the calls waiting on this module only.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sasc.cancel import checkpoint
from sasc.errors import ModuleError, ModuleUnavailableError
from sasc.modules.base import TokenResponses

log = logging.getLogger("sasc.server")
_CLOSE = object()


MAX_TOKENS_PER_TEXT = 4096
"""Most tokens a client may return for one text of a per-token batch."""
MAX_TOKEN_CHARS = 200
"""Longest token string accepted (a token is shown to the helper in per-token simulation prompts)."""


@dataclass(frozen=True)
class HostAnswer:
    """One decoded answer of the client: values, or an error message; per-token batches add
    every text's tokens (concatenated) and how many belong to each text."""

    batch_id: int
    values: np.ndarray | None = None
    error: str | None = None
    tokens: Sequence[str] = ()
    token_counts: Sequence[int] = ()


class _Pending:
    __slots__ = ("n_texts", "per_token", "event", "result", "error", "sent_at")

    def __init__(self, n_texts: int, per_token: bool):
        self.n_texts = n_texts
        self.per_token = per_token
        self.event = threading.Event()
        self.result: Any = None
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
        for start, values in self._answers(texts, per_token=False):
            out[start:start + len(values)] = values
        return out

    def _answers(self, texts: list[str], per_token: bool) -> Iterator[tuple[int, Any]]:
        """``(start, answer)`` per batch in order, with up to ``window`` batches in flight."""
        in_flight: deque[tuple[int, int, _Pending]] = deque()
        try:
            for start in range(0, len(texts), self.batch_size):
                checkpoint()  # a cancelled job sends no more batches
                if len(in_flight) >= self.window:
                    yield self._collect(*in_flight.popleft())
                in_flight.append((start, *self._send(texts[start:start + self.batch_size], per_token)))
            while in_flight:
                yield self._collect(*in_flight.popleft())
        except BaseException:
            with self._lock:  # answers still on their way are dropped
                for _, batch_id, _ in in_flight:
                    self._pending.pop(batch_id, None)
            raise

    def _send(self, batch: list[str], per_token: bool) -> tuple[int, _Pending]:
        p = _Pending(len(batch), per_token)
        with self._lock:
            if self._closed:
                raise ModuleUnavailableError(f"client-hosted module {self.name!r} is gone: {self._closed}")
            batch_id = next(self._ids)
            self._pending[batch_id] = p
        self._out.put((batch_id, batch, per_token))
        return batch_id, p

    def _collect(self, start: int, batch_id: int, p: _Pending) -> tuple[int, Any]:
        left = self.deadline_s - (time.monotonic() - p.sent_at)
        if not p.event.wait(max(0.0, left)):
            with self._lock:
                self._pending.pop(batch_id, None)
            raise ModuleUnavailableError(f"client-hosted module {self.name!r} did not answer a batch of "
                                         f"{p.n_texts} texts within {self.deadline_s:g} s")
        if p.error is not None:
            raise p.error
        return start, p.result

    # --------------------------------------------------------------- stream side

    def outgoing(self) -> Iterator[tuple[int, list[str], bool]]:
        """``(batch_id, texts, per_token)`` to send to the client, until the module closes."""
        while True:
            item = self._out.get()
            if item is _CLOSE:
                return
            yield item

    def deliver(self, answer: HostAnswer) -> None:
        """An answer from the client; a malformed one fails the call waiting on it."""
        with self._lock:
            p = self._pending.pop(answer.batch_id, None)
        if p is None:
            log.info("ignored a late or unknown answer", extra={"module_name": self.name, "batch": answer.batch_id})
            return
        try:
            if answer.error is not None:
                raise ModuleError(f"client-hosted module {self.name!r} reported an error: {answer.error}")
            p.result = self._token_rows(p, answer) if p.per_token else self._rows(p.n_texts, answer.values)
        except ModuleError as e:
            p.error = e
        p.event.set()

    def _rows(self, n_texts: int, values: np.ndarray | None) -> np.ndarray:
        n_expected = n_texts * len(self._units)
        got = 0 if values is None else values.size
        if got != n_expected:
            raise ModuleError(f"client-hosted module {self.name!r} answered {got} values for a batch of "
                              f"{n_texts} texts x {len(self._units)} units; expected {n_expected}")
        return values.reshape(n_texts, len(self._units))

    def _token_rows(self, p: _Pending, answer: HostAnswer) -> list[TokenResponses]:
        counts, tokens = list(answer.token_counts), list(answer.tokens)
        bad = (f"len(token_counts) is {len(counts)} for {p.n_texts} texts" if len(counts) != p.n_texts else
               f"a token count outside 0..{MAX_TOKENS_PER_TEXT}" if any(not 0 <= c <= MAX_TOKENS_PER_TEXT for c in counts)
               else f"{len(tokens)} tokens for token_counts summing to {sum(counts)}" if len(tokens) != sum(counts)
               else f"a token longer than {MAX_TOKEN_CHARS} characters" if any(len(t) > MAX_TOKEN_CHARS for t in tokens)
               else "")
        if bad:
            raise ModuleError(f"client-hosted module {self.name!r} answered a per-token batch with {bad}")
        if answer.values is None or answer.values.size != len(tokens) * len(self._units):
            got = 0 if answer.values is None else answer.values.size
            raise ModuleError(f"client-hosted module {self.name!r} answered {got} values for {len(tokens)} tokens x "
                              f"{len(self._units)} units; expected {len(tokens) * len(self._units)}")
        values = answer.values.reshape(len(tokens), len(self._units))
        if not np.isfinite(values).all():
            raise ModuleError(f"client-hosted module {self.name!r} answered NaN or infinite token activations")
        ends = np.cumsum(counts)
        return [TokenResponses(tuple(tokens[e - c:e]), values[e - c:e]) for c, e in zip(counts, ends)]

    def serve(self, answers: Iterable[Any], decode: Callable[[Any], HostAnswer]) -> threading.Thread:
        """Read the client's answers on a thread until the stream ends, then close."""

        def read() -> None:
            reason = "the client closed its stream"
            try:
                for msg in answers:
                    self.deliver(decode(msg))
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


class TokenHostedBank(HostedBank):
    """A client-hosted module whose client declared per-token answers (``HostHello.token_responses``):
    it has the ``token_responses`` hook of :class:`sasc.modules.base.TokenResponses`."""

    def token_responses(self, texts: Sequence[str]) -> list[TokenResponses]:
        """Each text's tokens and every unit's activation at each, from the client."""
        return [r for _, rows in self._answers(list(texts), per_token=True) for r in rows]
