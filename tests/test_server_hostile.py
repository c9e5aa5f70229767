"""A hostile client against a real server on port 0 (issue 33): paths outside the data roots,
helpers off the allow-list, budgets, streams, deadlines, malformed requests, one server per
database, deletion and retention. Every refusal must carry its own status, never INTERNAL."""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
from fakes import FOOD_CORPUS
from grpc_health.v1 import health_pb2, health_pb2_grpc

from sasc._grpc import modules_pb2 as mpb
from sasc.cancel import checkpoint
from sasc.client import Client
from sasc.errors import ConfigError, NotFoundError, PermissionDeniedError, QuotaExceededError
from sasc.lists import parse_ranges
from sasc.modules import register_kind
from sasc.modules.params import parse_indices
from server.app import start_server
from server.config import ServerConfig
from server.containment import NOT_ALLOWED, HelperPolicy, PathPolicy, check_device
from server.status import MAX_DETAILS
from server.store import Store
from server.tenant_cache import client_id

SECRET = "SECRET-CONTENT-7f3a"
GENERIC = ["The weather was mild today.", "A film about two friends.", "He read the paper slowly.",
           "They walked along the river.", "The train was late again."]
SETTINGS = {"n_candidates": 2, "n_synthetic": 3, "n_bootstrap": 50, "n_generic": 5}
TOKENS = "alice=ta,bob=tb,carol=tc"
CALLS: list[tuple[float, int]] = []
"""(monotonic time, texts) of every call of the counting bank below."""


class CountingBank:
    """A server-side bank that records its calls and takes ``delay_s`` per text."""

    def __init__(self, n_units: int = 2, delay_s: float = 0.0):
        self._units = [f"u{i}" for i in range(int(n_units))]
        self.delay_s = float(delay_s)
        self.name = "counting"

    @property
    def units(self) -> list[str]:
        return list(self._units)

    def responses(self, texts):
        CALLS.append((time.monotonic(), len(texts)))
        time.sleep(self.delay_s * len(texts))
        return np.ones((len(texts), len(self._units)), np.float32)


register_kind("hostile_counting", CountingBank, replace=True)
GATE = threading.Event()
"""Calls of the gated bank below wait until this is set (10 s at most)."""


class GatedBank(CountingBank):
    """A bank whose calls wait on :data:`GATE`: a slow unary call that ends when the test says so."""

    def responses(self, texts):
        GATE.wait(10)
        return super().responses(texts)


register_kind("hostile_gated", GatedBank, replace=True)


class BatchedBank(CountingBank):
    """Runs its texts in internal batches of 16 and calls :func:`sasc.cancel.checkpoint` between
    them, as the built-in modules do between forward passes."""

    def responses(self, texts):
        parts = []
        for s in range(0, len(texts), 16):
            checkpoint()
            parts.append(super().responses(texts[s:s + 16]))
        return np.concatenate(parts) if parts else np.ones((0, len(self._units)), np.float32)


register_kind("hostile_batched", BatchedBank, replace=True)


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    data, outside = base / "data", base / "outside"
    (data / "dicts").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.npy").write_text(SECRET)  # "not an array": its contents must never come back
    np.save(outside / "real.npy", np.ones((384, 4), np.float32))
    (data / "dicts" / "notes.txt").write_text(SECRET)
    np.save(data / "dicts" / "d.npy", np.ones((384, 4), np.float32))
    (data / "escape.npy").symlink_to(outside / "real.npy")
    (data / "inner.npy").symlink_to(data / "dicts" / "d.npy")
    (data / "outdir").symlink_to(outside, target_is_directory=True)
    return base, data, outside


@pytest.fixture(scope="module")
def server(roots):
    base, data, _ = roots
    srv = start_server(ServerConfig(port=0, db=str(base / "db" / "server.db"), tokens=TOKENS, data_root=(str(data),),
                                    rpc_threads=8, max_streams=5, max_streams_per_client=3, max_unary_per_client=2, max_eval_mb=64,
                                    max_message_mb=4, max_array_mb_per_client=64, max_storage_mb_per_client=1,
                                    max_texts_per_call=20000, max_jobs_per_client=20, max_cache_mb_per_client=1))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def alice(server):
    with Client(server.target, token="ta", max_message_mb=16) as c:
        yield c


@pytest.fixture(scope="module")
def bob(server):
    with Client(server.target, token="tb") as c:
        yield c


