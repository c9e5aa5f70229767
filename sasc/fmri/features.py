"""Stimulus features for encoding models: word features from a text model, downsampled to TRs.

Pipeline per run (Huth et al. 2016; LeBel et al. 2023): each heard word gets a feature
vector from a *feature model* reading the word and the ``context`` words before it; the
word vectors, placed at word midpoints, are resampled to TR times (``(k + 0.5) * TR``) with
a Lanczos filter; the TR features are z-scored per run, copied at FIR delays (default 1-4
TRs) and the first/last TRs of each run are trimmed.

**One definition of a text's features.** The features of a text are the features its last
word would get if the text were the whole story so far: a feature model sees at most the
text's last ``context + 1`` words and no preceding context. Voxel modules use exactly this
(:meth:`FeatureModel.text_features`), so a voxel's response to an n-gram is what the fitted
encoding model predicts for hearing it.

Feature models (``kind``):

* ``"words"`` (default, fast): each word (lowercased) is embedded alone by a sentence encoder
  (default all-MiniLM-L6-v2, packaged) once per process; a word's feature is the average of
  the embeddings of itself and the ``context`` preceding words, weighted ``decay**k`` for the
  word ``k`` back, normalized by the weights present.
* ``"window"`` (contextual, ~5x slower): the sentence encoder reads the window text itself
  (the word and its ``context`` preceding words, joined by spaces).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..modules.base import stable_hash
from .transcripts import text_words

FEATURE_KINDS = ("words", "window")
_WORD_VECTORS: dict[str, dict[str, np.ndarray]] = {}  # encoder identity -> word -> vector (per process)


class FeatureModel:
    """Word and text features from a sentence encoder (see module docstring).

    Args:
        kind: ``"words"`` or ``"window"``.
        model: sentence-transformers name or local path (default: packaged all-MiniLM-L6-v2).
        context: preceding words a word's feature may see.
        decay: weight ratio per word back (``"words"`` kind only), in (0, 1].
        device: torch device (default: the best available).
    """

    def __init__(self, kind: str = "words", model: str | None = None, context: int = 4, decay: float = 0.7,
                 device: str | None = None):
        if kind not in FEATURE_KINDS:
            raise ConfigError(f"unknown feature model kind {kind!r}; known: {', '.join(FEATURE_KINDS)}")
        if context < 0:
            raise ConfigError(f"context must be >= 0 words, got {context}")
        if not 0 < decay <= 1:
            raise ConfigError(f"decay must be in (0, 1], got {decay}")
        from ..modules.embedding import SentenceEncoder

        self.kind, self.model, self.context, self.decay = kind, model, int(context), float(decay)
        self.encoder = SentenceEncoder(model, device)
        self.dim = self.encoder.dim
        self.identity = stable_hash("fmri-features", kind, self.encoder.identity, self.context,
                                    self.decay if kind == "words" else None)
        self._vectors = _WORD_VECTORS.setdefault(self.encoder.identity, {})

    def spec(self) -> dict[str, Any]:
        """Parameters that rebuild this model with :func:`feature_model_from_spec`."""
        return {"kind": self.kind, "model": self.model, "context": self.context, "decay": self.decay}

    def weights(self, n: int) -> np.ndarray:
        """Window weights ``[n]`` for the current word (index 0) and the words before it."""
        return self.decay ** np.arange(n, dtype=np.float64)

    def word_features(self, words: Sequence[str]) -> np.ndarray:
        """float32 ``[n_words, dim]``: each word's feature, read with its preceding words."""
        words = list(words)
        if not words:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.kind == "window":
            wins = [" ".join(words[max(0, i - self.context):i + 1]) for i in range(len(words))]
            return self.encoder.encode(wins)
        emb = self.word_vectors(words).astype(np.float64)
        out = np.zeros_like(emb)
        norm = np.zeros(len(words))
        for k, w in enumerate(self.weights(self.context + 1)):
            if k >= len(words):
                break
            out[k:] += w * emb[: len(words) - k]
            norm[k:] += w
        return (out / norm[:, None]).astype(np.float32)

    def text_keys(self, texts: Sequence[str]) -> list[tuple[str, ...]]:
        """The words each text's features depend on: equal keys give equal features."""
        keys = []
        for t in texts:
            ws = text_words(t)[-(self.context + 1):] or [t.strip()]
            keys.append(tuple(w.lower() for w in ws) if self.kind == "words" else tuple(ws))
        return keys

    def text_features(self, texts: Sequence[str]) -> np.ndarray:
        """float32 ``[n_texts, dim]``: each text's last word's feature with the text as its only context."""
        keys = self.text_keys(texts)
        if not keys:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.kind == "window":
            return self.encoder.encode([" ".join(k) for k in keys])
        vocab = sorted({w for k in keys for w in k})
        index = {w: i for i, w in enumerate(vocab)}
        emb = self.word_vectors(vocab)
        width = self.context + 1
        ids = np.full((len(keys), width), -1, dtype=np.int64)  # column k: the word k back
        for r, k in enumerate(keys):
            ids[r, : len(k)] = [index[w] for w in reversed(k)]
        wts = np.where(ids >= 0, self.weights(width)[None, :], 0.0)
        out = np.zeros((len(keys), self.dim), dtype=np.float64)
        for k in range(width):
            present = ids[:, k] >= 0
            out[present] += wts[present, k, None] * emb[ids[present, k]]
        return (out / wts.sum(1, keepdims=True)).astype(np.float32)

    def word_vectors(self, words: Sequence[str]) -> np.ndarray:
        """float32 ``[n, dim]``: each word (lowercased) embedded alone; cached per process."""
        lower = [w.lower() for w in words]
        missing = sorted({w for w in lower if w not in self._vectors})
        if missing:
            for w, v in zip(missing, self.encoder.encode(missing)):
                self._vectors[w] = v
        return np.stack([self._vectors[w] for w in lower]) if lower else np.zeros((0, self.dim), np.float32)


