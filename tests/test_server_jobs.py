"""Explanation jobs over RPC: submit, watch, get, list, cancel, idempotency; results equal the library's."""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest
from fakes import FOOD_CORPUS, SMALL_GENERIC

import sasc
from sasc.client import Client
from sasc.errors import ConfigError, NotFoundError, QuotaExceededError
from sasc.modules.readout import LinearReadoutBank

GENERIC = SMALL_GENERIC
SETTINGS = {"n_candidates": 2, "n_synthetic": 3, "n_bootstrap": 50, "n_generic": 5}
UNITS = ["food", "markets", "crime"]


SERVER_SETTINGS = {"max_jobs_per_client": 3}
"""Of the module's server (the ``server`` fixture of conftest.py)."""


@pytest.fixture(scope="module")
def weights():
    return np.random.default_rng(1).normal(size=(3, 256)).astype(np.float32)


@pytest.fixture(scope="module")
def module(client, weights):
    return client.register_linear_readout(weights, feature_model="word_hash", units=UNITS)


def test_job_result_equals_the_library_run(client, module, weights, tmp_path):
    seen = []
    result = client.explain(module.id, units=["food", "crime"], corpus=FOOD_CORPUS, generic=GENERIC, helper="fake",
                            settings=SETTINGS, progress=seen.append)
    config = dataclasses.replace(sasc.ExplainConfig(), **SETTINGS)
    local = sasc.explain(LinearReadoutBank(weights, "word_hash", UNITS), units=["food", "crime"], corpus=FOOD_CORPUS,
                         generic=GENERIC, helper="fake", config=config, cache_dir=tmp_path)
    assert isinstance(result, sasc.ExplainResult)
    assert result.units == local.units
    assert result.config == local.config and result.module["fingerprint"] == module.fingerprint
    assert result.reference_corpus["n_ngrams"] == local.reference_corpus["n_ngrams"]
    assert result.usage["calls"] > 0 and "explain_s" in result.timings
    stages = [e.stage for e in seen]
    # the stream sends job snapshots, so a stage shorter than a snapshot may be skipped; never out of order
    assert "explain" in stages and "responses" not in stages[stages.index("explain"):]
    explain_done = [e.done for e in seen if e.stage == "explain"]
    assert explain_done == sorted(explain_done) and all(e.total == 2 for e in seen if e.stage == "explain")


def test_get_list_and_final_progress(client, module):
    job = client.submit_job(module.id, units=[0], corpus=FOOD_CORPUS, generic=GENERIC, helper="fake", settings=SETTINGS)
    assert job.state in ("queued", "running")
    result = client.watch_job(job.id, progress=False)
    info = client.get_job(job.id)
    assert (info.state, info.stage, info.units_done, info.error_code) == ("succeeded", "done", 1, "")
    assert info.ngrams_scored == result.reference_corpus["n_ngrams"] and info.llm_calls == result.usage["calls"]
    assert client.result(job.id) == result
    assert job.id in [j.id for j in client.list_jobs()]


def test_idempotency_key_returns_the_same_job(client, module):
    kw = dict(units=[1], corpus=FOOD_CORPUS, generic=GENERIC, helper="fake", settings=SETTINGS)
    first = client.submit_job(module.id, idempotency_key="batch-7", **kw)
    again = client.submit_job(module.id, idempotency_key="batch-7", **kw)
    assert again.id == first.id
    with pytest.raises(ConfigError, match="different request"):
        client.submit_job(module.id, idempotency_key="batch-7", **{**kw, "units": [2]})
    client.watch_job(first.id, progress=False)


def test_cancel_a_running_job(client):
    gate = threading.Event()

    def slow(texts):
        gate.wait(10)
        return [float(len(t)) for t in texts]

    with client.host_module(slow, units=["len"], batch_size=4) as hosted:
        job = client.submit_job(hosted.id, corpus=FOOD_CORPUS, generic=GENERIC, helper="fake", settings=SETTINGS)
        cancelled = client.cancel_job(job.id)
        gate.set()
        with pytest.raises(sasc.CancelledError, match="cancelled"):
            client.watch_job(job.id, progress=False)
    assert cancelled.state in ("running", "cancelled", "queued")
    assert client.get_job(job.id).state == "cancelled"


