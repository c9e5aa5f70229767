"""Pure scoring math: σ scores and bootstrap intervals over response arrays."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .errors import ConfigError


@dataclass(frozen=True, eq=False)
class SigmaScore:
    """How strongly a module responds to text about an explanation, in σ of a baseline.

    Equality is field by field with NaN equal to NaN, so a result read back from JSON
    equals the one written (``sigma_paper`` is NaN when no unrelated texts were written).
    """

    sigma: float
    """(mean f(related) − mean f(generic)) / std f(generic), in standard deviations."""
    ci_low: float
    """Lower end of the bootstrap 95% interval of ``sigma``."""
    ci_high: float
    """Upper end of the bootstrap 95% interval of ``sigma``."""
    sigma_paper: float
    """The paper's variant: (mean f(related) − mean f(unrelated)) / std f(generic); NaN without unrelated texts."""
    raw_diff: float
    """mean f(related) − mean f(generic), in the module's own units."""
    n_related: int
    """Synthetic related texts scored."""
    n_unrelated: int
    """Synthetic unrelated texts scored."""
    n_generic: int
    """Generic-corpus texts in the baseline."""

    def _key(self) -> tuple:
        return tuple("nan" if isinstance(v, float) and v != v else v for v in dataclasses.astuple(self))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SigmaScore):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


def sigma(related: np.ndarray, generic: np.ndarray) -> float:
    """(mean(related) − mean(generic)) / std(generic) (sample std, ddof=1)."""
    sd = float(np.std(generic, ddof=1))
    if not np.isfinite(sd) or sd <= 0:
        return float("nan")
    return float((np.mean(related) - np.mean(generic)) / sd)


def bootstrap_sigma_ci(related: np.ndarray, generic: np.ndarray, n_boot: int = 1000,
                       seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of :func:`sigma`, resampling both samples."""
    rng = np.random.default_rng(seed)
    r = rng.choice(related, size=(n_boot, len(related)), replace=True)
    g = rng.choice(generic, size=(n_boot, len(generic)), replace=True)
    sd = g.std(axis=1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        stats = (r.mean(axis=1) - g.mean(axis=1)) / sd
    stats = stats[np.isfinite(stats)]
    if stats.size == 0:
        return float("nan"), float("nan")
    a = (1 - level) / 2
    return float(np.quantile(stats, a)), float(np.quantile(stats, 1 - a))


def unscored_score(n_generic: int) -> SigmaScore:
    """The score of a candidate left without synthetic texts: NaN σ, no texts (``n_related == 0``)."""
    nan = float("nan")
    return SigmaScore(nan, nan, nan, nan, nan, 0, 0, n_generic)


def score_sigma(related: np.ndarray, generic: np.ndarray, unrelated: np.ndarray | None = None,
                n_boot: int = 1000, seed: int = 0) -> SigmaScore:
    """All explanation-score figures for one candidate.

    ``related``/``unrelated``: module responses to synthetic texts; ``generic``: responses
    to the generic corpus. Raises :class:`ConfigError` with fewer than 1 related or 2
    generic values.
    """
    related = np.asarray(related, dtype=np.float64).ravel()
    generic = np.asarray(generic, dtype=np.float64).ravel()
    if related.size < 1 or generic.size < 2:
        raise ConfigError(f"need >=1 related and >=2 generic responses, got {related.size} and {generic.size}")
    un = np.asarray(unrelated if unrelated is not None else [], dtype=np.float64).ravel()
    sd = float(np.std(generic, ddof=1))
    paper = float((related.mean() - un.mean()) / sd) if un.size and sd > 0 else float("nan")
    lo, hi = bootstrap_sigma_ci(related, generic, n_boot, seed)
    return SigmaScore(
        sigma=sigma(related, generic), ci_low=lo, ci_high=hi, sigma_paper=paper,
        raw_diff=float(related.mean() - generic.mean()),
        n_related=int(related.size), n_unrelated=int(un.size), n_generic=int(generic.size),
    )


def intervals_overlap(a: SigmaScore, b: SigmaScore) -> bool:
    """Whether the 95% intervals of two scores overlap (False when either is NaN)."""
    return bool(a.ci_low <= b.ci_high and b.ci_low <= a.ci_high)


def top_k_indices(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest values, largest first; ties by lower index."""
    values = np.asarray(values)
    k = min(k, values.size)
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    part = np.argpartition(-values, k - 1)[:k]
    return part[np.lexsort((part, -values[part]))]