def refused(call, error=ConfigError, code="INVALID_ARGUMENT"):
    """Run ``call``; it must raise ``error`` with ``code`` and a bounded, traceback-free message."""
    with pytest.raises(error) as info:
        call()
    assert info.value.code == code, (info.value.code, str(info.value)[:300])
    assert len(str(info.value)) <= MAX_DETAILS and "Traceback" not in str(info.value)
    assert SECRET not in str(info.value)
    return str(info.value)


# ---------------------------------------------------------------- paths: the policy itself

PATH_FORMS = [
    ("dicts/d.npy", True), ("inner.npy", True), ("./dicts/d.npy", True), ("dicts//d.npy", True),
    ("{data}/dicts/d.npy", True),
    ("../outside/real.npy", False), ("dicts/../../outside/real.npy", False), ("{outside}/real.npy", False),
    ("escape.npy", False), ("outdir/real.npy", False), ("{data}/escape.npy", False),
    ("{data}/../outside/real.npy", False), ("dicts/missing.npy", False), ("{outside}/missing.npy", False),
    ("file://{outside}/real.npy", False), ("FILE:{outside}/real.npy", False), ("File:dicts/d.npy", False),
    ("hf://gpt2", False), ("s3://bucket/x.npy", False), ("~/real.npy", False), ("~root/x.npy", False),
    ("dicts/d.npy\x00.txt", False), ("", False), ("   ", False), ("/", False), ("/etc/passwd", False),
    ("x" * 5000, False), ("C:\\windows\\x.npy", False),
]


@pytest.mark.parametrize("form, ok", PATH_FORMS)
def test_every_path_form_is_resolved_under_the_roots_or_refused_alike(roots, form, ok):
    _, data, outside = roots
    policy = PathPolicy.from_roots([data])
    value = form.format(data=data, outside=outside)
    if ok:
        assert policy.contain(value, "dictionary") == (data / "dicts" / "d.npy").resolve()
    else:
        with pytest.raises(ConfigError) as info:
            policy.contain(value, "dictionary")
        assert str(info.value) == NOT_ALLOWED.format(key="dictionary")  # one message: no existence probing


@pytest.mark.parametrize("value", [3, 2.5, None, True, ["a"], {"a": 1}])
def test_non_strings_are_not_paths(roots, value):
    with pytest.raises(ConfigError, match="not allowed or not there"):
        PathPolicy.from_roots([roots[1]]).contain(value, "model")


def test_a_root_that_does_not_exist_allows_nothing(tmp_path):
    assert PathPolicy.from_roots([tmp_path / "nope"]).roots == ()


@pytest.mark.parametrize("kind, params, key", [
    ("dictionary_factor", {"dictionary": "{outside}/secret.npy", "layer": 1}, "dictionary"),
    ("dictionary_factor", {"dictionary": "../outside/secret.npy", "layer": 1}, "dictionary"),
    ("dictionary_factor", {"dictionary": "escape.npy", "layer": 1}, "dictionary"),
    ("dictionary_factor", {"dictionary": "dicts/d.npy", "encoder": "bert-base-uncased"}, "encoder"),
    ("dictionary_factor", {"dictionary": "dicts/d.npy", "encoder": "{outside}"}, "encoder"),
    ("llm_direction", {"directions": "{outside}/real.npy"}, "directions"),
    ("llm_direction", {"directions": "dicts/d.npy", "model": "gpt2"}, "model"),
    ("llm_neuron", {"model": "openai-community/gpt2"}, "model"),
    ("llm_neuron", {"model": "{outside}"}, "model"),
    ("llm_neuron", {"model": "HF://gpt2"}, "model"),
    ("llm_neuron", {"model": "x.gguf"}, "model"),
    ("embedding_distance", {"keyphrases": ["x"], "model": "sentence-transformers/all-mpnet-base-v2"}, "model"),
    ("embedding_distance", {"keyphrases": ["x"], "model": "{outside}/../outside"}, "model"),
    ("fmri_voxels", {"model": "{outside}/secret.npy"}, "model"),
    ("fmri_voxels", {"model": "dicts/nothing.npz"}, "model"),
    ("linear_readout", {"weights": "{outside}/real.npy", "feature_model": "word_hash"}, "weights"),
    ("hostile_counting", {"n_units": 1, "delay_s": "/etc/passwd"}, "delay_s"),
])
def test_module_parameters_naming_files_outside_the_roots_are_refused(alice, roots, kind, params, key):
    _, data, outside = roots
    params = {k: v.format(outside=outside) if isinstance(v, str) else v for k, v in params.items()}
    message = refused(lambda: alice.register_module(kind, params))
    assert message == NOT_ALLOWED.format(key=key)
    assert str(outside) not in message


