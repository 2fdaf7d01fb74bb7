"""How far an adversarial video is from its clean source: Linf, pixel-level L2, PSNR, SSIM.

Inputs are two torch tensors of the same shape, ``(B, T, 3, H, W)`` or ``(T, 3, H, W)``, RGB,
values in [0, 1] (``data_range`` says otherwise). Each metric is computed per video: a batch
``(B, T, 3, H, W)`` gives a float64 tensor ``(B,)``, a single video ``(T, 3, H, W)`` gives a
Python float. Computation runs in float64, a few frames at a time, without gradients (these
are reporting metrics; the attack budget itself is enforced by :class:`advqa.attacks.ThreatModel`).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from advqa.errors import InputError

__all__ = ["linf", "pixel_l2", "psnr", "ssim"]

#: ITU-R BT.601 luma weights for R, G, B (``Y = 0.299 R + 0.587 G + 0.114 B``).
BT601 = (0.299, 0.587, 0.114)
#: Pixel-planes processed at once: float64 temporaries stay around 128 MiB whatever the video's
#: length (a 300-frame 1080p video is never copied to float64 as a whole).
_CHUNK_PIXELS = 1 << 24


def _validate(clean: Tensor, adv: Tensor) -> bool:
    """Check shapes; return whether a batch ``(B, T, 3, H, W)`` (rather than one video) was given."""
    for name, x in (("clean", clean), ("adv", adv)):
        if not isinstance(x, Tensor):
            raise InputError(f"{name} must be a torch.Tensor shaped (B, T, 3, H, W) or (T, 3, H, W), "
                             f"got {type(x).__name__}")
        if x.ndim not in (4, 5) or x.shape[-3] != 3:
            raise InputError(f"{name} must be shaped (B, T, 3, H, W) or (T, 3, H, W), got {tuple(x.shape)}")
        if x.numel() == 0:
            raise InputError(f"{name} is empty: {tuple(x.shape)}")
    if clean.shape != adv.shape:
        raise InputError(f"clean and adv must have the same shape, got {tuple(clean.shape)} and {tuple(adv.shape)}")
    return clean.ndim == 5


def _frame_chunks(clean: Tensor, adv: Tensor, planes_per_frame: int = 3) -> Iterator[tuple[Tensor, Tensor]]:
    """Yield float64 ``(n, 3, H, W)`` chunks of the frames of all videos, in order, checked finite."""
    h, w = clean.shape[-2:]
    c = clean.detach().reshape(-1, 3, h, w)
    a = adv.detach().reshape(-1, 3, h, w)
    step = max(1, _CHUNK_PIXELS // (planes_per_frame * h * w))
    for i in range(0, c.shape[0], step):
        cc = c[i:i + step].to(torch.float64)
        ac = a[i:i + step].to(cc.device, torch.float64)
        for name, x in (("clean", cc), ("adv", ac)):
            if not bool(torch.isfinite(x).all()):
                raise InputError(f"{name} contains NaN or infinite values")
        yield cc, ac


def _per_frame(clean: Tensor, adv: Tensor, fn: Callable[[Tensor, Tensor], Tensor],
               planes_per_frame: int = 3) -> Tensor:
    """``fn`` applied to every frame pair, returned as ``(B, T)`` float64 (B = 1 for one video)."""
    b, t = (clean.shape[0], clean.shape[1]) if clean.ndim == 5 else (1, clean.shape[0])
    with torch.no_grad():
        values = torch.cat([fn(c, a) for c, a in _frame_chunks(clean, adv, planes_per_frame)])
    return values.reshape(b, t)


def _out(values: Tensor, batched: bool) -> Tensor | float:
    return values.cpu() if batched else float(values[0])


def linf(clean: Tensor, adv: Tensor) -> Tensor | float:
    """Largest absolute pixel change ``max |adv - clean|`` over the video, in [0, 1] units.

    ``(B, T, 3, H, W)`` -> ``(B,)``; ``(T, 3, H, W)`` -> float. Multiply by 255 for 8-bit levels.
    """
    batched = _validate(clean, adv)
    frame_max = _per_frame(clean, adv, lambda c, a: (a - c).abs().flatten(1).amax(dim=1))
    return _out(frame_max.amax(dim=1), batched)


def _frame_mse(c: Tensor, a: Tensor) -> Tensor:
    return (a - c).flatten(1).pow(2).mean(dim=1)


def pixel_l2(clean: Tensor, adv: Tensor) -> Tensor | float:
    """Pixel-level L2 of Zhang, Ran, Tang, Wang, "Vulnerabilities in Video Quality Assessment
    Models: The Challenge of Adversarial Attacks" (NeurIPS 2023): mean over frames of
    ``||delta_t||_2 / sqrt(3 H W)``, [0, 1] units.

    ``||delta_t||_2 / sqrt(3HW)`` is the RMS of frame ``t``'s perturbation over its pixel-channels,
    so a budget of 1/255 bounds the per-frame RMS (official AttackVQA code).
    ``(B, T, 3, H, W)`` -> ``(B,)``; ``(T, 3, H, W)`` -> float.
    """
    batched = _validate(clean, adv)
    return _out(_per_frame(clean, adv, _frame_mse).sqrt().mean(dim=1), batched)


def psnr(clean: Tensor, adv: Tensor, data_range: float = 1.0) -> Tensor | float:
    """Peak signal-to-noise ratio over the whole video, in dB: ``10 log10(data_range^2 / MSE)``.

    MSE is the mean over all frames, channels and pixels of one video (not a mean of per-frame
    PSNRs). Identical videos give ``inf``. ``(B, T, 3, H, W)`` -> ``(B,)``; ``(T, 3, H, W)`` -> float.
    """
    if not data_range > 0:
        raise InputError(f"data_range must be positive (1.0 for [0, 1] videos, 255 for 8-bit), got {data_range}")
    batched = _validate(clean, adv)
    mse = _per_frame(clean, adv, _frame_mse).mean(dim=1)  # equal-sized frames: mean of means
    out = torch.where(mse > 0, 10.0 * torch.log10(data_range ** 2 / mse.clamp_min(1e-300)),
                      torch.full_like(mse, math.inf))
    return _out(out, batched)


def _gaussian_window(size: int, sigma: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    x = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def _ssim_maps(x: Tensor, y: Tensor, g: Tensor, c1: float, c2: float) -> Tensor:
    """Mean SSIM of each image in ``(N, 1, H, W)`` pairs (valid-region Gaussian statistics) -> ``(N,)``."""
    k = g.numel()
    taps = [float(v) for v in g]
    # The five local moments, blurred by the separable Gaussian over the valid region only.
    # Written as k shifted multiply-adds per axis: exact, and on CPU about 10x faster than a
    # float64 conv2d (which has no fast kernel for an 11 x 1 filter).
    stats = torch.cat([x, y, x * x, y * y, x * y], dim=1)
    for dim in (-1, -2):
        n = stats.shape[dim] - k + 1
        out = stats.narrow(dim, 0, n) * taps[0]
        for i in range(1, k):
            out.add_(stats.narrow(dim, i, n), alpha=taps[i])
        stats = out
    mx, my, exx, eyy, exy = stats.unbind(dim=1)
    sxx = exx - mx * mx
    syy = eyy - my * my
    sxy = exy - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return s.flatten(1).mean(dim=1)


def ssim(clean: Tensor, adv: Tensor, *, channel: str = "luma", data_range: float = 1.0,
         win_size: int = 11, sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03) -> Tensor | float:
    """Structural similarity (Wang, Bovik, Sheikh, Simoncelli 2004), mean over frames.

    Standard settings: an ``11 x 11`` Gaussian window with ``sigma = 1.5``, ``K1 = 0.01``,
    ``K2 = 0.03``, ``C1 = (K1 L)^2``, ``C2 = (K2 L)^2`` with ``L = data_range``, population
    (biased) local variances. The SSIM map is averaged over the *valid* region (pixels whose
    window lies inside the frame), matching
    ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False)``, which pads and then crops the same border.

    ``channel="luma"`` (default) compares BT.601 luma ``Y = 0.299 R + 0.587 G + 0.114 B``
    computed from the [0, 1] RGB values (full range, no 16-235 offset); ``channel="rgb"``
    averages the SSIM of the three colour channels. Per video: SSIM of each frame, then the
    mean over frames. Frames smaller than the window raise InputError. ``(B, T, 3, H, W)`` ->
    ``(B,)``; ``(T, 3, H, W)`` -> float. 1 means identical.
    """
    if channel not in ("luma", "rgb"):
        raise InputError(f"ssim channel must be 'luma' or 'rgb', got {channel!r}")
    if not data_range > 0:
        raise InputError(f"data_range must be positive, got {data_range}")
    if win_size < 1 or win_size % 2 == 0:
        raise InputError(f"win_size must be a positive odd number, got {win_size}")
    batched = _validate(clean, adv)
    h, w = clean.shape[-2:]
    if h < win_size or w < win_size:
        raise InputError(f"frames of {h}x{w} pixels are smaller than the {win_size}x{win_size} SSIM window")
    g = _gaussian_window(win_size, sigma, torch.float64, clean.device)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    luma = torch.tensor(BT601, dtype=torch.float64, device=clean.device).view(1, 3, 1, 1)

    def frame_ssim(x: Tensor, y: Tensor) -> Tensor:
        if channel == "luma":
            return _ssim_maps((x * luma).sum(dim=1, keepdim=True), (y * luma).sum(dim=1, keepdim=True),
                              g, c1, c2)
        n = x.shape[0]
        s = _ssim_maps(x.reshape(n * 3, 1, h, w), y.reshape(n * 3, 1, h, w), g, c1, c2)
        return s.view(n, 3).mean(dim=1)

    # 5 moments (x2 for the blur's output) per plane are in flight while blurring
    per_frame = _per_frame(clean, adv, frame_ssim, planes_per_frame=10 * (1 if channel == "luma" else 3))
    return _out(per_frame.mean(dim=1), batched)
