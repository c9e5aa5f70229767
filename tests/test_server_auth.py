"""Bearer tokens, per-client isolation, read-only tokens, localhost-only without tokens, TLS."""

from __future__ import annotations

import logging
import shutil
import subprocess

import grpc
import numpy as np
import pytest
from fakes import FOOD_CORPUS

from sasc.client import Client
from sasc.errors import AuthenticationError, ConfigError, NotFoundError, PermissionDeniedError
from server.app import start_server
from server.auth import Authenticator, parse_tokens
from server.config import ServerConfig

W = np.ones((1, 256), np.float32)
SETTINGS = {"n_candidates": 1, "n_synthetic": 2, "n_bootstrap": 20, "n_generic": 3}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    d = tmp_path_factory.mktemp("auth")
    (d / "tokens").write_text("# client token [read]\nalice tok-alice\nbob tok-bob\naudit tok-audit read\n")
    srv = start_server(ServerConfig(port=0, db=str(d / "s.db"), tokens_file=str(d / "tokens"), host="127.0.0.1"))
    yield srv
    srv.stop()


def test_token_file_format_is_validated():
    assert parse_tokens("a t1\nb t2 read # comment\n\n", "f")
    with pytest.raises(ConfigError, match="line 1"):
        parse_tokens("only-one-field\n", "f")
    with pytest.raises(ConfigError, match="line 1"):
        parse_tokens("a t1 admin\n", "f")
    assert not Authenticator.from_sources().enabled


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_missing_or_unknown_token_is_unauthenticated(server, token):
    with Client(server.target, token=token) as c:
        with pytest.raises(AuthenticationError) as info:
            c.list_modules()
        assert info.value.code == "UNAUTHENTICATED"
        with pytest.raises(AuthenticationError):
            c.get_job("job_x")


def test_each_token_sees_only_its_own_modules_and_jobs(server):
    with Client(server.target, token="tok-alice") as alice, Client(server.target, token="tok-bob") as bob:
        m = alice.register_linear_readout(W, feature_model="word_hash")
        job = alice.submit_job(m.id, corpus=FOOD_CORPUS, generic=FOOD_CORPUS, helper="fake", settings=SETTINGS)
        alice.watch_job(job.id, progress=False)
        assert m.id not in [x.id for x in bob.list_modules()]
        assert job.id not in [j.id for j in bob.list_jobs()]
        for call in (lambda: bob.get_module(m.id), lambda: bob.evaluate(m.id, ["x"]), lambda: bob.delete_module(m.id),
                     lambda: bob.get_job(job.id), lambda: bob.result(job.id), lambda: bob.cancel_job(job.id),
                     lambda: bob.watch_job(job.id, progress=False),
                     lambda: bob.submit_job(m.id, corpus=FOOD_CORPUS, helper="fake"),
                     lambda: bob.score(m.id, ["food"], corpus=FOOD_CORPUS, helper="fake")):
            with pytest.raises(NotFoundError):
                call()
        assert alice.get_module(m.id).id == m.id and alice.result(job.id).units


def test_read_only_tokens_may_read_but_not_write(server):
    with Client(server.target, token="tok-audit") as audit:
        assert audit.list_modules() == [] and audit.kinds()
        with pytest.raises(PermissionDeniedError) as info:
            audit.register_linear_readout(W, feature_model="word_hash")
        assert info.value.code == "PERMISSION_DENIED"
        with pytest.raises(PermissionDeniedError):
            audit.submit_job("mod_x", helper="fake")
        with pytest.raises(PermissionDeniedError):  # scoring spends helper calls: a write
            audit.score("mod_x", ["food"], helper="fake")


def test_health_needs_no_token(server):
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    stub = health_pb2_grpc.HealthStub(grpc.insecure_channel(server.target))
    assert stub.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.SERVING


def test_without_tokens_the_server_binds_localhost_and_says_so(extra_server, caplog):
    with caplog.at_level(logging.WARNING, logger="sasc.server"):
        srv = extra_server(host="0.0.0.0")
    assert srv.host == "127.0.0.1"
    assert any("127.0.0.1 only" in r.getMessage() for r in caplog.records)
    with Client(srv.target) as c:
        assert c.list_modules() == []


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_round_trip(tmp_path, extra_server):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp_path / "key.pem"),
                    "-out", str(tmp_path / "cert.pem"), "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
    srv = extra_server(tokens="carol=tok-c", tls_cert=str(tmp_path / "cert.pem"), tls_key=str(tmp_path / "key.pem"))
    ca = (tmp_path / "cert.pem").read_bytes()
    with Client(f"localhost:{srv.port}", token="tok-c", root_certificates=ca) as c:
        m = c.register_linear_readout(W, feature_model="word_hash")
        assert c.evaluate(m.id, ["a"]).shape == (1, 1)
    with Client(f"localhost:{srv.port}", token="tok-c", timeout_s=3) as plain:  # no TLS: cannot talk
        with pytest.raises(Exception) as info:
            plain.list_modules()
        assert "UNAVAILABLE" in str(info.value)


def test_every_rpc_needs_a_token_and_every_write_rpc_a_full_one(server):
    """Walks the proto's services: no token -> UNAUTHENTICATED everywhere; a read-only token ->
    PERMISSION_DENIED exactly for the RPCs outside server.auth.READ_METHODS."""
    from sasc._grpc import jobs_pb2, modules_pb2
    from server.auth import READ_METHODS

    ident = dict(request_serializer=lambda x: x, response_deserializer=lambda x: x)
    seen = set()
    with grpc.insecure_channel(server.target) as ch:
        for proto in (modules_pb2, jobs_pb2):
            for service in proto.DESCRIPTOR.services_by_name.values():
                for m in service.methods:
                    make = {(False, False): ch.unary_unary, (False, True): ch.unary_stream,
                            (True, False): ch.stream_unary, (True, True): ch.stream_stream}
                    call = make[(m.client_streaming, m.server_streaming)](f"/{service.full_name}/{m.name}", **ident)
                    for token in (None, "tok-audit"):
                        md = [("authorization", f"Bearer {token}")] if token else []
                        try:
                            reply = call(iter([b""]) if m.client_streaming else b"", metadata=md, timeout=5)
                            if m.server_streaming:
                                next(iter(reply), None)
                            code = grpc.StatusCode.OK
                        except grpc.RpcError as e:
                            code = e.code()
                        if token is None:
                            assert code == grpc.StatusCode.UNAUTHENTICATED, m.name
                        elif m.name in READ_METHODS:
                            assert code not in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED), m.name
                        else:
                            assert code == grpc.StatusCode.PERMISSION_DENIED, m.name
                    seen.add(m.name)
    assert {"DeleteJob", "HostModule", "SubmitJob", "Evaluate"} <= seen and READ_METHODS <= seen
