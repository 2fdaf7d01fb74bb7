"""Perturbation budgets: the :class:`ThreatModel` protocol and its Lp-ball implementations.

A threat model says which perturbations ``delta = adversarial - clean`` are allowed. Every
attack's result goes through :meth:`ThreatModel.enforce` in the attack base class (projection,
clamp to [0, 1], rounding to the 8-bit grid without leaving the budget), so no attack can exceed
its budget by a bug. Budgets are per frame, so enforcement runs frame by frame and its memory
does not grow with the video's length.

Implementations:

- :class:`LinfBall`: ``|delta| <= eps`` for every pixel-channel;
- :class:`L2Ball`: the pixel-level L2 of Zhang, Ran, Tang, Wang, "Vulnerabilities in Video
  Quality Assessment Models: The Challenge of Adversarial Attacks" (NeurIPS 2023), Eq. 4-5:
  per frame ``||delta_t||_2 <= eps * sqrt(3 H W)``, i.e. the RMS of each frame is at most eps;
- per-pixel mask budgets (``|delta| <= s * mask``, e.g. JND maps) subclass :class:`MaskBudget`
  and compute their mask from the clean video in :meth:`ThreatModel.bind`;
- :class:`VideoL2Ball`: ``||delta||_2 <= radius`` over all pixel-channels of the whole video, the
  norm randomised-smoothing certificates (:mod:`advqa.defenses.smoothing`) are stated in. It is
  the one budget that is not per frame, so it enforces on the whole video at once.

All values are in [0, 1] pixel units (1/255 is one 8-bit level).
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from torch import Tensor

from advqa.errors import InputError

#: 8-bit quantisation step in [0, 1] units.
Q = 1.0 / 255.0
#: Absolute slack when checking a budget: float32 differences of pixel values in [0, 1] carry
#: errors of a few 1e-8, so a perturbation of exactly eps can measure eps + 3e-8.
BUDGET_TOL = 1e-6


def per_frame_rms(delta: Tensor) -> Tensor:
    """Pixel-level L2: per-frame RMS over pixel-channels, ``(B, T, 3, H, W) -> (B, T)``.

    ``||delta_t||_2 / sqrt(3 H W)``; a budget of 1/255 means the RMS of each frame is at most 1/255.
    """
    return delta.flatten(2).pow(2).mean(dim=2).sqrt()


def _check_eps(eps: object, what: str) -> float:
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(eps) or not 0 < eps <= 1:
        raise InputError(f"{what} must be a number in (0, 1] (pixel units, e.g. 3/255), got {eps!r}")
    return float(eps)


class ThreatModel(ABC):
    """A perturbation budget on videos ``(B, T, 3, H, W)`` in [0, 1].

    Subclasses implement :meth:`project` and :meth:`frame_norms` (each frame's budgeted norm,
    compared with :attr:`eps`); :meth:`enforce` and :meth:`contains` follow. A budget that depends
    on the clean video (a JND mask) returns a bound copy from :meth:`bind`; the attack base class
    binds the threat to each clean video before the attack runs (``ctx.threat``).
    """

    #: short name used in configs, tables and the results store
    norm: ClassVar[str] = "?"
    #: whether the budget constrains each frame on its own (so it can be projected frame by frame)
    per_frame: ClassVar[bool] = True
    eps: float

    def bind(self, clean: Tensor) -> ThreatModel:
        """The budget for one clean video (``self`` unless the budget depends on the video)."""
        return self

    @abstractmethod
    def project(self, delta: Tensor) -> Tensor:
        """The closest allowed perturbation (``(B, T, 3, H, W)``; differentiable almost everywhere)."""

    @abstractmethod
    def frame_norms(self, delta: Tensor) -> Tensor:
        """Each frame's budgeted norm, ``(B, T)``; a frame is allowed when it is at most :attr:`eps`."""

    def contains(self, delta: Tensor, tol: float = BUDGET_TOL) -> bool:
        """Whether every frame of ``delta`` is within the budget (up to the absolute ``tol``)."""
        return all(bool((self.frames(t, t + 1).frame_norms(delta[:, t:t + 1]) <= self.eps + tol).all())
                   for t in range(delta.shape[1]))

    def frames(self, start: int, stop: int) -> ThreatModel:
        """The budget of frames ``[start, stop)`` (itself for budgets that are the same on every frame)."""
        return self

    def _over(self, delta: Tensor) -> Tensor:
        """Where rounding broke the budget: a mask broadcastable to ``delta`` (per frame here)."""
        return (self.frame_norms(delta) > self.eps + BUDGET_TOL)[..., None, None, None]

    def enforce(self, clean: Tensor, adversarial: Tensor) -> Tensor:
        """Project, clamp to [0, 1] and round to the 8-bit grid without leaving the budget.

        ``clean`` must be on the 8-bit grid. Where plain rounding would push a frame (or, for
        per-pixel budgets, a pixel) over the budget, it rounds toward the clean value instead,
        which never increases any pixel's deviation, so the result is always inside the budget.
        Runs one frame at a time; returns a new tensor.
        """
        if clean.shape != adversarial.shape:
            raise InputError(f"enforce: clean {tuple(clean.shape)} and adversarial "
                             f"{tuple(adversarial.shape)} differ in shape")
        out = torch.empty_like(clean)
        for t in range(clean.shape[1]):
            out[:, t:t + 1] = self.frames(t, t + 1)._enforce_frames(clean[:, t:t + 1], adversarial[:, t:t + 1])
        return out

    def _enforce_frames(self, clean: Tensor, adversarial: Tensor) -> Tensor:
        adv = (clean + self.project((adversarial - clean).detach())).clamp_(0.0, 1.0)
        nearest = torch.round(adv * 255.0) / 255.0
        over = self._over(nearest - clean)
        if bool(over.any()):
            up = torch.ceil(adv * 255.0 - 1e-4) / 255.0
            down = torch.floor(adv * 255.0 + 1e-4) / 255.0
            nearest = torch.where(over, torch.where(adv > clean, down, up), nearest)
        return nearest

    def describe(self) -> str:
        """A short label such as ``linf<=3/255``."""
        return f"{self.norm}<={self.eps * 255:.4g}/255"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(eps={self.eps!r})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.eps))


