"""Robustness of a quality model to an attack, from its clean and attacked scores.

Inputs are array-likes of shape ``(N,)``, one entry per video, in the model's own score units
unless said otherwise. Three families:

* Zhang, Ran, Tang, Wang, "Vulnerabilities in Video Quality Assessment Models: The Challenge of
  Adversarial Attacks", NeurIPS 2023: the boundary targets of Eq. 7 (:func:`boundary_targets`)
  and the R score of Eq. 6 (:func:`r_score`);
* Liu, Yang, Li, Ding, Jiang, "Defense Against Adversarial Attacks on No-Reference Image Quality
  Models with Gradient Norm Regularization", CVPR 2024 (supplement, Eq. S5): R with score-range
  bounds (:func:`r_score_bounds`);
* Antsiferova et al., "Comparing the Robustness of Modern No-Reference Image- and Video-Quality
  Metrics to Adversarial Attacks", AAAI 2024 (the MSU benchmark): scores min-max scaled with the
  clean scores of the evaluated set (:func:`minmax_scale`), then absolute and relative gain,
  robustness score, Wasserstein and energy-distance scores.

Conventions: NaN/inf entries and length mismatches raise :class:`~advqa.errors.InputError`
naming the first bad index. A zero score shift is regularised by a small ``eps`` in the
denominator of the log-ratio scores, as the reference code does (so an unmoved video gives a
large finite value, never inf). The MSU scores are signed so that positive means "the attack
moved the score in the direction it wanted" when ``higher_is_better`` says which way is up
(the benchmark's attacks push quality up; pass ``higher_is_better=False`` for a
lower-is-better model, like the reference ``inverse_sign``).
"""
from __future__ import annotations

import logging

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from advqa.errors import InputError
from advqa.metrics._arrays import score_vector, score_vectors

log = logging.getLogger(__name__)

__all__ = [
    "absolute_gain",
    "boundary_targets",
    "energy_score",
    "minmax_scale",
    "r_score",
    "r_score_bounds",
    "relative_gain",
    "robustness_score",
    "wasserstein_score",
]


# --------------------------------------------------------- Zhang et al. (NeurIPS 2023)


def boundary_targets(mos: ArrayLike | None, clean_scores: ArrayLike, mos_max: float | None = None,
                     *, higher_is_better: bool = True) -> NDArray[np.float64]:
    """Per-video attack targets of Zhang et al. (NeurIPS 2023), Eq. 7 (the "scaled boundary"), in model units.

    With ``q = mos / mos_max`` (normalised MOS) and ``q_hat`` the model's clean scores::

        b_i      = 0 if q_i >= median(q) else 1          (high quality -> push to 0, and back)
        target_i = (b_i - mean(q)) / std(q) * std(q_hat) + mean(q_hat)

    Statistics are over the given (attacked) set; ``std`` is the population std (``ddof=0``), as
    in the official AttackVQA code. ``mos_max`` is the largest MOS of the whole *dataset* (the
    official code divides by it); by default the largest of ``mos``.

    Without MOS (``mos=None``) the clean scores stand in for it: ``q = clean / mos_max`` with
    ``mos_max`` defaulting to ``max(clean)``, so the targets are 0 and ``max(clean)``
    (pass the model's score-range top as ``mos_max`` to aim at the range instead).

    ``higher_is_better=False`` (an extension for lower-is-better models, e.g. a distortion
    score) mirrors the mapping about ``mean(q_hat)``, so the targets still point away from the
    true quality. Args: ``mos`` ``(N,)`` or None, ``clean_scores`` ``(N,)``. Returns ``(N,)``.

    Raises InputError when fewer than 2 videos are given or all normalised MOS are equal (the
    mapping divides by ``std(q)``): give explicit targets (e.g. the score-range ends) instead.
    """
    if mos is None:
        (clean,) = score_vectors(clean_scores=clean_scores)
        m = clean
    else:
        m, clean = score_vectors(mos=mos, clean_scores=clean_scores)
    top = float(np.max(m)) if mos_max is None else float(mos_max)
    if not np.isfinite(top) or top <= 0:
        raise InputError(f"mos_max must be a positive number (the dataset's largest MOS), got {top}; "
                         "Eq. 7 normalises MOS to q = MOS / max MOS")
    q = m / top
    if q.size < 2:
        raise InputError("Eq. 7 boundary targets need at least 2 videos (it uses the spread of the "
                         "attacked set); pass explicit targets for a single video")
    sq = float(q.std())
    if sq == 0:
        raise InputError("Eq. 7 boundary targets are undefined: every video has the same MOS "
                         f"({m[0]:g}); pass explicit targets instead")
    b = np.where(q >= np.median(q), 0.0, 1.0)
    z = (b - q.mean()) / sq
    if not higher_is_better:
        z = -z
    return z * float(clean.std()) + float(clean.mean())


