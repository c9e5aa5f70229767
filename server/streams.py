"""RPC threads held by calls, counted per client and in all, so that no client can hold every
thread: other tenants and health checks always find one.

Two kinds of calls hold a thread for as long as they last: streams (WatchJob, HostModule, and
the open health Watch and reflection streams) and unary calls (Evaluate, SubmitJob, the
client-streaming RegisterModule...). :class:`CallSlots` counts both in one table; a call that
would pass its kind's per-client or total limit, or the limit of all counted calls (``--rpc-threads``
less :data:`RESERVED_THREADS`), is refused at once with RESOURCE_EXHAUSTED naming the flag.
Health ``Check`` is never counted and the reserved threads are never handed out, so it always
finds a thread.

Who is a client: the tenant of the bearer token. Without tokens every caller is the one tenant
``local`` (a single user on loopback), so the per-client limits key by connection instead
(``local@<peer>``): one flooding script cannot starve that user's other processes, and a user
running several clients at once is not limited as a whole (the total limits still apply). The
unauthenticated health Watch and reflection streams key by connection too.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import grpc

from sasc.errors import QuotaExceededError

from .auth import ANONYMOUS, SERVICE_PREFIX, behavior_kind, caller
from .config import RESERVED_THREADS, ServerConfig
from .status import status_of

UNCOUNTED = frozenset({"/grpc.health.v1.Health/Check"})
"""Methods that never take a slot (a health check must never be refused)."""


@dataclass(frozen=True)
class SlotLimit:
    """Limits of one kind of call."""

    per_client: int
    """Calls of this kind one client may have in flight."""
    per_client_flag: str
    """The flag that sets :attr:`per_client`, named in the refusal."""
    total: int
    """Calls of this kind of all clients at once."""
    total_flag: str
    """The flag that sets :attr:`total`."""
    what: str
    """What the calls are, for the refusal message."""


class CallSlots:
    """Counts of calls in flight by kind and client, with the limits they are checked against."""

    def __init__(self, limits: dict[str, SlotLimit], all_calls: int):
        self.limits, self.all_calls = dict(limits), all_calls
        self._open: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def held(self, kind: str | None = None, client: str | None = None) -> int:
        """Calls in flight now (of ``kind`` and/or ``client``; None: any)."""
        with self._lock:
            return sum(n for (k, c), n in self._open.items()
                       if (kind is None or k == kind) and (client is None or c == client))

    def take(self, client: str, kind: str) -> tuple[str, str]:
        """Take a slot of ``kind`` for ``client`` (QuotaExceededError when none is free); the caller
        gives it back with :meth:`give_back` when the call ends."""
        lim, slot = self.limits[kind], (kind, client)
        with self._lock:
            if self._open.get(slot, 0) >= lim.per_client:
                raise QuotaExceededError(f"client {client!r} already has {lim.per_client} {lim.what} in flight "
                                         f"(limit {lim.per_client_flag}): wait for one to end")
            if sum(n for (k, _), n in self._open.items() if k == kind) >= lim.total:
                raise QuotaExceededError(f"the server already serves {lim.total} {lim.what} "
                                         f"(limit {lim.total_flag}); try again later")
            if sum(self._open.values()) >= self.all_calls:
                raise QuotaExceededError(f"the server already serves {self.all_calls} calls (limit --rpc-threads "
                                         f"less {RESERVED_THREADS} threads kept for health checks); try again later")
            self._open[slot] = self._open.get(slot, 0) + 1
        return slot

    def give_back(self, slot: tuple[str, str]) -> None:
        with self._lock:
            self._open[slot] -= 1
            if not self._open[slot]:
                del self._open[slot]


def call_slots(config: ServerConfig) -> CallSlots:
    """The slots of a server with ``config``."""
    return CallSlots({
        "stream": SlotLimit(config.max_streams_per_client, "--max-streams-per-client", config.max_streams,
                            "--max-streams", "open streams (WatchJob, HostModule)"),
        "unary": SlotLimit(config.max_unary_per_client, "--max-unary-per-client", config.rpc_threads,
                           "--rpc-threads", "unary calls (Evaluate, SubmitJob, ...)"),
    }, config.rpc_threads - RESERVED_THREADS)


class SlotInterceptor(grpc.ServerInterceptor):
    """Takes a slot for every call (but :data:`UNCOUNTED`) while it runs; goes after the auth interceptor."""

    def __init__(self, slots: CallSlots, by_tenant: bool):
        self.slots, self.by_tenant = slots, by_tenant

    def _client(self, method: str, context: grpc.ServicerContext) -> str:
        if method.startswith(SERVICE_PREFIX):
            name = caller(context).name
            return name if self.by_tenant or name != ANONYMOUS else f"{ANONYMOUS}@{context.peer()}"
        return f"peer@{context.peer()}"

    def intercept_service(self, continuation, handler_call_details):  # noqa: ANN001
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method in UNCOUNTED:
            return handler
        kind = behavior_kind(handler)
        inner = getattr(handler, kind)
        take = functools.partial(self._take, method, "stream" if handler.response_streaming else "unary")
        if handler.response_streaming:
            def streaming(request, context):  # noqa: ANN001
                with take(context):
                    yield from inner(request, context)
            return handler._replace(**{kind: streaming})

        def unary(request, context):  # noqa: ANN001
            with take(context):
                return inner(request, context)
        return handler._replace(**{kind: unary})

    @contextmanager
    def _take(self, method: str, kind: str, context: grpc.ServicerContext) -> Iterator[None]:
        """Hold a slot while the call runs; a refusal aborts the call with its status."""
        try:
            slot = self.slots.take(self._client(method, context), kind)
        except QuotaExceededError as e:
            context.abort(*status_of(e))
        try:
            yield
        finally:
            self.slots.give_back(slot)
