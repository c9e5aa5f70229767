"""``sasc serve``: run the gRPC service (flags and SASC_SERVE_* env; see --help)."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time

from .config import add_arguments, config_from_args

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
               "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        out.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED})
        if record.exc_info:
            out["traceback"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def setup_logging(fmt: str, level: str) -> None:
    """One handler on the root logger. With ``json`` stderr carries JSON lines only: Python
    warnings and the transformers logger go through it, progress bars are switched off."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    if fmt == "json":
        _route_library_output()


def _route_library_output() -> None:
    import os

    for name in ("TQDM_DISABLE", "HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_NO_ADVISORY_WARNINGS"):
        os.environ[name] = "1"
    logging.captureWarnings(True)  # warnings.warn -> the 'py.warnings' logger -> JSON
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - optional
        return
    hf_logging.disable_default_handler()  # its own stderr handler would print plain text
    hf_logging.enable_propagation()
    hf_logging.disable_progress_bar()


def cmd_serve(args: argparse.Namespace) -> int:
    from .app import start_server

    config = config_from_args(args)
    setup_logging(config.log_format, config.log_level)
    server = start_server(config)
    # the one line a supervisor (or a test) parses: where the server listens
    print(f"sasc serve: listening on {server.target}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    logging.getLogger("sasc.server").info("stopping; unfinished jobs resume on the next start")
    server.stop()
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "serve", help="run the gRPC service (modules, explanation jobs, client-hosted modules)",
        description="Serve sasc over gRPC (package sasc.v1; health and reflection included). Modules, jobs and "
                    "results persist in SQLite; killed jobs resume on restart. Every flag can also be set with "
                    "the environment variable named in its help. Without a token the server binds 127.0.0.1.")
    add_arguments(p)
    p.set_defaults(func=cmd_serve)
