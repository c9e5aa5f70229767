"""Client-hosted modules: a Python callable served over a bidirectional stream.

Wrong answers (length, NaN, errors), late answers and disconnects fail the jobs and calls
using that module with a clear status; other modules and jobs are unaffected.
"""

from __future__ import annotations

import re
import threading
import time

import numpy as np
import pytest
from fakes import FOOD_CORPUS, FOOD_WORDS, SMALL_GENERIC, WordTokenBank, all_at_once_logprobs, all_at_once_reply

from sasc.client import Client
from sasc.errors import ConfigError, ModuleError, ModuleUnavailableError, NotFoundError, ServiceError
from sasc.llm import ScriptedLLM
from sasc.llm.factory import HELPER_BACKENDS
from server.hosted import MAX_TOKEN_CHARS, MAX_TOKENS_PER_TEXT, HostAnswer, TokenHostedBank

GENERIC = SMALL_GENERIC[:3]
SETTINGS = {"n_candidates": 1, "n_synthetic": 2, "n_bootstrap": 20, "n_generic": 3}


SERVER_SETTINGS = {"hosted_deadline_s": 1.0, "hosted_max_batch": 64, "allowed_helpers": "fake,hosttok"}
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


# ---------------------------------------------------------------- per-token answers

def test_a_hosted_module_with_token_activations_is_scored_on_token_excerpts(client):
    HELPER_BACKENDS.register("hosttok", lambda arg, **_: ScriptedLLM(all_at_once_reply, logprobs=all_at_once_logprobs,
                                                                     name="hosttok"), replace=True)
    words = WordTokenBank()
    corpus = list(dict.fromkeys(FOOD_CORPUS)) + SMALL_GENERIC
    scoring = {"n_top": 4, "n_random": 6, "excerpts": "token", "excerpt_tokens": 8, "baseline": False}
    asked = []

    def token_fn(texts):
        asked.append(len(texts))
        return [(r.tokens, r.values[:, 0]) for r in words.token_responses(texts)]  # 1-D values per text

    with client.host_module(words.responses, units=["food"], token_fn=token_fn) as h:
        assert client.get_module(h.id).params == {"token_responses": True}
        report = client.score(h.id, [", ".join(sorted(FOOD_WORDS))], scorers=["simulation"],
                              corpus=corpus, helper="hosttok", scoring=scoring)
        sim = report["explanations"][0]["scores"]["simulation"]
        assert sim["value"] > 0.9 and sim["details"]["unaligned_tokens"] == 0
        sset = report["scoring_set"]
        assert sset["excerpts"] == "token" and all(0 < len(t) <= 8 for t in sset["tokens"])
        assert sum(asked) >= len(sset["tokens"]) and max(asked) <= 64  # per-token batches of the negotiated size
        # the token values are the client's: 1 on a food word, else 0
        for toks, vals in zip(sset["tokens"], sset["token_values"]):
            assert vals == [float(re.sub(r"\W", "", t.lower()) in FOOD_WORDS) for t in toks]
        assert any(1.0 in vals for vals in sset["token_values"])
    with client.host_module(words.responses, units=["food"]) as plain:  # no token_fn: a clear error
        assert client.get_module(plain.id).params == {}
        with pytest.raises(ConfigError, match="no token activations"):
            client.score(plain.id, ["food"], scorers=["simulation"], corpus=corpus, helper="hosttok", scoring=scoring)


def _answered(answer_for, texts=("a b", "c")):
    """``token_responses(texts)`` of a bank whose client answers each batch with ``answer_for(batch_id, texts)``."""
    bank = TokenHostedBank("t", ["u"], batch_size=4, deadline_s=2.0)

    def client_side():
        for batch_id, batch, per_token in bank.outgoing():
            assert per_token
            bank.deliver(answer_for(batch_id, batch))

    threading.Thread(target=client_side, daemon=True).start()
    try:
        return bank.token_responses(list(texts))
    finally:
        bank.close("test over")


def test_per_token_answers_are_split_back_into_texts():
    rows = _answered(lambda i, t: HostAnswer(i, np.array([1, 2, 3], np.float32), tokens=["a", " b", "c"],
                                             token_counts=[2, 1]))
    assert [r.tokens for r in rows] == [("a", " b"), ("c",)]
    assert [r.values.tolist() for r in rows] == [[[1.0], [2.0]], [[3.0]]]


@pytest.mark.parametrize("tokens, counts, values, message", [
    (["a", " b", "c"], [3], [1, 2, 3], "len\\(token_counts\\) is 1 for 2 texts"),
    (["a", " b", "c"], [2, 2], [1, 2, 3], "3 tokens for token_counts summing to 4"),
    (["a", " b", "c"], [4, -1], [1, 2, 3], "a token count outside"),
    (["x"] * (MAX_TOKENS_PER_TEXT + 1), [MAX_TOKENS_PER_TEXT + 1, 0], [0.0] * (MAX_TOKENS_PER_TEXT + 1),
     "a token count outside"),
    (["a" * (MAX_TOKEN_CHARS + 1), " b", "c"], [2, 1], [1, 2, 3], "a token longer than"),
    (["a", " b", "c"], [2, 1], [1, 2], "answered 2 values for 3 tokens"),
    (["a", " b", "c"], [2, 1], [1, float("nan"), 3], "NaN or infinite"),
])
def test_malformed_per_token_answers_fail_the_call(tokens, counts, values, message):
    with pytest.raises(ModuleError, match=message):
        _answered(lambda i, t: HostAnswer(i, np.array(values, np.float32), tokens=tokens, token_counts=counts))


def test_a_client_error_on_a_per_token_batch_fails_the_call():
    with pytest.raises(ModuleError, match="reported an error: no tokenizer"):
        _answered(lambda i, t: HostAnswer(i, error="no tokenizer"))
    bank = TokenHostedBank("t", ["u"], batch_size=4, deadline_s=0.2)  # nobody answers
    with pytest.raises(ModuleUnavailableError, match="did not answer"):
        bank.token_responses(["a"])
