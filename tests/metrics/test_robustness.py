"""Robustness scores of papers 000 (Eq. 6-7), 003 (Eq. S5) and 004 (MSU) against hand computations."""
from __future__ import annotations

import itertools
import logging
import math

import numpy as np
import pytest
from scipy import stats

from advqa.errors import InputError
from advqa.metrics import (
    absolute_gain,
    boundary_targets,
    energy_score,
    minmax_scale,
    r_score,
    r_score_bounds,
    relative_gain,
    robustness_score,
    wasserstein_score,
)

CLEAN = [10.0, 20.0, 30.0, 40.0]


def test_boundary_targets_hand_computed():
    # q = (.25, .5, .75, 1), median .625 -> b = (1, 1, 0, 0); mean q .625, std q sqrt(.078125);
    # clean mean 25, std sqrt(125): (1 - .625)/std_q * std_hat + 25 = 40, (0 - .625)/... = 0
    np.testing.assert_allclose(boundary_targets([1, 2, 3, 4], CLEAN), [40, 40, 0, 0], atol=1e-12)
    # with the dataset's max MOS = 5: q = (.2, .4, .6, .8) -> 25 +- 25
    np.testing.assert_allclose(boundary_targets([1, 2, 3, 4], CLEAN, mos_max=5), [50, 50, 0, 0], atol=1e-12)


def test_boundary_targets_match_official_formula():
    rng = np.random.default_rng(3)
    mos = rng.uniform(1, 5, 50)
    clean = 0.2 * mos + rng.normal(0, 0.1, 50)
    q = mos / 5.0
    lo = (0 - np.mean(q)) / np.std(q) * np.std(clean) + np.mean(clean)  # AttackVQA's q_hat_original_min
    hi = (1 - np.mean(q)) / np.std(q) * np.std(clean) + np.mean(clean)
    expected = np.where(q >= np.median(q), lo, hi)
    np.testing.assert_allclose(boundary_targets(mos, clean, mos_max=5.0), expected, rtol=1e-12)


def test_boundary_targets_ties_at_median_go_high():
    # median of (1, 2, 2, 3) is 2: the two 2s count as high quality (b = 0, pushed down)
    t = boundary_targets([1, 2, 2, 3], CLEAN)
    assert t[0] > t[1] == t[2] == t[3]


def test_boundary_targets_without_mos_and_lower_is_better():
    np.testing.assert_allclose(boundary_targets(None, CLEAN), [40, 40, 0, 0], atol=1e-12)
    # mirrored about mean(clean) = 25 for a lower-is-better model
    np.testing.assert_allclose(boundary_targets([1, 2, 3, 4], CLEAN, higher_is_better=False),
                               [10, 10, 50, 50], atol=1e-12)


def test_boundary_targets_errors():
    with pytest.raises(InputError, match="at least 2"):
        boundary_targets([3.0], [0.5])
    with pytest.raises(InputError, match="same MOS"):
        boundary_targets([3, 3, 3], [0.1, 0.2, 0.3])
    with pytest.raises(InputError, match="mos_max"):
        boundary_targets([1, 2], [0.1, 0.2], mos_max=0)
    with pytest.raises(InputError, match="same length"):
        boundary_targets([1, 2, 3], [0.1, 0.2])


def test_r_score_hand_computed():
    # ln(|.8 - 0| / |.4 - .8|) = ln 2 and ln(|.2 - 1| / |.6 - .2|) = ln 2
    assert r_score([0.8, 0.2], [0.4, 0.6], [0.0, 1.0]) == pytest.approx(math.log(2), abs=1e-10)
    terms = r_score([0.8, 0.2], [0.0, 0.6], [0.0, 1.0], reduce=False)
    np.testing.assert_allclose(terms, [0.0, math.log(2)], atol=1e-10)  # reached the target: 0
    # a scalar target applies to every video
    assert r_score([0.5, 0.5], [0.25, 0.75], 1.5) == pytest.approx(math.log(4), abs=1e-10)


def test_r_score_zero_shift_is_finite():
    # official code: + 1e-12 in the denominator -> ln(1 / 1e-12) = 27.631...
    assert r_score([0.5], [0.5], [1.5]) == pytest.approx(math.log(1e12), rel=1e-12)


