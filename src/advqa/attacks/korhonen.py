"""The spatial-activity-masked attack of Korhonen and You ("Adversarial Attacks against Blind Image
Quality Assessment Models", ACM QoEVMA workshop 2022), with the settings of the MSU metrics
robustness benchmark (Antsiferova et al., "Comparing the Robustness of Modern No-Reference Image-
and Video-Quality Metrics to Adversarial Attacks", AAAI 2024).

Each frame (an image is a 1-frame video) is optimised by Adam (``lr`` 0.005, 10 iterations,
``torch.optim.Adam``'s defaults otherwise) on the benchmark's loss (``"up"``: raise the predicted
quality), clamped to [0, 1] after every step. Before each step the gradient is multiplied
pixel-wise by a spatial-activity map of the clean frame, so the perturbation goes where texture
hides it:

1. luma ``Y = 0.299 R + 0.587 G + 0.114 B`` (BT.601; the benchmark's affine YCbCr scaling does
   not change the normalised map);
2. Sobel filtering of ``Y``, the 1-pixel border set to 0, divided by its maximum (a map of ones
   when the maximum is 0);
3. grey dilation with a 5x5 disk (the 5x5 square without its corners);
4. divided by 255 (as the benchmark's code does; it matters only through Adam's ``eps``).

``activity="magnitude"`` (default) uses the Sobel gradient magnitude ``hypot(Sx, Sy)``, a
non-negative activity. ``activity="official"`` reproduces the benchmark's code, which filters
with ``scipy.ndimage.sobel``'s default axis only: the signed horizontal derivative ``Sx``. Where
that map is negative the masked gradient points the wrong way, so the official attack partly
works against itself there.

The benchmark puts no norm bound on this attack (10 Adam steps move a pixel by about 10 x 0.005
at most), so the default budget is Linf 1 (only [0, 1]); a tighter ``threat`` is projected onto
after every step.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from advqa.attacks.base import Attack, AttackContext, QueryCounter
from advqa.attacks.context import Context, frame_by_frame
from advqa.attacks.whitebox import Adam, autograd_gradient, descend, expectation
from advqa.errors import InputError
from advqa.threat import ThreatModel

log = logging.getLogger(__name__)

Activity = Literal["magnitude", "official"]

#: BT.601 luma weights (OpenCV's RGB -> YCrCb).
LUMA = (0.299, 0.587, 0.114)
#: the 5x5 disk of the dilation (the square without its four corners)
DISK = torch.tensor([[0, 1, 1, 1, 0], [1, 1, 1, 1, 1], [1, 1, 1, 1, 1], [1, 1, 1, 1, 1], [0, 1, 1, 1, 0]],
                    dtype=torch.bool)


def _sobel(y: Tensor, axis: int) -> Tensor:
    """``scipy.ndimage.sobel(y, axis)`` on the interior of ``y`` ``(H, W)`` (border left at 0):
    a ``[-1, 0, 1]`` derivative along ``axis`` smoothed by ``[1, 2, 1]`` along the other axis."""
    out = torch.zeros_like(y)
    if y.shape[0] < 3 or y.shape[1] < 3:
        return out
    if axis == 1:
        d = y[:, 2:] - y[:, :-2]  # (H, W-2), centred on columns 1..W-2
        out[1:-1, 1:-1] = d[:-2] + 2 * d[1:-1] + d[2:]
    else:
        d = y[2:] - y[:-2]
        out[1:-1, 1:-1] = d[:, :-2] + 2 * d[:, 1:-1] + d[:, 2:]
    return out


def dilate(x: Tensor, footprint: Tensor = DISK) -> Tensor:
    """Grey dilation of ``x`` ``(H, W)``: the maximum over ``footprint`` (odd-sized, centred);
    pixels outside the image are ignored (OpenCV's default border for ``dilate``)."""
    kh, kw = footprint.shape
    ph, pw = kh // 2, kw // 2
    padded = F.pad(x[None, None], (pw, pw, ph, ph), value=float("-inf"))[0, 0]
    h, w = x.shape
    out = torch.full_like(x, float("-inf"))
    for i in range(kh):
        for j in range(kw):
            if footprint[i, j]:
                out = torch.maximum(out, padded[i:i + h, j:j + w])
    return out


def spatial_activity_map(frame: Tensor, activity: Activity = "magnitude") -> Tensor:
    """The gradient mask of one frame ``(3, H, W)`` in [0, 1] -> ``(H, W)`` (see the module
    docstring): Sobel of the luma, zero border, divided by its maximum, dilated with a 5x5 disk,
    divided by 255. ``activity="official"`` is the benchmark's signed horizontal Sobel."""
    if activity not in ("magnitude", "official"):
        raise InputError(f"korhonen: activity must be 'magnitude' (|Sobel| of the luma) or 'official' "
                         f"(the benchmark's signed horizontal Sobel), got {activity!r}")
    with torch.no_grad():
        rgb = frame.detach().to(torch.float64) * 255.0
        y = LUMA[0] * rgb[0] + LUMA[1] * rgb[1] + LUMA[2] * rgb[2]
        sx = _sobel(y, axis=1)
        act = sx if activity == "official" else torch.hypot(sx, _sobel(y, axis=0))
        top = float(act.max())
        if top == 0.0:  # no positive activity anywhere: the benchmark's code falls back to ones
            act, top = act + 1.0, 1.0
        return (dilate(act / top) / 255.0).to(frame.dtype)


class Korhonen(Attack):
    """Korhonen and You (QoEVMA 2022) as the MSU benchmark runs it: Adam on each frame with the
    gradient masked by the frame's spatial-activity map; registered as ``"korhonen"``.

    ``Korhonen(threat=None, lr=0.005, iterations=10, activity="magnitude", context="video",
    loss="up", eot=1)``. ``context`` as in :func:`advqa.attacks.context.frame_by_frame`. Queries:
    ``iterations * eot`` per frame.
    """

    name: ClassVar[str] = "korhonen"
    summary: ClassVar[str] = ("Korhonen & You (QoEVMA 2022), MSU benchmark settings: 10 Adam steps (lr 0.005) "
                              "with the gradient masked by a Sobel spatial-activity map")
    default_norm: ClassVar[str] = "linf"
    #: no norm bound in the benchmark: only [0, 1]
    default_eps: ClassVar[float] = 1.0

    def __init__(self, threat: ThreatModel | None = None, *, loss: str | Callable[..., Tensor] = "up",
                 lr: float = 0.005, iterations: int = 10, activity: Activity = "magnitude",
                 context: Context = "video", eot: int = 1, seed: int | None = 0) -> None:
        super().__init__(threat, loss=loss, seed=seed)
        if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
            raise InputError(f"korhonen: iterations must be a positive integer, got {iterations!r}")
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0 or lr != lr:
            raise InputError(f"korhonen: lr (Adam learning rate, pixel units) must be positive, got {lr!r}")
        if activity not in ("magnitude", "official"):
            raise InputError(f"korhonen: activity must be 'magnitude' or 'official', got {activity!r}")
        if context not in ("frame", "video"):
            raise InputError(f"korhonen: context must be 'video' or 'frame', got {context!r}")
        if isinstance(eot, bool) or not isinstance(eot, int) or eot < 1:
            raise InputError(f"korhonen: eot (gradient samples per step) must be a positive integer, got {eot!r}")
        self.lr = float(lr)
        self.iterations = iterations
        self.activity: str = activity
        self.context: str = context
        self.eot = eot

    def _run(self, model: QueryCounter, video: Tensor, ctx: AttackContext) -> Tensor:
        def step_frame(objective: Callable[[Tensor], Tensor], clean: Tensor, threat: ThreatModel) -> Tensor:
            mask = spatial_activity_map(clean[0, 0], self.activity)  # type: ignore[arg-type]
            grad_fn = expectation(autograd_gradient(objective), self.eot)

            def masked(x: Tensor) -> Tensor:
                return grad_fn(x).mul_(mask)

            return descend(masked, clean, clean, rule=Adam(self.lr, normalize=False), threat=threat,
                           iterations=self.iterations)

        adv = frame_by_frame(model, video, ctx.loss, ctx.threat, step_frame, self.context)  # type: ignore[arg-type]
        ctx.iterations = self.iterations * video.shape[1]
        ctx.extras.update(activity=self.activity, context=self.context)
        return adv


__all__ = ["DISK", "Korhonen", "LUMA", "dilate", "spatial_activity_map"]
