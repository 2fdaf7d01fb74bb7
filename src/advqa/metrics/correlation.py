"""Agreement between predicted quality scores and MOS: SRCC, KROCC, PLCC, RMSE.

The formulas are Eq. S1-S4 of Liu, Yang, Li, Ding, Jiang, "Defense Against Adversarial Attacks on
No-Reference Image Quality Models with Gradient Norm Regularization" (CVPR 2024, supplement).

Every function takes two array-likes of shape ``(N,)`` (one entry per video) and returns a float.
PLCC and RMSE can be computed on the raw predictions or after the monotonic 4-parameter
logistic mapping that VQA papers fit before reporting them (VQEG FR-TV Phase II, 2003):

    f(x) = (b1 - b2) / (1 + exp(-(x - b3) / |b4|)) + b2

Degenerate inputs (the same rules for every function):

* different lengths, an array that is not 1-D, an empty array, or a NaN/inf entry
  -> :class:`~advqa.errors.InputError` naming the problem (and the first bad index);
* fewer than 3 videos, or constant predictions or constant MOS -> the correlation is NaN and a
  warning is logged (a rank or linear correlation is undefined or meaningless there);
* raw RMSE is defined for any N >= 1; the fitted RMSE follows the fit rules of :func:`logistic4_fit`.
"""
from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, special, stats

from advqa.metrics._arrays import score_vectors

log = logging.getLogger(__name__)

#: Fewer videos than this give NaN correlations (with a logged warning).
MIN_VIDEOS = 3
#: The logistic fit needs more points than its 4 parameters; below this a linear map is used.
MIN_FIT_POINTS = 5

__all__ = [
    "correlations",
    "krocc",
    "logistic4",
    "logistic4_fit",
    "plcc",
    "rmse",
    "srcc",
]