def test_r_score_bounds_hand_computed():
    # beta = (100, 0): room max(70, 30) = 70 and max(10, 90) = 90, shifts 10 and 10
    assert r_score_bounds([30, 90], [40, 80], 100, 0) == pytest.approx(math.log10(63) / 2, abs=1e-10)
    assert r_score_bounds([30, 90], [40, 80], 100, 0, base=math.e) == pytest.approx(math.log(63) / 2, abs=1e-10)
    with pytest.raises(InputError, match="beta1"):
        r_score_bounds([1.0], [2.0], 0, 100)


# MSU benchmark: clean (0, 5, 10) scales to (0, .5, 1); attacked (2, 5, 12) to (.2, .5, 1.2)
C3, A3 = [0.0, 5.0, 10.0], [2.0, 5.0, 12.0]


def test_minmax_scale():
    np.testing.assert_allclose(minmax_scale(A3, C3), [0.2, 0.5, 1.2], atol=1e-15)
    np.testing.assert_allclose(minmax_scale(C3, C3), [0.0, 0.5, 1.0], atol=1e-15)


def test_minmax_scale_constant_reference_gives_nan(caplog):
    with caplog.at_level(logging.WARNING):
        out = minmax_scale([1.0, 2.0], [3.0, 3.0])
    assert np.isnan(out).all() and "constant" in caplog.text


def test_gains_hand_computed():
    assert absolute_gain(C3, A3) == pytest.approx(0.4 / 3, abs=1e-12)
    assert relative_gain(C3, A3) == pytest.approx((0.2 / 1 + 0 + 0.2 / 2) / 3, abs=1e-12)
    assert absolute_gain(C3, A3, higher_is_better=False) == pytest.approx(-0.4 / 3, abs=1e-12)
    np.testing.assert_allclose(absolute_gain(C3, A3, reduce=False), [0.2, 0.0, 0.2], atol=1e-12)
    assert absolute_gain(C3, A3, scale=False) == pytest.approx(4 / 3, abs=1e-12)


def test_robustness_score_hand_computed():
    expected = np.mean([math.log10(1 / (0.2 + 1e-6)), math.log10(0.5 / 1e-6), math.log10(1 / (0.2 + 1e-6))])
    assert robustness_score(C3, A3) == pytest.approx(expected, abs=1e-10)
    # it is Eq. S5 with beta = (1, 0), eps = 1e-6, on scaled scores
    c, a = minmax_scale(C3, C3), minmax_scale(A3, C3)
    assert robustness_score(C3, A3) == pytest.approx(r_score_bounds(c, a, 1.0, 0.0, eps=1e-6), abs=1e-12)


def _energy_by_hand(x, y):
    exy = np.mean([abs(a - b) for a, b in itertools.product(x, y)])
    exx = np.mean([abs(a - b) for a, b in itertools.product(x, x)])
    eyy = np.mean([abs(a - b) for a, b in itertools.product(y, y)])
    return math.sqrt(2 * exy - exx - eyy)


def test_distribution_scores():
    # sorted samples pair up: W1 = mean(|.2 - 0|, |.5 - .5|, |1.2 - 1|), signed + (mean went up)
    assert wasserstein_score(C3, A3) == pytest.approx(0.4 / 3, abs=1e-12)
    assert wasserstein_score(A3, C3) < 0
    assert wasserstein_score(C3, A3, higher_is_better=False) == pytest.approx(-0.4 / 3, abs=1e-12)
    e = _energy_by_hand([0.0, 0.5, 1.0], [0.2, 0.5, 1.2])
    assert energy_score(C3, A3) == pytest.approx(e, abs=1e-12)
    rng = np.random.default_rng(1)
    clean = rng.normal(3, 1, 40)
    adv = clean - np.abs(rng.normal(0.5, 0.2, 40))
    c, a = minmax_scale(clean, clean), minmax_scale(adv, clean)
    assert energy_score(clean, adv) == pytest.approx(-stats.energy_distance(c, a), abs=1e-12)
    assert wasserstein_score(clean, adv) == pytest.approx(-stats.wasserstein_distance(c, a), abs=1e-12)


def test_msu_bad_inputs():
    with pytest.raises(InputError, match="index 1"):
        absolute_gain([1.0, float("nan")], [1.0, 2.0])
    with pytest.raises(InputError, match="same length"):
        energy_score([1.0, 2.0, 3.0], [1.0, 2.0])
