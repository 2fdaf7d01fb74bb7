"""Metrics: agreement with MOS, robustness to attacks, and perturbation size.

* :mod:`advqa.metrics.correlation`: SRCC, KROCC, PLCC, RMSE (raw and after the 4-parameter
  logistic mapping), ``correlations`` for all at once. Inputs ``(N,)`` scores.
* :mod:`advqa.metrics.robustness`: paper 000's boundary targets (Eq. 7) and R (Eq. 6), paper
  003's R with bounds (Eq. S5), paper 004's MSU scores (gains, robustness, Wasserstein, energy).
* :mod:`advqa.metrics.distortion`: Linf, pixel-level L2, PSNR, SSIM between clean and
  adversarial videos ``(B, T, 3, H, W)`` or ``(T, 3, H, W)`` in [0, 1].
"""
from __future__ import annotations

from advqa.metrics.correlation import correlations, krocc, logistic4, logistic4_fit, plcc, rmse, srcc
from advqa.metrics.distortion import linf, pixel_l2, psnr, ssim
from advqa.metrics.robustness import (
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

__all__ = [
    "absolute_gain",
    "boundary_targets",
    "correlations",
    "energy_score",
    "krocc",
    "linf",
    "logistic4",
    "logistic4_fit",
    "minmax_scale",
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