def test_a_file_under_the_root_is_reached(alice):
    # resolution succeeded: the kind itself then complains about the file type (an operator-allowed file)
    message = refused(lambda: alice.register_module("dictionary_factor", {"dictionary": "dicts/notes.txt", "layer": 1}))
    assert "unsupported array file" in message


def test_cache_dir_from_a_request_is_refused_and_nothing_is_written(alice, tmp_path):
    target = tmp_path / "client-chosen"
    message = refused(lambda: alice.register_module("llm_neuron", {"cache_dir": str(target)}))
    assert "chosen by the server" in message and not target.exists()


@pytest.mark.parametrize("spec", ["local:/etc/passwd", "LOCAL:../x.gguf", "local:x.gguf", "local:no-such-model",
                                  "local:~/m.gguf", "openai:../../etc", "openai:", "fake:extra", "gpt5",
                                  "file:local", "local:qwen2.5-coder-0.5b\x00", "x" * 300])
def test_helpers_off_the_allow_list_are_refused_at_submit(alice, spec):
    m = alice.register_linear_readout(np.ones((1, 256), np.float32), feature_model="word_hash")
    message = refused(lambda: alice.submit_job(m.id, corpus=FOOD_CORPUS, generic=GENERIC, helper=spec))
    assert "not allowed on this server" in message


def test_helper_allow_list_patterns():
    policy = HelperPolicy.parse("local,local:*,fake,openai:*")
    assert policy.check("FAKE") == "fake" and policy.check("Local") == "local"
    assert policy.check("local:qwen2.5-coder-0.5b") == "local:qwen2.5-coder-0.5b"
    assert policy.check("openai:gpt-4o-mini") == "openai:gpt-4o-mini"
    only_fake = HelperPolicy.parse("fake")
    with pytest.raises(ConfigError, match="allowed: fake"):
        only_fake.check("local")


@pytest.mark.parametrize("device, ok", [("cpu", True), (None, True), ("cuda:99", False), ("meta", False),
                                        (3, False), ("cuda", False), ("cpu; rm -rf /", False), ("CPU", False)])
def test_device_strings(device, ok):
    if ok:
        check_device(device, n_cuda=0)
    else:
        with pytest.raises(ConfigError, match="not available on this server"):
            check_device(device, n_cuda=0)
    assert check_device("cuda:1", n_cuda=2) is None


# ---------------------------------------------------------------- client mistakes: their own codes

@pytest.mark.parametrize("kind, params, match", [
    ("embedding_distance", {"keyphrases": [math.nan]}, "NaN or inf"),
    ("embedding_distance", {"keyphrase": math.inf}, "NaN or inf"),
    ("linear_readout", {"weights": [[math.inf] * 256], "feature_model": "word_hash"}, "NaN or inf"),
    ("linear_readout", {"weights": [[1.0] * 256], "feature_model": "word_hash", "bias": [math.nan]}, "NaN or inf"),
    ("embedding_distance", {"keyphrases": ["x"], "device": "cuda:99"}, "not available"),
    ("embedding_distance", {"keyphrases": ["x"], "device": "meta"}, "not available"),
    ("embedding_distance", {"keyphrases": ["x"], "device": 7}, "not available"),
    ("embedding_distance", {"keyphrases": ["x"], "model": 12}, "must be a string"),
    ("llm_neuron", {"model": 3.5}, "must be a string"),
    ("hostile_counting", {"n_units": "many"}, "bad parameters"),
    ("hostile_counting", {"unknown_param": 1}, "bad parameters"),
    ("linear_readout", {"weights": "x" * 100_000}, "characters"),
])
def test_bad_parameters_are_invalid_argument(alice, kind, params, match):
    assert match in refused(lambda: alice.register_module(kind, params))


def test_error_messages_stay_bounded(alice):
    msg = refused(lambda: alice.register_module("k" * 100_000))  # the message repeats the kind
    assert "unknown module kind" in msg
    refused(lambda: alice.evaluate("mod_" + "x" * 100_000, ["a"]), NotFoundError, "NOT_FOUND")


