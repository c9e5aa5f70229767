"""The job queue: explanation jobs off the RPC threads, persisted unit by unit, resumable.

A job runs :func:`sasc.explain` on a worker thread. Stage 1 (n-gram responses) checkpoints
shard by shard in the content-addressed response cache beside the database; stage 2 saves
every finished unit in SQLite and hands finished units back to ``explain`` on a restart.
Helper replies are cached on disk too, so a resumed job ends with the same result.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sasc.cancel import stop_check
from sasc.config import ExplainConfig
from sasc.errors import CancelledError, ConfigError, ModuleError, NotFoundError, QuotaExceededError, SascError
from sasc.explain import explain, select_units
from sasc.llm import build_backend, wrap_helper
from sasc.options import with_options
from sasc.progress import ProgressEvent
from sasc.results import UnitExplanation
from sasc.scorers import ScoreConfig, SetConfig, parse_scorers

from .config import ServerConfig
from .containment import HelperPolicy
from .registry import ModuleRegistry
from .status import status_of
from .store import FINAL_STATES, JobRecord, Store
from .tenant_cache import TenantCache, reply_dir

log = logging.getLogger("sasc.server")
MAX_JOB_CONCURRENCY = 8
DIRECTION_KINDS = ("llm_neuron", "llm_direction")
"""Module kinds a direction search accepts: their model, site and layer say where to search."""


@dataclass(frozen=True)
class JobSpec:
    """What a client asked to be explained; stored with the job as JSON."""

    module_id: str
    """Module to explain."""
    units: list[str | int] | None = None
    """Unit names or indices (None: all)."""
    corpus: str | list[str] | None = None
    """Built-in reference corpus name or inline texts (None: library default)."""
    generic: str | list[str] | None = None
    """Built-in generic corpus name or inline texts (None: library default)."""
    helper: str = "local"
    """Helper LLM spec."""
    settings: dict[str, Any] = field(default_factory=dict)
    """ExplainConfig / NgramSettings fields the client set."""
    concurrency: int = 1
    """Units explained at once."""
    scoring: dict[str, Any] = field(default_factory=dict)
    """ScoringSettings fields the client set (empty: σ only); see :func:`score_config`."""
    directions: dict[str, Any] = field(default_factory=dict)
    """DirectionSettings fields the client set; non-empty: a direction search, not an explain job."""

    def config(self) -> ExplainConfig:
        """The library config: library defaults overridden by the set fields."""
        if not 1 <= self.concurrency <= MAX_JOB_CONCURRENCY:
            raise ConfigError(f"concurrency must be in 1..{MAX_JOB_CONCURRENCY}, got {self.concurrency}")
        return with_options(ExplainConfig(), self.settings)

    def direction_config(self) -> Any:
        """The :class:`sasc.directions.DirectionConfig` of a direction search (library defaults for unset fields)."""
        from sasc.directions import DirectionConfig

        return with_options(DirectionConfig(), self.directions)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for name in ("scoring", "directions"):
            if not d[name]:  # specs stored before these existed keep their digest
                d.pop(name)
        return d

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()


SCORING_RANGES = {"n_top": (0, 500), "n_random": (0, 500), "pool_size": (1, 20_000), "excerpt_tokens": (1, 256)}
"""What one request may ask of a scoring set (each text costs helper calls per explanation)."""


def check_ranges(values: dict[str, Any], ranges: dict[str, tuple[int, int]], what: str) -> None:
    """:class:`ConfigError` for the first of ``values`` outside its ``(low, high)`` in ``ranges``
    (what one job may ask of this server); ``what`` names the kind of setting in the message."""
    for name, (low, high) in ranges.items():
        if name in values and not low <= values[name] <= high:
            raise ConfigError(f"{what} {name} must be in {low}..{high} on this server, got {values[name]}")


def score_config(scoring: dict[str, Any]) -> tuple[ScoreConfig, str]:
    """``(ScoreConfig, rank_by)`` of ScoringSettings fields (library defaults for the unset ones),
    validated whole: unknown scorer (listing the known ones), ``rank_by`` not among them, a set
    kind or size out of range are :class:`ConfigError`."""
    names = parse_scorers(scoring.get("scorers") or [])
    rank_by = scoring.get("rank_by") or "sigma"
    if rank_by != "sigma" and rank_by not in names:
        raise ConfigError(f"rank_by {rank_by!r} is not among the scorers asked for: sigma, {', '.join(names)}")
    check_ranges(scoring, SCORING_RANGES, "scoring setting")
    d = SetConfig()
    seed = int(scoring.get("seed", d.seed))
    sset = SetConfig(kind=scoring.get("set_kind", d.kind), n_top=scoring.get("n_top", d.n_top),
                     n_random=scoring.get("n_random", d.n_random), pool_size=scoring.get("pool_size", d.pool_size),
                     seed=seed, excerpts=scoring.get("excerpts", d.excerpts),
                     excerpt_tokens=scoring.get("excerpt_tokens", d.excerpt_tokens))
    return ScoreConfig(scorers=tuple(names), set=sset, sampled=bool(scoring.get("sampled", False)),
                       baseline=bool(scoring.get("baseline", True)), seed=seed,
                       token_layout=scoring.get("token_layout") or ScoreConfig.token_layout), rank_by


def unit_from_json(text: str) -> UnitExplanation:
    return UnitExplanation.from_dict(json.loads(text))


class _Shutdown(Exception):
    """The server is stopping: leave the job queued so the next start resumes it."""


class _Live:
    """In-memory state of an active job: cancel flag and the freshest progress."""

    def __init__(self, progress: dict[str, Any]):
        self.cancel = threading.Event()
        self.progress = dict(progress)
        self.saved_at = 0.0


class JobQueue:
    """Bounded worker pool over the store; watchers wait on one condition."""

    def __init__(self, store: Store, registry: ModuleRegistry, config: ServerConfig):
        self.store, self.registry, self.config = store, registry, config
        self._pool = ThreadPoolExecutor(max_workers=config.job_workers, thread_name_prefix="sasc-job")
        self._live: dict[str, _Live] = {}
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._backends: dict[str, Any] = {}
        self._backend_lock = threading.Lock()
        self.helpers = HelperPolicy.parse(config.allowed_helpers)
        if config.backend == "ray":  # join (or start) the cluster now, on the main thread, failing fast
            from sasc.distributed import connect

            connect(config.ray_address or None)

    # --------------------------------------------------------------- API

    def resume(self) -> list[str]:
        """Queue again every job a previous server left queued or running; returns their ids.
        Also starts the retention pruner (``--retention-days``)."""
        self.prune()
        if self.config.retention_days:
            threading.Thread(target=self._prune_loop, name="sasc-retention", daemon=True).start()
        ids = []
        for rec in self.store.active_jobs():
            self.store.update_job(rec.id, state="queued", resumed=rec.resumed + (rec.state == "running"))
            self._schedule(rec.id, rec.progress)
            ids.append(rec.id)
        return ids

    def submit(self, owner: str, spec: JobSpec, idempotency_key: str = "") -> JobRecord:
        module = self.registry.record(owner, spec.module_id)
        if spec.directions:
            if module.kind not in DIRECTION_KINDS:
                raise ModuleError(f"a direction search needs a module at a site of a causal LM ({', '.join(DIRECTION_KINDS)}); "
                                  f"module {spec.module_id!r} is {module.kind}")
            n_units = spec.direction_config().count
        else:
            n_units = len(select_units(module.units, spec.units))  # unknown units are refused now, not later
        if n_units > self.config.max_units_per_job:
            raise QuotaExceededError(f"{n_units} units in one job; at most {self.config.max_units_per_job}")
        if len(self.store.active_jobs(owner)) >= self.config.max_jobs_per_client:
            raise QuotaExceededError(f"client {owner!r} already has {self.config.max_jobs_per_client} queued or "
                                     "running jobs (--max-jobs-per-client); wait for one to finish or cancel one")
        self.check_storage(owner, spec)
        rec = JobRecord(id="job_" + uuid.uuid4().hex[:16], owner=owner, module_id=spec.module_id, spec=spec.to_dict(),
                        spec_hash=spec.digest(), idempotency_key=idempotency_key or None,
                        progress={"stage": "queued"})
        rec, new = self.store.add_job(rec)
        if new:
            log.info("job queued", extra={"job": rec.id, "client": owner, "module_id": spec.module_id})
            self._schedule(rec.id, rec.progress)
        return rec

    def get(self, owner: str | None, job_id: str) -> JobRecord:
        """The job with its freshest progress."""
        # live progress first, then the stored job: _finish stores the final state before it drops
        # the live entry, so a job read here is never between the two with stale stored progress
        live = self._live.get(job_id)
        progress = dict(live.progress) if live else None
        rec = self.store.job(owner, job_id)
        if progress is None or rec.state in FINAL_STATES:
            return rec
        return dataclasses.replace(rec, progress=progress)

    def cancel(self, owner: str, job_id: str) -> JobRecord:
        rec = self.store.job(owner, job_id)
        if rec.state in FINAL_STATES:
            return rec
        live = self._live.get(job_id)
        if live is not None:
            live.cancel.set()
        if rec.state == "queued":  # not started: cancel now; the worker will skip it
            self._finish(job_id, "cancelled", error=("CANCELLED", "cancelled by its client"))
        return self.get(owner, job_id)

    def delete(self, owner: str, job_id: str) -> None:
        """Delete a job with its inline corpora, saved units and result (an active one is cancelled first)."""
        rec = self.store.job(owner, job_id)
        if rec.state not in FINAL_STATES:
            self.cancel(owner, job_id)
        self.store.delete_job(owner, job_id)
        self._notify()
        log.info("job deleted", extra={"job": job_id, "client": owner})

    def prune(self, now: float | None = None) -> int:
        """Delete finished jobs older than ``--retention-days``; returns how many (0 when retention is off)."""
        if not self.config.retention_days:
            return 0
        cutoff = (time.time() if now is None else now) - self.config.retention_days * 86400
        expired = self.store.expired_jobs(cutoff)
        for owner, job_id in expired:
            self.store.delete_job(owner, job_id)
        if expired:
            log.info("expired jobs deleted", extra={"jobs": len(expired), "retention_days": self.config.retention_days})
        return len(expired)

    def _prune_loop(self, every_s: float = 600.0) -> None:
        while not self._stopping.wait(every_s):
            try:
                self.prune()
            except Exception:  # noqa: BLE001 - retention must never take the server down
                log.exception("pruning expired jobs failed")

    def check_storage(self, owner: str, spec: JobSpec) -> None:
        """Refuse a job whose spec would take ``owner`` past ``--max-storage-mb-per-client``."""
        limit = self.config.max_storage_mb_per_client * 2**20
        used = self.store.job_bytes(owner)
        need = len(json.dumps(spec.to_dict()))
        if used + need > limit:
            raise QuotaExceededError(f"client {owner!r} stores {used / 2**20:,.1f} MiB of jobs and this one adds "
                                     f"{need / 2**20:,.1f} MiB; at most {self.config.max_storage_mb_per_client} MiB "
                                     "(--max-storage-mb-per-client): delete finished jobs (DeleteJob) first")

    def watch(self, owner: str, job_id: str, active: Callable[[], bool], poll_s: float = 1.0) -> Iterator[JobRecord]:
        """Snapshots of a job whenever it changes, ending with its final state."""
        last = None
        while active():
            rec = self.get(owner, job_id)
            key = (rec.state, json.dumps(rec.progress, sort_keys=True))
            if key != last:
                last = key
                yield rec
            if rec.state in FINAL_STATES:
                return
            with self._changed:
                self._changed.wait(poll_s)

    def stop(self, wait: bool = True) -> None:
        """Stop taking work; running jobs stop at their next progress event and stay queued."""
        self._stopping.set()
        self._pool.shutdown(wait=wait, cancel_futures=True)

    # --------------------------------------------------------------- workers

    def _schedule(self, job_id: str, progress: dict[str, Any]) -> None:
        self._live[job_id] = _Live(progress)
        self._pool.submit(self._run, job_id)

    def _run(self, job_id: str) -> None:
        live = self._live.get(job_id)
        try:
            rec = self.store.job(None, job_id)
        except NotFoundError:  # deleted while it waited
            self._live.pop(job_id, None)
            return
        if live is None or rec.state != "queued" or live.cancel.is_set() or self._stopping.is_set():
            return
        self.store.update_job(job_id, state="running")
        self._notify()
        t0 = time.perf_counter()
        try:
            result = self._explain(rec, live)
        except _Shutdown:
            self.store.update_job(job_id, state="queued", progress=live.progress)
            return
        except Exception as e:  # noqa: BLE001 - a failed job is data, not a crash
            if isinstance(e, CancelledError) or live.cancel.is_set():  # whatever broke after a cancel
                self._finish(job_id, "cancelled", error=("CANCELLED", "cancelled by its client"))
                return
            code, message = status_of(e)
            if isinstance(e, SascError):
                log.info("job failed", extra={"job": job_id, "code": code.name, "error": message})
            self._finish(job_id, "failed", error=(code.name, message))
            return
        live.progress.update(stage="done", fraction=1.0)
        self._finish(job_id, "succeeded", result=result.to_json())
        log.info("job succeeded", extra={"job": job_id, "seconds": round(time.perf_counter() - t0, 3)})

    def _explain(self, rec: JobRecord, live: _Live) -> Any:
        spec = JobSpec(**rec.spec)
        self.helpers.check(spec.helper)  # the allow-list may have shrunk since the job was queued
        bank = self.registry.bank(rec.owner, rec.module_id)
        helper = wrap_helper(self._backend(spec.helper), self.reply_cache(rec.owner),
                             timeout_s=self.config.helper_timeout_s)
        finished = {col: unit_from_json(u) for col, u in self.store.units(rec.id).items()}
        corpora = {k: v for k, v in (("corpus", spec.corpus), ("generic", spec.generic)) if v is not None}

        def save(col: int, unit: UnitExplanation) -> None:
            self.store.save_unit(rec.id, col, json.dumps(dataclasses.asdict(unit), allow_nan=True))

        def stop() -> None:
            if live.cancel.is_set():
                raise CancelledError("cancelled by its client")
            if self._stopping.is_set():
                raise _Shutdown()

        def progress(ev: ProgressEvent) -> None:
            stop()
            self._progress(rec.id, live, ev, helper.usage.snapshot().calls)

        cache = TenantCache(self.config.cache_dir, rec.owner, self.config.max_cache_mb_per_client)
        if spec.directions:
            return self._find_directions(rec, spec, bank, helper, cache, stop, progress, corpora)
        runner, unit_runner = self._runners(rec, spec)
        config, rank_by = score_config(spec.scoring)
        with stop_check(stop):  # modules call it between internal batches and layers (sasc.cancel)
            result = explain(bank, units=spec.units, helper=helper, config=spec.config(), cache_dir=cache,
                             concurrency=spec.concurrency, progress=progress, finished=finished, on_unit=save,
                             runner=runner, unit_runner=unit_runner, **corpora)
            if config.scorers or rank_by != "sigma":
                from sasc.corpora import DEFAULT_REFERENCE
                from sasc.scorers.run import add_scores

                progress(ProgressEvent("scoring", 0, len(result.units), f"predictive scorers: {', '.join(config.scorers)}"))
                result = add_scores(result, bank, corpus=spec.corpus if spec.corpus is not None else DEFAULT_REFERENCE,
                                    helper=helper, config=config, rank_by=rank_by)
        if runner is not None:
            log.info("job ran on Ray", extra={"job": rec.id, "ray_shards": runner.stats.shards,
                                              "ray_restarts": runner.stats.restarts,
                                              "ray_worker_pids": runner.stats.worker_pids,
                                              "peak_helper_calls": getattr(unit_runner, "peak_helper_calls", None)})
        return result

    def _find_directions(self, rec: JobRecord, spec: JobSpec, bank: Any, helper: Any, cache: Any, stop: Any,
                         progress: Any, corpora: dict[str, Any]) -> Any:
        """A direction search job, in this process (the Ray backend is not used for it); a restarted
        search starts over, its helper replies read back from the client's reply cache."""
        from sasc.directions import CausalLMSite, find_directions

        model = self.registry.record(rec.owner, rec.module_id).params.get("model")
        site = CausalLMSite.from_bank(bank, model=model)
        with stop_check(stop):
            return find_directions(site, config=spec.direction_config(), explain_config=spec.config(), helper=helper,
                                   cache_dir=cache, progress=progress, **corpora)

    def score(self, owner: str, module_id: str, unit: str | int, explanations: list[str], corpus: Any, helper: str,
              config: ScoreConfig) -> dict[str, Any]:
        """Score ``explanations`` of one unit of ``owner``'s module on this thread (the Score RPC):
        :func:`sasc.scorers.run.score_explanations` with the server's helper backend and reply cache."""
        from sasc.corpora import DEFAULT_REFERENCE
        from sasc.scorers.run import score_explanations

        bank = self.registry.bank(owner, module_id)
        llm = wrap_helper(self._backend(helper), self.reply_cache(owner), timeout_s=self.config.helper_timeout_s)
        return score_explanations(bank, explanations, unit=unit, helper=llm, config=config,
                                  corpus=corpus if corpus is not None else DEFAULT_REFERENCE,
                                  cache_dir=self.config.cache_dir)

    def reply_cache(self, owner: str) -> Any:
        """Helper-reply cache of ``owner``'s jobs: one folder per client, so a job's ``cached_calls``
        counts only replies that client's own jobs paid for (see :mod:`server.tenant_cache`)."""
        return reply_dir(self.config.cache_dir, owner)

    def _runners(self, rec: JobRecord, spec: JobSpec) -> tuple[Any, Any]:
        """``(runner, unit_runner)`` of ``--backend`` (``(None, None)``: in this process)."""
        module = self.registry.record(rec.owner, rec.module_id)
        if self.config.backend == "local" or module.hosted:  # a hosted module lives in this process only
            return None, None
        from sasc.distributed import BackendConfig, ModuleSpec, make_runners

        source = ModuleSpec(module.kind, {**module.params, **self.store.module_arrays(module.id)})
        backend = BackendConfig("ray", self.config.ray_address, self.config.ray_workers, spec.concurrency)
        return make_runners(backend, source, spec.helper, self.config.cache_dir, self.reply_cache(rec.owner))

    def _backend(self, spec: str) -> Any:
        """One backend per helper spec for the whole server (a local model loads once)."""
        with self._backend_lock:
            if spec not in self._backends:
                model_dir = self.config.model_cache_dir or None
                self._backends[spec] = build_backend(spec, model_cache_dir=model_dir,
                                                     request_timeout_s=min(60.0, self.config.helper_timeout_s))
            return self._backends[spec]

    def _progress(self, job_id: str, live: _Live, ev: ProgressEvent, llm_calls: int) -> None:
        p = live.progress
        stage_changed = p.get("stage") != ev.stage
        p.update(stage=ev.stage, done=ev.done, total=ev.total, fraction=ev.fraction, detail=ev.detail,
                 llm_calls=llm_calls)
        if ev.stage == "responses":
            p["ngrams_scored"] = ev.done
        if ev.stage == "explain":
            p["units_done"] = ev.done
        now = time.monotonic()
        if stage_changed or now - live.saved_at > 0.5:
            live.saved_at = now
            self.store.update_job(job_id, progress=p)
        self._notify()

    def _finish(self, job_id: str, state: str, *, error: tuple[str, str] | None = None, result: str | None = None) -> None:
        live = self._live.get(job_id)
        fields: dict[str, Any] = {"state": state}
        if live is not None:
            fields["progress"] = live.progress
        if error:
            fields["error_code"], fields["error_message"] = error
        if result is not None:
            fields["result"] = result
        self.store.update_job(job_id, **fields)
        self._live.pop(job_id, None)  # only now: see get()
        self._notify()

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()
