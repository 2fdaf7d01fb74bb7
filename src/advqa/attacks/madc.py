"""MAD competition as an attack (after Wang and Simoncelli, "Maximum differentiation (MAD)
competition", Journal of Vision 2008), with the settings of the MSU metrics robustness benchmark
(Antsiferova et al., "Comparing the Robustness of Modern No-Reference Image- and Video-Quality
Metrics to Adversarial Attacks", AAAI 2024).

Each frame (an image is a 1-frame video) takes ``iterations`` (8) signed steps of ``lr`` (0.001)
that change the attacked metric while holding the MSE to the clean frame, the "other metric" of
the competition, as constant as possible:

1. ``g`` = gradient of the loss (the benchmark's ``"up"``: raise the predicted quality);
2. from the second step on, ``g`` is projected orthogonally to the gradient of the RMSE, which
   points along ``d = x - x_clean``: ``g <- g - (<d, g> / <d, d>) d`` (the first step, at ``d = 0``,
   is unprojected);
3. ``x <- x - lr sign(g)``;
4. while the frame's RMSE exceeds ``eps`` (10/255), ``x <- clamp(x - 0.0005 sign(d), 0, 1)`` (a
   signed step down the RMSE gradient); then ``x`` is clamped to [0, 1].

The budget is the frame's RMSE, advqa's pixel-level L2 (``L2Ball``: per-frame RMS over
pixel-channels), 10/255 by default. With the defaults the pull-back never triggers: 8 steps of
0.001 reach an RMSE of 0.008 at most (2.04/255). Another budget (``linf``, a mask) works the same
way: the pull-back runs while the frame is outside it.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

import torch
from torch import Tensor

from advqa.attacks.base import Attack, AttackContext, QueryCounter
from advqa.attacks.context import Context, frame_by_frame
from advqa.attacks.whitebox import autograd_gradient, expectation
from advqa.errors import InputError
from advqa.threat import ThreatModel


def _positive(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise InputError(f"madc: {what} must be a positive number, got {value!r}")
    return float(value)


def orthogonal_to(g: Tensor, d: Tensor) -> Tensor:
    """``g`` minus its component along ``d`` (whole tensors as vectors); ``g`` when ``d = 0``."""
    dd = float(d.double().pow(2).sum())
    if dd == 0.0:
        return g
    return g - (float((d.double() * g.double()).sum()) / dd) * d


class MADC(Attack):
    """MAD-competition attack of the MSU benchmark; registered as ``"madc"``.

    ``MADC(threat=L2Ball(10/255), lr=0.001, iterations=8, pull_step=0.0005, context="video",
    loss="up", eot=1)``: the RMSE bound is ``threat.eps``. Queries:
    ``iterations * eot`` per frame.
    """

    name: ClassVar[str] = "madc"
    summary: ClassVar[str] = ("MAD competition, MSU benchmark settings: 8 sign steps of 0.001 orthogonal to the "
                              "MSE gradient, pulled back to RMSE <= 10/255")
    default_norm: ClassVar[str] = "l2"
    default_eps: ClassVar[float] = 10 / 255

    def __init__(self, threat: ThreatModel | None = None, *, loss: str | Callable[..., Tensor] = "up",
                 lr: float = 0.001, iterations: int = 8, pull_step: float = 0.0005, context: Context = "video",
                 eot: int = 1, seed: int | None = 0) -> None:
        super().__init__(threat, loss=loss, seed=seed)
        if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
            raise InputError(f"madc: iterations must be a positive integer, got {iterations!r}")
        if context not in ("frame", "video"):
            raise InputError(f"madc: context must be 'video' or 'frame', got {context!r}")
        if isinstance(eot, bool) or not isinstance(eot, int) or eot < 1:
            raise InputError(f"madc: eot (gradient samples per step) must be a positive integer, got {eot!r}")
        self.lr = _positive(lr, "lr (sign step, pixel units)")
        self.pull_step = _positive(pull_step, "pull_step (RMSE pull-back step, pixel units)")
        self.iterations = iterations
        self.context: str = context
        self.eot = eot

    def _run(self, model: QueryCounter, video: Tensor, ctx: AttackContext) -> Tensor:
        pulls = [0]

        def step_frame(objective: Callable[[Tensor], Tensor], clean: Tensor, threat: ThreatModel) -> Tensor:
            grad_fn = expectation(autograd_gradient(objective), self.eot)
            x = clean.clone()
            for i in range(self.iterations):
                g = grad_fn(x)
                if i > 0:
                    g = orthogonal_to(g, x - clean)
                x.sub_(self.lr * torch.sign(g))
                # at most this many pull-back steps bring every pixel within pull_step of the clean one
                budget = int(float((x - clean).abs().max()) / self.pull_step) + 2
                while not threat.contains(x - clean, tol=0.0) and budget > 0:
                    x.sub_(self.pull_step * torch.sign(x - clean)).clamp_(0.0, 1.0)
                    pulls[0] += 1
                    budget -= 1
                x.clamp_(0.0, 1.0)
            return x

        adv = frame_by_frame(model, video, ctx.loss, ctx.threat, step_frame, self.context)  # type: ignore[arg-type]
        ctx.iterations = self.iterations * video.shape[1]
        ctx.extras.update(context=self.context, pull_back_steps=pulls[0])
        return adv


__all__ = ["MADC", "orthogonal_to"]
