"""The one exception -> status table and the decorator every RPC wears."""

from __future__ import annotations

import logging

import grpc
import pytest

from sasc import errors as E
from server.status import ERROR_STATUS, rpc, status_of


class FakeContext:
    """Records abort() like grpc does (abort raises)."""

    def __init__(self):
        self.aborted = None

    def abort(self, code, details):
        self.aborted = (code, details)
        raise RuntimeError("aborted")


@pytest.mark.parametrize("error, code", [
    (E.ConfigError("bad"), grpc.StatusCode.INVALID_ARGUMENT),
    (E.UnknownKindError("no such kind"), grpc.StatusCode.INVALID_ARGUMENT),
    (E.CorpusError("empty"), grpc.StatusCode.INVALID_ARGUMENT),
    (E.NotFoundError("no job"), grpc.StatusCode.NOT_FOUND),
    (E.AuthenticationError("no token"), grpc.StatusCode.UNAUTHENTICATED),
    (E.PermissionDeniedError("read only"), grpc.StatusCode.PERMISSION_DENIED),
    (E.QuotaExceededError("too many"), grpc.StatusCode.RESOURCE_EXHAUSTED),
    (E.HelperUnavailableError("down"), grpc.StatusCode.UNAVAILABLE),
    (E.ModuleUnavailableError("gone"), grpc.StatusCode.UNAVAILABLE),
    (E.HelperReplyError("garbled"), grpc.StatusCode.ABORTED),
    (E.NonFiniteResponseError("m", ["x"]), grpc.StatusCode.FAILED_PRECONDITION),
    (E.CancelledError("stop"), grpc.StatusCode.CANCELLED),
])
def test_sasc_errors_map_to_their_status_with_their_message(error, code):
    assert status_of(error) == (code, str(error))


def test_every_class_of_the_tree_has_a_status():
    classes = [c for c in vars(E).values() if isinstance(c, type) and issubclass(c, E.SascError)]
    for cls in classes:
        assert any(k in ERROR_STATUS for k in cls.__mro__), cls


def test_internal_errors_get_a_generic_message_and_a_log_line(caplog):
    class Servicer:
        @rpc
        def Boom(self, request, context):
            raise KeyError("/secret/path/in/traceback")

    ctx = FakeContext()
    with caplog.at_level(logging.ERROR, logger="sasc.server"), pytest.raises(RuntimeError, match="aborted"):
        Servicer().Boom(None, ctx)
    code, details = ctx.aborted
    assert code == grpc.StatusCode.INTERNAL
    assert "secret" not in details and "Traceback" not in details and "incident" in details
    incident = details.rsplit(" ", 1)[-1]
    assert any(getattr(r, "incident", None) == incident and r.exc_info for r in caplog.records)


def test_streaming_methods_map_errors_raised_mid_stream():
    class Servicer:
        @rpc
        def Stream(self, request, context):
            yield 1
            raise E.NotFoundError("no job 'x'")

    ctx = FakeContext()
    gen = Servicer().Stream(None, ctx)
    assert next(gen) == 1
    with pytest.raises(RuntimeError):
        next(gen)
    assert ctx.aborted == (grpc.StatusCode.NOT_FOUND, "no job 'x'")


def test_unary_results_pass_through():
    class Servicer:
        @rpc
        def Echo(self, request, context):
            return request

    assert Servicer().Echo(42, FakeContext()) == 42
