"""Linear readouts: units = rows of a weight matrix over a named feature model.

response(text) = W @ φ(text) + b, with φ a built-in feature model (``minilm``: MiniLM
sentence embeddings; ``word_hash``: a hashed bag of words, no model) and W of shape
``[n_units, n_features]``. This is how an encoding model's voxels (or any linear probe)
are explained without shipping code: the weights are data, the features are named.

Feature models are a small registry: ``register_feature_model(name, factory)`` with
``factory() -> FeatureModel`` (anything with ``dim``, ``identity`` and
``features(texts) -> float32 [n, dim]``; optional ``dedupe_keys(texts)``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import ConfigError, UnknownKindError
from .base import stable_hash


@runtime_checkable
class FeatureModel(Protocol):
    """Texts -> feature vectors; the input side of a linear readout."""

    dim: int
    """Features per text."""
    identity: str
    """Content identity (changes whenever the features could change); part of fingerprints."""

    def features(self, texts: Sequence[str]) -> np.ndarray:
        """float32 ``[len(texts), dim]``."""
        ...


class MiniLMFeatures:
    """all-MiniLM-L6-v2 sentence embeddings (384 features; the packaged offline copy)."""

    def __init__(self, model: str | None = None, device: str | None = None):
        from .embedding import SentenceEncoder

        self.encoder = SentenceEncoder(model, device)
        self.dim = self.encoder.dim
        self.device = self.encoder.device
        self.identity = stable_hash("minilm-features", self.encoder.identity)

    def dedupe_keys(self, texts: Sequence[str]) -> list[tuple[int, ...]]:
        """Token-id tuples: texts with equal keys get equal features."""
        return [tuple(t) for t in self.encoder.token_ids(texts)]

    def features(self, texts: Sequence[str]) -> np.ndarray:
        return self.encoder.encode(texts)


class WordHashFeatures:
    """A hashed bag of lowercased words, L2-normalized (no model; cheap and deterministic).

    Feature ``j`` counts words whose blake2b hash is ``j`` modulo ``dim``.
    """

    _WORD = re.compile(r"\w+")

    def __init__(self, dim: int = 256):
        if dim < 1:
            raise ConfigError(f"word_hash dim must be >= 1, got {dim}")
        self.dim = int(dim)
        self.identity = stable_hash("word-hash-features", self.dim)
        self.device = "cpu"
        self._slots: dict[str, int] = {}

    def _slot(self, word: str) -> int:
        j = self._slots.get(word)
        if j is None:
            digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
            j = self._slots[word] = int.from_bytes(digest, "little") % self.dim
        return j

    def features(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in self._WORD.findall(t.lower()):
                out[i, self._slot(w)] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.divide(out, norms, out=out, where=norms > 0)


FeatureFactory = Callable[[], FeatureModel]
_FEATURE_MODELS: dict[str, FeatureFactory] = {"minilm": MiniLMFeatures, "word_hash": WordHashFeatures}
_INSTANCES: dict[str, FeatureModel] = {}


def register_feature_model(name: str, factory: FeatureFactory, *, replace: bool = False) -> None:
    """Make ``factory()`` usable as ``feature_model=name`` in linear readouts."""
    if name in _FEATURE_MODELS and not replace:
        raise ConfigError(f"feature model {name!r} is already registered")
    _FEATURE_MODELS[name] = factory
    _INSTANCES.pop(name, None)


def known_feature_models() -> list[str]:
    """Names accepted as ``feature_model``."""
    return sorted(_FEATURE_MODELS)


def feature_model(name: str) -> FeatureModel:
    """The (process-wide, built once) feature model registered as ``name``."""
    if name not in _FEATURE_MODELS:
        raise UnknownKindError(f"unknown feature model {name!r}; known: {', '.join(known_feature_models())}")
    if name not in _INSTANCES:
        _INSTANCES[name] = _FEATURE_MODELS[name]()
    return _INSTANCES[name]


def _as_matrix(value: Any, what: str, ndim: int) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{what} must be numeric, got {type(value).__name__}: {e}") from e
    if arr.ndim != ndim:
        raise ConfigError(f"{what} must be {ndim}-D, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ConfigError(f"{what} contains NaN or inf")
    return arr


class LinearReadoutBank:
    """Units = rows of ``weights`` ``[n_units, n_features]`` over a named feature model.

    Args:
        weights: float ``[n_units, n_features]``; ``n_features`` must match the feature model.
        feature_model: a registered feature model name (``minilm``, ``word_hash``, ...).
        units: one name per row (default ``"unit0"``, ``"unit1"``, ...).
        bias: float ``[n_units]`` added to every response (default zeros).
        name: readable name for results.
    """

    kind = "linear_readout"

    def __init__(self, weights: Any, feature_model: str = "minilm", units: Sequence[str] | None = None,
                 bias: Any = None, name: str | None = None):
        w = _as_matrix(weights, "linear_readout weights", 2)
        if w.shape[0] < 1:
            raise ConfigError("linear_readout weights need at least one row (one unit)")
        self.features_model = feature_model_for(feature_model)
        if w.shape[1] != self.features_model.dim:
            raise ConfigError(f"linear_readout weights have {w.shape[1]} columns but feature model "
                              f"{feature_model!r} gives {self.features_model.dim} features")
        b = np.zeros(w.shape[0], np.float32) if bias is None else _as_matrix(bias, "linear_readout bias", 1)
        if b.shape != (w.shape[0],):
            raise ConfigError(f"linear_readout bias has shape {b.shape}; expected ({w.shape[0]},)")
        names = [f"unit{i}" for i in range(w.shape[0])] if units is None else [str(u) for u in units]
        if len(names) != w.shape[0] or len(set(names)) != len(names):
            raise ConfigError(f"linear_readout needs {w.shape[0]} distinct unit names, got {len(names)} "
                              f"({len(set(names))} distinct)")
        self.weights, self.bias, self._units = np.ascontiguousarray(w), b, names
        self.feature_model = feature_model
        self.device = getattr(self.features_model, "device", "cpu")
        self.name = name or f"linear_readout({feature_model}, {w.shape[0]} units)"
        self.fingerprint = stable_hash(self.kind, self.features_model.identity,
                                       hashlib.sha256(w.tobytes()).hexdigest(),
                                       hashlib.sha256(b.tobytes()).hexdigest(), tuple(names))

    @property
    def units(self) -> list[str]:
        return list(self._units)

    def dedupe_keys(self, texts: Sequence[str]) -> list[Any]:
        """Keys with equal features give equal responses; the feature model's when it has them."""
        fn = getattr(self.features_model, "dedupe_keys", None)
        return fn(texts) if fn is not None else list(texts)

    def responses(self, texts: Sequence[str]) -> np.ndarray:
        feats = self.features_model.features(list(texts))
        return (feats @ self.weights.T + self.bias).astype(np.float32, copy=False)


def feature_model_for(name: Any) -> FeatureModel:
    """Validate the ``feature_model`` parameter and return the model."""
    if not isinstance(name, str):
        raise ConfigError(f"feature_model must be a name ({', '.join(known_feature_models())}), "
                          f"got {type(name).__name__}")
    return feature_model(name)


def build_linear_readout_bank(weights: Any, feature_model: str = "minilm", units: Sequence[str] | None = None,
                              bias: Any = None, name: str | None = None) -> LinearReadoutBank:
    """Factory of the ``linear_readout`` module kind (see :class:`LinearReadoutBank`)."""
    return LinearReadoutBank(weights, feature_model, units, bias, name)
