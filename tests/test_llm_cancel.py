"""A stop check reaches helper-LLM calls: the caller stops waiting on a call in flight, and the
embedded llama.cpp helper stops generating; a quiet check leaves replies unchanged."""

from __future__ import annotations

import threading
import time

import pytest

from sasc.cancel import stop_check
from sasc.errors import CancelledError
from sasc.llm import ScriptedLLM, Sampling
from sasc.llm.factory import wrap_helper


def _raise_once(flag: threading.Event):
    def check() -> None:
        if flag.is_set():
            raise CancelledError("cancelled by the test")
    return check


def test_a_cancel_stops_waiting_on_a_helper_call_in_flight():
    helper = wrap_helper(ScriptedLLM(delay_s=6.0), timeout_s=60)  # the call runs in its own thread
    flag = threading.Event()
    threading.Timer(0.5, flag.set).start()
    t = time.monotonic()
    with pytest.raises(CancelledError), stop_check(_raise_once(flag)):
        helper.complete("Say something.", sampling=Sampling())
    assert time.monotonic() - t < 1.5  # 0.5 s to the cancel, then one 0.2 s poll; the call itself takes 6 s
    with stop_check(lambda: None):  # a quiet check: the same reply as without one
        assert helper.complete("Other.", sampling=Sampling()).text == ScriptedLLM().complete(
            "Other.", sampling=Sampling()).text


@pytest.fixture(scope="module")
def tiny_llm():
    pytest.importorskip("xllamacpp")
    from sasc.errors import ModelAssetError
    from sasc.llm import LocalLLM
    from sasc.llm.assets import smollm2_gguf_path

    try:
        path = smollm2_gguf_path()
    except ModelAssetError as e:
        pytest.skip(str(e))
    llm = LocalLLM(path, n_threads=1, slots=1)
    llm.load()
    yield llm
    llm.close()


@pytest.mark.parametrize("sampling, schema", [
    (Sampling(max_tokens=40, temperature=0.7, seed=3, top_logprobs=3), None),
    (Sampling(max_tokens=40, temperature=0.0), {"type": "object", "properties": {"a": {"type": "string"}},
                                                "required": ["a"]}),
])
def test_a_quiet_check_streams_the_same_reply(tiny_llm, sampling, schema):
    plain = tiny_llm.complete("Name three fruits.", sampling=sampling, json_schema=schema)
    calls = []
    with stop_check(lambda: calls.append(1)):
        streamed = tiny_llm.complete("Name three fruits.", sampling=sampling, json_schema=schema)
    assert streamed == plain and plain.completion_tokens > 3  # text, token counts, top logprobs
    if sampling.top_logprobs:  # not streamed: the stream lacks the end token's logprobs
        assert plain.top_logprobs and not calls
    else:
        assert len(calls) >= plain.completion_tokens  # checked before each token's chunk


def test_a_raising_check_stops_the_generation(tiny_llm):
    long = Sampling(max_tokens=160, temperature=0.0)
    prompt = "Count from 1 to 400, separated by commas."
    t = time.monotonic()
    full = tiny_llm.complete(prompt, sampling=long)
    full_s = time.monotonic() - t
    assert full.completion_tokens == 160
    calls = []

    def check() -> None:
        calls.append(1)
        if len(calls) > 5:
            raise CancelledError("cancelled by the test")
    t = time.monotonic()
    with pytest.raises(CancelledError), stop_check(check):
        tiny_llm.complete(prompt, sampling=long)
    stopped_s = time.monotonic() - t
    assert len(calls) == 6  # no chunk after the one that raised
    t = time.monotonic()
    assert tiny_llm.complete(prompt, sampling=Sampling(max_tokens=4, temperature=0.0)).completion_tokens == 4
    next_s = time.monotonic() - t  # the one slot is free: the stopped generation is not running on
    assert stopped_s < full_s / 3 and next_s < full_s / 3, (stopped_s, next_s, full_s)
