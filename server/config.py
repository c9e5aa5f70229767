"""Settings of ``sasc serve``: one frozen dataclass; flags and ``SASC_SERVE_*`` env come from it.

Every field becomes a ``--flag`` (underscores -> dashes) whose default is read from the
environment variable ``SASC_SERVE_<FIELD>`` when set, else the field default below.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sasc.errors import ConfigError

RESERVED_THREADS = 2
"""RPC threads never handed to a counted call: health checks and refusals run on them (server.streams)."""


def _f(default, help: str, **kw):  # noqa: A002 - mirrors argparse
    return field(default=default, metadata={"help": help, **kw})


@dataclass(frozen=True)
class ServerConfig:
    """Everything ``sasc serve`` can be told."""

    host: str = _f("127.0.0.1", "interface to bind; without tokens the server binds 127.0.0.1 whatever this says")
    """Interface to bind."""
    port: int = _f(50051, "TCP port (0: any free port; the bound port is printed)")
    """TCP port; 0 picks a free one."""
    db: str = _f("", "SQLite database of modules, jobs and results (default: ~/.local/share/sasc/server.db); "
                     "the n-gram response cache lives in cache/ beside it")
    """SQLite path; empty means the default."""
    tokens_file: str = _f("", "file of bearer tokens, one 'client token [read]' per line ('#' comments); "
                              "'read' tokens may not register, submit, cancel or delete")
    """Token file path (empty: none)."""
    tokens: str = _f("", "bearer tokens inline as 'client=token,client2=token2' (prefer SASC_SERVE_TOKENS or a file)")
    """Inline tokens (empty: none)."""
    tls_cert: str = _f("", "PEM certificate chain; with --tls-key enables TLS")
    """TLS certificate path."""
    tls_key: str = _f("", "PEM private key of --tls-cert")
    """TLS key path."""
    tls_client_ca: str = _f("", "PEM CA bundle; when set, clients must present a certificate it signed (mTLS)")
    """Client CA path for mutual TLS."""
    job_workers: int = _f(2, "explanation jobs run at once (the rest wait in the queue)")
    """Concurrent jobs."""
    rpc_threads: int = _f(64, "threads serving RPCs (long work never runs on them)")
    """gRPC thread pool size."""
    max_message_mb: int = _f(64, "largest request or reply message, MiB")
    """Message size limit, MiB."""
    max_jobs_per_client: int = _f(8, "queued + running jobs one client may have")
    """Per-client active job limit."""
    max_array_mb_per_client: int = _f(1024, "MiB of array parameters (weights, directions) one client may register")
    """Per-client registered array bytes, MiB."""
    max_modules_per_client: int = _f(256, "modules one client may register")
    """Per-client module limit."""
    max_texts_per_call: int = _f(50000, "texts in one Evaluate call or inline corpus")
    """Texts per request."""
    max_units_per_job: int = _f(10000, "units one job may explain")
    """Units per job."""
    hosted_max_batch: int = _f(1024, "largest batch sent to a client-hosted module (clients may ask for less)")
    """Upper bound of the negotiated hosted batch size."""
    hosted_deadline_s: float = _f(30.0, "seconds a client-hosted module has to answer one batch")
    """Per-batch deadline of client-hosted modules."""
    hosted_window: int = _f(8, "batches in flight at once to one client-hosted module")
    """Pipelining depth of a hosted module."""
    helper_timeout_s: float = _f(120.0, "deadline of one helper-LLM call in seconds, retries included")
    """Helper call deadline."""
    model_cache_dir: str = _f("", "where embedded helper GGUFs are assembled (default: ~/.cache/sasc/models)")
    """Model cache directory (empty: library default)."""
    backend: str = _f("local", "where jobs' n-gram stage and per-unit work run: this process, or a Ray cluster "
                               "(pip install 'sasc[ray]'; client-hosted modules always run here)", choices=("local", "ray"))
    """``local`` or ``ray``."""
    ray_address: str = _f("", "with --backend ray: cluster address, 'auto' for a running head node "
                              "(empty: a local cluster started by the server)")
    """Ray cluster address (empty: start a local one)."""
    ray_workers: int = _f(2, "with --backend ray: actors scoring one job's n-gram shards, one module load each")
    """Ray actors per n-gram stage."""
    data_root: tuple[str, ...] = _f((), "folder whose files (arrays, model folders, encoding models) module parameters "
                                          "may name; repeatable (env: separated by ':'); default: data/ beside --db. "
                                          "Packaged models are always allowed")
    """Roots of the paths a request may name (empty: ``data/`` beside the database)."""
    allowed_helpers: str = _f("local,local:*,fake,openai:*", "helper specs a job may name, comma-separated; "
                              "'kind:*' matches packaged model names (local) or plain model names (openai), never paths")
    """Helper allow-list."""
    max_streams_per_client: int = _f(8, "WatchJob + HostModule streams one client may hold open at once")
    """Per-client open streams."""
    max_streams: int = _f(48, "streams of all clients at once; must stay below --rpc-threads so unary calls "
                              "and health always find a thread")
    """Server-wide open streams."""
    max_unary_per_client: int = _f(8, "unary calls (Evaluate, SubmitJob, ...) one client may have in flight at once; "
                                      "with --max-streams-per-client it must leave threads for other clients")
    """Per-client unary calls in flight."""
    max_eval_mb: int = _f(512, "MiB of responses one Evaluate may compute (texts x module units x 4 bytes), "
                               "checked before any work")
    """Per-request response memory, MiB."""
    max_storage_mb_per_client: int = _f(2048, "MiB of stored jobs (specs with inline corpora, results) one client may keep")
    """Per-client job storage, MiB."""
    max_cache_mb_per_client: int = _f(4096, "MiB of cached n-gram response tables one client's jobs may keep "
                                            "(least recently written tables are evicted first)")
    """Per-client response cache, MiB."""
    retention_days: float = _f(0.0, "finished jobs older than this many days are deleted with their results "
                                    "(0: keep them)")
    """Retention of finished jobs, days (0: forever)."""
    log_format: str = _f("json", "log line format", choices=("json", "text"))
    """``json`` or ``text``."""
    log_level: str = _f("INFO", "log level", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    """Logging level."""

    def __post_init__(self) -> None:
        for name in ("job_workers", "rpc_threads", "max_message_mb", "max_jobs_per_client",
                     "max_modules_per_client", "max_texts_per_call", "max_units_per_job",
                     "hosted_max_batch", "hosted_window", "max_streams_per_client", "max_streams",
                     "max_unary_per_client",
                     "max_eval_mb", "max_storage_mb_per_client", "max_cache_mb_per_client"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be in 0..65535, got {self.port}")
        if self.hosted_deadline_s <= 0 or self.helper_timeout_s <= 0:
            raise ConfigError("hosted_deadline_s and helper_timeout_s must be > 0")
        if self.backend not in ("local", "ray"):
            raise ConfigError(f"backend must be 'local' or 'ray', got {self.backend!r}")
        calls = self.rpc_threads - RESERVED_THREADS
        if not self.max_streams_per_client <= self.max_streams <= calls:
            raise ConfigError(f"need max_streams_per_client <= max_streams <= rpc_threads - {RESERVED_THREADS}, got "
                              f"{self.max_streams_per_client}, {self.max_streams}, {self.rpc_threads}")
        if self.max_streams_per_client + self.max_unary_per_client >= calls:
            raise ConfigError(f"need max_streams_per_client + max_unary_per_client < rpc_threads - {RESERVED_THREADS} "
                              f"(threads left for other clients), got {self.max_streams_per_client} + "
                              f"{self.max_unary_per_client}, {self.rpc_threads}")
        if self.retention_days < 0:
            raise ConfigError("retention_days must be >= 0")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("TLS needs both --tls-cert and --tls-key")

    @property
    def db_path(self) -> Path:
        """The SQLite file."""
        return Path(self.db).expanduser() if self.db else Path.home() / ".local" / "share" / "sasc" / "server.db"

    @property
    def cache_dir(self) -> Path:
        """Root of the response and reply caches: ``cache/`` beside the database."""
        return self.db_path.parent / "cache"

    @property
    def data_dir(self) -> Path:
        """The server's own data folder, the default ``--data-root``: ``data/`` beside the database."""
        return self.db_path.parent / "data"

    @property
    def max_message_bytes(self) -> int:
        return self.max_message_mb * 1024 * 1024


