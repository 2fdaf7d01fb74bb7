"""Just-noticeable-difference (JND) maps of videos: how much each pixel may change unnoticed.

Spatial JND: the nonlinear additivity model for masking (NAMM) of Yang, Ling, Lu, Ong, Yao,
"Just noticeable distortion model and its applications in video coding", Signal Processing:
Image Communication 20(7), 2005, on the BT.601 luma ``Y`` of each frame (0-255 scale):

- background luminance ``bg``: the 5x5 weighted mean of Chou & Li (1995), weights
  ``B = [[1,1,1,1,1],[1,2,2,2,1],[1,2,0,2,1],[1,2,2,2,1],[1,1,1,1,1]] / 32``;
- luminance adaptation (Chou & Li, "A perceptually tuned subband image coder based on the
  measure of just-noticeable-distortion profile", IEEE TCSVT 5(6), 1995):
  ``T_l = 17 (1 - sqrt(bg / 127)) + 3`` for ``bg <= 127``, else ``3 / 128 (bg - 127) + 3``;
- texture masking (Yang et al. Eq. 5-6): ``T_t = eta * G * W_e`` with ``eta = 0.117``, ``G`` the
  largest absolute weighted mean of Chou & Li's four directional 5x5 high-pass operators (each
  divided by 16), and ``W_e`` an edge weight that protects edges (0.1 on edge pixels, 1 elsewhere,
  smoothed by a 7x7 Gaussian of sigma 0.8). Yang et al. find edges with Canny's detector; here an
  edge pixel is one whose Sobel gradient magnitude is at least ``edge_threshold`` (0.5) of the
  frame's largest (Canny's normalised high threshold, without its non-maximum suppression and
  hysteresis). ``edge_weight=None`` turns the edge protection off (``W_e = 1``);
- NAMM (Yang et al. Eq. 4): ``JND_s = T_l + T_t - C * min(T_l, T_t)`` with ``C = 0.3`` for luma.

Temporal JND: the inter-frame weighting of Chou & Chen, "A perceptually optimized 3-D subband
codec for video communication over wireless channels", IEEE TCSVT 6(2), 1996, in the form of
Yang et al. 2005 Eq. 12: ``JND = f(ild) * JND_s`` with the inter-frame luminance difference
``ild = (Y_t - Y_{t-1} + bg_t - bg_{t-1}) / 2`` and
``f = max(tau, H/2 exp(-0.15/(2 pi) (ild + 255)) + tau)`` for ``ild <= 0``,
``f = max(tau, L/2 exp(-0.15/(2 pi) (255 - ild)) + tau)`` for ``ild > 0``, ``H = 8``, ``L = 3.2``,
``tau = 0.8``: about 0.81 where nothing changes, up to 4.8 (bright to dark) and 2.4 (dark to
bright) at the largest changes. The first frame has no predecessor and is weighted as static.

Maps are returned in [0, 1] pixel units (divided by 255), one channel (the luma threshold). The
same threshold is used for each of R, G, B: a change of at most ``JND`` on every channel changes
the luma by at most ``JND`` (BT.601 weights are positive and sum to 1).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from advqa.errors import InputError
from advqa.models.base import check_video

#: BT.601 luma weights (full range, no 16-235 offset).
BT601 = (0.299, 0.587, 0.114)
#: Chou & Li's background-luminance weights (divided by 32).
BACKGROUND = ((1, 1, 1, 1, 1), (1, 2, 2, 2, 1), (1, 2, 0, 2, 1), (1, 2, 2, 2, 1), (1, 1, 1, 1, 1))
#: Chou & Li's four directional high-pass operators (each divided by 16).
DIRECTIONAL = (
    ((0, 0, 0, 0, 0), (1, 3, 8, 3, 1), (0, 0, 0, 0, 0), (-1, -3, -8, -3, -1), (0, 0, 0, 0, 0)),
    ((0, 0, 1, 0, 0), (0, 8, 3, 0, 0), (1, 3, 0, -3, -1), (0, 0, -3, -8, 0), (0, 0, -1, 0, 0)),
    ((0, 0, 1, 0, 0), (0, 0, 3, 8, 0), (-1, -3, 0, 3, 1), (0, -8, -3, 0, 0), (0, 0, -1, 0, 0)),
    ((0, 1, 0, -1, 0), (0, 3, 0, -3, 0), (0, 8, 0, -8, 0), (0, 3, 0, -3, 0), (0, 1, 0, -1, 0)),
)
#: Yang et al.'s texture-masking weight for luma.
ETA = 0.117
#: Yang et al.'s NAMM overlap constant for luma.
C_LT = 0.3
#: Chou & Chen's temporal weighting constants.
TEMPORAL_H, TEMPORAL_L, TEMPORAL_TAU = 8.0, 3.2, 0.8


def luma255(frames: Tensor) -> Tensor:
    """BT.601 luma on the 0-255 scale: ``(N, 3, H, W)`` in [0, 1] -> ``(N, 1, H, W)``."""
    w = torch.tensor(BT601, dtype=frames.dtype, device=frames.device).view(1, 3, 1, 1)
    return (frames * w).sum(dim=1, keepdim=True) * 255.0


def _conv(x: Tensor, kernel: Tensor) -> Tensor:
    """Same-size 2-D correlation with replicate padding: ``(N, 1, H, W)`` x ``(K, 1, k, k)``."""
    p = kernel.shape[-1] // 2
    return F.conv2d(F.pad(x, (p, p, p, p), mode="replicate"), kernel)


def background_luminance(y: Tensor) -> Tensor:
    """Chou & Li's 5x5 weighted mean background luminance of luma ``y`` ``(N, 1, H, W)`` (0-255)."""
    k = torch.tensor(BACKGROUND, dtype=y.dtype, device=y.device).view(1, 1, 5, 5) / 32.0
    return _conv(y, k)


