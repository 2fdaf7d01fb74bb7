"""Pixel-domain transforms: Gaussian blur, median filter, additive Gaussian noise, resizing,
bit-depth reduction.

Every function takes a float video ``(B, T, 3, H, W)`` in [0, 1] or images ``(B, 3, H, W)`` and
returns the same layout, dtype and device (:func:`resize` changes ``H, W`` as asked). Outputs are
clamped to [0, 1]. ``quantize=True`` rounds the result to the 8-bit grid (``k / 255``), as a
video stored in 8 bits holds it (the demo set's ladder stores its rungs this way, and
:func:`down_up_resize` then rounds its intermediate small video too).

The arithmetic runs on the 0-255 scale, so a video on the 8-bit grid enters exactly as its
integers; with ``quantize=True`` the result is bit-identical to the same operation on uint8 frames.

Gradients: :func:`gaussian_noise` and :func:`resize` / :func:`down_up_resize` without
``quantize`` are differentiable (torch operations), and so is :func:`median_filter` almost
everywhere (each output is one selected input pixel, which gets the whole gradient);
:func:`gaussian_blur` (scipy) and :func:`bit_depth` (rounding) are not, so a defence built on
them supplies its own gradient estimate (e.g. BPDA, identity through the transform).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from advqa.errors import InputError
from advqa.transforms._checks import as_frames, check_int, check_number, check_video, work_dtype

__all__ = ["MODES", "bit_depth", "down_up_resize", "gaussian_blur", "gaussian_noise", "median_filter", "resize"]

#: Interpolation modes of :func:`resize` and :func:`down_up_resize` (``torch.nn.functional.interpolate``).
MODES = ("bicubic", "bilinear", "nearest")


def _finish(y255: Tensor, quantize: bool) -> Tensor:
    """0-255 values -> [0, 1]: clamp, round to integers when ``quantize``, divide by 255."""
    y = y255.clamp(0.0, 255.0)
    if quantize:
        y = torch.round(y)
    return y / 255.0


def gaussian_blur(video: Tensor, sigma: float, *, quantize: bool = False) -> Tensor:
    """Gaussian blur of every frame with standard deviation ``sigma`` pixels (> 0), same in x and y.

    ``scipy.ndimage.gaussian_filter`` over the two spatial axes only (channels and frames are not
    mixed): kernel radius ``int(4 sigma + 0.5)``, edges mirrored (``mode="reflect"``: ``d c b a |
    a b c d``). ``(B, T, 3, H, W)`` or ``(B, 3, H, W)`` in [0, 1] -> the same shape. Not
    differentiable (the output carries no gradient).
    """
    from scipy.ndimage import gaussian_filter

    name = "advqa.transforms.gaussian_blur"
    sigma = check_number(sigma, name, "sigma (pixels)", 0.0, lo_open=True)
    video = check_video(video, name)
    frames, back = as_frames(video)
    x255 = (frames.detach().to("cpu", work_dtype(video)) * 255.0).numpy()
    out = torch.from_numpy(gaussian_filter(x255, sigma=(0, 0, sigma, sigma), mode="reflect"))
    return back(_finish(out, quantize)).to(device=video.device, dtype=video.dtype)


def reflect_index(n: int, before: int, after: int) -> Tensor:
    """Indices ``(before + n + after,)`` into a length-``n`` axis extended by mirroring with the
    edge sample repeated (scipy.ndimage's ``mode="reflect"``: ``d c b a | a b c d | d c b a``),
    periodic with period ``2 n`` so any padding width works."""
    i = torch.arange(-before, n + after) % (2 * n)
    return torch.where(i >= n, 2 * n - 1 - i, i)


#: Elements per chunk of :func:`median_filter`'s window tensor (64 MiB of float32).
_MEDIAN_CHUNK = 1 << 24


def median_filter(video: Tensor, size: int) -> Tensor:
    """Median of every ``size x size`` window of each frame and colour channel (channels and
    frames are not mixed): the median smoothing of Xu, Evans, Qi, "Feature Squeezing: Detecting
    Adversarial Examples in Deep Neural Networks", NDSS 2018.

    The same values as ``scipy.ndimage.median_filter(x, size=(1, 1, size, size), mode="reflect")``:
    the window of output pixel ``i`` covers ``i - size // 2 .. i - size // 2 + size - 1`` along each
    axis (so an even ``size`` reaches one pixel further back than forward), edges are mirrored
    with the edge pixel repeated, and of the ``n = size^2`` sorted window values the one at
    0-based rank ``n // 2`` is taken (the upper median when ``n`` is even). ``size`` in [1, 31]
    pixels; 1 is the identity. ``(B, T, 3, H, W)`` or ``(B, 3, H, W)`` in [0, 1] -> the same
    shape, computed in torch a chunk of frames at a time; differentiable almost everywhere (the
    gradient of each output goes to the input pixel the median selected).
    """
    name = "advqa.transforms.median_filter"
    size = check_int(size, name, "size (pixels)", 1, 31)
    video = check_video(video, name)
    if size == 1:
        return video.clone()
    frames, back = as_frames(video)
    n, c, h, w = frames.shape
    rows = reflect_index(h, size // 2, size - 1 - size // 2).to(frames.device)
    cols = reflect_index(w, size // 2, size - 1 - size // 2).to(frames.device)
    rank = size * size // 2 + 1  # kthvalue counts from 1
    step = max(1, _MEDIAN_CHUNK // (c * h * w * size * size))
    out = []
    for i in range(0, n, step):
        x = frames[i:i + step][:, :, rows][:, :, :, cols]  # (m, 3, H + size - 1, W + size - 1)
        windows = x.unfold(2, size, 1).unfold(3, size, 1).reshape(*x.shape[:2], h, w, size * size)
        out.append(windows.kthvalue(rank, dim=-1).values)
    return back(torch.cat(out))


def gaussian_noise(video: Tensor, std: float, *, generator: torch.Generator | None = None,
                   seed: int | None = None, quantize: bool = False) -> Tensor:
    """Add i.i.d. Gaussian noise of standard deviation ``std`` (in [0, 1], the pixel scale:
    ``12 / 255`` is 12 levels of 8 bits) to every pixel-channel, then clamp to [0, 1].

    Randomness, at most one of:
    - ``generator``: a ``torch.Generator`` on the video's device, drawn from with ``torch.randn``;
    - ``seed``: an integer >= 0 for NumPy's ``default_rng`` (PCG64), which gives the same noise on
      every platform and torch version; values are drawn in the order of stored frames
      ``(N, H, W, 3)`` (N = all frames of the batch), so the noise of a seed is the one NumPy adds
      to uint8 frames of that shape;
    - neither: torch's global generator.

    ``(B, T, 3, H, W)`` or ``(B, 3, H, W)`` in [0, 1] -> the same shape; differentiable in the
    video (identity where not clamped) unless ``quantize``.
    """
    name = "advqa.transforms.gaussian_noise"
    std = check_number(std, name, "std (pixel scale)", 0.0, 1.0)
    video = check_video(video, name)
    if generator is not None and seed is not None:
        raise InputError(f"{name}: pass either generator= or seed=, not both")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise InputError(f"{name}: generator must be a torch.Generator, got {type(generator).__name__}")
    frames, back = as_frames(video)
    dtype = work_dtype(video)
    x255 = frames.to(dtype) * 255.0
    if seed is not None:
        seed = check_int(seed, name, "seed", 0, 2**64 - 1)
        n, _, h, w = frames.shape
        z = np.random.default_rng(seed).normal(0.0, std * 255.0, size=(n, h, w, 3))
        noise = torch.from_numpy(z.astype(np.float64 if dtype == torch.float64 else np.float32))
        noise = noise.permute(0, 3, 1, 2).to(video.device)
    else:
        if generator is not None and generator.device.type != video.device.type:
            raise InputError(f"{name}: the generator is on {generator.device}, the video on "
                             f"{video.device}; create the generator on the video's device")
        noise = torch.randn(frames.shape, generator=generator, dtype=dtype, device=video.device) * (std * 255.0)
    return back(_finish(x255 + noise, quantize)).to(video.dtype)


def _check_mode(mode: str, name: str) -> str:
    if mode not in MODES:
        raise InputError(f"{name}: mode must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


def _interpolate(x: Tensor, size: tuple[int, int], mode: str, antialias: bool | None) -> Tensor:
    """``(N, 3, H, W)`` -> ``(N, 3, *size)``; ``antialias=None``: when shrinking (not for nearest)."""
    if antialias is None:
        antialias = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    if mode == "nearest":
        return F.interpolate(x, size=size, mode="nearest")
    return F.interpolate(x, size=size, mode=mode, align_corners=False, antialias=bool(antialias))


def resize(video: Tensor, size: tuple[int, int], *, mode: str = "bicubic", antialias: bool | None = None,
           quantize: bool = False) -> Tensor:
    """Resize every frame to ``size = (height, width)`` pixels (``torch.nn.functional.interpolate``,
    ``align_corners=False``; ``antialias`` None: on when shrinking, for bilinear and bicubic).

    ``(B, T, 3, H, W)`` or ``(B, 3, H, W)`` in [0, 1] -> ``(B, T, 3, height, width)`` or
    ``(B, 3, height, width)``, clamped to [0, 1] (bicubic overshoots); differentiable unless
    ``quantize``.
    """
    name = "advqa.transforms.resize"
    mode = _check_mode(mode, name)
    if not isinstance(size, (tuple, list)) or len(size) != 2:
        raise InputError(f"{name}: size must be (height, width), got {size!r}")
    h = check_int(size[0], name, "height", 1, 1 << 16)
    w = check_int(size[1], name, "width", 1, 1 << 16)
    video = check_video(video, name)
    frames, back = as_frames(video)
    x255 = frames.to(work_dtype(video)) * 255.0
    return back(_finish(_interpolate(x255, (h, w), mode, antialias), quantize)).to(video.dtype)


def down_up_resize(video: Tensor, factor: float, *, mode: str = "bicubic", quantize: bool = False) -> Tensor:
    """Shrink every frame by ``factor`` (>= 1) and scale it back up: the detail a low-resolution
    capture or upload loses.

    The small size is ``max(1, round(H / factor)) x max(1, round(W / factor))``; shrinking is
    antialiased, enlarging is not (bilinear / bicubic, ``align_corners=False``). The small video is
    clamped to [0, 1] (and, with ``quantize``, rounded to 8 bits as a stored one would be).
    ``(B, T, 3, H, W)`` or ``(B, 3, H, W)`` in [0, 1] -> the same shape; differentiable unless
    ``quantize``.
    """
    name = "advqa.transforms.down_up_resize"
    mode = _check_mode(mode, name)
    factor = check_number(factor, name, "factor", 1.0)
    video = check_video(video, name)
    frames, back = as_frames(video)
    h, w = frames.shape[-2:]
    small = (max(1, int(round(h / factor))), max(1, int(round(w / factor))))
    x255 = frames.to(work_dtype(video)) * 255.0
    s = _interpolate(x255, small, mode, None).clamp(0.0, 255.0)
    if quantize:
        s = torch.round(s)
    return back(_finish(_interpolate(s, (h, w), mode, None), quantize)).to(video.dtype)


def bit_depth(video: Tensor, bits: int) -> Tensor:
    """Reduce every value to ``bits`` bits (1-8): ``round(x * (2^bits - 1)) / (2^bits - 1)``, so
    exactly ``2^bits`` levels remain, evenly spaced over [0, 1] (the colour-depth squeezing of Xu,
    Evans, Qi, "Feature Squeezing: Detecting Adversarial Examples in Deep Neural Networks", NDSS
    2018). ``bits=8`` rounds to the 8-bit grid. Same shape, dtype and device; not differentiable
    (rounding has zero gradient almost everywhere).
    """
    name = "advqa.transforms.bit_depth"
    bits = check_int(bits, name, "bits", 1, 8)
    video = check_video(video, name)
    levels = float(2 ** bits - 1)
    return torch.round(video.clamp(0.0, 1.0) * levels) / levels
