"""Bearer tokens: who is calling, and may they change things.

Tokens come from a file (``client token [read]`` per line) and/or an inline
``client=token,...`` string. Each client sees only its own modules and jobs. With no token
configured every caller is the client ``local`` and the server binds localhost only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import grpc

from sasc.errors import AuthenticationError, ConfigError, PermissionDeniedError, SascError
from sasc.lists import split_list

from .status import status_of

ANONYMOUS = "local"
"""Client name of every caller when no token is configured."""
SERVICE_PREFIX = "/sasc.v1."
"""Methods under this prefix need a token; health checking and reflection stay open."""
READ_METHODS = frozenset({"ListModules", "GetModule", "Evaluate", "ListKinds", "WatchJob", "GetJob", "ListJobs"})
"""RPCs a read-only token may call. Every other sasc.v1 RPC changes state and needs a full token,
so an RPC added to the proto is refused to read-only tokens until it is listed here."""
_CALLER = "sasc_caller"


@dataclass(frozen=True)
class Client:
    """A caller the server knows."""

    name: str
    """Owner of the modules and jobs it creates."""
    read_only: bool = False
    """True: may list, get, evaluate and watch, but not register, submit, cancel or delete."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_tokens(text: str, source: str) -> dict[str, Client]:
    """Token-file text -> {sha256(token): Client}; raises ConfigError on a malformed line."""
    out: dict[str, Client] = {}
    for i, line in enumerate(text.splitlines(), 1):
        parts = line.split("#", 1)[0].split()
        if not parts:
            continue
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "read"):
            raise ConfigError(f"{source} line {i}: expected 'client token' or 'client token read'")
        out[_digest(parts[1])] = Client(parts[0], read_only=len(parts) == 3)
    return out


def parse_inline_tokens(text: str) -> dict[str, Client]:
    """``'alice=tok1,bob=tok2'`` -> {sha256(token): Client}."""
    out: dict[str, Client] = {}
    for item in split_list(text):
        name, eq, token = item.partition("=")
        if not eq or not name.strip() or not token.strip():
            raise ConfigError(f"bad inline token {name.strip() or item[:3]!r}...: expected client=token")
        out[_digest(token.strip())] = Client(name.strip())
    return out


class Authenticator:
    """Maps the ``authorization: Bearer <token>`` metadata of a call to a :class:`Client`."""

    def __init__(self, tokens: dict[str, Client]):
        self._tokens = dict(tokens)

    @classmethod
    def from_sources(cls, tokens_file: str = "", inline: str = "") -> "Authenticator":
        tokens: dict[str, Client] = {}
        if tokens_file:
            path = Path(tokens_file).expanduser()
            try:
                tokens.update(parse_tokens(path.read_text(encoding="utf-8"), str(path)))
            except OSError as e:
                raise ConfigError(f"cannot read tokens file {str(path)!r}: {e.strerror}") from e
        if inline:
            tokens.update(parse_inline_tokens(inline))
        return cls(tokens)

    @property
    def enabled(self) -> bool:
        """True when at least one token is configured."""
        return bool(self._tokens)

    def client(self, context: grpc.ServicerContext, *, write: bool = False) -> Client:
        """The calling client; ``write=True`` for calls that change state."""
        return self.client_of(context.invocation_metadata(), write=write)

    def client_of(self, metadata: Iterable[tuple[str, str]] | None, *, write: bool = False) -> Client:
        """The client whose ``authorization`` metadata this is (see :meth:`client`)."""
        if not self._tokens:
            return Client(ANONYMOUS)
        header = dict(metadata or ()).get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError("missing bearer token: send metadata 'authorization: Bearer <token>'")
        client = self._tokens.get(_digest(token.strip()))
        if client is None:
            raise AuthenticationError("unknown bearer token")
        if write and client.read_only:
            raise PermissionDeniedError(f"client {client.name!r} has a read-only token")
        return client


def caller(context: grpc.ServicerContext) -> Client:
    """The client :class:`AuthInterceptor` authenticated for this call."""
    client = getattr(context, _CALLER, None)
    if client is None:  # a servicer reached without the interceptor: refuse rather than guess
        raise AuthenticationError("the call was not authenticated")
    return client


class AuthInterceptor(grpc.ServerInterceptor):
    """Authenticates every sasc.v1 call once, before its servicer runs.

    A missing or unknown token is refused with UNAUTHENTICATED, a read-only token calling an RPC
    outside :data:`READ_METHODS` with PERMISSION_DENIED; otherwise the servicer finds the client
    with :func:`caller`. Health checking and reflection need no token.
    """

    def __init__(self, auth: Authenticator):
        self.auth = auth

    def intercept_service(self, continuation, handler_call_details):  # noqa: ANN001
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or not method.startswith(SERVICE_PREFIX):
            return handler
        kind = behavior_kind(handler)
        inner = getattr(handler, kind)
        try:
            client = self.auth.client_of(handler_call_details.invocation_metadata,
                                         write=method.rsplit("/", 1)[-1] not in READ_METHODS)
        except SascError as e:
            code, details = status_of(e)

            def refuse(request, context):  # noqa: ANN001
                context.abort(code, details)
            return handler._replace(**{kind: refuse})

        def bound(request, context):  # noqa: ANN001
            setattr(context, _CALLER, client)
            return inner(request, context)
        return handler._replace(**{kind: bound})


def behavior_kind(handler: grpc.RpcMethodHandler) -> str:
    """The handler attribute holding its behavior: ``unary_unary``, ``unary_stream``..."""
    return ("stream" if handler.request_streaming else "unary") + "_" + \
        ("stream" if handler.response_streaming else "unary")
