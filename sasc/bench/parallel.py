"""Worker processes for the D3 benchmark: one helper per process, cores split between them.

On a small CPU machine llama.cpp gains little from a second thread in one process
(Qwen2.5-1.5B, 2 cores: 56.6 s with 1 thread, 54.6 s with 2 for the same 6 calls),
while two single-thread processes, pinned to a core each, ran those calls side by side
in 57.6 s and 57.8 s. In real D3 runs the two are not in step and each run took about
1.5x as long as alone, which still made 54 tasks take 45.0 min instead of 64.8. So the
benchmark runs its (setting, seed, task) runs in ``workers`` spawned processes, each
pinned to its own share of the cores, each with its own helper, module bank and judge.
Runs are independent and every record is its own file, so a crash loses at most the runs
in flight; replies go to the shared on-disk reply cache (atomic writes).

llama.cpp's arithmetic depends a little on its thread count, so a seeded reply made by
a single-thread worker can differ from the 2-thread reply (1 of 21 replies differed on
two tasks); each run is still deterministic for a given worker count, and a warm reply
cache gives the same replies whatever the count.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from ..errors import ConfigError, SascError
from ..llm.local import process_cores

WORKER_MEMORY_GIB = 4.5
"""Memory one worker needs with the embedded helper: 1.9 GB llama.cpp, the module bank,
the similarity judge and the n-gram tables of the last 2 corpora. Measured: a worker's RSS
peaked at 4.43 GiB (2.9 GiB of it anonymous) over 70 noisy-setting D3 tasks, flat after its
first few."""


def core_groups(cores: Sequence[int], workers: int) -> list[tuple[int, ...]]:
    """Split ``cores`` into ``workers`` disjoint groups (round robin); with fewer cores than
    workers, each worker gets one core and cores are shared."""
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    cores = sorted(cores)
    if not cores:
        raise ConfigError("no CPU cores to run on")
    if len(cores) < workers:
        return [(cores[i % len(cores)],) for i in range(workers)]
    return [tuple(cores[i::workers]) for i in range(workers)]


def auto_workers(cores: int, memory_gib: float, helper_is_local: bool, max_workers: int = 4) -> int:
    """Default worker count: one per core (at most ``max_workers``) for a local helper, as
    many as memory allows at :data:`WORKER_MEMORY_GIB` each; 1 for a remote helper."""
    if not helper_is_local:
        return 1
    by_memory = int(memory_gib // WORKER_MEMORY_GIB)
    return max(1, min(cores, max_workers, by_memory))


def total_memory_gib() -> float:
    """Physical memory of the machine in GiB (0 when unknown)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return 0.0


Job = tuple[str, int, int]
"""One run: (setting, seed, task index)."""

_RUN: Callable[[Job], Any] | None = None


def exit_with_parent(poll_s: float = 1.0) -> None:
    """End this process soon after its parent dies (a killed ``sasc benchmark d3`` must not leave its
    workers running on, each holding a helper model): a daemon thread watches the parent pid."""
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="sasc-parent-watch", daemon=True).start()


def _init_worker(build: Callable[[], Callable[[Job], Any]], groups: Any) -> None:
    """Pin this process to its core group, then build its run function (helper loads lazily)."""
    global _RUN
    exit_with_parent()
    cores = groups.get()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cores)  # LocalLLM and torch size their threads from the affinity
    import torch

    torch.set_num_threads(len(cores))
    _RUN = build()


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling (to reach the parent), else a SascError naming it."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return SascError(f"{type(exc).__name__}: {exc}")


def _run_job(job: Job) -> Any:
    try:
        return _RUN(job)
    except Exception as exc:
        raise _portable(exc) from None


def run_in_workers(build: Callable[[], Callable[[Job], Any]], jobs: Sequence[Job], workers: int,
                   on_done: Callable[[Job, Any], None]) -> None:
    """Run ``jobs`` (setting, seed, task index) in ``workers`` spawned processes.

    ``build``, a picklable callable (:class:`sasc.bench.d3.WorkerSpec`), is called once in each
    worker and returns the function that runs one job there.

    ``on_done(job, record)`` is called in the parent as each run finishes, in finishing
    order. There are never more workers than jobs, so every core is used. The first
    failure cancels the runs not yet started and is raised once the runs in flight have
    finished (their records are kept).
    """
    workers = max(1, min(workers, len(jobs)))  # one run alone gets all the cores
    ctx = multiprocessing.get_context("spawn")  # no fork of a process holding torch/llama threads
    groups = ctx.Queue()
    for g in core_groups(process_cores(), workers):
        groups.put(g)
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(build, groups)) as pool:
        pending = {pool.submit(_run_job, job): job for job in jobs}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_EXCEPTION)
                for fut in done:
                    job = pending.pop(fut)
                    on_done(job, fut.result())
        except BrokenProcessPool as exc:
            raise SascError(f"a D3 worker process died ({exc}); finished runs are kept, "
                            f"rerun to continue (fewer --workers if memory ran out)") from exc
        finally:
            for fut in pending:
                fut.cancel()
