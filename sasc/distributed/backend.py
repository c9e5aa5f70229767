"""Choosing the backend from configuration (``--backend ray --ray-address ...``) for the CLI and the server."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .spec import ModuleSource

BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class BackendConfig:
    """Where the n-gram stage and the per-unit work run."""

    backend: str = "local"
    """``"local"`` (this process) or ``"ray"``."""
    ray_address: str = ""
    """Ray cluster address; empty: start a local cluster in this process (``"auto"``: a running head)."""
    ray_workers: int = 2
    """Actors scoring n-gram shards (one module load each)."""
    max_helper_calls: int = 2
    """Helper-LLM calls in flight at once across the cluster (Ray backend)."""

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigError(f"unknown backend {self.backend!r}; accepted: {', '.join(BACKENDS)}")
        if self.ray_workers < 1 or self.max_helper_calls < 1:
            raise ConfigError(f"ray_workers and max_helper_calls must be >= 1, got {self.ray_workers}, "
                              f"{self.max_helper_calls}")


def make_runners(config: BackendConfig, module_spec: ModuleSource | None, helper: Any,
                 cache_dir: str | Path | None = None, reply_dir: str | Path | None = None) -> tuple[Any, Any]:
    """``(runner, unit_runner)`` for :func:`sasc.explain`; ``(None, None)`` for the local backend.

    ``helper``: the helper spec string (a helper object cannot be shipped; its units then
    run locally with the Ray n-gram stage only). ``reply_dir``: where workers cache helper
    replies (default ``<cache_dir>/llm``; a service gives each tenant its own).
    """
    if config.backend == "local":
        return None, None
    from .ray_backend import RayRunner
    from .units import RayUnitRunner

    address = config.ray_address or None
    runner = RayRunner(module_spec, workers=config.ray_workers, address=address)
    if not isinstance(helper, str):
        return runner, None
    units = RayUnitRunner(module_spec, helper, cache_dir=cache_dir, reply_dir=reply_dir,
                          max_helper_calls=config.max_helper_calls, address=address)
    return runner, units