def _as_scores(pred: ArrayLike, mos: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Validate a (predictions, MOS) pair and return them as float64 arrays ``(N,)``."""
    p, m = score_vectors(pred=pred, mos=mos)
    return p, m


def _undefined(p: NDArray[np.float64], m: NDArray[np.float64], what: str) -> bool:
    """True (with a logged warning) when a correlation of ``p`` and ``m`` is undefined."""
    if p.size < MIN_VIDEOS:
        log.warning("%s of %d video(s) is NaN: need at least %d", what, p.size, MIN_VIDEOS)
        return True
    for name, a in (("predictions", p), ("MOS", m)):
        if np.ptp(a) == 0:
            log.warning("%s is NaN: the %s are constant (%g)", what, name, a[0])
            return True
    return False


def srcc(pred: ArrayLike, mos: ArrayLike) -> float:
    """Spearman rank-order correlation (Liu et al., CVPR 2024, Eq. S2), ties given their
    average rank.

    ``pred``, ``mos``: ``(N,)``. Returns a value in [-1, 1] (unitless), NaN when undefined.
    """
    p, m = _as_scores(pred, mos)
    if _undefined(p, m, "SRCC"):
        return float("nan")
    return float(stats.spearmanr(p, m).statistic)


def krocc(pred: ArrayLike, mos: ArrayLike) -> float:
    """Kendall rank-order correlation (Liu et al., CVPR 2024, Eq. S3), tau-b variant (scipy's
    default).

    Without ties tau-b equals Eq. S3's ``2 (N_con - N_dis) / (N (N - 1))``; with ties it
    corrects the denominator. ``pred``, ``mos``: ``(N,)``. Returns [-1, 1], NaN when undefined.
    """
    p, m = _as_scores(pred, mos)
    if _undefined(p, m, "KROCC"):
        return float("nan")
    return float(stats.kendalltau(p, m).statistic)


def logistic4(x: ArrayLike, b1: float, b2: float, b3: float, b4: float) -> NDArray[np.float64]:
    """The VQEG 4-parameter logistic ``(b1 - b2) / (1 + exp(-(x - b3) / |b4|)) + b2``.

    ``b1``/``b2`` are the upper/lower asymptotes (MOS units), ``b3`` the midpoint and ``|b4|``
    the slope scale (prediction units). Evaluated with ``expit`` so large arguments do not overflow.
    """
    x = np.asarray(x, dtype=np.float64)
    scale = max(abs(b4), np.finfo(np.float64).tiny)
    return (b1 - b2) * special.expit((x - b3) / scale) + b2


def logistic4_fit(pred: ArrayLike, mos: ArrayLike) -> NDArray[np.float64]:
    """Fit :func:`logistic4` mapping predictions to MOS by least squares; returns ``[b1, b2, b3, b4]``.

    Initialisation (the common VQA practice, made scale-free): ``b1 = max(mos)``,
    ``b2 = min(mos)``, ``b3 = mean(pred)``, ``b4 = std(pred)``, with ``b1`` and ``b2`` swapped
    when predictions and MOS are negatively correlated (a lower-is-better model). The fit runs
    :func:`scipy.optimize.curve_fit` (Levenberg-Marquardt, ``maxfev=10000``) on standardised
    predictions for good conditioning; the parameters are returned in the original units.

    Fallbacks (each logs a warning), so that the result is always usable as
    ``logistic4(x, *params)``:

    * fewer than 5 videos, a failed fit, non-finite parameters, or a fit worse than the best
      line (a local optimum) -> the least-squares *linear*
      map, expressed as a logistic in its linear regime (``b3 = mean(pred)``,
      ``|b4| = 1e6 * std(pred)``, asymptotes chosen so slope and intercept match; the deviation
      from the straight line is about 1e-9 of the MOS spread or less);
    * constant predictions -> the constant map ``mean(mos)`` (``b1 = b2 = mean(mos)``).

    ``pred``, ``mos``: ``(N,)``. Returns ``(4,)`` float64.
    """
    p, m = _as_scores(pred, mos)
    mu, sd = float(p.mean()), float(p.std())
    if sd == 0:
        log.warning("logistic fit: predictions are constant; mapping every video to mean(MOS)")
        c = float(m.mean())
        return np.array([c, c, mu, 1.0])
    if p.size < MIN_FIT_POINTS:
        log.warning("logistic fit needs at least %d videos, got %d; using a linear map", MIN_FIT_POINTS, p.size)
        return _linear_as_logistic(p, m)
    z = (p - mu) / sd
    lo, hi = float(m.min()), float(m.max())
    r = np.corrcoef(p, m)[0, 1] if np.ptp(m) > 0 else 1.0
    p0 = [hi, lo, 0.0, 1.0] if r >= 0 else [lo, hi, 0.0, 1.0]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", optimize.OptimizeWarning)
            popt, _ = optimize.curve_fit(logistic4, z, m, p0=p0, maxfev=10000)
    except (RuntimeError, ValueError, optimize.OptimizeWarning) as exc:
        log.info("logistic fit failed (%s); using a linear map", exc)
        return _linear_as_logistic(p, m)
    if not np.all(np.isfinite(popt)) or popt[3] == 0:
        log.warning("logistic fit gave degenerate parameters %s; using a linear map", popt)
        return _linear_as_logistic(p, m)
    b1, b2, b3, b4 = (float(v) for v in popt)
    params = np.array([b1, b2, mu + sd * b3, sd * abs(b4)])
    linear = _linear_as_logistic(p, m)
    sse = float(np.sum((m - logistic4(p, *params)) ** 2))
    sse_linear = float(np.sum((m - logistic4(p, *linear)) ** 2))
    if sse > sse_linear * (1 + 1e-9) + 1e-300:  # a local optimum worse than the line the logistic contains
        log.info("logistic fit ended in a local optimum worse than a line; using the linear map")
        return linear
    return params


#: How many prediction standard deviations the linear-fallback logistic's scale spans.
_LINEAR_SPAN = 1e6


def _linear_as_logistic(p: NDArray[np.float64], m: NDArray[np.float64]) -> NDArray[np.float64]:
    """Least-squares line ``m ~ a p + c`` as logistic parameters in the logistic's linear regime.

    Near its midpoint ``expit(u) ~ 1/2 + u/4``, so with ``b4 = S`` the logistic is
    ``(b1 + b2)/2 + (b1 - b2)(x - b3)/(4 S)``: match slope ``a`` and the value at ``b3``.
    """
    a, c = np.polyfit(p, m, 1)
    b3 = float(p.mean())
    s = _LINEAR_SPAN * float(p.std())
    mid, half = a * b3 + c, 2.0 * a * s
    return np.array([mid + half, mid - half, b3, s])


def _fitted(p: NDArray[np.float64], m: NDArray[np.float64]) -> NDArray[np.float64]:
    return logistic4(p, *logistic4_fit(p, m))


def plcc(pred: ArrayLike, mos: ArrayLike, fit: bool = False) -> float:
    """Pearson linear correlation (Liu et al., CVPR 2024, Eq. S4), optionally after the
    logistic mapping.

    ``pred``, ``mos``: ``(N,)``. ``fit=True`` first maps ``pred`` with :func:`logistic4_fit`.
    Returns [-1, 1] (unitless), NaN when undefined (fewer than 3 videos or a constant input).
    """
    p, m = _as_scores(pred, mos)
    if _undefined(p, m, "PLCC"):
        return float("nan")
    x = _fitted(p, m) if fit else p
    if np.ptp(x) == 0:
        log.warning("PLCC is NaN: the fitted predictions are constant")
        return float("nan")
    return float(stats.pearsonr(x, m).statistic)


def rmse(pred: ArrayLike, mos: ArrayLike, fit: bool = False) -> float:
    """Root-mean-square error ``sqrt(mean((mos - pred)^2))`` (Liu et al., CVPR 2024, Eq. S1),
    in MOS units.

    Raw RMSE only makes sense when predictions are on the MOS scale; ``fit=True`` maps them with
    :func:`logistic4_fit` first (the usual reported number). ``pred``, ``mos``: ``(N,)``.
    """
    p, m = _as_scores(pred, mos)
    x = _fitted(p, m) if fit else p
    return float(np.sqrt(np.mean((m - x) ** 2)))


def correlations(pred: ArrayLike, mos: ArrayLike) -> dict[str, Any]:
    """All agreement metrics at once: ``srcc, krocc, plcc, plcc_fit, rmse, rmse_fit, n``.

    ``pred``, ``mos``: ``(N,)``. The logistic fit is computed once and shared by ``plcc_fit``
    and ``rmse_fit``. Values are floats (NaN when undefined, see the module docstring); ``n`` is N.
    """
    p, m = _as_scores(pred, mos)
    fitted = _fitted(p, m)
    out: dict[str, Any] = {"srcc": srcc(p, m), "krocc": krocc(p, m), "plcc": plcc(p, m)}
    if _undefined(p, m, "PLCC (fitted)") or np.ptp(fitted) == 0:
        out["plcc_fit"] = float("nan")
    else:
        out["plcc_fit"] = float(stats.pearsonr(fitted, m).statistic)
    out["rmse"] = float(np.sqrt(np.mean((m - p) ** 2)))
    out["rmse_fit"] = float(np.sqrt(np.mean((m - fitted) ** 2)))
    out["n"] = int(p.size)
    return out
