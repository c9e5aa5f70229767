"""Judging D3 explanations against the ground truth, and the noisy-module ablation.

Pure functions over explanations, regexes and arrays, so each is testable by hand.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError
from ..scoring import top_k_indices


def recovers(explanation: str, check_regex: str) -> bool:
    """True when the task's case-insensitive regex matches the explanation (paper's metric)."""
    return re.search(check_regex, explanation, flags=re.IGNORECASE) is not None


def judge_candidates(explanations: Sequence[str], check_regex: str) -> tuple[bool, bool]:
    """``(top1, any_candidate)`` for candidates ranked best first (empty list: both False)."""
    hits = [recovers(e, check_regex) for e in explanations]
    return (bool(hits and hits[0]), any(hits))


def noisy_responses(values: np.ndarray, scale: float = 3.0, n_top: int = 100, seed: int = 0) -> np.ndarray:
    """The noisy-module ablation: ``values + N(0, (scale * std(top n_top values))²)``.

    ``values``: one unit's n-gram responses ``[n_ngrams]``. The noise's standard deviation
    is ``scale`` times the (population) standard deviation of the ``n_top`` largest
    responses, as in the paper; the draw is seeded, so the same inputs give the same
    output. Returns a new float32 array; ``values`` is not modified.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if scale < 0 or n_top < 1:
        raise ConfigError(f"noise needs scale >= 0 and n_top >= 1, got scale={scale}, n_top={n_top}")
    if v.size == 0:
        return v.astype(np.float32)
    sd = float(np.std(v[top_k_indices(v, n_top)])) * scale
    rng = np.random.default_rng(seed)
    return (v + rng.normal(0.0, sd, size=v.shape)).astype(np.float32)


def mean_or_nan(xs: Sequence[float]) -> float:
    """Mean of the finite values (NaN when there are none)."""
    arr = np.asarray([x for x in xs if x is not None and np.isfinite(x)], dtype=np.float64)
    return float(arr.mean()) if arr.size else float("nan")
