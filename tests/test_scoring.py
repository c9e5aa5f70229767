import numpy as np
import pytest

from sasc.errors import ConfigError
from sasc.scoring import SigmaScore, bootstrap_sigma_ci, intervals_overlap, score_sigma, sigma, top_k_indices


def test_sigma_by_hand():
    generic = np.array([0.0, 2.0])  # mean 1, sample std sqrt(2)
    assert sigma(np.array([1 + 2 * np.sqrt(2)]), generic) == pytest.approx(2.0)
    assert np.isnan(sigma(np.array([1.0]), np.array([3.0, 3.0])))


def test_score_sigma_fields():
    rng = np.random.default_rng(0)
    generic = rng.normal(0, 1, 400)
    related = rng.normal(2, 1, 30)
    unrelated = rng.normal(0.5, 1, 30)
    s = score_sigma(related, generic, unrelated, n_boot=500, seed=1)
    sd = generic.std(ddof=1)
    assert s.sigma == pytest.approx((related.mean() - generic.mean()) / sd)
    assert s.sigma_paper == pytest.approx((related.mean() - unrelated.mean()) / sd)
    assert s.raw_diff == pytest.approx(related.mean() - generic.mean())
    assert s.ci_low < s.sigma < s.ci_high
    assert 1.4 < s.ci_low and s.ci_high < 2.6
    assert (s.n_related, s.n_unrelated, s.n_generic) == (30, 30, 400)
    assert np.isnan(score_sigma(related, generic).sigma_paper)


def test_bootstrap_is_seeded_and_narrows_with_data():
    rng = np.random.default_rng(0)
    g = rng.normal(size=1000)
    r = rng.normal(1, 1, 200)
    a = bootstrap_sigma_ci(r, g, seed=3)
    assert a == bootstrap_sigma_ci(r, g, seed=3)
    b = bootstrap_sigma_ci(r[:10], g, seed=3)
    assert (a[1] - a[0]) < (b[1] - b[0])


def test_score_sigma_rejects_tiny_samples():
    with pytest.raises(ConfigError):
        score_sigma(np.array([]), np.array([1.0, 2.0]))
    with pytest.raises(ConfigError):
        score_sigma(np.array([1.0]), np.array([1.0]))


def test_top_k_indices():
    v = np.array([0.1, 0.9, 0.5, 0.9, -1.0])
    assert top_k_indices(v, 3).tolist() == [1, 3, 2]
    assert top_k_indices(v, 10).tolist() == [1, 3, 2, 0, 4]
    assert top_k_indices(v, 0).tolist() == []


def test_scores_compare_nan_as_equal():
    a = score_sigma(np.array([2.0, 3.0]), np.array([0.0, 1.0, 2.0]), n_boot=50)
    b = score_sigma(np.array([2.0, 3.0]), np.array([0.0, 1.0, 2.0]), n_boot=50)
    assert np.isnan(a.sigma_paper) and a == b and hash(a) == hash(b)
    assert a != score_sigma(np.array([2.0, 4.0]), np.array([0.0, 1.0, 2.0]), n_boot=50)


def test_intervals_overlap():
    def score(lo, hi):
        return SigmaScore((lo + hi) / 2, lo, hi, float("nan"), 0.0, 5, 0, 20)

    assert intervals_overlap(score(1, 3), score(2, 4)) and intervals_overlap(score(2, 4), score(1, 3))
    assert intervals_overlap(score(1, 3), score(3, 5))  # touching ends count
    assert not intervals_overlap(score(1, 2), score(3, 4))
    assert not intervals_overlap(score(float("nan"), 2), score(1, 3))
