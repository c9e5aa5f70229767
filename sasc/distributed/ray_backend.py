"""A Ray backend for the n-gram stage: shards scored by actors that each hold the module.

``ngram_responses(bank, table, runner=RayRunner(...))`` plans the same shards as the local
backend; each Ray actor builds the module once from its spec (GPU actors when the cluster
has GPUs), receives each shard's texts and returns its values; the driver hands every
finished shard to the core (``on_done``), which writes it to the response cache at once,
so a crash or a cancel never loses finished shards. An actor that dies is replaced and only
its unfinished shards are sent again, a bounded number of times.
"""

from __future__ import annotations

import logging
import pickle
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..cancel import checkpoint
from ..errors import ConfigError, ModuleError, SascError
from ..modules.base import fingerprint, is_cacheable, module_name
from ..responses import WorkShard, score_shard
from .spec import ModuleSource, build_source, resolve_source

log = logging.getLogger("sasc.distributed")


def import_ray() -> Any:
    """The ``ray`` module, or a clear error naming the extra to install."""
    try:
        import ray
    except ImportError as e:
        raise ConfigError("the Ray backend needs Ray: pip install 'sasc[ray]'") from e
    return ray


def connect(address: str | None = None, **init_kwargs: Any) -> Any:
    """Join the Ray cluster at ``address`` (None: an existing one in this process, else a new local one)."""
    ray = import_ray()
    if not ray.is_initialized():
        init_kwargs.setdefault("include_dashboard", False)
        init_kwargs.setdefault("log_to_driver", False)
        ray.init(address=address or None, **init_kwargs)
    return ray


POLL_S = 0.2
"""Seconds between the driver's stop checks while it waits on Ray work."""


