"""A stop check on the driver (a cancelled job) reaches work out on Ray: the driver notices it while
waiting on the cluster and the workers stop, in the n-gram stage (actors) and the per-unit stage (tasks)."""

from __future__ import annotations

import dataclasses
import functools
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray")

import sasc  # noqa: E402
from distributed_fakes import RecordingHelper, SlowBatchedModule, ray_cluster  # noqa: E402,F401 - a fixture
from fakes import FOOD_CORPUS, KeywordBank, KeywordModule  # noqa: E402
from sasc.cancel import stop_check  # noqa: E402
from sasc.distributed import RayRunner, RayUnitRunner  # noqa: E402
from sasc.errors import CancelledError  # noqa: E402
from sasc.ngrams import count_ngrams  # noqa: E402
from sasc.responses import ngram_responses  # noqa: E402

GENERIC = ["The weather was mild today.", "We had soup at the market.", "Police read the paper slowly.",
           "Investors walked along the river.", "The train was late again.", "A film about bread and money."]


class Canceller:
    """A driver-side stop check that raises once :meth:`cancel` was called (by a watcher thread)."""

    def __init__(self):
        self.at: float | None = None

    def cancel(self) -> None:
        self.at = time.time()

    def __call__(self) -> None:
        if self.at is not None:
            raise CancelledError("cancelled by the test")


def _lines(path: Path) -> list[float]:
    return [float(x) for x in path.read_text().split()] if path.exists() else []


def _cancel_when(cancel: Canceller, ready, timeout_s: float = 60) -> threading.Thread:
    def watch():
        deadline = time.monotonic() + timeout_s
        while not ready() and time.monotonic() < deadline:
            time.sleep(0.02)
        cancel.cancel()
    t = threading.Thread(target=watch, daemon=True)
    t.start()
    return t


def test_a_cancel_stops_the_ngram_stage_on_ray_actors(ray_cluster, tmp_path):
    table = count_ngrams(FOOD_CORPUS)  # 127 n-grams: 8 shards of 16, 4 batches of 1.5 s each: ~24 s on 2 actors
    log = tmp_path / "batches.txt"
    # keep_workers: a stage that ends normally keeps its actors; a cancelled one must still stop them
    runner = RayRunner(functools.partial(SlowBatchedModule, str(log), 1.5), workers=2, keep_workers=True)
    cancel = Canceller()
    try:
        _cancel_when(cancel, lambda: len(_lines(log)) >= 2)  # both actors are in their first shard
        with pytest.raises(CancelledError), stop_check(cancel):
            ngram_responses(KeywordModule(), table, shard_size=16, runner=runner)
        stopped_s = time.time() - cancel.at
        time.sleep(3.5)  # longer than two batches: a shard that went on would log here
        batches = _lines(log)
    finally:
        runner.close()
    assert stopped_s < 1.0, f"the driver took {stopped_s:.2f} s to notice the cancel"
    assert max(batches) < cancel.at + 1.6, "an actor finished a batch it started after the cancel"
    assert len(batches) < 8, f"{len(batches)} of 32 batches ran"


def test_a_quiet_stop_check_changes_no_ray_result(ray_cluster, tmp_path):
    table = count_ngrams(FOOD_CORPUS)
    local = ngram_responses(KeywordModule(), table, shard_size=16)
    with stop_check(lambda: None):
        res = ngram_responses(KeywordModule(), table, shard_size=16,
                              runner=RayRunner(functools.partial(SlowBatchedModule, str(tmp_path / "log"), 0.0)))
    np.testing.assert_array_equal(res.values, local.values)


def test_a_cancel_stops_helper_calls_in_ray_unit_tasks(ray_cluster, tmp_path):
    calls_dir = tmp_path / "calls"
    calls_dir.mkdir()
    config = dataclasses.replace(sasc.ExplainConfig(), n_candidates=2, n_synthetic=3, n_bootstrap=50, n_generic=6)
    # each helper call sleeps 4 s; 2 units x several calls at most 2 at once: well over 20 s uncancelled
    units = RayUnitRunner(KeywordBank, functools.partial(RecordingHelper, str(calls_dir), 4.0), max_helper_calls=2)
    cancel = Canceller()

    def one_call_ended() -> bool:  # then 1 s more: the next calls are 1 s into their 4 s
        return any(p.read_text() for p in calls_dir.glob("calls-*.txt")) and time.sleep(1.0) is None

    watcher = _cancel_when(cancel, one_call_ended)
    t0 = time.time()
    with pytest.raises(CancelledError), stop_check(cancel):
        sasc.explain(KeywordBank(), helper="fake", corpus=FOOD_CORPUS, generic=GENERIC, config=config,
                     cache_dir=tmp_path / "c", unit_runner=units)
    stopped_s = time.time() - cancel.at
    watcher.join()
    time.sleep(5)  # longer than one helper call: a call that went on would log its end here
    ends = [float(line.split()[1]) for p in calls_dir.glob("calls-*.txt") for line in p.read_text().splitlines()]
    assert stopped_s < 1.0, f"the driver took {stopped_s:.2f} s to notice the cancel"
    assert cancel.at - t0 < 30 and not [e for e in ends if e > cancel.at], "a helper call went on after the cancel"
