"""Assemble the gRPC server: servicers, health, reflection, limits, TLS, resumed jobs."""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from sasc._grpc import jobs_pb2, jobs_pb2_grpc, modules_pb2, modules_pb2_grpc
from sasc.errors import ConfigError

from .auth import AuthInterceptor, Authenticator
from .config import ServerConfig
from .jobs import JobQueue
from .registry import ModuleRegistry
from .servicers import JobServicer, ModuleServicer
from .status import DecodeGuard
from .store import Store
from .streams import CallSlots, SlotInterceptor, call_slots

log = logging.getLogger("sasc.server")
SERVICES = (modules_pb2.DESCRIPTOR.services_by_name["ModuleService"].full_name,
            jobs_pb2.DESCRIPTOR.services_by_name["JobService"].full_name)
LOCALHOST = "127.0.0.1"


@dataclass
class RunningServer:
    """A started server and the parts tests and the CLI need to reach."""

    grpc_server: grpc.Server
    port: int
    host: str
    store: Store
    registry: ModuleRegistry
    jobs: JobQueue
    health: health.HealthServicer
    slots: CallSlots | None = None
    """RPC threads held by calls (see :mod:`server.streams`)."""

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self, grace_s: float | None = 2.0) -> None:
        """Stop serving; running jobs stay queued in the store and resume on the next start."""
        self.health.enter_graceful_shutdown()
        self.jobs.stop(wait=False)
        self.grpc_server.stop(grace_s).wait()
        self.jobs.stop(wait=True)
        self.store.close()


def _credentials(config: ServerConfig) -> grpc.ServerCredentials | None:
    if not config.tls_cert:
        return None
    try:
        pair = (Path(config.tls_key).read_bytes(), Path(config.tls_cert).read_bytes())
        ca = Path(config.tls_client_ca).read_bytes() if config.tls_client_ca else None
    except OSError as e:
        raise ConfigError(f"cannot read TLS files: {e}") from e
    return grpc.ssl_server_credentials([pair], root_certificates=ca, require_client_auth=ca is not None)


def _warn_about_exposure(config: ServerConfig, host: str, auth: Authenticator) -> None:
    """Log what an operator should fix: readable token files, tokens in clear text on a network."""
    if config.tokens_file:
        try:
            mode = Path(config.tokens_file).expanduser().stat().st_mode
        except OSError:
            mode = 0
        if mode & 0o077:
            log.warning("the tokens file is readable by other users: chmod 600 it",
                        extra={"tokens_file": config.tokens_file, "mode": oct(mode & 0o777)})
    if auth.enabled and not config.tls_cert and host not in (LOCALHOST, "localhost", "::1"):
        log.warning("bearer tokens on a non-loopback address without TLS travel in clear text: "
                    "give --tls-cert/--tls-key, or bind 127.0.0.1 behind a TLS proxy", extra={"host": host})


def _private_dir(path: Path) -> None:
    """Create ``path`` owner-only (0700), or make it so; a warning when that is not possible."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        if path.stat().st_mode & 0o077:
            path.chmod(0o700)
    except OSError as e:
        log.warning("cannot make the cache folder owner-only", extra={"path": str(path), "error": e.strerror})


def start_server(config: ServerConfig) -> RunningServer:
    """Start serving ``config``; returns once the port is bound and stored jobs are re-queued."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):  # a client-named model never reaches a hub
        os.environ[name] = "1"
    auth = Authenticator.from_sources(config.tokens_file, config.tokens)
    host = config.host
    if not auth.enabled and host not in (LOCALHOST, "localhost"):
        log.warning("no bearer token configured: binding 127.0.0.1 only", extra={"requested_host": host})
        host = LOCALHOST
    elif not auth.enabled:
        log.warning("no bearer token configured: serving 127.0.0.1 only, every caller is client 'local'")
    _warn_about_exposure(config, host, auth)
    store = Store(config.db_path)
    _private_dir(config.cache_dir)  # n-gram responses and helper replies of every tenant
    try:
        return _serve(config, host, auth, store)
    except BaseException:
        store.close()  # releases the database lock for the next try
        raise


def _serve(config: ServerConfig, host: str, auth: Authenticator, store: Store) -> RunningServer:
    registry = ModuleRegistry(store, config)
    jobs = JobQueue(store, registry, config)
    limit = config.max_message_bytes
    slots = call_slots(config)
    server = grpc.server(ThreadPoolExecutor(max_workers=config.rpc_threads, thread_name_prefix="sasc-rpc"),
                         interceptors=[AuthInterceptor(auth), DecodeGuard(),  # in this order
                                       SlotInterceptor(slots, by_tenant=auth.enabled)],
                         options=[("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", limit),
                                  ("grpc.so_reuseport", 0)])
    modules_pb2_grpc.add_ModuleServiceServicer_to_server(ModuleServicer(registry), server)
    jobs_pb2_grpc.add_JobServiceServicer_to_server(JobServicer(jobs), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection((*SERVICES, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    creds = _credentials(config)
    address = f"{host}:{config.port}"
    port = server.add_secure_port(address, creds) if creds else server.add_insecure_port(address)
    if port == 0:
        raise ConfigError(f"cannot bind {address}")
    server.start()
    for name in ("", *SERVICES):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    resumed = jobs.resume()
    log.info("serving", extra={"address": f"{host}:{port}", "tls": creds is not None, "auth": auth.enabled,
                               "db": str(config.db_path), "resumed_jobs": len(resumed),
                               "data_roots": [str(r) for r in registry.paths.roots],
                               "allowed_helpers": list(jobs.helpers.allowed)})
    return RunningServer(server, port, host, store, registry, jobs, health_servicer, slots)
