"""Helper LLMs: the models that summarize n-grams into explanations and write sentences.

Backends satisfy :class:`HelperLLM` (``name`` + ``complete``): :class:`LocalLLM` (llama.cpp
on an embedded GGUF, the default, no network), :class:`OpenAICompatLLM` (any
OpenAI-compatible server) and :class:`ScriptedLLM` (tests). :func:`build_helper` wraps one
in retries, a deadline, a reply cache and usage counters. Heavy engines (xllamacpp, openai)
are imported only when a backend is created or loaded.
"""

from __future__ import annotations

from sasc.llm.assets import (
    DEFAULT_HELPER,
    MODEL_ASSETS,
    ModelAsset,
    WheelPart,
    default_cache_dir,
    fetch_model,
    get_asset,
    smollm2_gguf_path,
)
from sasc.llm.base import Completion, HelperLLM, Request, Sampling, complete_many, helper_slots, map_slots
from sasc.llm.factory import HELPER_SPECS, build_backend, build_helper, is_local_spec, wrap_helper
from sasc.llm.fake import ScriptedCall, ScriptedLLM, echo_reply
from sasc.llm.local import DEFAULT_SLOTS, LocalLLM, Timings, available_cores, process_cores
from sasc.llm.openai_compat import OpenAICompatLLM
from sasc.llm.wrappers import CachedLLM, RetryingLLM, Usage, UsageReport, cache_key

__all__ = [
    "DEFAULT_HELPER",
    "DEFAULT_SLOTS",
    "HELPER_SPECS",
    "MODEL_ASSETS",
    "CachedLLM",
    "Completion",
    "HelperLLM",
    "LocalLLM",
    "ModelAsset",
    "OpenAICompatLLM",
    "Request",
    "RetryingLLM",
    "Sampling",
    "ScriptedCall",
    "ScriptedLLM",
    "Timings",
    "Usage",
    "UsageReport",
    "WheelPart",
    "available_cores",
    "build_backend",
    "build_helper",
    "cache_key",
    "complete_many",
    "default_cache_dir",
    "echo_reply",
    "fetch_model",
    "get_asset",
    "helper_slots",
    "is_local_spec",
    "map_slots",
    "process_cores",
    "smollm2_gguf_path",
    "wrap_helper",
]