RAW = [  # (service method, unary?, bytes that are not a valid message)
    ("/sasc.v1.ModuleService/GetModule", True, b"\x0a\x03\xff\xfe\xfd"),
    ("/sasc.v1.ModuleService/Evaluate", True, b"\x12\x02\xc3\x28"),
    ("/sasc.v1.ModuleService/Evaluate", True, b"\x12\xff\xff\xff\xff\x0f"),
    ("/sasc.v1.JobService/SubmitJob", True, b"\x32\x01\x80"),
    ("/sasc.v1.JobService/GetJob", True, b"\x0a"),
    ("/sasc.v1.JobService/WatchJob", False, b"\x0a\x02\xed\xa0"),
    ("/sasc.v1.ModuleService/RegisterModule", None, b"\x0a\x01\xff"),
]


@pytest.mark.parametrize("method, unary, data", RAW)
def test_undecodable_requests_are_invalid_argument(server, method, unary, data):
    with grpc.insecure_channel(server.target) as ch:
        ident = dict(request_serializer=lambda x: x, response_deserializer=lambda x: x)
        md = [("authorization", "Bearer ta")]
        with pytest.raises(grpc.RpcError) as info:
            if unary is True:
                ch.unary_unary(method, **ident)(data, metadata=md, timeout=5)
            elif unary is False:
                list(ch.unary_stream(method, **ident)(data, metadata=md, timeout=5))
            else:
                ch.stream_unary(method, **ident)(iter([data]), metadata=md, timeout=5)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()


@pytest.mark.parametrize("generic", [["one text"], ["one text", "   ", ""]])
def test_a_generic_corpus_of_one_text_is_refused_at_submit(alice, generic):
    m = alice.register_linear_readout(np.ones((1, 256), np.float32), feature_model="word_hash")
    assert "at least 2" in refused(lambda: alice.submit_job(m.id, corpus=FOOD_CORPUS, generic=generic, helper="fake"))


# ---------------------------------------------------------------- budgets before work

@pytest.mark.parametrize("text, limit", [("0-30000000", 10), ("5,0-99999999999", 100), ("-1", 10), ("3-2000000000", 8)])
def test_unit_ranges_are_checked_before_they_are_expanded(text, limit):
    t0 = time.perf_counter()
    with pytest.raises(ConfigError):
        parse_indices(text, limit, "unit")
    assert time.perf_counter() - t0 < 0.05  # refused from the bounds, not after building the list
    assert parse_indices("0-3,2-4", limit=8, what="unit") == [0, 1, 2, 3, 4]
    assert len(parse_ranges(",".join(["0-9"] * 1000), limit=10)) == 10


def test_evaluate_cost_is_checked_from_the_request_shape(alice):
    m = alice.register_module("hostile_counting", {"n_units": 2000})
    CALLS.clear()
    msg = refused(lambda: alice.evaluate(m.id, ["t"] * 10_000), QuotaExceededError, "RESOURCE_EXHAUSTED")
    assert "--max-eval-mb" in msg
    msg = refused(lambda: alice.evaluate(m.id, ["t"] * 600), QuotaExceededError, "RESOURCE_EXHAUSTED")
    assert "--max-message-mb" in msg
    assert CALLS == []  # refused before the module ran
    assert alice.evaluate(m.id, ["t"] * 600, units=[0, 1]).shape == (600, 2)  # fewer units fit


def test_stream_slots_per_client_and_in_all_leave_threads_for_others(server, alice, bob):
    def fn(texts):
        return [1.0] * len(texts)

    with contextlib.ExitStack() as stack:
        for _ in range(3):
            stack.enter_context(alice.host_module(fn, units=["x"]))
        assert "--max-streams-per-client" in refused(lambda: alice.host_module(fn, units=["x"]),
                                                     QuotaExceededError, "RESOURCE_EXHAUSTED")
        assert "--max-streams-per-client" in refused(lambda: alice.watch_job("job_x", progress=False),
                                                     QuotaExceededError, "RESOURCE_EXHAUSTED")
        for _ in range(2):
            stack.enter_context(bob.host_module(fn, units=["x"]))
        with Client(server.target, token="tc", timeout_s=3) as carol:
            assert "--max-streams" in refused(lambda: carol.host_module(fn, units=["x"]),
                                              QuotaExceededError, "RESOURCE_EXHAUSTED")
            t0 = time.perf_counter()
            assert carol.list_modules() == []  # other tenants still get a thread
            with grpc.insecure_channel(server.target) as ch:
                health = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=3)
            assert health.status == health_pb2.HealthCheckResponse.SERVING and time.perf_counter() - t0 < 2
    deadline = time.time() + 5
    while time.time() < deadline and _open_streams(server):
        time.sleep(0.05)
    with alice.host_module(fn, units=["x"]) as again:  # slots come back when streams end
        assert again.id.startswith("host_")


