"""The Ray backend on a local 2-CPU cluster: equal to the local backend, survives a killed worker,
resumes without recomputing finished shards, fans many-unit jobs out with bounded helper calls."""

from __future__ import annotations

import dataclasses
import functools
import json
import time

import numpy as np
import pytest

pytest.importorskip("ray")

import sasc  # noqa: E402
from distributed_fakes import (  # noqa: E402,F401 - ray_cluster is a fixture
    CrashingModule, DyingHelper, KeywordBank, NaNModule, RecordingHelper, max_overlap, ray_cluster,
)
from fakes import FOOD_CORPUS, KeywordModule, topical_reply  # noqa: E402
from sasc.cache import ResponseCache  # noqa: E402
from sasc.distributed import ModuleSpec, RayRunner, RayUnitRunner  # noqa: E402
from sasc.errors import ConfigError, ModuleError, NonFiniteResponseError  # noqa: E402
from sasc.llm import ScriptedLLM  # noqa: E402
from sasc.ngrams import count_ngrams  # noqa: E402
from sasc.responses import ngram_responses, plan_shards  # noqa: E402

SETTINGS = dict(n_candidates=2, n_synthetic=3, n_bootstrap=50, n_generic=6)
GENERIC = ["The weather was mild today.", "We had soup at the market.", "Police read the paper slowly.",
           "Investors walked along the river.", "The train was late again.", "A film about bread and money."]


def test_equal_to_local_with_cache_and_progress(ray_cluster, tmp_path):
    table = count_ngrams(FOOD_CORPUS)
    local = ngram_responses(KeywordBank(), table, shard_size=7)
    events = []
    runner = RayRunner(KeywordBank, workers=2)
    res = ngram_responses(KeywordBank(), table, shard_size=7, runner=runner, cache=ResponseCache(tmp_path),
                          progress=events.append)
    np.testing.assert_array_equal(res.values, local.values)
    assert res.units == local.units and res.n_evaluated == local.n_evaluated == len(table)
    n_shards = len(plan_shards(KeywordBank(), table.ngrams, 7)[0])
    assert len(set(runner.stats.worker_pids)) == 2 and runner.stats.shards == n_shards
    assert events[-1].done == events[-1].total == len(table)
    assert [e.done for e in events] == sorted(e.done for e in events)
    again = ngram_responses(KeywordBank(), table, runner=RayRunner(KeywordBank), cache=ResponseCache(tmp_path))
    assert again.from_cache and again.cache_key == res.cache_key  # the same content-addressed cache


def test_killed_worker_mid_stage_loses_no_finished_shard(ray_cluster, tmp_path, caplog):
    table = count_ngrams(FOOD_CORPUS)
    shards, _ = plan_shards(KeywordModule(), table.ngrams, 5)
    log = tmp_path / "batches.jsonl"
    crashed, first_delivery = tmp_path / "crashed", tmp_path / "delivered"
    factory = functools.partial(CrashingModule, str(crashed), str(log), 3, wait_for=str(first_delivery))
    events, delivered = [], []
    runner = RayRunner(factory, workers=2, shards_in_flight=2)

    class Recording:  # records each shard's arrival at the driver, and whether the crash had happened yet
        def run(self, bank, texts, todo, on_done):
            def record(shard, values):
                delivered.append((shard.index, crashed.exists()))
                first_delivery.touch()
                on_done(shard, values)

            runner.run(bank, texts, todo, record)

    res = ngram_responses(KeywordModule(), table, shard_size=5, runner=Recording(), progress=events.append)
    assert runner.stats.restarts == 1 and 1 <= runner.stats.resubmitted <= 2  # only the dead actor's shards
    assert [r.levelname for r in caplog.records if "Ray worker died" in r.getMessage()] == ["WARNING"]  # said once
    np.testing.assert_array_equal(res.values[:, 0], KeywordModule()(table.ngrams))
    assert sorted(i for i, _ in delivered) == [s.index for s in shards]  # each shard delivered once
    scored = [tuple(json.loads(line)) for line in log.read_text().splitlines()]
    before = [i for i, after_crash in delivered if not after_crash]
    assert before and all(scored.count(tuple(table.ngrams[r] for r in shards[i].rows)) == 1 for i in before)
    assert len(set(scored)) == len(shards) and len(scored) - len(shards) <= 2  # rescored: the lost in-flight ones
    assert events[-1].done == events[-1].total == len(table)


