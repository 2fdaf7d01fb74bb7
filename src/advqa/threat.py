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
- per-pixel mask budgets (``|delta| <= s * mask``) subclass :class:`MaskBudget` and compute their
  mask from the clean video in :meth:`ThreatModel.bind`; :class:`JND` is the one built in
  (``norm="jnd"``: ``|delta| <= s * JND`` with the maps of :mod:`advqa.jnd`);
- :class:`TemporalStep` wraps a per-pixel budget and also bounds the frame-to-frame change of the
  perturbation, ``|delta_t - delta_{t-1}| <= step`` (optionally along block-matched motion);
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


class JND(MaskBudget):
    """``|delta| <= scale * JND`` per pixel (and ``<= cap`` when given), JND the map of the clean
    video (:func:`advqa.jnd.jnd_map`: Yang et al. 2005 NAMM with Chou & Chen's temporal factor;
    one threshold for the three colour channels).

    After 8-bit rounding a pixel moves by at most ``floor(255 * limit) / 255``: where the limit is
    below one 8-bit level (possible with ``scale < 1`` or a small ``cap``; at ``scale = 1`` the
    NAMM limit is at least ``0.8 * 3 / 255``) the pixel stays clean.
    """

    norm: ClassVar[str] = "jnd"

    def __init__(self, scale: float = 1.0, cap: float | None = None, mask: Tensor | None = None, *,
                 temporal: bool = True, edge_weight: float | None = 0.1) -> None:
        super().__init__(scale, cap, mask)
        self.temporal = bool(temporal)
        self.edge_weight = edge_weight

    def bind(self, clean: Tensor) -> JND:
        from advqa.jnd import jnd_map

        bound = type(self).__new__(type(self))
        bound.__dict__.update(self.__dict__, mask=jnd_map(clean, temporal=self.temporal,
                                                          edge_weight=self.edge_weight))
        return bound

    def describe(self) -> str:
        extra = "" if self.temporal else ", spatial only"
        return super().describe() + extra

    def __eq__(self, other: object) -> bool:
        return super().__eq__(other) and (self.temporal, self.edge_weight) == (
            other.temporal, other.edge_weight)  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.scale, self.cap, self.temporal, self.edge_weight))