def _until(check, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def _health_within(target: str, seconds: float = 2.0) -> None:
    t0 = time.perf_counter()
    with grpc.insecure_channel(target) as ch:
        health = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=seconds + 1)
    assert health.status == health_pb2.HealthCheckResponse.SERVING and time.perf_counter() - t0 < seconds


def test_unary_calls_per_client_and_in_all_leave_threads_for_others(server, alice, bob):
    # 8 RPC threads: 6 for counted calls, 2 kept for health; 2 unary calls a client
    mods = {c: c.register_module("hostile_gated", {"n_units": 1}).id for c in (alice, bob)}
    quick = bob.register_module("hostile_counting", {"n_units": 1}).id
    GATE.clear()
    futures = []
    with Client(server.target, token="tc", timeout_s=5) as carol:
        try:
            mods[carol] = carol.register_module("hostile_gated", {"n_units": 1}).id
            for c in (alice, alice):
                futures.append(c.modules.Evaluate.future(mpb.EvaluateRequest(module_id=mods[c], texts=["t"]),
                                                         metadata=c.metadata, timeout=20))
            _until(lambda: server.slots.held("unary", "alice") == 2)
            for call in (lambda: alice.evaluate(mods[alice], ["t"]), alice.list_modules, lambda: alice.get_job("job_x")):
                assert "--max-unary-per-client" in refused(call, QuotaExceededError, "RESOURCE_EXHAUSTED")
            t0 = time.perf_counter()  # another tenant is served at once
            assert bob.evaluate(quick, ["t"] * 3).shape == (3, 1) and bob.list_modules()
            assert time.perf_counter() - t0 < 2
            _health_within(server.target)
            for c in (bob, bob, carol, carol):  # every counted thread taken: 6 of 8
                futures.append(c.modules.Evaluate.future(mpb.EvaluateRequest(module_id=mods[c], texts=["t"]),
                                                         metadata=c.metadata, timeout=20))
            _until(lambda: server.slots.held("unary") == 6)
            assert "--rpc-threads" in refused(lambda: alice.watch_job("job_x", progress=False),
                                              QuotaExceededError, "RESOURCE_EXHAUSTED")
            _health_within(server.target)  # health never waits behind them
        finally:
            GATE.set()
        assert all(f.result(timeout=15).values for f in futures)  # the held calls themselves were served
    _until(lambda: server.slots.held() == 0)
    assert alice.list_modules()  # slots come back


def test_slot_limits_must_leave_threads_for_health_and_other_clients():
    ServerConfig(rpc_threads=8, max_streams=6, max_streams_per_client=3, max_unary_per_client=2)  # 6 = 8 - 2 kept
    with pytest.raises(ConfigError, match="max_streams <= rpc_threads - 2"):
        ServerConfig(rpc_threads=8, max_streams=7, max_streams_per_client=3, max_unary_per_client=2)
    with pytest.raises(ConfigError, match="max_unary_per_client < rpc_threads - 2"):
        ServerConfig(rpc_threads=8, max_streams=5, max_streams_per_client=3, max_unary_per_client=3)


def test_without_tokens_unary_slots_are_per_connection(tmp_path):
    """The one anonymous user is not limited as a whole: each connection has its own unary slots."""
    from sasc._grpc import modules_pb2_grpc

    srv = start_server(ServerConfig(port=0, db=str(tmp_path / "s.db"), rpc_threads=7, max_streams=1,
                                    max_streams_per_client=1, max_unary_per_client=2))  # 5 counted calls
    channels = [grpc.insecure_channel(srv.target, options=[("grpc.use_local_subchannel_pool", 1)]) for _ in range(3)]
    stubs = [modules_pb2_grpc.ModuleServiceStub(ch) for ch in channels]
    GATE.clear()
    futures = []
    try:
        with Client(srv.target) as me:
            gated = me.register_module("hostile_gated", {"n_units": 1}).id
        req = mpb.EvaluateRequest(module_id=gated, texts=["t"])
        futures += [stubs[0].Evaluate.future(req, timeout=20) for _ in range(2)]
        _until(lambda: srv.slots.held("unary") == 2)
        with pytest.raises(grpc.RpcError) as info:
            stubs[0].ListModules(mpb.ListModulesRequest(), timeout=3)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "--max-unary-per-client" in info.value.details()
        futures += [stubs[1].Evaluate.future(req, timeout=20) for _ in range(2)]  # another connection: served
        _until(lambda: srv.slots.held("unary") == 4)
        assert stubs[2].ListModules(mpb.ListModulesRequest(), timeout=3).modules
        futures.append(stubs[2].Evaluate.future(req, timeout=20))
        _until(lambda: srv.slots.held("unary") == 5)
        with pytest.raises(grpc.RpcError) as info:
            stubs[2].ListKinds(mpb.ListKindsRequest(), timeout=3)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "--rpc-threads" in info.value.details()
        _health_within(srv.target)
    finally:
        GATE.set()
        try:
            assert all(f.result(timeout=15).values for f in futures)
        finally:
            for ch in channels:
                ch.close()
            srv.stop()


