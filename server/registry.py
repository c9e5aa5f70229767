"""Per-client module registry: stored modules (built on demand) and client-hosted ones."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from sasc.cancel import while_active
from sasc.errors import ConfigError, NotFoundError, QuotaExceededError
from sasc.explain import select_units
from sasc.modules import build_module
from sasc.modules.base import as_bank, check_finite, module_name, to_response_array

from .config import ServerConfig
from .containment import PathPolicy, check_device, default_roots, packaged_models
from .hosted import HostedBank, TokenHostedBank
from .store import ModuleRecord, Store

HOSTED_KIND = HostedBank.kind


class ModuleRegistry:
    """Modules by (owner, id). Banks are built once and kept; hosted ones live in memory only."""

    def __init__(self, store: Store, config: ServerConfig):
        self.store = store
        self.config = config
        self._banks: dict[str, Any] = {}
        self._hosted: dict[str, tuple[ModuleRecord, HostedBank]] = {}
        self._batchers: dict[str, SharedPasses] = {}
        self._lock = threading.Lock()
        self._build_lock = threading.Lock()
        self.paths = PathPolicy.from_roots(default_roots(config.data_dir, config.data_root), packaged_models())

    def array_budget(self, owner: str) -> int:
        """Array bytes ``owner`` may still register."""
        return max(0, self.config.max_array_mb_per_client * 1024 * 1024 - self.store.usage(owner)[1])

    def _check_module_quota(self, owner: str) -> None:
        n_hosted = sum(1 for rec, _ in self._hosted.values() if rec.owner == owner)
        if self.store.usage(owner)[0] + n_hosted >= self.config.max_modules_per_client:
            raise QuotaExceededError(f"client {owner!r} already has {self.config.max_modules_per_client} modules; "
                                     "delete some first")

    def register(self, owner: str, kind: str, params: dict[str, Any], display_name: str,
                 arrays: dict[str, np.ndarray]) -> ModuleRecord:
        """Build (and so validate) a module of a registered kind, then store it."""
        if kind == HOSTED_KIND:
            raise ConfigError(f"{HOSTED_KIND!r} modules are registered by opening a HostModule stream")
        self._check_module_quota(owner)
        nbytes = int(sum(a.nbytes for a in arrays.values()))
        if nbytes > self.array_budget(owner):
            raise QuotaExceededError(f"{nbytes:,} bytes of arrays exceed what client {owner!r} may still register "
                                     f"({self.array_budget(owner):,} bytes)")
        bank = self._build(kind, params, arrays)
        rec = ModuleRecord(id="mod_" + uuid.uuid4().hex[:16], owner=owner, kind=kind,
                           display_name=display_name or module_name(bank), params=params,
                           units=[str(u) for u in bank.units], fingerprint=str(getattr(bank, "fingerprint", "") or ""),
                           array_bytes=nbytes)
        self.store.add_module(rec, arrays)
        with self._lock:
            self._banks[rec.id] = bank
        return rec

    def _build(self, kind: str, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
        params = self.paths.check_params(kind, params)  # paths resolved under the data roots, or refused
        if "device" in params:
            check_device(params["device"], _cuda_count())
        try:
            bank = as_bank(build_module(kind, **params, **arrays))
            if not list(bank.units):
                raise ConfigError(f"a {kind!r} module with these parameters has no units")
            return bank
        except (ValueError, TypeError, KeyError, AttributeError, IndexError) as e:  # the request is the only input
            if isinstance(e, ConfigError):
                raise
            raise ConfigError(f"bad parameters for module kind {kind!r}: {type(e).__name__}: {str(e)[:200]}") from e
        except ImportError as e:
            raise ConfigError(f"module kind {kind!r} is not available on this server ({e.name or e})") from e

    def record(self, owner: str, module_id: str) -> ModuleRecord:
        with self._lock:
            hosted = self._hosted.get(module_id)
        if hosted is not None:
            if hosted[0].owner != owner:
                raise NotFoundError(f"no module {module_id!r}")
            return hosted[0]
        return self.store.module(owner, module_id)

    def records(self, owner: str) -> list[ModuleRecord]:
        with self._lock:
            hosted = [rec for rec, _ in self._hosted.values() if rec.owner == owner]
        return self.store.modules(owner) + hosted

    def bank(self, owner: str, module_id: str) -> Any:
        """The module ``module_id`` of ``owner``, built from the store on first use."""
        rec = self.record(owner, module_id)
        with self._lock:
            if rec.hosted:
                return self._hosted[module_id][1]
            if module_id in self._banks:
                return self._banks[module_id]
        with self._build_lock:
            if module_id not in self._banks:
                bank = self._build(rec.kind, rec.params, self.store.module_arrays(module_id))
                with self._lock:
                    self._banks[module_id] = bank
        return self._banks[module_id]

    def delete(self, owner: str, module_id: str) -> None:
        rec = self.record(owner, module_id)
        if rec.hosted:
            self.unhost(module_id, "deleted by its client")
            return
        self.store.delete_module(owner, module_id)
        with self._lock:
            self._banks.pop(module_id, None)
            self._batchers.pop(module_id, None)

    def host(self, owner: str, name: str, units: Sequence[str], max_batch: int, fingerprint: str, *,
             token_responses: bool = False) -> tuple[ModuleRecord, HostedBank]:
        """Register a client-hosted module for as long as its stream lives; ``token_responses``: the
        client answers per-token batches too (the module then has the per-token hook)."""
        self._check_module_quota(owner)
        batch = max(1, min(int(max_batch) if max_batch > 0 else self.config.hosted_max_batch, self.config.hosted_max_batch))
        name = name or "client_hosted"
        bank = (TokenHostedBank if token_responses else HostedBank)(
            name, units, batch_size=batch, deadline_s=self.config.hosted_deadline_s, window=self.config.hosted_window,
            fingerprint=fingerprint)
        rec = ModuleRecord(id="host_" + uuid.uuid4().hex[:16], owner=owner, kind=HOSTED_KIND, display_name=name,
                           params={"token_responses": True} if token_responses else {}, units=list(units),
                           fingerprint=fingerprint, hosted=True)
        with self._lock:
            self._hosted[rec.id] = (rec, bank)
        return rec, bank

    def unhost(self, module_id: str, reason: str) -> None:
        with self._lock:
            entry = self._hosted.pop(module_id, None)
        if entry is not None:
            entry[1].close(reason)

    def evaluate(self, owner: str, module_id: str, texts: list[str], units: Sequence[str | int] | None,
                 active: Callable[[], bool] = lambda: True) -> tuple[list[str], np.ndarray]:
        """``(unit names, float32 [len(texts), len(units)])`` validated for shape and finiteness.

        The request's cost is checked from its shape before any work; the texts then run in
        growing chunks, and the call stops (CancelledError) within about a chunk's time (~1 s)
        once ``active()`` turns false (the client cancelled or its deadline passed).
        """
        if len(texts) > self.config.max_texts_per_call:
            raise QuotaExceededError(f"{len(texts):,} texts in one call; at most {self.config.max_texts_per_call:,} "
                                     "(--max-texts-per-call)")
        rec = self.record(owner, module_id)
        cols = select_units(rec.units, units)
        self._check_eval_budget(len(texts), len(rec.units), len(cols))
        bank = self.bank(owner, module_id)
        names = list(bank.units)
        name = module_name(bank)
        if not texts:
            values = np.empty((0, len(names)), np.float32)
        elif isinstance(bank, HostedBank):  # batches and pipelines on its own
            values = run_chunked(texts, lambda t: to_response_array(bank.responses(t), len(t), name, len(names)), active)
        else:
            with self._lock:
                batcher = self._batchers.setdefault(module_id, SharedPasses(bank))
            values = run_chunked(texts, batcher.responses, active)
        check_finite(values, texts, name)
        return [names[c] for c in cols], values[:, cols]

    def _check_eval_budget(self, n_texts: int, n_units: int, n_selected: int) -> None:
        """Refuse an Evaluate whose responses would not fit the memory or message budget."""
        need = n_texts * n_units * 4
        if need > self.config.max_eval_mb * 2**20:
            raise QuotaExceededError(f"{n_texts:,} texts x {n_units:,} module units need {need / 2**20:,.0f} MiB of "
                                     f"responses; at most {self.config.max_eval_mb} MiB per call (--max-eval-mb): "
                                     "send fewer texts per call")
        reply = n_texts * n_selected * 4 + 64 * n_selected + 1024
        if reply > self.config.max_message_bytes:
            raise QuotaExceededError(f"the reply ({n_texts:,} texts x {n_selected:,} units) would be about "
                                     f"{reply / 2**20:,.0f} MiB; at most {self.config.max_message_mb} MiB "
                                     "(--max-message-mb): send fewer texts or select fewer units")


def run_chunked(texts: Sequence[Any], run: Callable[[list[Any]], np.ndarray], active: Callable[[], bool],
                   first: int = 64, largest: int = 4096, target_s: float = 0.25) -> np.ndarray:
    """``run`` over growing chunks of ``texts`` (doubling while a chunk takes under ``target_s``)
    into one preallocated array, checking ``active()`` before each; CancelledError once it is false."""
    out: np.ndarray | None = None
    start, size = 0, first
    check = while_active(active)
    while start < len(texts):
        check()
        t0 = time.monotonic()
        part = np.asarray(run(list(texts[start:start + size])), dtype=np.float32)
        if out is None:
            out = np.empty((len(texts), *part.shape[1:]), np.float32)
        out[start:start + len(part)] = part
        start += size
        if time.monotonic() - t0 < target_s:
            size = min(largest, size * 2)
    return out if out is not None else np.empty((0, 0), np.float32)


def _cuda_count() -> int:
    try:
        import torch
    except ImportError:  # pragma: no cover
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


class SharedPasses:
    """Concurrent Evaluate calls on one bank share forward passes (leader/follower batching).

    Whoever holds the run lock takes every queued request, runs one ``responses`` call over
    their concatenated texts and hands each caller its rows. Under load this replaces many
    small competing passes by a few large ones; alone, a call runs at once.
    """

    def __init__(self, bank: Any, max_texts: int = 8192):
        self.bank = bank
        self.max_texts = max_texts
        self._queue: list[list[Any]] = []
        self._queue_lock = threading.Lock()
        self._run_lock = threading.Lock()

    def responses(self, texts: list[str]) -> np.ndarray:
        item: list[Any] = [texts, threading.Event(), None, None]  # texts, done, values, error
        with self._queue_lock:
            self._queue.append(item)
        while not item[1].is_set():
            with self._run_lock:
                if not item[1].is_set():
                    self._run_once()
        if item[3] is not None:
            raise item[3]
        return item[2]

    def _run_once(self) -> None:
        with self._queue_lock:
            batch, size = [], 0
            while self._queue and (not batch or size + len(self._queue[0][0]) <= self.max_texts):
                batch.append(self._queue.pop(0))
                size += len(batch[-1][0])
        if not batch:
            return
        texts = [t for item in batch for t in item[0]]
        name = module_name(self.bank)
        try:
            values = to_response_array(self.bank.responses(texts), len(texts), name, len(self.bank.units))
        except Exception as e:  # noqa: BLE001 - every caller of this pass gets the error
            for item in batch:
                item[3] = e
                item[1].set()
            return
        start = 0
        for item in batch:
            item[2] = values[start:start + len(item[0])]
            start += len(item[0])
            item[1].set()
