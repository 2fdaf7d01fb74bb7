"""Metrics: agreement with MOS, robustness to attacks, and perturbation size.

* :mod:`advqa.metrics.correlation`: SRCC, KROCC, PLCC, RMSE (raw and after the 4-parameter
  logistic mapping), ``correlations`` for all at once. Inputs ``(N,)`` scores.
* :mod:`advqa.metrics.robustness`: the boundary targets (Eq. 7) and R (Eq. 6) of Zhang, Ran,
  Tang, Wang, "Vulnerabilities in Video Quality Assessment Models: The Challenge of Adversarial
  Attacks" (NeurIPS 2023); R with bounds (Eq. S5) of Liu et al., "Defense Against Adversarial
  Attacks on No-Reference Image Quality Models with Gradient Norm Regularization" (CVPR 2024);
  the MSU benchmark's scores (gains, robustness, Wasserstein, energy) of Antsiferova et al.,
  "Comparing the Robustness of Modern No-Reference Image- and Video-Quality Metrics to
  Adversarial Attacks" (AAAI 2024).
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
