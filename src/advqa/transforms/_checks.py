"""Argument checks shared by the transforms: the video contract and numeric ranges."""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from advqa.errors import InputError

#: How far outside [0, 1] a value may lie and still round onto the 8-bit grid (as ``to_uint8``).
_SLACK = 0.5 / 255


def check_video(video: object, name: str) -> Tensor:
    """``video`` as a validated float tensor ``(B, T, 3, H, W)`` or ``(B, 3, H, W)`` in [0, 1].

    Raises :class:`InputError` naming the transform for another type, dtype, shape, NaN/inf or
    values that do not round into 0..255 on the 8-bit grid.
    """
    if not isinstance(video, Tensor):
        raise InputError(f"{name}: video must be a torch tensor, got {type(video).__name__}")
    if not video.is_floating_point():
        raise InputError(f"{name}: video must be a float tensor in [0, 1], got dtype {video.dtype} "
                         "(uint8 frames? convert with advqa.io.to_tensor)")
    if video.ndim not in (4, 5) or video.shape[-3] != 3 or 0 in video.shape:
        raise InputError(f"{name}: video must be shaped (B, T, 3, H, W) or images (B, 3, H, W) with "
                         f"every size >= 1, got {tuple(video.shape)}")
    v = video.detach()
    if not bool(torch.isfinite(v).all()):
        raise InputError(f"{name}: video contains NaN or inf values")
    lo, hi = float(v.min()), float(v.max())
    if lo < -_SLACK or hi > 1 + _SLACK:
        raise InputError(f"{name}: video values must lie in [0, 1], got range [{lo:.4g}, {hi:.4g}] "
                         "(0..255 data? divide by 255)")
    return video


def as_frames(video: Tensor) -> tuple[Tensor, Callable[[Tensor], Tensor]]:
    """``(B, T, 3, H, W)`` or ``(B, 3, H, W)`` -> frames ``(N, 3, H, W)`` and a function that
    puts frames of any size ``(N, 3, h, w)`` back into the input's layout."""
    lead = video.shape[:-3]

    def back(frames: Tensor) -> Tensor:
        return frames.reshape(*lead, *frames.shape[-3:])

    return video.reshape(-1, *video.shape[-3:]), back


def as_clips(video: Tensor) -> Tensor:
    """``(B, T, 3, H, W)`` as it is; images ``(B, 3, H, W)`` as ``B`` one-frame clips ``(B, 1, 3, H, W)``."""
    return video if video.ndim == 5 else video.unsqueeze(1)


def work_dtype(video: Tensor) -> torch.dtype:
    """float64 for float64 input, float32 otherwise (float16/bfloat16 are computed in float32)."""
    return torch.float64 if video.dtype == torch.float64 else torch.float32


def to_u8(video: Tensor) -> np.ndarray:
    """Float ``(..., 3, H, W)`` in [0, 1] -> uint8 ``(..., H, W, 3)`` with ``round(255 x)``
    (round half to even), as :func:`advqa.io.to_uint8`."""
    q = torch.round(video.detach().to("cpu", torch.float64) * 255.0).clamp_(0, 255).to(torch.uint8)
    return q.movedim(-3, -1).contiguous().numpy()


def from_u8(frames: np.ndarray, like: Tensor) -> Tensor:
    """uint8 ``(..., H, W, 3)`` -> float ``(..., 3, H, W)`` ``x / 255`` with ``like``'s dtype and device."""
    t = torch.from_numpy(np.ascontiguousarray(frames)).movedim(-1, -3).to(work_dtype(like)) / 255.0
    return t.to(device=like.device, dtype=like.dtype)


def check_int(value: object, name: str, what: str, lo: int, hi: int) -> int:
    """``value`` as an int in ``[lo, hi]``, else :class:`InputError` naming the range."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise InputError(f"{name}: {what} must be an integer in [{lo}, {hi}], got {value!r}")
    return int(value)


def check_number(value: object, name: str, what: str, lo: float, hi: float = math.inf, *,
                 lo_open: bool = False) -> float:
    """``value`` as a finite float in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``), else
    :class:`InputError` naming the range."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    v = float(value) if ok else math.nan  # type: ignore[arg-type]
    ok = ok and math.isfinite(v) and (v > lo if lo_open else v >= lo) and v <= hi
    if not ok:
        left = "(" if lo_open else "["
        right = "]" if math.isfinite(hi) else ")"
        raise InputError(f"{name}: {what} must be a number in {left}{lo:g}, {hi:g}{right}, got {value!r}")
    return v