def test_interrupted_ray_stage_resumes_from_cached_shards(ray_cluster, tmp_path):
    table = count_ngrams(FOOD_CORPUS)
    cache = ResponseCache(tmp_path / "cache")
    seen = []

    def stop_after_four(ev):
        seen.append(ev)
        if ev.done and len(seen) > 4:
            raise sasc.CancelledError("stop")

    with pytest.raises(sasc.CancelledError):
        ngram_responses(KeywordModule(), table, shard_size=5, cache=cache, runner=RayRunner(KeywordModule),
                        progress=stop_after_four)
    log = tmp_path / "batches.jsonl"
    factory = functools.partial(CrashingModule, str(tmp_path / "never"), str(log), 10**9)
    res = ngram_responses(KeywordModule(), table, shard_size=5, cache=cache, runner=RayRunner(factory))
    rescored = sum(len(json.loads(line)) for line in log.read_text().splitlines())
    assert rescored == res.n_evaluated == len(table) - 4 * 5  # the 4 finished shards were not recomputed
    np.testing.assert_array_equal(res.values[:, 0], KeywordModule()(table.ngrams))


def test_a_worker_that_keeps_dying_is_a_clear_error(ray_cluster, tmp_path):
    table = count_ngrams(FOOD_CORPUS)
    factory = functools.partial(CrashingModule, str(tmp_path / "m"), str(tmp_path / "log"), 1, False)
    with pytest.raises(ModuleError, match="lost its Ray worker 2 times"):
        ngram_responses(KeywordModule(), table, shard_size=50, runner=RayRunner(factory, workers=1, max_retries=1))


def test_module_errors_on_workers_keep_their_type(ray_cluster):
    table = count_ngrams(["good bad"])
    with pytest.raises(NonFiniteResponseError, match="'bad'"):
        ngram_responses(NaNModule(), table, runner=RayRunner(NaNModule, workers=1))


def test_a_module_without_spec_is_refused_clearly(ray_cluster):
    with pytest.raises(ConfigError, match="carries no spec"):
        ngram_responses(KeywordModule(), count_ngrams(["a b"]), runner=RayRunner())


def local_run(tmp_path):
    """(explain kwargs, the local result for KeywordBank, an empty folder for helper-call logs)."""
    config = dataclasses.replace(sasc.ExplainConfig(), **SETTINGS)
    kw = dict(corpus=FOOD_CORPUS, generic=GENERIC, config=config, cache_dir=tmp_path / "c")
    calls_dir = tmp_path / "calls"
    calls_dir.mkdir()
    return kw, sasc.explain(KeywordBank(), helper=ScriptedLLM(topical_reply), **kw), calls_dir


def test_many_units_on_ray_equal_local_with_bounded_helper_calls(ray_cluster, tmp_path):
    kw, local, calls_dir = local_run(tmp_path)
    units = RayUnitRunner(KeywordBank, functools.partial(RecordingHelper, str(calls_dir)), max_helper_calls=1)
    seen, saved = [], {}
    res = sasc.explain(KeywordBank(), helper=ScriptedLLM(topical_reply), unit_runner=units, progress=seen.append,
                       on_unit=saved.__setitem__, **kw)
    assert res.units == local.units and len(res.units) == 3
    assert all(np.isfinite(c.score.sigma) for u in res.units for c in u.candidates)  # NaN != NaN would hide nothing
    assert res.usage["calls"] == local.usage["calls"] > 0  # worker usage credited to the driver's helper
    n_calls, peak = max_overlap(str(calls_dir))
    assert n_calls == local.usage["calls"] and peak == 1 == units.peak_helper_calls
    assert sorted(saved) == [0, 1, 2] and [e.done for e in seen if e.stage == "explain"] == [0, 1, 2, 3]
    resumed = sasc.explain(KeywordBank(), helper=ScriptedLLM(topical_reply), unit_runner=units,
                           finished={0: res.units[0], 2: res.units[2]}, **kw)
    assert resumed.units == local.units and units.peak_helper_calls == 1


