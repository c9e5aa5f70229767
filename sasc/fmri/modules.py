"""Voxel modules: text -> feature model -> fitted weights summed over delays -> one scalar per voxel.

``response(text) = ((f(text) - mean) / scale) @ W_sum`` where ``f`` is the encoding model's
feature model applied to the text alone (see :mod:`sasc.fmri.features`: the features the
text's last word would get with the text as its only context), ``mean``/``scale`` are the
training-run feature statistics and ``W_sum`` the ridge weights summed over FIR delays
(SASC paper, section 4). Units: predicted z-scored BOLD, up to an offset shared by all texts.

A :class:`VoxelBank` computes the features of a batch once and multiplies them by the
``[dim, n_voxels]`` weight matrix, so explaining 1,000 voxels costs one feature pass.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..modules.base import stable_hash
from .encoding import EncodingModel
from .features import FeatureModel, feature_model_from_spec

_FEATURE_MODELS: dict[tuple[str, str | None], FeatureModel] = {}


def shared_feature_model(spec: dict[str, Any], device: str | None = None) -> FeatureModel:
    """One :class:`FeatureModel` per (spec, device) per process."""
    key = (repr(sorted(spec.items())), device)
    if key not in _FEATURE_MODELS:
        _FEATURE_MODELS[key] = feature_model_from_spec(spec, device)
    return _FEATURE_MODELS[key]


def select_voxels(test_r: np.ndarray, top_k: int | None = None, min_r: float | None = None) -> list[int]:
    """Voxel indices by descending held-out correlation: the ``top_k`` best, those with
    ``r >= min_r``, or both conditions; NaN correlations are never selected."""
    r = np.asarray(test_r, dtype=np.float64)
    if top_k is not None and top_k < 1:
        raise ConfigError(f"top_k must be >= 1, got {top_k}")
    order = [int(i) for i in np.argsort(-np.nan_to_num(r, nan=-np.inf), kind="stable") if np.isfinite(r[i])]
    if min_r is not None:
        order = [i for i in order if r[i] >= min_r]
    if top_k is not None:
        order = order[:top_k]
    if not order:
        best = np.nanmax(r) if np.isfinite(r).any() else float("nan")
        raise ConfigError(f"no voxel selected (min_r={min_r}, top_k={top_k}); the best test r is {best:.3f}")
    return order


def voxel_unit(index: int) -> str:
    """Unit name of voxel column ``index``: ``"v{index}"``."""
    return f"v{index}"


class VoxelBank:
    """Units = voxels of a fitted encoding model (see module docstring).

    Args:
        model: a fitted :class:`~sasc.fmri.encoding.EncodingModel`.
        voxels: voxel columns to expose as units (default: all, in column order).
        features: the feature model (default: rebuilt from ``model.feature_spec``); must be
            the one the model was fitted with.
        device: torch device for the feature model.
    """

    kind = "fmri_voxels"

    def __init__(self, model: EncodingModel, voxels: Sequence[int] | None = None,
                 features: FeatureModel | None = None, device: str | None = None):
        cols = list(range(model.n_voxels)) if voxels is None else [int(v) for v in voxels]
        bad = [v for v in cols if not 0 <= v < model.n_voxels]
        if bad or not cols:
            raise ConfigError(f"voxel indices must be in [0, {model.n_voxels}); got {bad[:5] or 'none'}")
        self.model = model
        self.voxels = cols
        self.features = features or shared_feature_model(model.feature_spec, device)
        if self.features.spec() != dict(model.feature_spec):
            raise ConfigError(f"feature model {self.features.spec()} differs from the one the encoding model was "
                              f"fitted with {model.feature_spec}")
        w = model.summed_weights(cols) / model.feature_scale[:, None]
        self.weights = np.ascontiguousarray(w, dtype=np.float32)
        """float32 ``[dim, n_units]``: summed weights per unit of raw feature."""
        self.offset = (-(model.feature_mean.astype(np.float64) @ self.weights)).astype(np.float32)
        self._units = [voxel_unit(c) for c in cols]
        self.device = self.features.encoder.device
        digest = hashlib.sha256(self.weights.tobytes()).hexdigest()
        self.fingerprint = stable_hash(self.kind, self.features.identity, digest, self.offset.tobytes())
        self.name = f"fmri_voxels({len(cols)} voxel{'s' if len(cols) != 1 else ''})"

    @property
    def units(self) -> list[str]:
        return list(self._units)

    def dedupe_keys(self, texts: Sequence[str]) -> list[tuple[str, ...]]:
        """Texts with equal keys get equal features, hence equal responses."""
        return self.features.text_keys(texts)

    def token_lengths(self, texts: Sequence[str]) -> list[int]:
        """Words a text's features read (orders n-gram shards)."""
        return [len(k) for k in self.features.text_keys(texts)]

    def responses(self, texts: Sequence[str]) -> np.ndarray:
        """float32 ``[len(texts), n_voxels]``: one feature pass, one matrix product."""
        feats = self.features.text_features(list(texts))
        return (feats @ self.weights + self.offset).astype(np.float32)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """First voxel's responses, so a one-voxel bank is also a plain module."""
        return self.responses(texts)[:, 0]


def build_voxel_bank(model: str | Path | EncodingModel, voxels: Sequence[int] | int | None = None,
                     top_k: int | None = None, min_r: float | None = None, device: str | None = None) -> VoxelBank:
    """The ``fmri_voxels`` module kind: voxels of a saved (or in-memory) encoding model.

    ``model``: path of a model saved by :meth:`EncodingModel.save`. Units: the listed
    ``voxels`` (column indices), else the voxels picked by :func:`select_voxels` with
    ``top_k``/``min_r``, else every voxel. Spec example: ``fmri_voxels:model=m.npz,top_k=10``.
    """
    enc = model if isinstance(model, EncodingModel) else EncodingModel.load(model)
    if isinstance(voxels, (int, np.integer)):
        voxels = [int(voxels)]
    if voxels is None and (top_k is not None or min_r is not None):
        voxels = select_voxels(enc.test_r, top_k, min_r)
    return VoxelBank(enc, voxels, device=device)