def _open_streams(server) -> int:
    return sum(1 for rec in server.registry.records("alice") if rec.hosted)


# ---------------------------------------------------------------- deadlines and cancellation

@pytest.mark.parametrize("how", ["deadline", "cancel"])
def test_evaluate_stops_soon_after_the_client_gives_up(alice, how):
    m = alice.register_module("hostile_counting", {"n_units": 1, "delay_s": 0.004})
    CALLS.clear()
    req = mpb.EvaluateRequest(module_id=m.id, texts=["t"] * 5000)  # ~20 s of work
    if how == "deadline":
        with pytest.raises(grpc.RpcError) as info:
            alice.modules.Evaluate(req, metadata=alice.metadata, timeout=1.0)
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    else:
        fut = alice.modules.Evaluate.future(req, metadata=alice.metadata, timeout=60)
        time.sleep(1.0)
        fut.cancel()
    gave_up = time.monotonic()
    time.sleep(2.0)
    assert CALLS and CALLS[-1][0] < gave_up + 1.0, "work went on after the client gave up"
    assert sum(n for _, n in CALLS) < 1000


# ---------------------------------------------------------------- storage: delete, quota, retention, caches

def _finished_job(client, module_id, **kw):
    job = client.submit_job(module_id, units=[0], corpus=FOOD_CORPUS, generic=GENERIC, helper="fake",
                            settings=SETTINGS, **kw)
    client.watch_job(job.id, progress=False)
    return job


def test_delete_job_removes_it_with_its_corpus_and_only_for_its_owner(server, alice, bob):
    m = alice.register_linear_readout(np.ones((1, 256), np.float32), feature_model="word_hash")
    before = server.store.job_bytes("alice")
    job = _finished_job(alice, m.id)
    assert server.store.job_bytes("alice") > before + len(json.dumps(FOOD_CORPUS))
    refused(lambda: bob.delete_job(job.id), NotFoundError, "NOT_FOUND")
    with Client(server.target, token="ta") as again:
        again.delete_job(job.id)
    refused(lambda: alice.get_job(job.id), NotFoundError, "NOT_FOUND")
    refused(lambda: alice.delete_job(job.id), NotFoundError, "NOT_FOUND")
    assert server.store.job_bytes("alice") == before and server.store.units(job.id) == {}


def test_deleting_a_running_job_cancels_it(server, alice):
    gate = threading.Event()

    def slow(texts):
        gate.wait(10)
        return [1.0] * len(texts)

    with alice.host_module(slow, units=["x"], batch_size=4) as hosted:
        job = alice.submit_job(hosted.id, corpus=FOOD_CORPUS, generic=GENERIC, helper="fake", settings=SETTINGS)
        alice.delete_job(job.id)
        gate.set()
    refused(lambda: alice.get_job(job.id), NotFoundError, "NOT_FOUND")


