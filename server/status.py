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


def status_of(error: BaseException) -> tuple[grpc.StatusCode, str]:
    """``(code, details)`` for an exception; unexpected ones get a generic message and a log line."""
    if isinstance(error, SascError):
        for cls in type(error).__mro__:
            if cls in ERROR_STATUS:
                return ERROR_STATUS[cls], str(error)
    if isinstance(error, grpc.RpcError):  # reading the request stream failed: the call is already over
        log.info("request stream ended abnormally", extra={"grpc_error": type(error).__name__})
        return grpc.StatusCode.CANCELLED, "the request stream ended abnormally"
    incident = uuid.uuid4().hex[:12]
    log.error("internal error", exc_info=error, extra={"incident": incident})
    return grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE.format(incident=incident)


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
