"""Module RPCs against a real server on port 0: register, list, get, delete, evaluate, kinds,
health, reflection; the linear_readout kind; requests that must be refused."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from sasc.errors import ConfigError, NotFoundError, QuotaExceededError
from sasc.modules import check_module
from sasc.modules.readout import LinearReadoutBank, WordHashFeatures, register_feature_model
from server.config import ServerConfig


SERVER_SETTINGS = {"max_texts_per_call": 500, "max_array_mb_per_client": 1}
"""Of the module's server (the ``server`` fixture of conftest.py)."""


def weights(n_units=3, dim=256, seed=0):
    return np.random.default_rng(seed).normal(size=(n_units, dim)).astype(np.float32)


def test_linear_readout_on_word_hash_is_a_conforming_module():
    bank = LinearReadoutBank(weights(), feature_model="word_hash", units=["a", "b", "c"])
    check_module(bank)
    feats = WordHashFeatures().features(["pizza pasta"])
    np.testing.assert_allclose(bank.responses(["pizza pasta"]), feats @ weights().T, rtol=1e-5)


@pytest.mark.slow
def test_linear_readout_on_minilm_is_a_conforming_module():
    bank = LinearReadoutBank(weights(2, 384), feature_model="minilm")
    check_module(bank)
    assert bank.units == ["unit0", "unit1"]