def block_motion(clean: Tensor, block: int = 16, search: int = 7) -> Tensor:
    """Integer block-matching motion of ``clean`` ``(B, T, 3, H, W)``: for each ``block x block``
    block of frame ``t >= 1``, the displacement ``(dy, dx)`` in ``[-search, search]^2`` into frame
    ``t - 1`` with the least sum of absolute luma differences (ties: the smaller displacement,
    zero first). Returns ``(B, T, 2, ceil(H / block), ceil(W / block))`` long (frame 0: zeros).
    Frames are extended by replicating their borders."""
    import torch.nn.functional as F

    b, t, _, h, w = clean.shape
    nby, nbx = -(-h // block), -(-w // block)
    out = torch.zeros(b, t, 2, nby, nbx, dtype=torch.long, device=clean.device)
    lw = torch.tensor((0.299, 0.587, 0.114), dtype=clean.dtype, device=clean.device).view(1, 3, 1, 1)
    shifts = sorted(((dy, dx) for dy in range(-search, search + 1) for dx in range(-search, search + 1)),
                    key=lambda v: (abs(v[0]) + abs(v[1]), v))
    ph, pw = nby * block - h, nbx * block - w
    with torch.no_grad():
        prev = None
        for i in range(t):
            y = (clean[:, i] * lw).sum(dim=1, keepdim=True)
            y = F.pad(y, (0, pw, 0, ph), mode="replicate")
            if prev is not None:
                padded = F.pad(prev, (search,) * 4, mode="replicate")
                best = torch.full((b, 1, nby, nbx), float("inf"), dtype=clean.dtype, device=clean.device)
                for dy, dx in shifts:
                    moved = padded[..., search + dy:search + dy + y.shape[-2], search + dx:search + dx + y.shape[-1]]
                    sad = F.avg_pool2d((y - moved).abs(), block)
                    better = sad < best - 1e-9
                    best = torch.where(better, sad, best)
                    out[:, i, 0:1] = torch.where(better, torch.full_like(out[:, i, 0:1], dy), out[:, i, 0:1])
                    out[:, i, 1:2] = torch.where(better, torch.full_like(out[:, i, 1:2], dx), out[:, i, 1:2])
            prev = y
    return out


def warp_blocks(delta: Tensor, motion: Tensor, block: int) -> Tensor:
    """``delta`` ``(B, C, H, W)`` (a frame ``t - 1``) carried to frame ``t`` along block vectors
    ``motion`` ``(B, 2, nby, nbx)``: ``out(p) = delta(p + v(p))`` (borders replicated)."""
    b, _, h, w = delta.shape
    v = motion.repeat_interleave(block, dim=-2).repeat_interleave(block, dim=-1)[..., :h, :w]
    iy = (torch.arange(h, device=delta.device).view(1, h, 1) + v[:, 0]).clamp(0, h - 1)
    ix = (torch.arange(w, device=delta.device).view(1, 1, w) + v[:, 1]).clamp(0, w - 1)
    flat = (iy * w + ix).view(b, 1, h * w).expand(-1, delta.shape[1], -1)
    return delta.flatten(2).gather(2, flat).view_as(delta)


class TemporalStep(ThreatModel):
    """A per-pixel budget (:class:`LinfBall` or a :class:`MaskBudget` such as :class:`JND`) plus a
    bound on the perturbation's change between frames: ``|delta_t - r_t| <= step`` per pixel-channel.

    The reference ``r_t`` is the previous frame's perturbation (``motion=True``: carried along the
    clean video's block-matching motion, :func:`block_motion`) brought inside frame ``t``'s own
    budget and [0, 1] range on the 8-bit grid (clipped toward 0 to ``floor(255 limit) / 255``), so
    the bound can always be met: where frame ``t``'s per-pixel limit is smaller than the previous
    perturbation, the perturbation follows it down. Enforcement runs frame after frame (each
    frame's reference is the previous *rounded* frame), rounding to the grid inside the box
    ``[r_t - step, r_t + step]`` intersected with the inner budget; whole-video projections
    (PGD, the FGSM family) apply the same sequential clip at every step, window projections
    (frame-by-frame attacks) only the inner budget, and the base class enforces the whole at the end.
    """

    per_frame: ClassVar[bool] = False

    def __init__(self, inner: ThreatModel, step: float, *, motion: bool = False, block: int = 16,
                 search: int = 7) -> None:
        if not isinstance(inner, (LinfBall, MaskBudget)):
            raise InputError(f"a temporal step bound needs a per-pixel budget (linf or jnd), got {inner.describe()}; "
                             "use norm='linf' or norm='jnd'")
        self.inner = inner
        self.step = _check_eps(step, "temporal_step")
        if not isinstance(motion, bool):
            raise InputError(f"motion must be True or False, got {motion!r}")
        for value, what in ((block, "motion block"), (search, "motion search range")):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{what} must be a positive integer, got {value!r}")
        self.motion, self.block, self.search = motion, block, search
        self.norm = inner.norm  # type: ignore[misc]
        self.eps = inner.eps
        self._vectors: Tensor | None = None
        self._clean: Tensor | None = None

    # ------------------------------------------------------------------ binding and frames
    def bind(self, clean: Tensor) -> TemporalStep:
        bound = type(self).__new__(type(self))
        bound.__dict__.update(self.__dict__, inner=self.inner.bind(clean), _clean=clean.detach(),
                              _vectors=block_motion(clean, self.block, self.search) if self.motion else None)
        return bound

    def frames(self, start: int, stop: int) -> ThreatModel:
        """The inner budget of frames ``[start, stop)`` (a window has no previous frame to follow)."""
        return self.inner.frames(start, stop)

    def _limit(self, t: int) -> Tensor | float:
        inner = self.inner.frames(t, t + 1)
        return inner.limit() if isinstance(inner, MaskBudget) else inner.eps

    def _reference(self, prev: Tensor, t: int, clean_t: Tensor | None, grid: bool) -> Tensor:
        """``r_t`` from the previous frame's perturbation ``prev`` ``(B, 1, 3, H, W)``: carried
        along the motion, clipped to frame ``t``'s limit (grid-floored when ``grid``) and, given
        the clean frame ``clean_t``, to its [0, 1] range."""
        ref = prev
        if self._vectors is not None:
            ref = warp_blocks(prev[:, 0], self._vectors[:, t].to(prev.device), self.block).unsqueeze(1)
        top = torch.as_tensor(self._limit(t), dtype=ref.dtype, device=ref.device)
        if grid:
            top = torch.floor(top * 255.0 + 1e-4) / 255.0
        ref = torch.maximum(torch.minimum(ref, top), -top)
        return ref if clean_t is None else torch.maximum(torch.minimum(ref, 1.0 - clean_t), -clean_t)

    # ------------------------------------------------------------------ the protocol
    def project(self, delta: Tensor) -> Tensor:
        """Sequential clip of a whole video's ``delta``: each frame to its inner budget and to
        ``step`` around its reference (a window shorter than the bound video: the inner budget)."""
        if self._clean is not None and delta.shape[1] != self._clean.shape[1]:
            return self.inner.project(delta)
        return self._project_from(delta, 0, None)

    def _project_from(self, delta: Tensor, start: int, prev: Tensor | None) -> Tensor:
        out = torch.empty_like(delta)
        for i in range(delta.shape[1]):
            t = start + i
            d = self.inner.frames(t, t + 1).project(delta[:, i:i + 1])
            before = out[:, i - 1:i] if i else prev
            if t > 0 and before is not None:
                ref = self._reference(before, t, None, grid=False)
                d = torch.maximum(torch.minimum(d, ref + self.step), ref - self.step)
            out[:, i:i + 1] = d
        return out

    def window(self, start: int, stop: int, previous: Tensor | None) -> ThreatModel:
        """The budget of frames ``[start, stop)`` of the bound video given ``previous``, the
        (rounded) perturbation of frame ``start - 1`` (``(B, 1, 3, H, W)``; None at the start):
        the inner budget and the step bound, for attacks that perturb a video a window at a time."""
        return _StepWindow(self, start, stop, previous)

    def frame_norms(self, delta: Tensor) -> Tensor:
        return self.inner.frame_norms(delta) if delta.shape[1] else delta.new_zeros(delta.shape[0], 0)

    def temporal_excess(self, delta: Tensor) -> Tensor:
        """Per frame ``(B, T)``: the largest ``|delta_t - r_t| - step`` (<= 0 where the bound holds;
        frame 0, which has no reference, gives ``-step``). ``delta`` on the 8-bit grid."""
        out = torch.full(delta.shape[:2], -self.step, dtype=delta.dtype, device=delta.device)
        for t in range(1, delta.shape[1]):
            c = None if self._clean is None else self._clean[:, t:t + 1].to(delta)
            ref = self._reference(delta[:, t - 1:t], t, c, grid=True)
            out[:, t] = ((delta[:, t:t + 1] - ref).abs() - self.step).flatten(1).amax(dim=1)
        return out

    def contains(self, delta: Tensor, tol: float = BUDGET_TOL) -> bool:
        """Whether ``delta`` is in the inner budget and within ``step`` of its references."""
        return self.inner.contains(delta, tol) and bool((self.temporal_excess(delta) <= tol).all())

    def enforce(self, clean: Tensor, adversarial: Tensor) -> Tensor:
        """Frame after frame: the inner budget's enforcement on frame 0; on frame ``t`` the nearest
        grid value inside ``[r_t - step, r_t + step]``, the inner budget and [0, 1]."""
        if clean.shape != adversarial.shape:
            raise InputError(f"enforce: clean {tuple(clean.shape)} and adversarial "
                             f"{tuple(adversarial.shape)} differ in shape")
        return self._enforce_from(clean, adversarial, 0, None)

    def _enforce_from(self, clean: Tensor, adversarial: Tensor, start: int, prev: Tensor | None) -> Tensor:
        out = torch.empty_like(clean)
        for i in range(clean.shape[1]):
            t = start + i
            c = clean[:, i:i + 1]
            before = out[:, i - 1:i] - clean[:, i - 1:i] if i else prev
            if t == 0 or before is None:
                out[:, i:i + 1] = self.inner.frames(t, t + 1)._enforce_frames(c, adversarial[:, i:i + 1])
                continue
            lim = torch.as_tensor(self._limit(t), dtype=c.dtype, device=c.device)
            ref = self._reference(before, t, c, grid=True)
            lo = torch.maximum(torch.maximum(ref - self.step, -lim), -c)
            hi = torch.minimum(torch.minimum(ref + self.step, lim), 1.0 - c)
            d = torch.maximum(torch.minimum(adversarial[:, i:i + 1].detach() - c, hi), lo)
            r = torch.round(d * 255.0) / 255.0
            r = torch.where(r > hi + BUDGET_TOL, torch.floor(hi * 255.0 + 1e-4) / 255.0, r)
            r = torch.where(r < lo - BUDGET_TOL, torch.ceil(lo * 255.0 - 1e-4) / 255.0, r)
            out[:, i:i + 1] = c + r
        return out

    def describe(self) -> str:
        motion = f", motion {self.block}px/{self.search}" if self.motion else ""
        return f"{self.inner.describe()}, |dd|<={self.step * 255:.4g}/255{motion}"

    def __repr__(self) -> str:
        return f"TemporalStep({self.inner!r}, step={self.step!r}, motion={self.motion!r})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and (self.inner, self.step, self.motion, self.block, self.search) == (
            other.inner, other.step, other.motion, other.block, other.search)  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, hash(self.inner), self.step, self.motion, self.block, self.search))