def r_score(clean: ArrayLike, adv: ArrayLike, target: ArrayLike, *, eps: float = 1e-12,
            reduce: bool = True) -> float | NDArray[np.float64]:
    """R of Zhang et al. (NeurIPS 2023), Eq. 6: mean over videos of
    ``ln(|clean - target| / (|adv - clean| + eps))``.

    ``clean``, ``adv``: the model's scores before and after the attack ``(N,)``; ``target``: the
    boundary each video was pushed to (:func:`boundary_targets`), ``(N,)`` or a scalar. Natural
    log, ``eps = 1e-12`` as in the official code: a video whose score did not move contributes
    ``ln(|clean - target| / 1e-12)`` (27.63 plus the natural log of that distance). Higher is more robust;
    about 0 means the attack reached its target; a clean score already equal to its target gives
    ``-inf``. ``reduce=False`` returns the ``(N,)`` terms.
    """
    c, a = score_vectors(clean=clean, adv=adv)
    t = score_vector("target", target)
    if t.size == 1:
        t = np.full_like(c, t[0])
    elif t.size != c.size:
        raise InputError(f"target must be a scalar or have one entry per video ({c.size}), got {t.size}")
    with np.errstate(divide="ignore"):  # clean == target gives -inf: there was nothing to attack
        terms = np.log(np.abs(c - t) / (np.abs(a - c) + eps))
    return float(terms.mean()) if reduce else terms


# --------------------------------------------------------- Liu et al. (CVPR 2024)


def r_score_bounds(clean: ArrayLike, adv: ArrayLike, beta1: float, beta2: float, *,
                   base: float = 10.0, eps: float = 1e-12, reduce: bool = True) -> float | NDArray[np.float64]:
    """R of Liu et al. (CVPR 2024), Eq. S5 (after Zhang et al., NeurIPS 2022), with score-range bounds.

    ``mean_i log( max(beta1 - f(x_i), f(x_i) - beta2) / (|f(x_i) - f(x'_i)| + eps) )`` where
    ``f(x_i)`` = ``clean`` and ``f(x'_i)`` = ``adv`` ``(N,)``; ``beta1``/``beta2`` are the largest
    and smallest MOS (the score range: Liu et al. use 100 and 0). The numerator is the largest
    shift the score could still make. The paper writes "log" without a base; the default base
    10 follows the MSU benchmark's implementation of the same formula (``base=np.e`` gives the
    natural log). Higher is more robust. ``eps`` keeps an unmoved video finite.
    """
    if not beta1 > beta2:
        raise InputError(f"beta1 (the top of the score range) must exceed beta2, got {beta1} and {beta2}")
    if not base > 0 or base == 1:
        raise InputError(f"log base must be positive and not 1, got {base}")
    c, a = score_vectors(clean=clean, adv=adv)
    room = np.maximum(beta1 - c, c - beta2)
    terms = np.log(room / (np.abs(c - a) + eps)) / np.log(base)
    return float(terms.mean()) if reduce else terms


# --------------------------------------------------------- Antsiferova et al. (AAAI 2024, MSU)


def minmax_scale(x: ArrayLike, ref: ArrayLike) -> NDArray[np.float64]:
    """Scale ``x`` by the range of ``ref``: ``(x - min(ref)) / (max(ref) - min(ref))``.

    The MSU benchmark scales both clean and attacked scores with the *clean* scores of the
    evaluated set (so clean scores span [0, 1]; attacked ones may leave it). ``x``: ``(N,)``,
    ``ref``: ``(M,)``. When ``ref`` is constant (e.g. a single video) the scale is undefined:
    returns NaN values and logs a warning.
    """
    xv, rv = score_vector("x", x), score_vector("ref", ref)
    lo, hi = float(rv.min()), float(rv.max())
    if hi == lo:
        log.warning("min-max scaling is undefined: the reference (clean) scores are constant (%g)", lo)
        return np.full_like(xv, np.nan)
    return (xv - lo) / (hi - lo)