@pytest.mark.parametrize("kwargs, message", [
    ({"weights": np.ones((2, 5))}, "5 columns"),
    ({"weights": np.ones(256)}, "2-D"),
    ({"weights": np.full((1, 256), np.nan)}, "NaN"),
    ({"weights": np.ones((2, 256)), "units": ["a"]}, "distinct unit names"),
    ({"weights": np.ones((2, 256)), "bias": np.ones(3)}, "bias"),
    ({"weights": np.ones((2, 256)), "feature_model": "nope"}, "known: "),
])
def test_linear_readout_rejects_bad_parameters(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        LinearReadoutBank(**{"feature_model": "word_hash", **kwargs})


def test_feature_models_can_be_registered():
    class Constant:
        dim, identity = 2, "constant-v1"

        def features(self, texts):
            return np.ones((len(texts), 2), np.float32)

    register_feature_model("test_constant", Constant, replace=True)
    bank = LinearReadoutBank([[1.0, 2.0]], feature_model="test_constant")
    np.testing.assert_array_equal(bank.responses(["x", "y"]), [[3.0], [3.0]])
    with pytest.raises(ConfigError, match="already registered"):
        register_feature_model("test_constant", Constant)


def test_register_get_list_evaluate_delete_round_trip(client):
    w = weights()
    m = client.register_linear_readout(w, feature_model="word_hash", units=["a", "b", "c"], bias=[0, 1, 2],
                                       name="voxels", chunk_bytes=1000)  # 3 KiB of weights in 4 chunks
    assert (m.kind, m.display_name, m.units, m.array_bytes) == ("linear_readout", "voxels", ["a", "b", "c"], 3084)
    assert m.fingerprint and not m.hosted and m.params["feature_model"] == "word_hash"
    assert client.get_module(m.id) == m
    assert m.id in [x.id for x in client.list_modules()]
    texts = ["I ate pizza", "stocks fell", ""]
    expected = LinearReadoutBank(w, "word_hash", ["a", "b", "c"], [0, 1, 2]).responses(texts)
    np.testing.assert_allclose(client.evaluate(m.id, texts), expected, rtol=1e-6)
    np.testing.assert_allclose(client.evaluate(m.id, texts, units=["c"]), expected[:, 2:], rtol=1e-6)
    np.testing.assert_allclose(client.evaluate(m.id, texts, units=[1, 0]), expected[:, [1, 0]], rtol=1e-6)
    assert client.evaluate(m.id, []).shape == (0, 3)
    client.delete_module(m.id)
    with pytest.raises(NotFoundError):
        client.get_module(m.id)
    with pytest.raises(NotFoundError):
        client.evaluate(m.id, ["x"])


@pytest.mark.slow
def test_embedding_distance_registers_and_matches_the_library(client, minilm_food):
    m = client.register_module("embedding_distance", {"keyphrases": ["food", "violence"]})
    assert m.units == ["food", "violence"] and m.fingerprint == minilm_food.fingerprint
    texts = ["pizza and pasta", "a shooting downtown"]
    np.testing.assert_allclose(client.evaluate(m.id, texts), minilm_food.responses(texts), atol=1e-5)


def test_kinds_lists_the_builtins(client):
    assert {"embedding_distance", "linear_readout"} <= set(client.kinds())


@pytest.mark.parametrize("call, error, message", [
    (lambda c: c.register_module("no_such_kind"), ConfigError, "unknown module kind"),
    (lambda c: c.register_module("", {}), ConfigError, "name a kind"),
    (lambda c: c.register_module("linear_readout", {"feature_model": "word_hash"}), ConfigError, "weights"),
    (lambda c: c.register_module("embedding_distance", {"keyphrases": ["x"], "model": "/etc/passwd"}),
     ConfigError, "not allowed or not there"),
    (lambda c: c.register_module("client_hosted", {}), ConfigError, "HostModule"),
    (lambda c: c.register_linear_readout(np.ones((2, 7)), feature_model="word_hash"), ConfigError, "7 columns"),
    (lambda c: c.register_linear_readout(np.full((1, 256), np.inf), feature_model="word_hash"), ConfigError, "NaN or inf"),
    (lambda c: c.register_linear_readout(np.ones((1100, 256)), feature_model="word_hash"), QuotaExceededError, "bytes"),
    (lambda c: c.evaluate("mod_nope", ["x"]), NotFoundError, "no module"),
    (lambda c: c.evaluate(c.list_modules()[0].id, ["x"] * 501), QuotaExceededError, "at most 500"),
    (lambda c: c.evaluate(c.list_modules()[0].id, ["x"], units=[99]), ConfigError, "out of range"),
    (lambda c: c.evaluate(c.list_modules()[0].id, ["x"], units=["nope"]), ConfigError, "unknown unit"),
])
def test_bad_requests_get_the_right_status(client, call, error, message):
    if not client.list_modules():
        client.register_linear_readout(weights(1), feature_model="word_hash")
    with pytest.raises(error, match=message) as info:
        call(client)
    assert info.value.code in ("INVALID_ARGUMENT", "NOT_FOUND", "RESOURCE_EXHAUSTED")


def test_chunks_with_a_wrong_byte_count_are_rejected(server):
    from sasc._grpc import modules_pb2 as mpb
    from sasc._grpc import modules_pb2_grpc

    stub = modules_pb2_grpc.ModuleServiceStub(grpc.insecure_channel(server.target))
    msgs = [mpb.RegisterModuleRequest(kind="linear_readout",
                                      arrays=[mpb.ArrayChunk(name="weights", shape=[1, 256], data=b"\0" * 12)])]
    with pytest.raises(grpc.RpcError) as info:
        stub.RegisterModule(iter(msgs))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "expected 1024" in info.value.details()


def test_health_and_reflection(server):
    channel = grpc.insecure_channel(server.target)
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "sasc.v1.ModuleService", "sasc.v1.JobService"):
        assert health.Check(health_pb2.HealthCheckRequest(service=service)).status == health_pb2.HealthCheckResponse.SERVING
    refl = reflection_pb2_grpc.ServerReflectionStub(channel)
    resp = next(refl.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
    names = {s.name for s in resp.list_services_response.service}
    assert {"sasc.v1.ModuleService", "sasc.v1.JobService", "grpc.health.v1.Health"} <= names


def test_config_from_flags_and_env():
    import argparse

    from server.config import add_arguments, config_from_args

    p = argparse.ArgumentParser()
    add_arguments(p, environ={"SASC_SERVE_PORT": "6000", "SASC_SERVE_TOKENS": "a=b", "SASC_SERVE_HOSTED_DEADLINE_S": "2.5"})
    cfg = config_from_args(p.parse_args(["--job-workers", "3"]))
    assert (cfg.port, cfg.tokens, cfg.hosted_deadline_s, cfg.job_workers) == (6000, "a=b", 2.5, 3)
    assert cfg.cache_dir == cfg.db_path.parent / "cache"
    with pytest.raises(ConfigError, match="job_workers"):
        config_from_args(p.parse_args(["--job-workers", "0"]))
    with pytest.raises(ConfigError, match="tls-key"):
        ServerConfig(tls_cert="c.pem")