class _StepWindow(ThreatModel):
    """Frames ``[start, stop)`` of a bound :class:`TemporalStep`, continuing from a given previous
    perturbation (:meth:`TemporalStep.window`)."""

    per_frame: ClassVar[bool] = False

    def __init__(self, parent: TemporalStep, start: int, stop: int, previous: Tensor | None) -> None:
        self.parent, self.start, self.stop, self.previous = parent, start, stop, previous
        self.norm = parent.norm  # type: ignore[misc]
        self.eps = parent.eps

    def project(self, delta: Tensor) -> Tensor:
        return self.parent._project_from(delta, self.start, self.previous)

    def frame_norms(self, delta: Tensor) -> Tensor:
        return self.parent.inner.frames(self.start, self.stop).frame_norms(delta)

    def frames(self, start: int, stop: int) -> ThreatModel:
        return self.parent.inner.frames(self.start + start, self.start + stop)

    def enforce(self, clean: Tensor, adversarial: Tensor) -> Tensor:
        return self.parent._enforce_from(clean, adversarial, self.start, self.previous)

    def describe(self) -> str:
        return f"{self.parent.describe()} [frames {self.start}:{self.stop}]"


_LP = {"linf": LinfBall, "l2": L2Ball}
#: the budget names configs and the CLI accept (``norm:``)
NORMS = ("linf", "l2", "jnd")