def test_read_only_tokens_may_not_delete(tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text("alice ta\naudit tr read\n")
    tokens.chmod(0o600)
    srv = start_server(ServerConfig(port=0, db=str(tmp_path / "s.db"), tokens_file=str(tokens)))
    try:
        with Client(srv.target, token="tr") as audit:
            refused(lambda: audit.delete_job("job_x"), PermissionDeniedError, "PERMISSION_DENIED")
    finally:
        srv.stop()


def test_storage_quota_refuses_a_job_before_it_is_stored(alice):
    m = alice.register_linear_readout(np.ones((1, 256), np.float32), feature_model="word_hash")
    big = [f"text number {i} " + "y" * 100 for i in range(12_000)]  # ~1.4 MB inline corpus; quota is 1 MiB
    msg = refused(lambda: alice.submit_job(m.id, corpus=big, generic=GENERIC, helper="fake"),
                  QuotaExceededError, "RESOURCE_EXHAUSTED")
    assert "--max-storage-mb-per-client" in msg


def test_retention_deletes_finished_jobs_only(server, alice):
    m = alice.register_linear_readout(np.ones((1, 256), np.float32), feature_model="word_hash")
    job = _finished_job(alice, m.id)
    queue = server.jobs
    object.__setattr__(queue, "config", ServerConfig(**{**queue.config.__dict__, "retention_days": 1.0}))
    try:
        assert queue.prune(now=time.time()) == 0  # younger than a day
        assert queue.prune(now=time.time() + 2 * 86400) >= 1
    finally:
        object.__setattr__(queue, "config", ServerConfig(**{**queue.config.__dict__, "retention_days": 0.0}))
    refused(lambda: alice.get_job(job.id), NotFoundError, "NOT_FOUND")


def test_cached_calls_never_count_another_tenants_replies(alice, bob):
    def usage(client):
        m = client.register_linear_readout(np.ones((1, 256), np.float32), feature_model="word_hash")
        job = client.submit_job(m.id, units=[0], corpus=FOOD_CORPUS, generic=GENERIC, helper="fake",
                                settings={**SETTINGS, "seed": 4242})
        return client.watch_job(job.id, progress=False).usage

    first, second, again = usage(alice), usage(bob), usage(alice)
    assert first["calls"] > 0 and second["cached_calls"] == 0  # bob paid for his own replies
    assert again["cached_calls"] == again["calls"]  # alice's own replies are hers to reuse


def _tables(server, owner: str) -> set[str]:
    root = server.jobs.config.cache_dir / "clients" / client_id(owner) / "responses"
    return {d.name for d in root.glob("*")} if root.is_dir() else set()


def test_response_tables_are_cached_per_tenant_within_a_quota(server, alice, bob):
    def run(client, n_units, seed=1):
        w = np.random.default_rng(seed).normal(size=(n_units, 256)).astype(np.float32)
        m = client.register_linear_readout(w, feature_model="word_hash")
        job = client.submit_job(m.id, units=[0], corpus=FOOD_CORPUS, generic=GENERIC, helper="fake",
                                settings=SETTINGS)
        return lambda: client.watch_job(job.id, progress=False).reference_corpus

    first = run(alice, 2)()
    key, n_ngrams = first["response_cache_key"], first["n_ngrams"]
    assert not first["responses_from_cache"] and run(alice, 2)()["responses_from_cache"]  # her own table, again
    assert not run(bob, 2)()["responses_from_cache"]  # the same module and corpus: bob never sees alice's table
    assert key in _tables(server, "alice") and key in _tables(server, "bob")
    assert not (server.jobs.config.cache_dir / "responses" / key).exists()  # nothing in the shared folder

    per_unit = n_ngrams * 4  # bytes of one unit's column; the quota is 1 MiB
    msg = refused(run(alice, 2**20 // per_unit + 8), QuotaExceededError, "RESOURCE_EXHAUSTED")
    assert "--max-cache-mb-per-client" in msg
    six_tenths = int(0.6 * 2**20) // per_unit
    run(alice, six_tenths, seed=2)()  # fits beside the small tables
    big = _tables(server, "alice") - {key}
    msg = refused(run(alice, six_tenths, seed=3), QuotaExceededError, "RESOURCE_EXHAUSTED")
    assert "still in use" in msg and "--max-cache-mb-per-client" in msg  # nothing old enough to evict
    old = time.time() - 3600
    for p in (server.jobs.config.cache_dir / "clients" / client_id("alice")).rglob("*"):
        os.utime(p, (old, old))
    run(alice, six_tenths, seed=3)()  # the least recently written tables made room
    assert not big & _tables(server, "alice")
    assert key in _tables(server, "bob")  # another tenant's tables are never touched


# ---------------------------------------------------------------- one server per database, files, states

def test_one_server_per_database_and_owner_only_files(tmp_path):
    db = tmp_path / "one" / "server.db"
    first = start_server(ServerConfig(port=0, db=str(db)))
    try:
        with pytest.raises(ConfigError, match="in use by another sasc server"):
            start_server(ServerConfig(port=0, db=str(db)))
        with pytest.raises(ConfigError, match="in use"):
            Store(db)
        for p in db.parent.iterdir():  # server.db, -wal, -shm, .lock and the cache folder
            assert p.stat().st_mode & 0o077 == 0, (p.name, oct(p.stat().st_mode))
        assert (db.parent / "cache").is_dir()
    finally:
        first.stop()
    second = start_server(ServerConfig(port=0, db=str(db)))  # the lock goes with the first server
    second.stop()


def test_finished_jobs_never_change_state(tmp_path):
    from server.store import JobRecord

    store = Store(tmp_path / "s.db")
    try:
        store.add_job(JobRecord(id="job_1", owner="a", module_id="m", spec={}, spec_hash="h"))
        store.update_job("job_1", state="succeeded", result="{}")
        store.update_job("job_1", state="queued", progress={"stage": "queued"})  # a stopping second server
        store.update_job("job_1", state="failed", error_code="X")
        rec = store.job("a", "job_1")
        assert (rec.state, rec.result, rec.error_code) == ("succeeded", "{}", "")
    finally:
        store.close()


def test_exposure_warnings(tmp_path, caplog):
    tokens = tmp_path / "tokens"
    tokens.write_text("alice ta\n")
    tokens.chmod(0o644)
    srv = start_server(ServerConfig(port=0, db=str(tmp_path / "s.db"), tokens_file=str(tokens), host="0.0.0.0"))
    srv.stop()
    text = caplog.text
    assert "readable by other users" in text and "clear text" in text


def test_the_server_forces_model_hubs_offline(server):
    assert all(os.environ.get(k) == "1" for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


@pytest.mark.slow
def test_operator_roots_keep_legitimate_use_working_and_json_logs_stay_json(tmp_path):
    """A dictionary in an operator's --data-root registers and evaluates; stderr is JSON lines only."""
    import subprocess
    import sys

    dicts = tmp_path / "dicts"
    dicts.mkdir()
    np.save(dicts / "d.npy", np.random.default_rng(0).normal(size=(384, 8)).astype(np.float32))
    tokens = tmp_path / "tokens"
    tokens.write_text("alice ta\n")
    tokens.chmod(0o644)
    err = tmp_path / "stderr.log"
    with open(err, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "sasc.cli", "serve", "--port", "0", "--db", str(tmp_path / "s.db"),
                                 "--host", "0.0.0.0", "--tokens-file", str(tokens), "--data-root", str(dicts),
                                 "--log-format", "json"], cwd=Path(__file__).resolve().parents[1],
                                stdout=subprocess.PIPE, stderr=log, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = proc.stdout.readline()
        assert "listening on" in line, line
        with Client("127.0.0.1:" + line.rsplit(":", 1)[-1].strip(), token="ta") as c:
            m = c.register_module("dictionary_factor", {"dictionary": "d.npy", "layer": 2, "device": "cpu"})
            assert c.evaluate(m.id, ["pizza and pasta", "a crime"]).shape == (2, 8)
            refused(lambda: c.register_module("llm_neuron", {"model": "gpt2"}))
    finally:
        proc.terminate()
        proc.wait(30)
    lines = err.read_text().splitlines()
    records = [json.loads(x) for x in lines]  # raises on any line that is not JSON
    messages = " ".join(r["message"] for r in records)
    assert "readable by other users" in messages and "clear text" in messages


@pytest.mark.parametrize("kind, shard_size", [
    ("hostile_counting", 200),  # no internal batches: the job stops after its 0.6 s call in flight
    ("hostile_batched", 4096),  # the default shard: all 2,910 n-grams, ~9 s, in one call; it stops between batches
])
def test_a_cancelled_job_stops_within_a_second(alice, kind, shard_size):
    m = alice.register_module(kind, {"n_units": 1, "delay_s": 0.003})
    words = ["pizza", "river", "market", "crime", "train", "film", "paper", "stock", "garden", "storm"]
    corpus = [" ".join(words[(i * 7 + j * 3) % 10] + str((i + j) % 97) for j in range(8)) for i in range(3000)]
    CALLS.clear()
    job = alice.submit_job(m.id, corpus=corpus, generic=GENERIC, helper="fake",
                           settings={**SETTINGS, "shard_size": shard_size})
    _until(lambda: sum(n for _, n in CALLS) >= 80, timeout_s=20)  # the n-gram stage is under way
    alice.cancel_job(job.id)
    cancelled_at = time.monotonic()
    _until(lambda: alice.get_job(job.id).state == "cancelled", timeout_s=15)
    stopped_s = time.monotonic() - cancelled_at
    assert stopped_s < 3.0, f"the job took {stopped_s:.1f} s to stop"
    assert CALLS[-1][0] < cancelled_at + 1.0, "the job kept its module busy after the cancel"
    assert sum(n for _, n in CALLS) < 1000  # far from the 2,910 n-grams of the one default shard
