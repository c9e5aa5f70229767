"""Exceptions -> gRPC status codes: one table, one decorator.

A :class:`sasc.errors.SascError` becomes the status of its nearest class in
:data:`ERROR_STATUS` with its message as details; anything else is an internal error: the
client gets ``INTERNAL`` with a generic message and an incident id, the log gets the
traceback.
"""

from __future__ import annotations

import functools
import inspect
import logging
import uuid
from collections.abc import Callable
from typing import Any

import grpc

from sasc.errors import (
    AuthenticationError, CancelledError, ConfigError, HelperLLMError, HelperUnavailableError, ModelAssetError,
    ModuleError, ModuleUnavailableError, NotFoundError, PermissionDeniedError, QuotaExceededError, SascError,
)

log = logging.getLogger("sasc.server")

ERROR_STATUS: dict[type[SascError], grpc.StatusCode] = {
    ConfigError: grpc.StatusCode.INVALID_ARGUMENT,
    NotFoundError: grpc.StatusCode.NOT_FOUND,
    AuthenticationError: grpc.StatusCode.UNAUTHENTICATED,
    PermissionDeniedError: grpc.StatusCode.PERMISSION_DENIED,
    QuotaExceededError: grpc.StatusCode.RESOURCE_EXHAUSTED,
    HelperUnavailableError: grpc.StatusCode.UNAVAILABLE,
    ModuleUnavailableError: grpc.StatusCode.UNAVAILABLE,
    HelperLLMError: grpc.StatusCode.ABORTED,
    ModuleError: grpc.StatusCode.FAILED_PRECONDITION,
    ModelAssetError: grpc.StatusCode.FAILED_PRECONDITION,
    CancelledError: grpc.StatusCode.CANCELLED,
    SascError: grpc.StatusCode.UNKNOWN,
}
"""The status of each class of the sasc error tree; subclasses use their nearest ancestor."""

INTERNAL_MESSAGE = "internal error; the server log has the details under incident {incident}"
MAX_DETAILS = 1000
"""Characters of an error message sent back: a message that repeats a large input must still fit
the trailer (larger ones came back as RESOURCE_EXHAUSTED instead of their own status)."""
UNDECODABLE = "the request is not a valid {what} message (strings must be UTF-8)"


def status_of(error: BaseException) -> tuple[grpc.StatusCode, str]:
    """``(code, details)`` for an exception; unexpected ones get a generic message and a log line."""
    if isinstance(error, SascError):
        for cls in type(error).__mro__:
            if cls in ERROR_STATUS:
                return ERROR_STATUS[cls], bounded(str(error))
    if isinstance(error, grpc.RpcError):  # reading the request stream failed: the call is already over
        log.info("request stream ended abnormally", extra={"grpc_error": type(error).__name__})
        return grpc.StatusCode.CANCELLED, "the request stream ended abnormally"
    incident = uuid.uuid4().hex[:12]
    log.error("internal error", exc_info=error, extra={"incident": incident})
    return grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE.format(incident=incident)


def bounded(message: str, limit: int = MAX_DETAILS) -> str:
    """``message`` cut to ``limit`` characters, saying so."""
    if len(message) <= limit:
        return message
    return message[:limit - 30] + f" ... ({len(message):,} characters)"


def rpc(method: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a servicer method (unary or streaming) so raised exceptions become statuses."""
    if inspect.isgeneratorfunction(method):
        @functools.wraps(method)
        def stream(self, request, context):
            try:
                yield from method(self, request, context)
            except Exception as e:  # noqa: BLE001 - mapped to a status here, once
                code, details = status_of(e)
                context.abort(code, details)
        return stream

    @functools.wraps(method)
    def unary(self, request, context):
        try:
            return method(self, request, context)
        except Exception as e:  # noqa: BLE001
            code, details = status_of(e)
            context.abort(code, details)
    return unary


class _Undecodable:
    """Stands for a request message that failed to parse (e.g. invalid UTF-8 in a string)."""

    def __init__(self, what: str):
        self.what = what


class DecodeGuard(grpc.ServerInterceptor):
    """Requests that do not parse get INVALID_ARGUMENT instead of grpc's INTERNAL.

    gRPC parses a request before any servicer code runs and answers INTERNAL when that fails;
    this interceptor swaps each method's parser for one that hands the servicer a marker, and
    the marker is turned into INVALID_ARGUMENT (unary) or a ConfigError (streams).
    """

    def intercept_service(self, continuation, handler_call_details):  # noqa: ANN001
        handler = continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        parse, what = handler.request_deserializer, handler_call_details.method.rsplit("/", 1)[-1]

        def safe(data: bytes) -> Any:
            try:
                return parse(data)
            except Exception:  # noqa: BLE001 - a malformed request is the client's mistake
                return _Undecodable(what)

        if handler.request_streaming:
            kind = "stream_stream" if handler.response_streaming else "stream_unary"
            inner = getattr(handler, kind)

            def streaming(request_iterator, context):  # noqa: ANN001
                return inner(_checked(request_iterator), context)
            return handler._replace(request_deserializer=safe, **{kind: streaming})
        kind = "unary_stream" if handler.response_streaming else "unary_unary"
        inner = getattr(handler, kind)

        def unary(request, context):  # noqa: ANN001
            if isinstance(request, _Undecodable):
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, UNDECODABLE.format(what=request.what + " request"))
            return inner(request, context)
        return handler._replace(request_deserializer=safe, **{kind: unary})


def _checked(requests: Any) -> Any:
    for r in requests:
        if isinstance(r, _Undecodable):
            raise ConfigError(UNDECODABLE.format(what=r.what + " request"))
        yield r
