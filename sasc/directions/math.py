"""The pure math of the direction search: the gradient of a Pearson correlation, the activations
of a direction over token states, and gradient ascent on the unit sphere."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def pearson_gradient(a: np.ndarray, p: np.ndarray) -> tuple[float, np.ndarray]:
    """``(r, dr/da)``: the Pearson correlation of ``a`` and ``p`` and its gradient in ``a``
    (``p`` held fixed). ``(nan, zeros)`` when either is constant.

    With ``ac, pc`` the centred vectors: ``r = ac·pc / (|ac| |pc|)`` and
    ``dr/da = pc / (|ac| |pc|) - r ac / |ac|²`` (already centred, so the centring drops out)."""
    a = np.asarray(a, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    ac, pc = a - a.mean(), p - p.mean()
    na, npp = float(np.linalg.norm(ac)), float(np.linalg.norm(pc))
    scale = max(float(np.abs(a).max(initial=0.0)), 1e-300) * np.sqrt(a.size) * 1e-12
    if a.size < 2 or na <= scale or npp == 0.0:
        return float("nan"), np.zeros_like(a)
    r = float(ac @ pc) / (na * npp)
    return r, pc / (na * npp) - r * ac / na**2


def readout_rows(states: Sequence[np.ndarray], d: np.ndarray, per_token: bool) -> np.ndarray:
    """The state rows whose dot product with ``d`` are the activations scored: every token's
    (``per_token``), or each text's most active token (the text's max-aggregated response)."""
    if per_token:
        return np.concatenate([np.asarray(s, dtype=np.float64) for s in states])
    return np.stack([np.asarray(s, dtype=np.float64)[int(np.argmax(np.asarray(s) @ d))] for s in states])


def ascend(states: Sequence[np.ndarray], targets: np.ndarray, d: np.ndarray, steps: int, step_size: float,
           per_token: bool) -> tuple[np.ndarray, float, float]:
    """Turn direction ``d`` toward a higher correlation between its activations on ``states``
    (per text ``[T_i, width]`` token states) and ``targets`` (one per token, or one per text),
    ``targets`` held fixed: ``steps`` geodesic steps on the unit sphere, each by the angle
    ``step_size`` (radians) along the gradient's component tangent to the sphere. The correlation
    does not depend on the direction's length, so the direction stays unit-norm. Returns the new
    direction and the correlation before and after. Stops early where the gradient vanishes (a
    constant activation or target: the correlation is undefined, NaN, and ``d`` is returned)."""
    d = np.asarray(d, dtype=np.float64)
    d = d / np.linalg.norm(d)
    t = np.asarray(targets, dtype=np.float64)
    rows = readout_rows(states, d, per_token)
    before, _ = pearson_gradient(rows @ d, t)
    for _ in range(int(steps)):
        rows = readout_rows(states, d, per_token)
        _, g_a = pearson_gradient(rows @ d, t)
        g = rows.T @ g_a
        g -= (g @ d) * d
        norm = float(np.linalg.norm(g))
        if not norm > 0:
            break
        d = np.cos(step_size) * d + np.sin(step_size) * g / norm
        d /= np.linalg.norm(d)
    after, _ = pearson_gradient(readout_rows(states, d, per_token) @ d, t)
    return d, before, after


def random_directions(count: int, width: int, seed: int) -> np.ndarray:
    """``[count, width]`` float32 unit vectors, uniform on the sphere, seeded."""
    v = np.random.default_rng(seed).standard_normal((count, width))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def angle_degrees(u: np.ndarray, v: np.ndarray) -> float:
    """The angle between two vectors, in degrees."""
    c = float(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v)))
    return float(np.degrees(np.arccos(min(1.0, max(-1.0, c)))))


def percentile_among(value: float, population: Sequence[float]) -> float:
    """The share (0..100) of ``population`` strictly below ``value``, ties counted half
    (``percentile_among(2, [1, 2, 3])`` -> 50.0); NaN members are left out."""
    pop = np.asarray([x for x in population if np.isfinite(x)], dtype=np.float64)
    if pop.size == 0 or not np.isfinite(value):
        return float("nan")
    return float(100.0 * ((pop < value).sum() + 0.5 * (pop == value).sum()) / pop.size)
