"""Text-module protocols: one unit (``texts -> [n]``) and a bank of units (``texts -> [n, u]``).

A plain callable ``f(list[str]) -> array-like`` is a module; anything with a
``responses(texts)`` method returning ``[n_texts, n_units]`` and a ``units`` list is a bank.

Optional hooks the n-gram stage uses to plan its work (:func:`sasc.responses.plan_shards`):
``dedupe_keys(texts)`` (texts with equal keys respond equally, e.g. token-id tuples),
``token_lengths(texts)`` or ``sort_keys(texts)`` (an order that makes batches cheap),
``sorts_by_dedupe_keys = True`` (order by the dedupe keys themselves), and
``responses_from_keys(keys)`` (score texts given as their dedupe keys, so they are tokenized
once, when planned). The predictive scorers' per-token excerpts use ``token_responses(texts)``
(:class:`TokenResponses` per text), which LLM neuron, direction and dictionary-factor banks have.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import ConfigError, ModuleError, NonFiniteResponseError


@runtime_checkable
class TextModule(Protocol):
    """One unit: texts in, one float per text out."""

    def __call__(self, texts: Sequence[str]) -> Any:  # array-like of shape [len(texts)]
        ...


@runtime_checkable
class ModuleBank(Protocol):
    """Many units evaluated in one pass, e.g. every neuron of a layer."""

    @property
    def units(self) -> Sequence[str]:
        """Stable unit names, one per output column (e.g. ``"L5.N1204"``)."""
        ...

    def responses(self, texts: Sequence[str]) -> np.ndarray:
        """Return float32 responses of shape ``[len(texts), len(units)]``."""
        ...


@dataclass(frozen=True)
class TokenResponses:
    """One text's per-token activations, from a module's optional ``token_responses(texts)`` hook
    (LLM neurons and directions, dictionary factors): what Bills et al.'s per-token simulation predicts."""

    tokens: tuple[str, ...]
    """The text's tokens as strings, in order (special tokens left out)."""
    values: np.ndarray
    """float32 ``[len(tokens), n_units]``: each unit's activation at each token."""


def has_token_responses(module: Any) -> bool:
    """Whether ``module`` has the per-token hook (``token_responses(texts) -> list[TokenResponses]``)."""
    return callable(getattr(module, "token_responses", None))


def module_name(module: Any) -> str:
    """A readable name for error messages and results."""
    return str(getattr(module, "name", None) or getattr(module, "__name__", None) or type(module).__name__)


def fingerprint(module: Any) -> str:
    """Content identity of a module, used as part of the n-gram response cache key.

    Modules should expose ``fingerprint`` (a string that changes whenever their outputs
    could change). A module without one gets a fingerprint of its name only, which is
    fine for throwaway callables but means the cache cannot tell two of them apart, so
    such modules are not cached (see :func:`is_cacheable`).
    """
    fp = getattr(module, "fingerprint", None)
    if fp:
        return str(fp)
    return "uncached:" + module_name(module)


def is_cacheable(module: Any) -> bool:
    """True when the module declares a content fingerprint."""
    return bool(getattr(module, "fingerprint", None))


def stable_hash(*parts: Any) -> str:
    """sha256 hex over the reprs of ``parts``; used to build fingerprints."""
    h = hashlib.sha256()
    for p in parts:
        h.update(repr(p).encode("utf-8"))
        h.update(b"\x1f")
    return h.hexdigest()


class SingleUnitBank:
    """Adapts a one-unit :class:`TextModule` (or plain callable) to the bank protocol."""

    def __init__(self, module: Callable[[Sequence[str]], Any], unit: str | None = None):
        self.module = module
        self.name = module_name(module)
        self._units = [unit or self.name]
        fp = getattr(module, "fingerprint", None)
        self.fingerprint = fp
        self.device = getattr(module, "device", "cpu")
        for hook in ("dedupe_keys", "token_lengths", "sort_keys", "sorts_by_dedupe_keys"):  # planning hooks
            if hasattr(module, hook):
                setattr(self, hook, getattr(module, hook))

    @property
    def units(self) -> list[str]:
        return self._units

    def responses(self, texts: Sequence[str]) -> np.ndarray:
        out = to_response_array(self.module(list(texts)), len(texts), self.name)
        return out[:, None]


def as_bank(module: Any) -> Any:
    """Return ``module`` itself if it is a bank, else wrap a one-unit module."""
    if hasattr(module, "responses") and hasattr(module, "units"):
        return module
    if callable(module):
        return SingleUnitBank(module)
    raise ConfigError(
        f"{module!r} is not a text module: expected a callable texts -> floats "
        "or a bank with .units and .responses(texts)"
    )


def to_response_array(values: Any, n_texts: int, name: str, n_units: int | None = None) -> np.ndarray:
    """Coerce a module's output to float32 of shape ``[n_texts]`` (or ``[n_texts, n_units]``).

    Raises :class:`ModuleError` on a wrong shape; NaN/inf are checked by :func:`check_finite`.
    """
    if hasattr(values, "detach"):  # torch tensors without importing torch here
        values = values.detach().float().cpu().numpy()
    arr = np.asarray(values, dtype=np.float32)
    expected = (n_texts,) if n_units is None else (n_texts, n_units)
    if arr.shape != expected:
        raise ModuleError(f"module {name!r} returned shape {arr.shape} for {n_texts} texts; expected {expected}")
    return arr


def check_finite(values: np.ndarray, texts: Sequence[str], name: str) -> np.ndarray:
    """Raise :class:`NonFiniteResponseError` naming the texts whose responses are NaN/inf."""
    bad = ~np.isfinite(values)
    if bad.any():
        rows = bad.reshape(len(texts), -1).any(axis=1)
        raise NonFiniteResponseError(name, [t for t, b in zip(texts, rows) if b])
    return values


def bank_column(bank: Any, texts: Sequence[str], col: int) -> np.ndarray:
    """One unit's responses to ``texts``, validated."""
    if not texts:
        return np.empty(0, dtype=np.float32)
    vals = to_response_array(bank.responses(list(texts)), len(texts), module_name(bank), len(bank.units))
    return check_finite(vals, texts, module_name(bank))[:, col]
