"""Pure math of the predictive scorers, tested on fixed inputs with known answers.

Every statistic returns ``(value, reason)``: ``reason`` is None when the value is defined and a
short sentence saying why it is not (a constant or empty input) otherwise, so an undefined score is
reported as such, never as a silent NaN.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

Stat = tuple[float, "str | None"]

NUMBER_ANSWERS = tuple(str(i) for i in range(11))
"""The simulator's answers, "0".."10" (Bills et al. 2023)."""


def pearson(pred: Sequence[float], true: Sequence[float]) -> Stat:
    """Pearson correlation of ``pred`` and ``true``; undefined for fewer than 2 pairs or a constant side."""
    x = np.asarray(pred, dtype=np.float64).ravel()
    y = np.asarray(true, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"pearson: {x.size} predictions for {y.size} true values")
    if x.size < 2:
        return float("nan"), f"needs at least 2 texts, got {x.size}"
    if np.ptp(y) == 0:
        return float("nan"), "the module's responses are constant over the scoring set"
    if np.ptp(x) == 0:
        return float("nan"), "the predictions are the same for every text"
    xc, yc = x - x.mean(), y - y.mean()
    return float(np.clip((xc @ yc) / np.sqrt((xc @ xc) * (yc @ yc)), -1.0, 1.0)), None


def constant_reason(values: Sequence[float]) -> str | None:
    """Why a scoring set's true responses cannot tell activating texts from others: empty or
    constant (the reason), else None."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        return "the scoring set is empty"
    if np.ptp(v) == 0:
        return "the module's responses are constant over the scoring set"
    return None


def balanced_accuracy(pred: Sequence[bool], true: Sequence[bool]) -> Stat:
    """Mean of the true-positive and true-negative rates; undefined without both classes in ``true``."""
    p = np.asarray(pred, dtype=bool).ravel()
    t = np.asarray(true, dtype=bool).ravel()
    if p.shape != t.shape:
        raise ValueError(f"balanced_accuracy: {p.size} predictions for {t.size} labels")
    if not t.any() or t.all():
        return float("nan"), "needs both activating and non-activating texts"
    return float((p[t].mean() + (~p[~t]).mean()) / 2), None


def auroc(score: Sequence[float], true: Sequence[bool]) -> Stat:
    """Area under the ROC curve of ``score`` for labels ``true`` (ties count one half: the
    Mann-Whitney U / (n_pos n_neg)); undefined without both classes."""
    s = np.asarray(score, dtype=np.float64).ravel()
    t = np.asarray(true, dtype=bool).ravel()
    if s.shape != t.shape:
        raise ValueError(f"auroc: {s.size} scores for {t.size} labels")
    pos, neg = s[t], s[~t]
    if not pos.size or not neg.size:
        return float("nan"), "needs both activating and non-activating texts"
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (pos.size * neg.size)), None


def answer_mass(alternatives: Iterable[tuple[str, float]], answers: Sequence[str]) -> dict[str, float]:
    """The probability mass of each of ``answers`` found among one token's ``(token,
    log-probability)`` alternatives, not renormalized (tokens compared stripped and lower-cased; the
    same answer twice, e.g. "5" and " 5", adds up); answers not found are absent."""
    wanted = {a.lower(): a for a in answers}
    mass: dict[str, float] = {}
    for token, logprob in alternatives:
        a = wanted.get(token.strip().lower())
        if a is not None:
            mass[a] = mass.get(a, 0.0) + float(np.exp(logprob))
    return mass


def answer_probabilities(alternatives: Iterable[tuple[str, float]], answers: Sequence[str]) -> dict[str, float]:
    """The probabilities of ``answers`` among one token's alternatives (:func:`answer_mass`),
    renormalized to sum to 1 over the answers found. Empty when no answer is among them."""
    mass = answer_mass(alternatives, answers)
    total = sum(mass.values())
    return {a: m / total for a, m in mass.items()} if total > 0 else {}


def expected_value(alternatives: Iterable[tuple[str, float]], answers: Sequence[str] = NUMBER_ANSWERS) -> float | None:
    """The expected answer over the probabilities of the numeric ``answers`` (default "0".."10")
    among a token's alternatives, Bills's simulator prediction; None when no answer is among them.

    With a tokenizer that writes "10" as "1" then "0" (Qwen, Llama), the first token's "1" holds
    the mass of both 1 and 10, so the scale tops out at 9 in practice.
    """
    probs = answer_probabilities(alternatives, answers)
    if not probs:
        return None
    return float(sum(float(a) * p for a, p in probs.items()))


def bootstrap_ci(stat: Callable[..., Stat], arrays: Sequence[Sequence[float]], n_boot: int = 1000,
                 seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of ``stat(*arrays)`` resampling the rows (texts) of the
    aligned ``arrays`` together; resamples where the statistic is undefined are skipped.
    ``(nan, nan)`` when fewer than half of them are defined."""
    cols = [np.asarray(a) for a in arrays]
    n = len(cols[0]) if cols else 0
    return _percentile_interval(lambda idx: stat(*(c[idx] for c in cols)), n, n_boot, seed, level)


