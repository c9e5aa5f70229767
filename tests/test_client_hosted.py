"""Client-hosted modules: a Python callable served over a bidirectional stream.

Wrong answers (length, NaN, errors), late answers and disconnects fail the jobs and calls
using that module with a clear status; other modules and jobs are unaffected.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from fakes import FOOD_CORPUS, SMALL_GENERIC

from sasc.client import Client
from sasc.errors import ModuleError, NotFoundError, ServiceError

GENERIC = SMALL_GENERIC[:3]
SETTINGS = {"n_candidates": 1, "n_synthetic": 2, "n_bootstrap": 20, "n_generic": 3}


SERVER_SETTINGS = {"hosted_deadline_s": 1.0, "hosted_max_batch": 64}
"""Of the module's server (the ``server`` fixture of conftest.py)."""


def lengths(texts):
    return [float(len(t)) for t in texts]


def test_host_evaluate_and_negotiated_batches(client):
    calls = []

    def fn(texts):
        calls.append(len(texts))
        return np.stack([lengths(texts), [t.count(" ") for t in texts]], axis=1)

    with client.host_module(fn, units=["chars", "spaces"], name="counter", batch_size=5000) as h:
        assert h.batch_size == 64 and h.deadline_s == 1.0  # the server lowered the batch size
        info = client.get_module(h.id)
        assert (info.kind, info.hosted, info.units, info.display_name) == ("client_hosted", True, ["chars", "spaces"], "counter")
        texts = [f"text number {i}" for i in range(150)]
        values = client.evaluate(h.id, texts)
        np.testing.assert_array_equal(values[:, 0], lengths(texts))
        np.testing.assert_array_equal(values[:, 1], [2] * 150)
        assert sorted(calls, reverse=True) == [64, 64, 22]
    time.sleep(0.2)
    assert h.id not in [m.id for m in client.list_modules()]
    with pytest.raises(NotFoundError):
        client.evaluate(h.id, ["x"])


def test_a_job_on_a_hosted_module_succeeds(client):
    with client.host_module(lengths, units=["len"]) as h:
        result = client.explain(h.id, corpus=FOOD_CORPUS, generic=GENERIC, helper="fake", settings=SETTINGS,
                                progress=False)
    top = result.units[0].top_ngrams[0]
    assert top.response == max(len(t.ngram) for t in result.units[0].top_ngrams) == len(top.ngram)


@pytest.mark.parametrize("fn, error, code, message", [
    (lambda texts: [1.0] * (len(texts) + 1), ModuleError, "FAILED_PRECONDITION", "expected"),
    (lambda texts: [float("nan")] * len(texts), ModuleError, "FAILED_PRECONDITION", "NaN"),
    (lambda texts: 1 / 0, ModuleError, "FAILED_PRECONDITION", "ZeroDivisionError"),
    (lambda texts: time.sleep(1.5) or [0.0] * len(texts), ServiceError, "UNAVAILABLE", "did not answer"),
])
def test_wrong_answers_fail_the_call_and_the_job_only(client, fn, error, code, message):
    healthy = client.register_linear_readout(np.ones((1, 256)), feature_model="word_hash")
    with client.host_module(fn, units=["u"]) as bad:
        with pytest.raises(error, match=message) as info:
            client.evaluate(bad.id, ["a", "b"])
        assert info.value.code == code
        with pytest.raises(error, match=message) as info:
            client.explain(bad.id, corpus=FOOD_CORPUS, generic=GENERIC, helper="fake", settings=SETTINGS,
                           progress=False)
        assert info.value.code == code
        # nothing else is affected
        assert client.evaluate(healthy.id, ["pizza"]).shape == (1, 1)
        result = client.explain(healthy.id, corpus=FOOD_CORPUS, generic=GENERIC, helper="fake", settings=SETTINGS,
                                progress=False)
        assert result.units[0].candidates


def test_disconnect_mid_job_fails_that_job_with_unavailable(client):
    started = threading.Event()
    release = threading.Event()

    def stalling(texts):
        started.set()
        release.wait(5)
        return lengths(texts)

    h = client.host_module(stalling, units=["len"])
    job = client.submit_job(h.id, corpus=FOOD_CORPUS, generic=GENERIC, helper="fake", settings=SETTINGS)
    assert started.wait(5)
    h._call.cancel()  # an abrupt disconnect, as when the client process dies
    release.set()
    with pytest.raises(ServiceError, match="gone") as info:
        client.watch_job(job.id, progress=False)
    assert info.value.code == "UNAVAILABLE"
    h.close()
    with client.host_module(lengths, units=["len"]) as fresh:  # the server still hosts new modules
        assert client.evaluate(fresh.id, ["abc"]).tolist() == [[3.0]]


def test_hosted_modules_are_private_to_their_client(server, client, extra_server):
    srv = extra_server(tokens="alice=ta,bob=tb")
    with Client(srv.target, token="ta") as alice, Client(srv.target, token="tb") as bob:
        with alice.host_module(lengths, units=["len"]) as h:
            assert alice.evaluate(h.id, ["ab"]).tolist() == [[2.0]]
            with pytest.raises(NotFoundError):
                bob.evaluate(h.id, ["ab"])
            assert h.id not in [m.id for m in bob.list_modules()]
