"""Many-unit jobs on Ray: each unit's summarize + score steps run as one Ray task.

:class:`RayUnitRunner` is a :class:`sasc.explain.UnitRunner`: ``explain(..., unit_runner=...)``
hands it the units left to explain. Each task rebuilds the module and the helper LLM on its
worker (once per worker process), runs :func:`sasc.explain.explain_unit`, and returns the
unit with the helper usage it spent. Helper calls across the whole cluster pass one
:class:`HelperGate` actor, so at most ``max_helper_calls`` are in flight at once.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Union

import numpy as np

from ..errors import ConfigError
from ..llm.base import Completion, HelperLLM, Sampling
from ..ngrams import NgramTable
from ..results import UnitExplanation
from .ray_backend import _cause, connect, wait_ready
from .spec import ModuleSource, build_source, resolve_source

HelperSource = Union[str, Callable[[], HelperLLM]]
"""A helper spec string (``"local"``, ``"openai:MODEL"``...) or a picklable zero-argument factory."""

_WORKER_STATE: dict[str, tuple[Any, GatedHelper]] = {}  # per worker process, by runner token, newest last
_WORKER_STATE_SIZE = 2  # modules kept per worker process (two jobs interleaving do not rebuild)


class HelperGate:
    """Ray actor: a cluster-wide semaphore bounding concurrent helper-LLM calls.

    Permits are leases: one not released within ``lease_s`` (its holder's worker died
    mid-call, so ``release`` never came) is taken back, so dead workers cannot starve the job.
    """

    def __init__(self, permits: int, lease_s: float = 1200.0):
        self.permits, self.lease_s = permits, lease_s
        self._leases: dict[str, float] = {}  # lease id -> expiry (monotonic seconds)
        self._changed = asyncio.Condition()
        self.peak = 0
        self.reclaimed = 0

    def _reclaim(self, now: float) -> None:
        for lease in [k for k, exp in self._leases.items() if exp <= now]:
            del self._leases[lease]
            self.reclaimed += 1

    async def acquire(self) -> str:
        """Wait for a permit; returns the lease id to :meth:`release`."""
        async with self._changed:
            while True:
                now = time.monotonic()
                self._reclaim(now)
                if len(self._leases) < self.permits:
                    lease = uuid.uuid4().hex
                    self._leases[lease] = now + self.lease_s
                    self.peak = max(self.peak, len(self._leases))
                    return lease
                wait = min(self._leases.values()) - now
                try:
                    await asyncio.wait_for(self._changed.wait(), timeout=max(wait, 0.01))
                except asyncio.TimeoutError:
                    pass

    async def release(self, lease: str) -> None:
        """Give a permit back (a lease already taken back is ignored)."""
        async with self._changed:
            if self._leases.pop(lease, None) is not None:
                self._changed.notify()

    async def peak_in_use(self) -> int:
        """Most permits held at once so far."""
        return self.peak

    async def reclaimed_leases(self) -> int:
        """Permits taken back after their lease ran out."""
        return self.reclaimed


class GatedHelper:
    """A helper whose ``complete`` first takes a permit from a :class:`HelperGate`."""

    def __init__(self, inner: HelperLLM):
        self.inner = inner
        self.gate: Any = None
        self.usage = getattr(inner, "usage", None)

    @property
    def name(self) -> str:
        return self.inner.name

    def complete(self, prompt: str, *, sampling: Sampling, json_schema: dict[str, Any] | None = None) -> Completion:
        import ray

        if self.gate is None:
            return self.inner.complete(prompt, sampling=sampling, json_schema=json_schema)
        lease = ray.get(self.gate.acquire.remote())
        try:
            return self.inner.complete(prompt, sampling=sampling, json_schema=json_schema)
        finally:
            self.gate.release.remote(lease)


def _worker_state(token: str, source: Any, helper: HelperSource, reply_dir: str | None) -> tuple[Any, GatedHelper]:
    """The module and helper (its replies cached in ``reply_dir``) of this worker process, built on first use."""
    if token not in _WORKER_STATE:
        from ..explain import resolve_helper

        while len(_WORKER_STATE) >= _WORKER_STATE_SIZE:  # free the oldest job's module and helper
            _WORKER_STATE.pop(next(iter(_WORKER_STATE)))
        made = helper if isinstance(helper, str) else helper()
        _WORKER_STATE[token] = (build_source(source), GatedHelper(resolve_helper(made, reply_dir=reply_dir)))
    return _WORKER_STATE[token]


def explain_unit_task(token: str, source: Any, helper: HelperSource, reply_dir: str | None, gate: Any,
                      table: NgramTable, col: int, values: np.ndarray, generic_values: np.ndarray,
                      config: Any) -> tuple[UnitExplanation, dict[str, float]]:
    """Ray task body: one unit explained on a worker; returns it with the helper usage spent."""
    from ..explain import explain_unit

    bank, llm = _worker_state(token, source, helper, reply_dir)
    llm.gate = gate
    before = asdict(llm.usage.snapshot()) if llm.usage is not None else {}
    unit = explain_unit(bank, col, table, values, generic_values, llm, config)
    after = asdict(llm.usage.snapshot()) if llm.usage is not None else {}
    return unit, {k: after[k] - before[k] for k in after}


class RayUnitRunner:
    """Explain units as Ray tasks with a bounded number of concurrent helper calls.

    Args:
        module_spec: how workers rebuild the module (see :class:`~sasc.distributed.RayRunner`).
        helper: helper spec string or picklable factory, built once per worker process.
        cache_dir: cache root on a file system the workers share (helper replies go in its
            ``llm/``); None: the library default on each worker.
        reply_dir: the helper-reply folder itself, instead of ``<cache_dir>/llm`` (a service
            gives each tenant its own).
        max_helper_calls: helper calls in flight at once across the cluster.
        max_units_in_flight: units submitted at once (bounds object-store memory).
        cpus_per_task: CPUs reserved per unit task.
        gpus_per_task: GPUs reserved per unit task (fractions share a GPU), for modules that
            need one to score the synthetic texts.
        address: Ray cluster address (see :func:`connect`).
        max_retries: Ray's retries of a unit task whose worker died.
        helper_lease_s: a helper-call permit not given back within this many seconds is
            taken back (its worker died mid-call); keep it above the helper's own timeout.
    """

    def __init__(self, module_spec: ModuleSource | None = None, helper: HelperSource = "local", *,
                 cache_dir: str | Path | None = None, reply_dir: str | Path | None = None, max_helper_calls: int = 4,
                 max_units_in_flight: int = 64,
                 cpus_per_task: float = 1, gpus_per_task: float = 0, address: str | None = None,
                 max_retries: int = 3, helper_lease_s: float = 1200.0, init_kwargs: dict[str, Any] | None = None):
        if max_helper_calls < 1 or max_units_in_flight < 1 or helper_lease_s <= 0:
            raise ConfigError(f"max_helper_calls and max_units_in_flight must be >= 1 and helper_lease_s > 0, got "
                              f"{max_helper_calls}, {max_units_in_flight}, {helper_lease_s}")
        if not isinstance(helper, str) and not callable(helper):
            raise ConfigError("helper must be a spec string or a picklable zero-argument factory; a helper object "
                              "cannot be shipped to Ray workers")
        self.module_spec, self.helper, self.address = module_spec, helper, address
        self.cache_dir = str(cache_dir) if cache_dir is not None else None
        self.reply_dir = str(reply_dir) if reply_dir is not None else (
            str(Path(cache_dir) / "llm") if cache_dir is not None else None)
        """Where workers cache helper replies (None: the library default on each worker)."""
        self.max_helper_calls, self.max_units_in_flight = max_helper_calls, max_units_in_flight
        self.cpus_per_task, self.gpus_per_task, self.max_retries = cpus_per_task, gpus_per_task, max_retries
        self.helper_lease_s = helper_lease_s
        self.init_kwargs = dict(init_kwargs or {})
        self.peak_helper_calls = 0
        """Most helper calls in flight at once during the last :meth:`map_units`."""
        self.reclaimed_leases = 0
        """Helper permits taken back from dead workers during the last :meth:`map_units`."""

    def map_units(self, bank: Any, table: NgramTable, values: np.ndarray, generic_values: np.ndarray,
                  helper: Any, config: Any, cols: Sequence[int]) -> Iterator[UnitExplanation]:
        """``explain_unit`` for each column in ``cols``, yielded in that order.

        The driver's ``helper`` is not shipped; its ``usage`` (when present) is credited
        with what the workers spent.
        """
        if not cols:
            return
        ray = connect(self.address, **self.init_kwargs)
        source = ray.put(resolve_source(self.module_spec, bank))
        token = uuid.uuid4().hex
        gate = ray.remote(HelperGate).options(num_cpus=0, max_concurrency=1000).remote(self.max_helper_calls,
                                                                                       self.helper_lease_s)
        task = ray.remote(explain_unit_task).options(num_cpus=self.cpus_per_task, num_gpus=self.gpus_per_task,
                                                     max_retries=self.max_retries)
        table_ref = ray.put(table)
        todo, refs = deque(cols), deque()
        try:
            while todo or refs:
                while todo and len(refs) < self.max_units_in_flight:
                    col = todo.popleft()
                    refs.append(task.remote(token, source, self.helper, self.reply_dir, gate, table_ref, col,
                                            np.ascontiguousarray(values[:, col]),
                                            np.ascontiguousarray(generic_values[:, col]), config))
                wait_ready(ray, [refs[0]])  # a stop check on the driver raises here
                try:
                    unit, usage = ray.get(refs.popleft())
                except ray.exceptions.RayTaskError as e:
                    raise _cause(e) from None
                if getattr(helper, "usage", None) is not None and usage:
                    helper.usage.add(**usage)
                yield unit
        finally:
            for ref in refs:  # a cancel or an error: kill the tasks' workers (Ray starts new ones), since a
                ray.cancel(ref, force=True)  # KeyboardInterrupt leaves the helper call's own thread running
            try:
                self.peak_helper_calls = ray.get(gate.peak_in_use.remote())
                self.reclaimed_leases = ray.get(gate.reclaimed_leases.remote())
            finally:
                ray.kill(gate)
