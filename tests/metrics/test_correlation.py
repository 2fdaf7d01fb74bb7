"""SRCC/KROCC/PLCC/RMSE against hand-computed values and scipy, plus the degenerate-input rules."""
from __future__ import annotations

import logging
import math

import numpy as np
import pytest
from scipy import optimize, stats

from advqa.errors import InputError
from advqa.metrics import correlations, krocc, logistic4, logistic4_fit, plcc, rmse, srcc

PRED = [1.0, 2.0, 3.0, 4.0]
MOS = [1.0, 3.0, 2.0, 4.0]


def test_hand_computed_four_videos():
    # ranks differ by d = (0, 1, -1, 0): SRCC = 1 - 6*2 / (4*15) = 0.8 (paper 003 Eq. S2)
    assert srcc(PRED, MOS) == pytest.approx(0.8, abs=1e-12)
    # 5 concordant, 1 discordant of 6 pairs: (5 - 1) / 6 (Eq. S3)
    assert krocc(PRED, MOS) == pytest.approx(2 / 3, abs=1e-12)
    # centred (-1.5, -.5, .5, 1.5) and (-1.5, .5, -.5, 1.5): 4 / sqrt(5 * 5) (Eq. S4)
    assert plcc(PRED, MOS) == pytest.approx(0.8, abs=1e-12)
    # errors (0, 1, -1, 0): sqrt(2 / 4) (Eq. S1)
    assert rmse(PRED, MOS) == pytest.approx(math.sqrt(0.5), abs=1e-12)


def _data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    pred = rng.uniform(0, 1, n)
    mos = 1 + 4 * (1 / (1 + np.exp(-(pred - 0.55) / 0.12))) + rng.normal(0, 0.25, n)
    pred[:6] = pred[6:12]  # ties in the predictions
    return pred, mos


def test_matches_scipy_with_ties():
    pred, mos = _data()
    assert srcc(pred, mos) == pytest.approx(stats.spearmanr(pred, mos).statistic, abs=1e-12)
    assert krocc(pred, mos) == pytest.approx(stats.kendalltau(pred, mos).statistic, abs=1e-12)
    assert plcc(pred, mos) == pytest.approx(stats.pearsonr(pred, mos).statistic, abs=1e-12)
    assert rmse(pred, mos) == pytest.approx(np.sqrt(np.mean((pred - mos) ** 2)), abs=1e-12)


def test_logistic4_formula():
    x = np.array([-1.0, 0.0, 0.3, 2.0])
    b1, b2, b3, b4 = 5.0, 1.0, 0.3, -0.2  # |b4| is used
    expected = (b1 - b2) / (1 + np.exp(-(x - b3) / abs(b4))) + b2
    np.testing.assert_allclose(logistic4(x, b1, b2, b3, b4), expected, rtol=1e-14)
    assert logistic4(np.array([1e6]), b1, b2, b3, b4)[0] == pytest.approx(b1)  # no overflow


def test_logistic_fit_recovers_noiseless_parameters():
    x = np.linspace(10, 90, 40)
    true = (4.6, 1.2, 47.0, 8.0)
    y = logistic4(x, *true)
    np.testing.assert_allclose(logistic4_fit(x, y), true, rtol=1e-5)
    assert plcc(x, y, fit=True) == pytest.approx(1.0, abs=1e-9)
    assert rmse(x, y, fit=True) == pytest.approx(0.0, abs=1e-6)


def test_logistic_fit_matches_direct_scipy_fit():
    pred, mos = _data()
    params = logistic4_fit(pred, mos)
    ref, _ = optimize.curve_fit(logistic4, pred, mos, p0=[mos.max(), mos.min(), pred.mean(), pred.std()],
                                maxfev=10000)
    sse = lambda p: np.sum((mos - logistic4(pred, *p)) ** 2)  # noqa: E731
    assert sse(params) <= sse(ref) * (1 + 1e-6)
    fitted = logistic4(pred, *params)
    assert plcc(pred, mos, fit=True) == pytest.approx(stats.pearsonr(fitted, mos).statistic, abs=1e-12)
    assert rmse(pred, mos, fit=True) == pytest.approx(np.sqrt(np.mean((fitted - mos) ** 2)), abs=1e-12)
    # the fit helps: a sigmoidal relation is better explained after the mapping
    assert plcc(pred, mos, fit=True) > plcc(pred, mos)