def feature_model_from_spec(spec: dict[str, Any] | None = None, device: str | None = None) -> FeatureModel:
    """A :class:`FeatureModel` from :meth:`FeatureModel.spec` output (None: the default)."""
    spec = dict(spec or {})
    unknown = set(spec) - {"kind", "model", "context", "decay"}
    if unknown:
        raise ConfigError(f"unknown feature model parameters {sorted(unknown)}; accepted: kind, model, context, decay")
    return FeatureModel(device=device, **spec)


@dataclass(frozen=True)
class FeatureSettings:
    """How word features become a TR-level design matrix."""

    delays: tuple[int, ...] = (1, 2, 3, 4)
    """FIR delays in TRs (the HRF is learned as one weight set per delay)."""
    trim_start: int = 5
    """TRs dropped at the start of each run (after delaying)."""
    trim_end: int = 5
    """TRs dropped at the end of each run."""
    lanczos_window: int = 3
    """Lobes of the Lanczos kernel."""

    def __post_init__(self) -> None:
        if not self.delays or any(d < 0 for d in self.delays):
            raise ConfigError(f"delays must be non-negative TR counts, got {self.delays}")
        if self.trim_start < 0 or self.trim_end < 0:
            raise ConfigError("trim_start and trim_end must be >= 0 TRs")
        if self.lanczos_window < 1:
            raise ConfigError(f"lanczos_window must be >= 1, got {self.lanczos_window}")


def tr_times(n_trs: int, tr: float) -> np.ndarray:
    """Acquisition time of each TR in seconds: the middle of the volume, ``(k + 0.5) * tr``."""
    return (np.arange(n_trs) + 0.5) * tr


def lanczos_matrix(old_times: np.ndarray, new_times: np.ndarray, window: int = 3, cutoff_mult: float = 1.0) -> np.ndarray:
    """``[len(new), len(old)]`` Lanczos interpolation weights (cutoff: the new sampling rate).

    ``L(t) = a sin(pi c t) sin(pi c t / a) / (pi c t)^2`` with ``c = cutoff_mult / mean(diff(new))``,
    ``L(0) = 1`` and ``L = 0`` beyond ``a`` lobes (Huth lab ``lanczosinterp2D``).
    """
    new_times = np.asarray(new_times, dtype=np.float64)
    step = np.mean(np.diff(new_times)) if len(new_times) > 1 else 1.0
    t = (new_times[:, None] - np.asarray(old_times, dtype=np.float64)[None, :]) * (cutoff_mult / step)
    with np.errstate(divide="ignore", invalid="ignore"):
        val = window * np.sin(np.pi * t) * np.sin(np.pi * t / window) / (np.pi**2 * t**2)
    val[t == 0] = 1.0
    val[np.abs(t) > window] = 0.0
    return val


def lanczos_downsample(data: np.ndarray, old_times: np.ndarray, new_times: np.ndarray, window: int = 3) -> np.ndarray:
    """Resample rows of ``data`` sampled at ``old_times`` to ``new_times`` (seconds)."""
    return (lanczos_matrix(old_times, new_times, window) @ np.asarray(data, dtype=np.float64)).astype(np.float32)


def zscore(x: np.ndarray) -> np.ndarray:
    """Columns to mean 0, standard deviation 1 (constant columns become 0)."""
    x = np.asarray(x, dtype=np.float32)
    sd = x.std(axis=0)
    return ((x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)).astype(np.float32)


def make_delayed(x: np.ndarray, delays: Sequence[int]) -> np.ndarray:
    """``[n, dim * len(delays)]``: block ``j`` is ``x`` shifted down by ``delays[j]`` rows, zero-filled."""
    n, d = x.shape
    out = np.zeros((n, d * len(delays)), dtype=x.dtype)
    for j, lag in enumerate(delays):
        if lag < n:
            out[lag:, j * d:(j + 1) * d] = x[: n - lag]
    return out


def trim(x: np.ndarray, start: int, end: int) -> np.ndarray:
    """Rows ``start`` .. ``n - end``."""
    return x[start: len(x) - end]


def tr_features(features: FeatureModel, words: Sequence[str], word_times: np.ndarray, n_trs: int, tr: float,
                window: int = 3) -> np.ndarray:
    """float32 ``[n_trs, dim]`` raw (not z-scored) features of a run at TR times."""
    return lanczos_downsample(features.word_features(words), word_times, tr_times(n_trs, tr), window)


def design_matrix(raw: np.ndarray, settings: FeatureSettings) -> np.ndarray:
    """Raw TR features -> z-scored, delayed, trimmed ``[n_trs - trims, dim * n_delays]``."""
    return trim(make_delayed(zscore(raw), settings.delays), settings.trim_start, settings.trim_end)