class LinfBall(ThreatModel):
    """``|delta| <= eps`` for every pixel-channel of every frame."""

    norm: ClassVar[str] = "linf"

    def __init__(self, eps: float = 3.0 / 255.0) -> None:
        self.eps = _check_eps(eps, "threat eps")

    def project(self, delta: Tensor) -> Tensor:
        return delta.clamp(-self.eps, self.eps)

    def frame_norms(self, delta: Tensor) -> Tensor:
        return delta.abs().flatten(2).amax(dim=2)


class L2Ball(ThreatModel):
    """Pixel-level L2: per frame ``||delta_t||_2 <= eps * sqrt(3 H W)`` (RMS of each frame <= eps);
    projection rescales each frame that is over the budget."""

    norm: ClassVar[str] = "l2"

    def __init__(self, eps: float = 1.0 / 255.0) -> None:
        self.eps = _check_eps(eps, "threat eps")

    def project(self, delta: Tensor) -> Tensor:
        factor = (self.eps / per_frame_rms(delta).clamp_min(1e-12)).clamp(max=1.0)
        return delta * factor[..., None, None, None]

    def frame_norms(self, delta: Tensor) -> Tensor:
        return per_frame_rms(delta)


class MaskBudget(ThreatModel):
    """A per-pixel budget ``|delta| <= scale * mask`` (``mask`` ``(B, T, 1|3, H, W)`` in [0, 1] units),
    optionally capped by ``|delta| <= cap``. Subclasses compute the mask in :meth:`bind`; a bound
    budget holds it. ``frame_norms`` is ``max |delta| / (scale * mask)`` per frame, so ``eps`` is 1.
    """

    norm: ClassVar[str] = "mask"

    def __init__(self, scale: float = 1.0, cap: float | None = None, mask: Tensor | None = None) -> None:
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale <= 0:
            raise InputError(f"mask budget scale must be a positive number, got {scale!r}")
        self.scale = float(scale)
        self.cap = None if cap is None else _check_eps(cap, "mask budget cap")
        self.mask = mask
        self.eps = 1.0

    def limit(self) -> Tensor:
        """The per-pixel bound ``min(scale * mask, cap)``."""
        if self.mask is None:
            raise InputError(f"{type(self).__name__} is not bound to a clean video; call bind(clean) first")
        lim = self.mask * self.scale
        return lim.clamp(max=self.cap) if self.cap is not None else lim

    def frames(self, start: int, stop: int) -> MaskBudget:
        if self.mask is None:
            return self
        bound = type(self).__new__(type(self))
        bound.__dict__.update(self.__dict__, mask=self.mask[:, start:stop])
        return bound

    def project(self, delta: Tensor) -> Tensor:
        lim = self.limit()
        return torch.maximum(torch.minimum(delta, lim), -lim)

    def frame_norms(self, delta: Tensor) -> Tensor:
        ratio = delta.abs() / self.limit().clamp_min(1e-12)
        ratio = torch.where(delta == 0, torch.zeros_like(ratio), ratio)
        return ratio.flatten(2).amax(dim=2)

    def _over(self, delta: Tensor) -> Tensor:
        return delta.abs() > self.limit() + BUDGET_TOL

    def contains(self, delta: Tensor, tol: float = BUDGET_TOL) -> bool:
        """Whether ``|delta| <= limit + tol`` everywhere (``tol`` in pixel units, as for Lp balls)."""
        return all(bool((delta[:, t:t + 1].abs() <= self.frames(t, t + 1).limit() + tol).all())
                   for t in range(delta.shape[1]))

    def describe(self) -> str:
        cap = f", cap {self.cap * 255:.4g}/255" if self.cap is not None else ""
        return f"{self.norm}x{self.scale:g}{cap}"

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.scale, self.cap))

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and (self.scale, self.cap) == (other.scale, other.cap)  # type: ignore[attr-defined]