@pytest.mark.parametrize("kw, error, message", [
    ({"helper": "gpt5-please"}, ConfigError, "not allowed on this server"),
    ({"helper": "local:no-such-model"}, ConfigError, "not allowed on this server"),
    ({"generic": ["only one text"]}, ConfigError, "at least 2"),
    ({"corpus": "/etc/passwd"}, ConfigError, "server paths are not accepted"),
    ({"corpus": ["  "]}, ConfigError, "empty"),
    ({"settings": {"n_candidates": 0}}, ConfigError, "n_candidates must be in 1..50"),
    ({"settings": {"n_bootstrap": 10**9}}, ConfigError, "n_bootstrap must be in"),
    ({"settings": {"summary_styles": ["theme", "poem"]}}, ConfigError, "summary styles"),
    ({"settings": {"n_tiebreak": 500}}, ConfigError, "n_tiebreak must be in 0..200"),
    ({"settings": {"synthetic_style": "poem"}}, ConfigError, "synthetic style must be one of"),
    ({"settings": {"direct_screen": 51}}, ConfigError, "direct_screen must be in 0..50"),
    ({"units": ["nope"]}, ConfigError, None),
    ({"concurrency": 99}, ConfigError, "concurrency"),
])
def test_bad_jobs_are_refused_or_fail_with_a_clear_status(client, module, kw, error, message):
    args = {"corpus": FOOD_CORPUS, "generic": GENERIC, "helper": "fake", "settings": SETTINGS, **kw}
    with pytest.raises(error, match=message) as info:
        client.explain(module.id, progress=False, **args)  # refused at submit, or the job fails with it
    assert info.value.code == "INVALID_ARGUMENT"


def test_prompt_styles_reach_the_job(client, module):
    result = client.explain(module.id, units=[0], corpus=FOOD_CORPUS, generic=GENERIC, helper="fake",
                            settings={**SETTINGS, "summary_styles": ["source"], "synthetic_style": "example",
                                      "direct_screen": 1}, progress=False)
    assert result.config["summary_styles"] == ["source"] and result.config["synthetic_style"] == "example"
    assert result.config["direct_screen"] == 1
    cands = result.units[0].candidates
    assert cands[0].score.n_related > 0 and np.isfinite(cands[0].direct_response)  # direct response over gRPC
    assert all(c.score.n_related == 0 and np.isnan(c.score.sigma) for c in cands[1:])
    default = client.explain(module.id, units=[0], corpus=FOOD_CORPUS, generic=GENERIC, helper="fake",
                             settings=SETTINGS, progress=False)
    assert default.config["summary_styles"] == list(sasc.ExplainConfig().summary_styles)
    assert default.config["synthetic_style"] == sasc.ExplainConfig().synthetic_style


def test_unknown_jobs_and_modules(client):
    with pytest.raises(NotFoundError):
        client.get_job("job_nope")
    with pytest.raises(NotFoundError):
        client.cancel_job("job_nope")
    with pytest.raises(NotFoundError):
        client.submit_job("mod_nope", helper="fake")


def test_per_client_job_limit(client):
    gate = threading.Event()
    with client.host_module(lambda t: gate.wait(10) and [0.0] * len(t), units=["u"]) as hosted:
        jobs = [client.submit_job(hosted.id, corpus=FOOD_CORPUS, generic=GENERIC, helper="fake", settings=SETTINGS,
                                  units=[0]) for _ in range(3)]
        with pytest.raises(QuotaExceededError, match="3 queued or running"):
            client.submit_job(hosted.id, corpus=FOOD_CORPUS, helper="fake")
        for j in jobs:
            client.cancel_job(j.id)
        gate.set()
    deadline = time.time() + 10
    while time.time() < deadline and any(client.get_job(j.id).state in ("queued", "running") for j in jobs):
        time.sleep(0.05)
    assert {client.get_job(j.id).state for j in jobs} == {"cancelled"}


def test_a_job_that_fails_while_running_reports_its_status(client):
    def broken(texts):
        raise RuntimeError("the client's model broke")

    with client.host_module(broken, units=["x"], batch_size=4) as hosted:
        job = client.submit_job(hosted.id, corpus=FOOD_CORPUS, generic=GENERIC, helper="fake", settings=SETTINGS)
        with pytest.raises(sasc.errors.ModuleError, match="broke") as info:
            client.watch_job(job.id, progress=False)
    assert info.value.code == "FAILED_PRECONDITION" and "Traceback" not in str(info.value)
    failed = client.get_job(job.id)
    assert (failed.state, failed.error_code) == ("failed", "FAILED_PRECONDITION")
    with pytest.raises(sasc.errors.ModuleError):
        client.result(job.id)


@pytest.mark.slow
def test_small_job_with_the_real_local_helper(extra_server, weights):
    # a generous helper deadline: the first call loads the model, and CI machines are shared
    srv = extra_server(helper_timeout_s=1200)
    with Client(srv.target, timeout_s=60) as c:
        m = c.register_linear_readout(weights, feature_model="word_hash", units=UNITS)
        result = c.explain(m.id, units=["food"], corpus=FOOD_CORPUS, generic=GENERIC, helper="local",
                           settings={**SETTINGS, "n_candidates": 1, "n_synthetic": 2}, progress=False)
    unit = result.units[0]
    assert unit.unit == "food" and unit.candidates and unit.best.explanation.strip()
    assert unit.best.score.n_related >= 1 and result.helper.startswith("llama.cpp:")