def grouped_bootstrap_ci(stat: Callable[..., Stat], groups: Sequence[Sequence[Sequence[float]]], n_boot: int = 1000,
                         seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of a statistic pooled over tokens, resampling whole texts:
    ``groups`` holds per text its aligned arrays (e.g. its tokens' predictions and true
    activations); each resample draws texts with replacement and pools their tokens. Resamples
    where the statistic is undefined are skipped; ``(nan, nan)`` when fewer than half are defined."""
    parts = [[np.asarray(a, dtype=np.float64) for a in g] for g in groups]
    width = len(parts[0]) if parts else 0
    return _percentile_interval(
        lambda idx: stat(*(np.concatenate([parts[i][k] for i in idx]) for k in range(width))),
        len(parts), n_boot, seed, level)


def _percentile_interval(resample: Callable[[np.ndarray], Stat], n: int, n_boot: int, seed: int,
                         level: float) -> tuple[float, float]:
    """The percentile interval of ``resample(idx)`` over ``n_boot`` seeded draws of ``n`` row
    indices with replacement; undefined draws skipped, ``(nan, nan)`` when fewer than half are
    defined or there is nothing to draw."""
    if n == 0 or n_boot <= 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_boot):
        v, reason = resample(rng.integers(0, n, n))
        if reason is None and np.isfinite(v):
            values.append(v)
    if len(values) < n_boot / 2:
        return float("nan"), float("nan")
    a = (1 - level) / 2
    return float(np.quantile(values, a)), float(np.quantile(values, 1 - a))


def lookup_table(excerpts: Iterable[tuple[Sequence[str], Sequence[float]]]) -> tuple[dict[str, float], float]:
    """Bills et al.'s explanation-free baseline, fitted: each token's mean activation over
    ``excerpts`` (``(tokens, activations)`` pairs), and the mean over all their tokens, which a
    token never seen is predicted. ``({}, 0.0)`` for no tokens."""
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for tokens, values in excerpts:
        if len(tokens) != len(values):
            raise ValueError(f"lookup_table: {len(tokens)} tokens for {len(values)} activations")
        for t, v in zip(tokens, values):
            sums[t] = sums.get(t, 0.0) + float(v)
            counts[t] = counts.get(t, 0) + 1
    n = sum(counts.values())
    return {t: sums[t] / counts[t] for t in sums}, (sum(sums.values()) / n if n else 0.0)


def lookup_predict(table: dict[str, float], default: float, tokens: Sequence[str]) -> np.ndarray:
    """The lookup table's prediction for each of ``tokens`` (``default`` for a token not in it)."""
    return np.array([table.get(t, default) for t in tokens], dtype=np.float64)