class VideoL2Ball(ThreatModel):
    """``||delta||_2 <= radius`` over all ``T * 3 * H * W`` pixel-channels of each video ([0, 1] units).

    The ball of Gaussian randomised-smoothing certificates. Unlike :class:`L2Ball` (each frame's
    RMS at most eps) the budget is shared by the frames: an attacker may spend it all on one
    frame. For a video of ``T`` frames of ``3 H W`` pixel-channels, ``VideoL2Ball(r)`` contains
    ``L2Ball(r / sqrt(T * 3 H W))`` (every frame taking an equal share), and ``L2Ball(e)`` lies in
    ``VideoL2Ball(e * sqrt(T * 3 H W))``: an RMS of 1/255 on one 224x224 frame is a whole-video
    L2 of 1.52. ``radius`` may exceed 1. Projection rescales each video that is over the radius;
    :meth:`frame_norms` gives each frame's L2 norm (its share, for statistics), while
    :meth:`contains` and :meth:`enforce` judge the whole video.
    """

    norm: ClassVar[str] = "l2-video"
    per_frame: ClassVar[bool] = False

    def __init__(self, radius: float) -> None:
        if isinstance(radius, bool) or not isinstance(radius, (int, float)) or not math.isfinite(radius) \
                or radius <= 0:
            raise InputError(f"whole-video L2 radius must be a positive number ([0, 1] pixel units), got {radius!r}")
        self.eps = float(radius)

    @staticmethod
    def video_norms(delta: Tensor) -> Tensor:
        """``||delta_b||_2`` over all pixel-channels of each video: ``(B, T, 3, H, W) -> (B,)``."""
        return delta.flatten(1).norm(dim=1)

    def project(self, delta: Tensor) -> Tensor:
        factor = (self.eps / self.video_norms(delta).clamp_min(1e-12)).clamp(max=1.0)
        return delta * factor.view(-1, *([1] * (delta.ndim - 1)))

    def frame_norms(self, delta: Tensor) -> Tensor:
        return delta.flatten(2).norm(dim=2)

    def contains(self, delta: Tensor, tol: float = BUDGET_TOL) -> bool:
        """Whether every video's whole L2 norm is at most ``radius + tol``."""
        return bool((self.video_norms(delta) <= self.eps + tol).all())

    def _over(self, delta: Tensor) -> Tensor:
        return (self.video_norms(delta) > self.eps + BUDGET_TOL).view(-1, 1, 1, 1, 1)

    def enforce(self, clean: Tensor, adversarial: Tensor) -> Tensor:
        """Project, clamp and round to the 8-bit grid on the whole video (the budget is shared by
        the frames); where nearest rounding would leave the ball it rounds toward ``clean``."""
        if clean.shape != adversarial.shape:
            raise InputError(f"enforce: clean {tuple(clean.shape)} and adversarial "
                             f"{tuple(adversarial.shape)} differ in shape")
        return self._enforce_frames(clean, adversarial)

    def describe(self) -> str:
        return f"{self.norm}<={self.eps:.4g}"


_LP = {"linf": LinfBall, "l2": L2Ball}


def lp_ball(norm: str, eps: float) -> ThreatModel:
    """The Lp budget ``norm`` (``"linf"`` or pixel-level ``"l2"``) of radius ``eps`` (pixel units)."""
    if norm not in _LP:
        raise InputError(f"threat norm must be 'linf' or 'l2', got {norm!r}")
    return _LP[norm](eps)


__all__ = ["BUDGET_TOL", "L2Ball", "LinfBall", "MaskBudget", "Q", "ThreatModel", "VideoL2Ball", "lp_ball",
           "per_frame_rms"]
