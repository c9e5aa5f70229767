"""Registry of module kinds: built-ins, ``register_kind``, and ``sasc.modules`` entry points.

A spec names a registered kind plus parameters; it never carries code or import paths.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..errors import ConfigError
from ..lists import split_list
from ..registry import Registry

ModuleFactory = Callable[..., Any]


def _embedding_distance(**params: Any) -> Any:
    from .embedding import EmbeddingDistanceBank

    if "keyphrase" in params:
        params["keyphrases"] = [params.pop("keyphrase")]
    return EmbeddingDistanceBank(**params)


# Built-in kinds whose code (and heavy imports) live in their own modules, imported when built.
def _llm_neuron(**params: Any) -> Any:
    from .neurons import build_llm_neuron_bank

    return build_llm_neuron_bank(**params)


def _llm_direction(**params: Any) -> Any:
    from .neurons import build_llm_direction_bank

    return build_llm_direction_bank(**params)


def _dictionary_factor(**params: Any) -> Any:
    from .dictionary import build_dictionary_factor_bank

    return build_dictionary_factor_bank(**params)


def _fmri_voxels(**params: Any) -> Any:
    from ..fmri.modules import build_voxel_bank

    return build_voxel_bank(**params)


def _linear_readout(**params: Any) -> Any:
    from .readout import build_linear_readout_bank

    return build_linear_readout_bank(**params)


MODULE_KINDS: Registry[ModuleFactory] = Registry(
    "module kind", group="sasc.modules", known="kinds",
    builtins={"embedding_distance": _embedding_distance, "llm_neuron": _llm_neuron, "llm_direction": _llm_direction,
              "dictionary_factor": _dictionary_factor, "fmri_voxels": _fmri_voxels,
              "linear_readout": _linear_readout})
"""Module kinds: the built-ins above, :func:`register_kind`, and ``sasc.modules`` entry points."""


def register_kind(name: str, factory: ModuleFactory, *, replace: bool = False) -> None:
    """Make ``factory(**params)`` buildable as module kind ``name``."""
    MODULE_KINDS.register(name, factory, replace=replace)


def known_kinds() -> list[str]:
    """Names of every registered module kind."""
    return MODULE_KINDS.names()


def build_module(kind: str, **params: Any) -> Any:
    """Build a module of a registered kind; unknown kinds and bad parameters raise ConfigError."""
    factory = MODULE_KINDS.get(kind)
    try:
        module = factory(**params)
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