def wait_ready(ray: Any, refs: list[Any], *, num_returns: int = 1, timeout_s: float | None = None) -> list[Any]:
    """``ray.wait`` for ``num_returns`` of ``refs``, calling :func:`sasc.cancel.checkpoint` every
    :data:`POLL_S` seconds, so a stop check installed on the driver (a cancelled job) acts while
    work is out on the cluster; returns the ready refs (fewer only when ``timeout_s`` passed)."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        checkpoint()
        wait = POLL_S if deadline is None else max(0.0, min(POLL_S, deadline - time.monotonic()))
        ready, _ = ray.wait(refs, num_returns=num_returns, timeout=wait)
        if len(ready) >= num_returns or (deadline is not None and time.monotonic() >= deadline):
            return ready


class ShardWorker:
    """Ray actor body: builds the module once, then scores shards of texts."""

    def __init__(self, source: Any):
        self.error: BaseException | None = None
        try:
            self.bank = build_source(source)
        except BaseException as e:  # noqa: BLE001 - reported by identity(), where it can be re-raised
            self.error = e

    def identity(self) -> tuple[str | None, list[str], str, int]:
        """(fingerprint, units, device, pid) of the module built here; re-raises a build error."""
        import os

        if self.error is not None:
            raise self.error
        fp = fingerprint(self.bank) if is_cacheable(self.bank) else None
        return fp, [str(u) for u in self.bank.units], str(getattr(self.bank, "device", "cpu")), os.getpid()

    def score(self, texts: list[str]) -> tuple[np.ndarray, float]:
        """(values float32 ``[len(texts), n_units]``, seconds spent scoring)."""
        t = time.perf_counter()
        values = score_shard(self.bank, texts, WorkShard(0, np.arange(len(texts))))
        return values, time.perf_counter() - t


@dataclass
class RayStageStats:
    """What one :meth:`RayRunner.run` did; measured on the driver (bytes: pickled sizes)."""

    shards: int = 0
    """Shards finished."""
    texts: int = 0
    """Texts scored in finished shards."""
    bytes_sent: int = 0
    """Pickled bytes of shard texts sent to workers (resent shards included)."""
    bytes_received: int = 0
    """Bytes of values received (float32)."""
    worker_seconds: float = 0.0
    """Sum of seconds actors spent scoring finished shards."""
    startup_seconds: float = 0.0
    """Seconds from starting actors (in :meth:`RayRunner.prepare` when the core called it, so
    overlapping the driver's shard planning) to all of them having built the module."""
    wall_seconds: float = 0.0
    """Seconds of the whole run on the driver."""
    restarts: int = 0
    """Actors replaced after dying."""
    resubmitted: int = 0
    """Shards sent again because their actor died."""
    worker_pids: list[int] = field(default_factory=list)
    """Process ids of the actors used, in start order."""


@dataclass
class _Slot:
    actor: Any
    generation: int = 0
    load: int = 0


class RayRunner:
    """A :class:`sasc.responses.ShardRunner` that scores shards on Ray actors.

    Args:
        module_spec: how workers rebuild the module: a :class:`ModuleSpec`, a spec string,
            or a picklable zero-argument factory; None uses the spec ``build_module`` recorded
            on the bank, and raises :class:`ConfigError` when there is none.
        workers: actors (one module load each).
        address: Ray cluster address (None: the cluster this process already joined, else a
            new local one); ``"auto"`` joins a running head node.
        cpus_per_worker: CPUs reserved per actor (torch threads follow it).
        gpus_per_worker: GPUs per actor; None: 1 when the cluster has GPUs, else 0.
        shards_in_flight: shards queued per actor, so transfers overlap compute.
        max_retries: times one shard may be resent after its actor died before giving up.
        keep_workers: keep actors alive between runs (call :meth:`close`); the default
            frees their CPUs/GPUs when a stage ends. A stage stopped by an error or a cancel
            kills its actors either way, so no shard goes on running.
        startup_timeout_s: seconds to wait for actors to be placed and build the module.
    """

    def __init__(self, module_spec: ModuleSource | None = None, *, workers: int = 2, address: str | None = None,
                 cpus_per_worker: float = 1, gpus_per_worker: float | None = None, shards_in_flight: int = 2,
                 max_retries: int = 3, keep_workers: bool = False, startup_timeout_s: float = 600,
                 init_kwargs: dict[str, Any] | None = None):
        if workers < 1 or shards_in_flight < 1 or max_retries < 0:
            raise ConfigError(f"need workers >= 1, shards_in_flight >= 1, max_retries >= 0; got {workers}, "
                              f"{shards_in_flight}, {max_retries}")
        self.module_spec, self.workers, self.address = module_spec, workers, address
        self.cpus_per_worker, self.gpus_per_worker = cpus_per_worker, gpus_per_worker
        self.shards_in_flight, self.max_retries, self.keep_workers = shards_in_flight, max_retries, keep_workers
        self.startup_timeout_s = startup_timeout_s
        self.init_kwargs = dict(init_kwargs or {})
        self.stats = RayStageStats()
        self._slots: list[_Slot] = []
        self._source_ref: Any = None
        self._pool_key: Any = None
        self._checked = False
        self._started_at = 0.0

    # ------------------------------------------------------------------ pool

    def _new_actor(self, ray: Any) -> Any:
        gpus = self.gpus_per_worker
        if gpus is None:
            gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        cls = ray.remote(ShardWorker).options(num_cpus=self.cpus_per_worker, num_gpus=gpus, max_restarts=0,
                                              max_task_retries=0, name=f"sasc-shard-{uuid.uuid4().hex[:8]}")
        return cls.remote(self._source_ref)

    def _check_identity(self, ray: Any, actors: list[Any], bank: Any) -> None:
        """Wait for the actors to build the module; refuse one that differs from the driver's."""
        refs = [a.identity.remote() for a in actors]
        try:
            ready = wait_ready(ray, refs, num_returns=len(refs), timeout_s=self.startup_timeout_s)
            if len(ready) < len(refs):
                raise ray.exceptions.GetTimeoutError()
            ids = ray.get(refs)
        except ray.exceptions.RayTaskError as e:
            raise _cause(e) from None
        except ray.exceptions.GetTimeoutError:
            raise ConfigError(f"{len(actors)} Ray worker(s) asking for {self.cpus_per_worker} CPU(s) and "
                              f"{self.gpus_per_worker if self.gpus_per_worker is not None else 'auto'} GPU(s) each did "
                              f"not start within {self.startup_timeout_s:.0f} s; the cluster has "
                              f"{ray.available_resources()} free of {ray.cluster_resources()}") from None
        want_fp = fingerprint(bank) if is_cacheable(bank) else None
        for fp, units, _device, pid in ids:
            self.stats.worker_pids.append(pid)
            if units != [str(u) for u in bank.units] or (want_fp is not None and fp != want_fp):
                raise ConfigError(f"the module Ray workers built from the spec differs from {module_name(bank)!r} "
                                  f"(worker fingerprint {fp}, units {units[:5]}; driver fingerprint {want_fp}, units "
                                  f"{list(bank.units)[:5]}); pass the spec the module was built from")

    def prepare(self, bank: Any) -> None:
        """Start the actors without waiting for them: they import and build the module while the
        driver plans shards. The next :meth:`run` waits for them; :meth:`abandon` frees them."""
        self._start_pool(connect(self.address, **self.init_kwargs), bank)

    def abandon(self) -> None:
        """The stage failed before :meth:`run`: free prepared actors unless ``keep_workers``."""
        if not self.keep_workers:
            self.close()

    def _start_pool(self, ray: Any, bank: Any) -> None:
        source = resolve_source(self.module_spec, bank)
        key = (id(self.module_spec), id(bank), fingerprint(bank))
        if self._slots and self._pool_key == key:
            return
        self.close()
        self._started_at = time.perf_counter()
        self._source_ref = ray.put(source)
        self._slots = [_Slot(self._new_actor(ray)) for _ in range(self.workers)]
        self._pool_key, self._checked = key, False

    def _ensure_pool(self, ray: Any, bank: Any) -> None:
        self._start_pool(ray, bank)
        if not self._checked:
            self._check_identity(ray, [s.actor for s in self._slots], bank)
            self._checked = True
            self.stats.startup_seconds = time.perf_counter() - self._started_at

    def _replace(self, ray: Any, slot: _Slot, bank: Any) -> None:
        ray.kill(slot.actor, no_restart=True)
        slot.actor, slot.generation, slot.load = self._new_actor(ray), slot.generation + 1, 0
        self.stats.restarts += 1
        self._check_identity(ray, [slot.actor], bank)

    def close(self) -> None:
        """Kill the actors (a later run starts new ones)."""
        if self._slots:
            ray = import_ray()
            for s in self._slots:
                try:
                    ray.kill(s.actor, no_restart=True)
                except Exception:  # noqa: BLE001 - already gone
                    pass
        self._slots, self._source_ref, self._pool_key, self._checked = [], None, None, False

    def __enter__(self) -> RayRunner:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ run

    def run(self, bank: Any, texts: Sequence[str], shards: Sequence[WorkShard],
            on_done: Callable[[WorkShard, np.ndarray], None]) -> None:
        """Score ``shards`` on the actors; ``on_done`` runs on the driver as each finishes, in any order."""
        self.stats = RayStageStats()
        if not shards:
            if not self.keep_workers:
                self.close()  # actors a prepare() started
            return
        t0 = time.perf_counter()
        ray = connect(self.address, **self.init_kwargs)
        finished = False
        try:
            self._ensure_pool(ray, bank)
            self._schedule(ray, bank, texts, shards, on_done)
            finished = True
        finally:
            self.stats.wall_seconds = time.perf_counter() - t0
            # a cancel or an error: kill the actors even when kept, since ray.cancel stops neither an
            # actor's running method nor, at once, its queued ones (Ray delivers those cancels ~2 s late)
            if not self.keep_workers or not finished:
                self.close()

    def _schedule(self, ray: Any, bank: Any, texts: Sequence[str], shards: Sequence[WorkShard],
                  on_done: Callable[[WorkShard, np.ndarray], None]) -> None:
        pending = deque(shards)
        lost: dict[int, int] = {}
        inflight: dict[Any, tuple[WorkShard, _Slot, int]] = {}
        try:
            while pending or inflight:
                for slot in self._slots:
                    while pending and slot.load < self.shards_in_flight:
                        shard = pending.popleft()
                        batch = [texts[i] for i in shard.rows]
                        self.stats.bytes_sent += len(pickle.dumps(batch, protocol=5))
                        inflight[slot.actor.score.remote(batch)] = (shard, slot, slot.generation)
                        slot.load += 1
                ready = wait_ready(ray, list(inflight))  # a stop check on the driver raises here
                shard, slot, gen = inflight.pop(ready[0])
                try:
                    values, seconds = ray.get(ready[0])
                except ray.exceptions.RayActorError as e:
                    self._lost(ray, bank, shard, slot, gen, lost, e)
                    pending.appendleft(shard)
                    continue
                except ray.exceptions.RayTaskError as e:
                    raise _cause(e) from None
                if gen == slot.generation:
                    slot.load -= 1
                self.stats.shards += 1
                self.stats.texts += len(shard.rows)
                self.stats.bytes_received += values.nbytes
                self.stats.worker_seconds += seconds
                on_done(shard, values)
        finally:
            for ref in inflight:  # an error or a cancel: drop what is still queued (run() then kills the actors)
                try:
                    ray.cancel(ref, force=False)
                except Exception:  # noqa: BLE001 - finished or gone meanwhile
                    pass

    def _lost(self, ray: Any, bank: Any, shard: WorkShard, slot: _Slot, gen: int, lost: dict[int, int],
              error: Exception) -> None:
        """Count a shard lost with its actor; replace the actor once per death."""
        lost[shard.index] = lost.get(shard.index, 0) + 1
        self.stats.resubmitted += 1
        if lost[shard.index] > self.max_retries:
            raise ModuleError(f"shard {shard.index} ({len(shard.rows)} texts) lost its Ray worker "
                              f"{lost[shard.index]} times; giving up (finished shards are kept in the response "
                              f"cache and a rerun resumes from them). Last error: {str(error)[:300]}") from None
        if gen == slot.generation:
            log.warning("a Ray worker died scoring shard %d (%d texts); starting a new one and resending the "
                        "shards it held. %s", shard.index, len(shard.rows), str(error)[:200])
            self._replace(ray, slot, bank)


def _cause(error: Exception) -> Exception:
    """The sasc error inside a Ray task error, or a ModuleError describing it."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, SascError):
        return cause
    return ModuleError(f"a Ray worker failed: {cause!r}" if cause is not None else f"a Ray worker failed: {error}")