def _scaled(clean: ArrayLike, adv: ArrayLike, scale: bool) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    c, a = score_vectors(clean=clean, adv=adv)
    if scale:
        return minmax_scale(c, c), minmax_scale(a, c)
    return c, a


def _sign(higher_is_better: bool) -> float:
    return 1.0 if higher_is_better else -1.0


def absolute_gain(clean: ArrayLike, adv: ArrayLike, *, higher_is_better: bool = True, scale: bool = True,
                  reduce: bool = True) -> float | NDArray[np.float64]:
    """MSU absolute gain: ``mean(adv_s - clean_s)`` on min-max scaled scores (unitless).

    ``clean``, ``adv``: ``(N,)`` raw scores; ``scale=False`` uses them as given. Positive: the
    attack raised the predicted quality (sign flipped for ``higher_is_better=False``).
    ``reduce=False`` returns the ``(N,)`` per-video gains.
    """
    c, a = _scaled(clean, adv, scale)
    g = _sign(higher_is_better) * (a - c)
    return float(g.mean()) if reduce else g


def relative_gain(clean: ArrayLike, adv: ArrayLike, *, higher_is_better: bool = True, scale: bool = True,
                  reduce: bool = True) -> float | NDArray[np.float64]:
    """MSU relative gain: ``mean((adv_s - clean_s) / (clean_s + 1))`` on min-max scaled scores.

    The ``+ 1`` keeps the denominator in [1, 2] for scaled clean scores. ``clean``, ``adv``:
    ``(N,)``. Sign convention as :func:`absolute_gain`; ``reduce=False`` gives ``(N,)``.
    """
    c, a = _scaled(clean, adv, scale)
    g = _sign(higher_is_better) * (a - c) / (c + 1.0)
    return float(g.mean()) if reduce else g


def robustness_score(clean: ArrayLike, adv: ArrayLike, *, scale: bool = True, eps: float = 1e-6,
                     reduce: bool = True) -> float | NDArray[np.float64]:
    """MSU robustness score: ``mean(log10(max(1 - c, c) / (|c - a| + eps)))``, ``eps = 1e-6``.

    Eq. S5 of Liu et al. (CVPR 2024) with ``beta1 = 1``, ``beta2 = 0`` on min-max scaled scores ``c``
    (clean) and ``a`` (attacked), ``(N,)`` each. Higher is more robust; direction-free.
    ``reduce=False`` gives the ``(N,)`` per-video terms.
    """
    c, a = _scaled(clean, adv, scale)
    terms = np.log10(np.maximum(1.0 - c, c) / (np.abs(c - a) + eps))
    return float(terms.mean()) if reduce else terms


def wasserstein_score(clean: ArrayLike, adv: ArrayLike, *, higher_is_better: bool = True,
                      scale: bool = True) -> float:
    """MSU Wasserstein score: ``W1(clean_s, adv_s) * sign(mean(adv_s) - mean(clean_s))``.

    :func:`scipy.stats.wasserstein_distance` between the empirical distributions of the scaled
    clean and attacked scores ``(N,)``, signed by the direction of the mean shift (flipped for
    ``higher_is_better=False``). Unitless; 0 when the distributions are equal.
    """
    c, a = _scaled(clean, adv, scale)
    if np.isnan(c).any():
        return float("nan")
    return _sign(higher_is_better) * float(stats.wasserstein_distance(c, a)) * float(np.sign(a.mean() - c.mean()))


def energy_score(clean: ArrayLike, adv: ArrayLike, *, higher_is_better: bool = True,
                 scale: bool = True) -> float:
    """MSU energy-distance score: ``E(clean_s, adv_s) * sign(mean(adv_s) - mean(clean_s))``.

    :func:`scipy.stats.energy_distance` (``sqrt(2 E|X-Y| - E|X-X'| - E|Y-Y'|)``) between the
    scaled clean and attacked score distributions ``(N,)``, signed by the mean shift as
    :func:`wasserstein_score`. Unitless.
    """
    c, a = _scaled(clean, adv, scale)
    if np.isnan(c).any():
        return float("nan")
    return _sign(higher_is_better) * float(stats.energy_distance(c, a)) * float(np.sign(a.mean() - c.mean()))