def env_name(field_name: str) -> str:
    return "SASC_SERVE_" + field_name.upper()


class _Repeat(argparse.Action):
    """A repeatable flag whose first use replaces the (env or field) default instead of adding to it."""

    def __call__(self, parser, namespace, values, option_string=None):  # noqa: ANN001
        seen = "_seen_" + self.dest
        current = getattr(namespace, self.dest) if getattr(namespace, seen, False) else ()
        setattr(namespace, seen, True)
        setattr(namespace, self.dest, (*current, values))


def add_arguments(parser: argparse.ArgumentParser, environ: Mapping[str, str] | None = None) -> None:
    """One flag per :class:`ServerConfig` field; env variables override the defaults."""
    env = os.environ if environ is None else environ
    for f in dataclasses.fields(ServerConfig):
        default = env.get(env_name(f.name), f.default)
        kw = {"choices": f.metadata["choices"]} if "choices" in f.metadata else {}
        if isinstance(f.default, tuple):  # repeatable: flags append, the env gives a ':'-separated list
            default = tuple(p for p in default.split(os.pathsep) if p) if isinstance(default, str) else default
            kw.update(action=_Repeat, type=str)
        else:
            kw["type"] = type(f.default)
        parser.add_argument("--" + f.name.replace("_", "-"), default=default,
                            help=f"{f.metadata['help']} (env {env_name(f.name)}; default: {f.default!r})", **kw)


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """A :class:`ServerConfig` from parsed flags (types re-applied to env-provided values)."""
    values = {}
    for f in dataclasses.fields(ServerConfig):
        raw = getattr(args, f.name)
        try:
            values[f.name] = type(f.default)(raw)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"bad value {raw!r} for --{f.name.replace('_', '-')}: {e}") from e
    return ServerConfig(**values)
