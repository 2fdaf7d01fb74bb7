"""MSU benchmark scores with t-intervals, and bootstrap intervals of correlation changes:
against scipy and hand computations."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from advqa.errors import InputError
from advqa.metrics import (
    absolute_gain,
    correlation_change,
    energy_score,
    mean_interval,
    minmax_scale,
    msu_scores,
    plcc,
    relative_gain,
    robustness_score,
    srcc,
    wasserstein_score,
)

# clean (0, 5, 10) scales to (0, .5, 1); attacked (2, 5, 12) to (.2, .5, 1.2)
C3, A3 = [0.0, 5.0, 10.0], [2.0, 5.0, 12.0]
T975_2 = 4.302652729749464  # the 97.5% quantile of Student's t with 2 degrees of freedom (tables: 4.303)


def test_mean_interval_hand_computed():
    # gains (.2, 0, .2): mean 2/15, sample std sqrt(1/75), sem = sqrt(1/75) / sqrt(3) = 1/15
    iv = mean_interval([0.2, 0.0, 0.2])
    assert iv.value == pytest.approx(2 / 15, abs=1e-12)
    assert iv.lo == pytest.approx(2 / 15 - T975_2 / 15, abs=1e-9)
    assert iv.hi == pytest.approx(2 / 15 + T975_2 / 15, abs=1e-9)


def test_mean_interval_matches_scipy_t_interval():
    x = np.random.default_rng(0).normal(0.3, 0.2, 37)
    lo, hi = stats.t.interval(0.95, x.size - 1, loc=x.mean(), scale=stats.sem(x))
    iv = mean_interval(x)
    assert (iv.lo, iv.hi) == pytest.approx((lo, hi), abs=1e-12)
    lo9, hi9 = stats.t.interval(0.9, x.size - 1, loc=x.mean(), scale=stats.sem(x))
    assert mean_interval(x, 0.9)[1:] == pytest.approx((lo9, hi9), abs=1e-12)


def test_mean_interval_degenerate():
    one = mean_interval([0.4])
    assert one.value == 0.4 and math.isnan(one.lo) and math.isnan(one.hi)
    assert tuple(mean_interval([0.5, 0.5, 0.5])) == (0.5, 0.5, 0.5)
    with pytest.raises(InputError, match="confidence"):
        mean_interval([1.0, 2.0], confidence=1.5)
    with pytest.raises(InputError, match="empty"):
        mean_interval([])


def test_msu_scores_hand_computed():
    s = msu_scores(C3, A3)
    assert s["n"] == 3
    assert s["abs_gain"] == pytest.approx(2 / 15, abs=1e-12)
    assert (s["abs_gain_lo"], s["abs_gain_hi"]) == pytest.approx((2 / 15 - T975_2 / 15, 2 / 15 + T975_2 / 15),
                                                                abs=1e-9)
    rel = np.array([0.2 / 1.0, 0.0, 0.2 / 2.0])  # (a - c) / (c + 1) on scaled scores
    assert s["rel_gain"] == pytest.approx(rel.mean(), abs=1e-12)
    half = T975_2 * rel.std(ddof=1) / math.sqrt(3)
    assert (s["rel_gain_lo"], s["rel_gain_hi"]) == pytest.approx((rel.mean() - half, rel.mean() + half), abs=1e-9)
    rob = np.array([math.log10(1 / (0.2 + 1e-6)), math.log10(0.5 / 1e-6), math.log10(1 / (0.2 + 1e-6))])
    assert s["robustness"] == pytest.approx(rob.mean(), abs=1e-10)
    half = T975_2 * rob.std(ddof=1) / math.sqrt(3)
    assert s["robustness_lo"] == pytest.approx(rob.mean() - half, abs=1e-9)
    assert s["wasserstein"] == pytest.approx(0.4 / 3, abs=1e-12)  # sorted pairs: (.2 + 0 + .2) / 3


def test_msu_scores_match_scipy_and_the_single_scores():
    rng = np.random.default_rng(4)
    clean = rng.uniform(20, 80, 60)
    adv = clean + rng.normal(5, 4, 60)
    s = msu_scores(clean, adv)
    c, a = minmax_scale(clean, clean), minmax_scale(adv, clean)
    assert c.min() == 0 and c.max() == 1  # scaled on the clean scores of the evaluated set
    assert s["wasserstein"] == pytest.approx(stats.wasserstein_distance(c, a), abs=1e-12)
    assert s["energy"] == pytest.approx(stats.energy_distance(c, a), abs=1e-12)
    assert s["abs_gain"] == pytest.approx(absolute_gain(clean, adv), abs=1e-12)
    assert s["rel_gain"] == pytest.approx(relative_gain(clean, adv), abs=1e-12)
    assert s["robustness"] == pytest.approx(robustness_score(clean, adv), abs=1e-12)
    terms = a - c
    lo, hi = stats.t.interval(0.95, 59, loc=terms.mean(), scale=stats.sem(terms))
    assert (s["abs_gain_lo"], s["abs_gain_hi"]) == pytest.approx((lo, hi), abs=1e-12)
    # a lower-is-better model: gains and distances flip sign, the robustness score does not
    f = msu_scores(clean, adv, higher_is_better=False)
    assert f["abs_gain"] == pytest.approx(-s["abs_gain"]) and f["abs_gain_lo"] == pytest.approx(-s["abs_gain_hi"])
    assert f["energy"] == pytest.approx(-s["energy"]) and f["wasserstein"] == pytest.approx(-s["wasserstein"])
    assert f["robustness"] == pytest.approx(s["robustness"])
    assert energy_score(clean, adv) == pytest.approx(s["energy"]) and wasserstein_score(clean, adv) > 0


def test_msu_scores_constant_clean_scores_are_nan():
    s = msu_scores([0.5, 0.5], [0.6, 0.7])
    assert all(math.isnan(v) for k, v in s.items() if k != "n")


def test_correlation_change_point_value_and_bootstrap_match_scipy():
    rng = np.random.default_rng(1)
    mos = rng.uniform(1, 5, 30)
    before = mos + rng.normal(0, 0.4, 30)
    after = before + rng.normal(0, 3.0, 30)
    for metric, fn, ref in (("srcc", srcc, lambda x, y: stats.spearmanr(x, y).statistic),
                            ("plcc", plcc, lambda x, y: stats.pearsonr(x, y).statistic)):
        iv = correlation_change(before, after, mos, metric=metric, resamples=300, seed=7)
        assert iv.value == pytest.approx(fn(after, mos) - fn(before, mos), abs=1e-12)
        # the documented draws, recomputed one by one with scipy
        idx = np.random.default_rng(7).integers(0, 30, size=(300, 30))
        deltas = np.array([ref(after[i], mos[i]) - ref(before[i], mos[i]) for i in idx])
        lo, hi = np.percentile(deltas, [2.5, 97.5])
        assert (iv.lo, iv.hi) == pytest.approx((lo, hi), abs=1e-10)
        assert iv.lo < iv.value < iv.hi < 0  # the attack hurt the agreement with MOS


def test_correlation_change_close_to_scipy_bootstrap():
    rng = np.random.default_rng(2)
    mos = rng.uniform(1, 5, 40)
    before = mos + rng.normal(0, 0.5, 40)
    after = before + rng.normal(0, 1.0, 40)
    ours = correlation_change(before, after, mos, metric="plcc", resamples=4000, seed=0)

    def delta(b, a, m):
        return stats.pearsonr(a, m).statistic - stats.pearsonr(b, m).statistic

    ref = stats.bootstrap((before, after, mos), delta, paired=True, vectorized=False, n_resamples=4000,
                          method="percentile", random_state=np.random.default_rng(3))
    assert ours.lo == pytest.approx(ref.confidence_interval.low, abs=0.03)
    assert ours.hi == pytest.approx(ref.confidence_interval.high, abs=0.03)


def test_correlation_change_is_seeded_and_handles_degenerate_inputs():
    rng = np.random.default_rng(5)
    mos = rng.uniform(1, 5, 12)
    before, after = mos + rng.normal(0, 0.5, 12), mos + rng.normal(0, 2.0, 12)
    assert correlation_change(before, after, mos, seed=3) == correlation_change(before, after, mos, seed=3)
    assert correlation_change(before, after, mos, seed=3) != correlation_change(before, after, mos, seed=4)
    two = correlation_change([1.0, 2.0], [2.0, 1.0], [1.0, 2.0])
    assert all(math.isnan(v) for v in two)
    with pytest.raises(InputError, match="metric"):
        correlation_change(before, after, mos, metric="krocc")
    with pytest.raises(InputError, match="resamples"):
        correlation_change(before, after, mos, resamples=0)
    with pytest.raises(InputError, match="same length"):
        correlation_change(before, after[:4], mos)