def test_helper_calls_overlap_when_the_bound_allows(ray_cluster, tmp_path):
    config = dataclasses.replace(sasc.ExplainConfig(), **SETTINGS)
    calls_dir = tmp_path / "calls"
    calls_dir.mkdir()
    units = RayUnitRunner(KeywordBank, functools.partial(RecordingHelper, str(calls_dir), 0.3), max_helper_calls=2)
    sasc.explain(KeywordBank(), helper="fake", corpus=FOOD_CORPUS, generic=GENERIC, config=config,
                 cache_dir=tmp_path / "c", unit_runner=units)
    assert max_overlap(str(calls_dir))[1] == 2 == units.peak_helper_calls  # so the bound of 1 above is real


def test_permit_of_a_worker_that_died_mid_call_is_taken_back(ray_cluster, tmp_path):
    kw, local, calls_dir = local_run(tmp_path)
    # one permit: without taking it back from the dead worker, the retried unit would wait forever
    units = RayUnitRunner(KeywordBank, functools.partial(DyingHelper, str(calls_dir), str(tmp_path / "died")),
                          max_helper_calls=1, helper_lease_s=2)
    t = time.monotonic()
    res = sasc.explain(KeywordBank(), helper=ScriptedLLM(topical_reply), unit_runner=units, **kw)
    # the lease count is the check; the time bound only says it did not wait on the dead worker's permit
    # for long (loose: Ray's start-up alone took 116-161 s on 2 loaded cores)
    assert (tmp_path / "died").exists() and units.reclaimed_leases == 1 and time.monotonic() - t < 400
    assert res.units == local.units and max_overlap(str(calls_dir))[1] == 1


@pytest.mark.slow
def test_minilm_on_ray_equals_local(ray_cluster, minilm_food):
    from sasc.corpora import load_corpus

    table = count_ngrams(load_corpus("news100").texts[:1])
    assert 200 <= len(table) <= 2000
    local = ngram_responses(minilm_food, table, shard_size=128)
    built = sasc.build_module("embedding_distance", keyphrases=["food", "violence"])  # records its spec
    runner = RayRunner(workers=2)
    res = ngram_responses(built, table, shard_size=128, runner=runner)
    np.testing.assert_allclose(res.values, local.values, rtol=0, atol=1e-5)
    for col in range(2):
        assert list(np.argsort(-res.values[:, col])[:20]) == list(np.argsort(-local.values[:, col])[:20])
    wrong = RayRunner(ModuleSpec("embedding_distance", {"keyphrases": ["sports", "violence"]}), workers=1)
    with pytest.raises(ConfigError, match="differs"):
        ngram_responses(minilm_food, table, runner=wrong)


def test_cli_backend_ray_gives_the_local_result(ray_cluster, tmp_path):
    from sasc.cli import main

    weights = np.random.default_rng(2).normal(size=(2, 256)).round(3).tolist()
    spec = json.dumps({"kind": "linear_readout", "weights": weights, "feature_model": "word_hash",
                       "units": ["a", "b"]})
    (tmp_path / "ref.txt").write_text("\n".join(FOOD_CORPUS))
    (tmp_path / "gen.txt").write_text("\n".join(GENERIC))
    outs = {}
    for backend in ("local", "ray"):
        out = tmp_path / f"{backend}.json"
        argv = ["explain", "-m", spec, "--corpus", str(tmp_path / "ref.txt"), "--generic", str(tmp_path / "gen.txt"),
                "--helper", "fake", "--candidates", "2", "--synthetic", "3", "--generic-size", "6", "-q",
                "--cache-dir", str(tmp_path / backend), "--out", str(out), "--backend", backend]
        assert main(argv) == 0
        outs[backend] = json.loads(out.read_text())
    assert outs["ray"]["units"] == outs["local"]["units"] and len(outs["ray"]["units"]) == 2
    assert outs["ray"]["usage"]["calls"] == outs["local"]["usage"]["calls"] > 0
    from sasc.cli import backend_runners, build_parser

    args = build_parser().parse_args(["explain", "-m", spec, "--backend", "ray", "--ray-address", "auto",
                                      "--ray-workers", "3", "--helper", "fake", "--concurrency", "4"])
    runner, units = backend_runners(args)
    assert isinstance(runner, RayRunner) and (runner.workers, runner.address) == (3, "auto")
    assert isinstance(units, RayUnitRunner) and (units.helper, units.max_helper_calls) == ("fake", 4)
    assert runner.module_spec.kind == "linear_readout"
    assert backend_runners(build_parser().parse_args(["explain"])) == (None, None)
