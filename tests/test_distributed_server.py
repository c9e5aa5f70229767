"""`sasc serve --backend ray`: a job's n-gram stage and units run on Ray; the result equals the library's."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
import uuid

import numpy as np
import pytest

pytest.importorskip("ray")

import sasc  # noqa: E402
from distributed_fakes import ray_cluster, slow_log  # noqa: E402,F401 - a fixture
from fakes import FOOD_CORPUS, SMALL_GENERIC, KeywordModule  # noqa: E402
from sasc.client import Client  # noqa: E402
from sasc.modules.readout import LinearReadoutBank  # noqa: E402

GENERIC = SMALL_GENERIC
SETTINGS = {"n_candidates": 2, "n_synthetic": 3, "n_bootstrap": 50, "n_generic": 5}
UNITS = ["food", "markets", "crime"]


def test_service_runs_a_job_on_the_ray_backend(ray_cluster, tmp_path, caplog, extra_server):
    weights = np.random.default_rng(1).normal(size=(3, 256)).astype(np.float32)
    srv = extra_server(backend="ray", ray_workers=2, tokens="alice=ta")
    seen = []
    with Client(srv.target, token="ta") as client, caplog.at_level(logging.INFO, logger="sasc.server"):
        module = client.register_linear_readout(weights, feature_model="word_hash", units=UNITS)
        job = client.submit_job(module.id, units=["food", "crime"], corpus=FOOD_CORPUS, generic=GENERIC,
                                helper="fake", settings={**SETTINGS, "shard_size": 8})
        result = client.watch_job(job.id, progress=seen.append)
        info = client.get_job(job.id)
    config = dataclasses.replace(sasc.ExplainConfig(), **SETTINGS)
    local = sasc.explain(LinearReadoutBank(weights, "word_hash", UNITS), units=["food", "crime"], corpus=FOOD_CORPUS,
                         generic=GENERIC, helper="fake", config=config, cache_dir=tmp_path / "local")
    assert result.units == local.units and result.usage["calls"] == local.usage["calls"] > 0
    ran = [r for r in caplog.records if r.getMessage() == "job ran on Ray"]
    assert len(ran) == 1 and ran[0].ray_shards > 1 and ran[0].peak_helper_calls == 1
    assert len(ran[0].ray_worker_pids) == 2 and os.getpid() not in ran[0].ray_worker_pids
    n_ngrams = result.reference_corpus["n_ngrams"]
    responses = [e for e in seen if e.stage == "responses"]  # the stream may coalesce events, never reorder them
    assert responses and all(e.total == n_ngrams for e in responses)
    assert [e.done for e in responses] == sorted(e.done for e in responses)
    assert (info.state, info.ngrams_scored, info.units_done) == ("succeeded", n_ngrams, 2)
    assert [e.done for e in seen if e.stage == "explain"][-1] == 2
    # the Ray workers cached alice's helper replies in her own folder, as the in-process path does
    mine, shared = srv.jobs.reply_cache("alice"), srv.jobs.config.cache_dir / "llm"
    assert mine != shared and any(p.is_file() for p in mine.rglob("*"))
    assert not [p for p in shared.rglob("*") if p.is_file() and not p.is_relative_to(shared / "clients")]


def test_ray_unit_runner_reply_folder(tmp_path):
    from sasc.distributed import BackendConfig, make_runners
    from sasc.distributed.units import _worker_state

    _, units = make_runners(BackendConfig("ray"), None, "fake", tmp_path / "cache", reply_dir=tmp_path / "mine")
    assert units.reply_dir == str(tmp_path / "mine")
    assert make_runners(BackendConfig("ray"), None, "fake", tmp_path / "cache")[1].reply_dir == \
        str(tmp_path / "cache" / "llm")  # the library default, unchanged
    _, llm = _worker_state("reply-folder-test", KeywordModule, "fake", units.reply_dir)  # what a worker builds, no cluster
    llm.complete("Say something about food.", sampling=sasc.Sampling())
    assert any(p.is_file() for p in (tmp_path / "mine").rglob("*")) and not (tmp_path / "cache").exists()


def test_a_cancelled_ray_job_stops_its_workers(ray_cluster, extra_server):
    tag = uuid.uuid4().hex
    log = slow_log(tag)
    srv = extra_server(backend="ray", ray_workers=2, tokens="alice=ta")
    try:
        with Client(srv.target, token="ta") as client:
            # 127 n-grams in shards of 16: 32 internal batches of 1.5 s on 2 workers, ~24 s uncancelled
            module = client.register_module("ray_slow_batched", {"tag": tag, "delay_s": 1.5})
            job = client.submit_job(module.id, corpus=FOOD_CORPUS, generic=GENERIC, helper="fake",
                                    settings={**SETTINGS, "shard_size": 16})
            deadline = time.monotonic() + 60
            while len(log.read_text().split() if log.exists() else []) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)  # both workers are in their first shard
            client.cancel_job(job.id)
            cancelled_at = time.time()
            while client.get_job(job.id).state != "cancelled" and time.time() < cancelled_at + 10:
                time.sleep(0.05)
            stopped_s = time.time() - cancelled_at
            assert client.get_job(job.id).state == "cancelled"
        time.sleep(3.5)  # two batches: a worker that went on would log here
        batches = [float(x) for x in log.read_text().split()]
    finally:
        log.unlink(missing_ok=True)
    assert stopped_s < 2.0, f"the job took {stopped_s:.2f} s to reach 'cancelled'"
    assert max(batches) < cancelled_at + 1.6 and len(batches) < 8, f"{len(batches)} of 32 batches ran"