def luminance_adaptation(bg: Tensor) -> Tensor:
    """Chou & Li's visibility threshold of background luminance ``bg`` (0-255 scale)."""
    dark = 17.0 * (1.0 - torch.sqrt(bg.clamp(0.0, 255.0) / 127.0)) + 3.0
    bright = 3.0 / 128.0 * (bg - 127.0) + 3.0
    return torch.where(bg <= 127.0, dark, bright)


def max_gradient(y: Tensor) -> Tensor:
    """``G``: the largest absolute response of the four directional operators (0-255 scale)."""
    k = torch.tensor(DIRECTIONAL, dtype=y.dtype, device=y.device).view(4, 1, 5, 5) / 16.0
    return _conv(y, k).abs().amax(dim=1, keepdim=True)


def edge_weight_map(y: Tensor, edge_weight: float = 0.1, edge_threshold: float = 0.5) -> Tensor:
    """``W_e``: ``edge_weight`` on edge pixels, 1 elsewhere, smoothed by a 7x7 Gaussian (sigma 0.8).

    Edge pixels: Sobel gradient magnitude at least ``edge_threshold`` times the frame's maximum
    (a frame without any gradient has no edges).
    """
    sx = torch.tensor(((-1, 0, 1), (-2, 0, 2), (-1, 0, 1)), dtype=y.dtype, device=y.device)
    k = torch.stack([sx, sx.t()]).view(2, 1, 3, 3)
    mag = _conv(y, k).pow(2).sum(dim=1, keepdim=True).sqrt()
    top = mag.flatten(1).amax(dim=1).view(-1, 1, 1, 1)
    edges = (mag >= edge_threshold * top) & (top > 0)
    w = torch.where(edges, torch.full_like(y, edge_weight), torch.ones_like(y))
    x = torch.arange(7, dtype=y.dtype, device=y.device) - 3.0
    g = torch.exp(-x * x / (2 * 0.8 ** 2))
    g = (g[:, None] * g[None, :]) / g.sum() ** 2
    return _conv(w, g.view(1, 1, 7, 7))


def spatial_jnd(frames: Tensor, *, edge_weight: float | None = 0.1, edge_threshold: float = 0.5) -> Tensor:
    """Yang et al.'s NAMM spatial JND of frames ``(N, 3, H, W)`` in [0, 1] -> ``(N, 1, H, W)``, 0-255 scale."""
    y = luma255(frames)
    t_l = luminance_adaptation(background_luminance(y))
    t_t = ETA * max_gradient(y)
    if edge_weight is not None:
        t_t = t_t * edge_weight_map(y, edge_weight, edge_threshold)
    return t_l + t_t - C_LT * torch.minimum(t_l, t_t)


def temporal_weight(ild: Tensor) -> Tensor:
    """Chou & Chen's temporal scale factor of the inter-frame luminance difference ``ild`` (0-255)."""
    a = 0.15 / (2.0 * math.pi)
    neg = TEMPORAL_H / 2.0 * torch.exp(-a * (ild + 255.0)) + TEMPORAL_TAU
    pos = TEMPORAL_L / 2.0 * torch.exp(-a * (255.0 - ild)) + TEMPORAL_TAU
    return torch.where(ild <= 0, neg, pos).clamp_min(TEMPORAL_TAU)


def jnd_map(video: Tensor, *, temporal: bool = True, edge_weight: float | None = 0.1,
            edge_threshold: float = 0.5) -> Tensor:
    """The JND map of ``video`` ``(B, T, 3, H, W)`` in [0, 1] -> ``(B, T, 1, H, W)`` in [0, 1] units.

    Spatial NAMM threshold of each frame, times Chou & Chen's temporal factor when ``temporal``
    (frame 0 weighted as static). Computed one frame at a time (memory flat in ``T``); no gradient.
    """
    check_video(video)
    if edge_weight is not None and not 0 <= edge_weight <= 1:
        raise InputError(f"edge_weight must be in [0, 1] or None (no edge protection), got {edge_weight!r}")
    if not 0 < edge_threshold <= 1:
        raise InputError(f"edge_threshold must be in (0, 1] (a fraction of the frame's largest gradient), "
                         f"got {edge_threshold!r}")
    b, t, _, h, w = video.shape
    out = torch.empty(b, t, 1, h, w, dtype=video.dtype, device=video.device)
    prev_y = prev_bg = None
    with torch.no_grad():
        for i in range(t):
            frames = video[:, i].to(torch.float64)
            j = spatial_jnd(frames, edge_weight=edge_weight, edge_threshold=edge_threshold)
            if temporal:
                y = luma255(frames)
                bg = background_luminance(y)
                ild = torch.zeros_like(y) if prev_y is None else 0.5 * (y - prev_y + bg - prev_bg)
                j = j * temporal_weight(ild)
                prev_y, prev_bg = y, bg
            out[:, i] = (j / 255.0).clamp(0.0, 1.0).to(video.dtype)
    return out


__all__ = ["BACKGROUND", "BT601", "C_LT", "DIRECTIONAL", "ETA", "TEMPORAL_H", "TEMPORAL_L", "TEMPORAL_TAU",
           "background_luminance", "edge_weight_map", "jnd_map", "luma255", "luminance_adaptation", "max_gradient",
           "spatial_jnd", "temporal_weight"]
