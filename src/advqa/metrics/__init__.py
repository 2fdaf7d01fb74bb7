"""Metrics: agreement with MOS, robustness to attacks, and perturbation size.

* :mod:`advqa.metrics.correlation`: SRCC, KROCC, PLCC, RMSE (raw and after the 4-parameter
  logistic mapping), ``correlations`` for all at once. Inputs ``(N,)`` scores.
* :mod:`advqa.metrics.robustness`: the boundary targets (Eq. 7) and R (Eq. 6) of Zhang, Ran,
  Tang, Wang, "Vulnerabilities in Video Quality Assessment Models: The Challenge of Adversarial
  Attacks" (NeurIPS 2023); R with bounds (Eq. S5) of Liu et al., "Defense Against Adversarial
  Attacks on No-Reference Image Quality Models with Gradient Norm Regularization" (CVPR 2024);
  the MSU benchmark's scores (gains, robustness, Wasserstein, energy; ``msu_scores`` with 95%
  t-intervals) of Antsiferova et al., "Comparing the Robustness of Modern No-Reference Image- and
  Video-Quality Metrics to Adversarial Attacks" (AAAI 2024); bootstrap intervals for the SRCC /
  PLCC change an attack causes (``correlation_change``).
* :mod:`advqa.metrics.distortion`: Linf, pixel-level L2, PSNR, SSIM between clean and
  adversarial videos ``(B, T, 3, H, W)`` or ``(T, 3, H, W)`` in [0, 1].
"""
from __future__ import annotations

from advqa.metrics.correlation import correlations, krocc, logistic4, logistic4_fit, plcc, rmse, srcc
from advqa.metrics.distortion import linf, pixel_l2, psnr, ssim
from advqa.metrics.robustness import (
    Interval,
    absolute_gain,
    boundary_targets,
    correlation_change,
    energy_score,
    mean_interval,
    minmax_scale,
    msu_scores,
    r_score,
    r_score_bounds,
    relative_gain,
    robustness_score,
    wasserstein_score,
)

__all__ = [
    "Interval",
    "absolute_gain",
    "boundary_targets",
    "correlation_change",
    "correlations",
    "energy_score",
    "krocc",
    "linf",
    "logistic4",
    "logistic4_fit",
    "mean_interval",
    "minmax_scale",
    "msu_scores",
    "pixel_l2",
    "plcc",
    "psnr",
    "r_score",
    "r_score_bounds",
    "relative_gain",
    "rmse",
    "robustness_score",
    "srcc",
    "ssim",
    "wasserstein_score",
]