def test_fit_is_scale_free_and_handles_lower_is_better():
    pred, mos = _data()
    base = plcc(pred, mos, fit=True)
    assert plcc(1000 * pred + 7, mos, fit=True) == pytest.approx(base, abs=1e-7)
    assert plcc(-pred, mos, fit=True) == pytest.approx(base, abs=1e-7)  # b1, b2 swap: a decreasing map
    assert rmse(-pred, mos, fit=True) == pytest.approx(rmse(pred, mos, fit=True), rel=1e-6)


def test_few_videos_fall_back_to_linear(caplog):
    with caplog.at_level(logging.WARNING):
        out = correlations(PRED, MOS)
    assert "linear" in caplog.text
    # a linear map leaves PLCC unchanged and gives the least-squares residual
    assert out["plcc_fit"] == pytest.approx(0.8, abs=1e-8)
    slope, icpt = np.polyfit(PRED, MOS, 1)
    resid = np.array(MOS) - (slope * np.array(PRED) + icpt)
    assert out["rmse_fit"] == pytest.approx(np.sqrt(np.mean(resid ** 2)), abs=1e-8)
    assert out["n"] == 4


def test_correlations_dict():
    pred, mos = _data()
    out = correlations(pred, mos)
    assert set(out) == {"srcc", "krocc", "plcc", "plcc_fit", "rmse", "rmse_fit", "n"}
    assert out["srcc"] == pytest.approx(srcc(pred, mos))
    assert out["plcc_fit"] == pytest.approx(plcc(pred, mos, fit=True))
    assert out["rmse_fit"] == pytest.approx(rmse(pred, mos, fit=True))
    assert out["n"] == 60


def test_fewer_than_three_videos_give_nan(caplog):
    with caplog.at_level(logging.WARNING):
        assert math.isnan(srcc([1, 2], [2, 1]))
        assert math.isnan(plcc([1, 2], [2, 1], fit=True))
    assert "at least 3" in caplog.text
    out = correlations([0.5], [3.0])
    assert math.isnan(out["srcc"]) and math.isnan(out["krocc"]) and math.isnan(out["plcc_fit"])
    assert out["rmse"] == pytest.approx(2.5)


def test_constant_input_gives_nan(caplog):
    with caplog.at_level(logging.WARNING):
        assert math.isnan(srcc([2, 2, 2, 2], [1, 2, 3, 4]))
        assert math.isnan(krocc([1, 2, 3, 4], [3, 3, 3, 3]))
        out = correlations([2, 2, 2, 2, 2, 2], [1, 2, 3, 4, 5, 6])
    assert "constant" in caplog.text
    assert math.isnan(out["plcc"]) and math.isnan(out["plcc_fit"])
    # the best constant map is mean(MOS): fitted RMSE = population std of the MOS
    assert out["rmse_fit"] == pytest.approx(np.std([1, 2, 3, 4, 5, 6]), abs=1e-12)


def test_bad_inputs_raise():
    with pytest.raises(InputError, match="index 2"):
        srcc([1, 2, float("nan"), 4], [1, 2, 3, 4])
    with pytest.raises(InputError, match="mos has a non-finite value .* index 0"):
        plcc([1, 2, 3], [float("inf"), 2, 3])
    with pytest.raises(InputError, match="same length"):
        rmse([1, 2, 3], [1, 2])
    with pytest.raises(InputError, match="1-D"):
        correlations(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(InputError, match="empty"):
        krocc([], [])
