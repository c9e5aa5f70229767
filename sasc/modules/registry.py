"""Registry of module kinds: built-ins, ``register_kind``, and ``sasc.modules`` entry points.

A spec names a registered kind plus parameters; it never carries code or import paths.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from ..errors import ConfigError, UnknownKindError
from ..lists import split_list

ModuleFactory = Callable[..., Any]
_KINDS: dict[str, ModuleFactory] = {}
_loaded_entry_points = False


def register_kind(name: str, factory: ModuleFactory, *, replace: bool = False) -> None:
    """Make ``factory(**params)`` buildable as module kind ``name``."""
    if name in _KINDS and not replace:
        raise ConfigError(f"module kind {name!r} is already registered")
    _KINDS[name] = factory


def _builtin_embedding(**params: Any) -> Any:
    from .embedding import EmbeddingDistanceBank

    if "keyphrase" in params:
        params["keyphrases"] = [params.pop("keyphrase")]
    return EmbeddingDistanceBank(**params)


def _lazy(target: str) -> ModuleFactory:
    """A factory that imports ``"package.module:function"`` on first use (built-ins only)."""

    def factory(**params: Any) -> Any:
        import importlib

        mod, _, fn = target.partition(":")
        return getattr(importlib.import_module(mod), fn)(**params)

    factory.__name__ = target
    return factory


# Built-in kinds whose code lives in optional submodules; imported only when built.
BUILTIN_KINDS: dict[str, str] = {
    "llm_neuron": "sasc.modules.neurons:build_llm_neuron_bank",
    "llm_direction": "sasc.modules.neurons:build_llm_direction_bank",
    "dictionary_factor": "sasc.modules.dictionary:build_dictionary_factor_bank",
    "fmri_voxels": "sasc.fmri.modules:build_voxel_bank",
    "linear_readout": "sasc.modules.readout:build_linear_readout_bank",
}


def _ensure_loaded() -> None:
    global _loaded_entry_points
    if "embedding_distance" not in _KINDS:
        _KINDS["embedding_distance"] = _builtin_embedding
        for name, target in BUILTIN_KINDS.items():
            _KINDS.setdefault(name, _lazy(target))
    if not _loaded_entry_points:
        _loaded_entry_points = True
        for ep in entry_points(group="sasc.modules"):
            _KINDS.setdefault(ep.name, ep.load())


def known_kinds() -> list[str]:
    """Names of every registered module kind."""
    _ensure_loaded()
    return sorted(_KINDS)


def build_module(kind: str, **params: Any) -> Any:
    """Build a module of a registered kind; unknown kinds and bad parameters raise ConfigError."""
    _ensure_loaded()
    if kind not in _KINDS:
        raise UnknownKindError(f"unknown module kind {kind!r}; known kinds: {', '.join(sorted(_KINDS))}")
    try:
        module = _KINDS[kind](**params)
    except TypeError as e:
        raise ConfigError(f"bad parameters for module kind {kind!r}: {e}") from e
    try:  # lets a distributed backend rebuild the module on its workers (sasc.distributed)
        module.module_spec = (kind, dict(params))
    except (AttributeError, TypeError):
        pass  # objects that refuse attributes simply carry no spec
    return module


def parse_module_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``'kind:key=value,key=value'`` or a JSON object ``{"kind": ..., ...}`` -> (kind, params).

    Values that parse as JSON (numbers, lists, true/false) are decoded; others stay strings.
    """
    spec = spec.strip()
    if spec.startswith("{"):
        try:
            obj = json.loads(spec)
        except json.JSONDecodeError as e:
            raise ConfigError(f"module spec is not valid JSON: {e.msg}") from e
        if not isinstance(obj, dict) or "kind" not in obj:
            raise ConfigError('a JSON module spec needs a "kind" field')
        return str(obj.pop("kind")), obj
    kind, _, rest = spec.partition(":")
    params: dict[str, Any] = {}
    for item in split_list(rest):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"bad module parameter {item!r} in {spec!r}: expected key=value")
        try:
            params[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            params[key.strip()] = value.strip()
    if not kind:
        raise ConfigError(f"module spec {spec!r} names no kind; known kinds: {', '.join(known_kinds())}")
    return kind, params


def module_from_spec(spec: str) -> Any:
    """Build a module from a spec string (see :func:`parse_module_spec`)."""
    kind, params = parse_module_spec(spec)
    return build_module(kind, **params)