def lp_ball(norm: str, eps: float) -> ThreatModel:
    """The Lp budget ``norm`` (``"linf"`` or pixel-level ``"l2"``) of radius ``eps`` (pixel units)."""
    if norm not in _LP:
        raise InputError(f"threat norm must be 'linf' or 'l2', got {norm!r}")
    return _LP[norm](eps)


def make_threat(norm: str, eps: float | None = None, *, jnd_scale: float = 1.0,
                temporal_step: float | None = None, motion: bool = False) -> ThreatModel:
    """The budget named ``norm`` (one of :data:`NORMS`): an Lp ball of radius ``eps`` (required),
    or ``"jnd"`` with ``|delta| <= jnd_scale * JND`` capped at Linf ``eps`` when given; with
    ``temporal_step`` also ``|delta_t - delta_{t-1}| <= temporal_step`` (:class:`TemporalStep`,
    along block motion when ``motion``)."""
    if norm == "jnd":
        threat: ThreatModel = JND(jnd_scale, cap=eps)
    elif norm not in _LP:
        raise InputError(f"threat norm must be one of {', '.join(NORMS)}, got {norm!r}")
    elif eps is None:
        raise InputError(f"a {norm} budget needs eps (pixel units, e.g. 3/255)")
    else:
        threat = lp_ball(norm, eps)
    if temporal_step is not None:
        return TemporalStep(threat, temporal_step, motion=motion)
    if motion:
        raise InputError("motion=True follows motion with the temporal step bound: give temporal_step too")
    return threat


__all__ = ["BUDGET_TOL", "JND", "L2Ball", "LinfBall", "MaskBudget", "NORMS", "TemporalStep", "block_motion",
           "make_threat", "warp_blocks", "Q", "ThreatModel", "VideoL2Ball", "lp_ball",
           "per_frame_rms"]
