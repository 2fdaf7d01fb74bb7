"""NT: gradient-norm regularisation by a finite difference (Liu, Yang, Li, Ding, Jiang, "Defense
Against Adversarial Attacks on No-Reference Image Quality Models with Gradient Norm
Regularization", CVPR 2024).

A model whose input gradient is small in l1 cannot be moved far by an Linf attack:
``sup_{||delta||_inf <= eps} |f(x + delta) - f(x)| ~= eps * ||grad_x f(x)||_1``. Eq. 6 (proof
Eqs. S6-S9, first-order Taylor) estimates that norm without double backpropagation::

    ||grad_x f(x)||_1 ~= (f(x + h d) - f(x)) / h,    d = sign(grad_x f(x)).

The authors' released training code adds the estimate to VSFA-style L1 training as::

    loss = L1(f(x), y) + lambda * 1/2 * mean_batch(((f(x + h d) - f(x)) / h) ** 2)

(the square / 2 of the estimate, where the paper writes its absolute value), with ``d`` computed
by one input gradient *without* ``create_graph`` and detached: the parameters receive gradient
through ``f(x + h d)`` and ``f(x)``, never through ``d``. Defaults ``lambda = 1e-3``,
``h = 1e-2``. Cost per sample: two forward passes with graph, one input gradient, one backward
through the trainable parameters.

Space of ``h``: the official code perturbs the network's normalised input (ImageNet
``(x - mean) / std``), while advqa's models normalise inside ``forward`` and take pixels in
[0, 1]. ``h_space="normalized"`` (the default, the official space) steps ``h * std`` in pixels
per channel (``std`` from :func:`input_std`: the model's ``input_std``; litevsfa's
``(255 x - 127) / 128`` gives ``std = 128/255``) and divides by ``h``, so the estimate is the
l1 norm of the gradient with respect to the normalised input; ``h_space="pixels"`` steps ``h``
in [0, 1] units and estimates the pixel gradient's l1 norm. The perturbed input is not clamped
to [0, 1] (neither is the official one); it is scored through the model's unchecked scoring
hook (``score`` / ``score_images``).

Scale of ``lambda``: the loss is computed on the model's own score scale. Multiplying scores and
labels by ``c`` multiplies the L1 term by ``c`` and the regulariser by ``c ** 2``, so the same
``lambda`` weighs NT 25 times less on a 1-5 scale (span 4) than on the paper's 0-100 scale
(Eq. S10); :func:`paper_equivalent_lambda` converts (the paper's 1e-3 is 2.5e-2 on 1-5).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from advqa.errors import InputError
from advqa.models.base import ImageQualityModel, QualityModel

__all__ = ["DEFAULT_H", "DEFAULT_LAMBDA", "H_SPACES", "NTLoss", "check_nt_options", "h_step", "input_std",
           "nt_loss", "paper_equivalent_lambda", "raw_score"]

#: The official code's defaults (``--weight 1e-3``, ``h = 0.01``).
DEFAULT_LAMBDA = 1e-3
DEFAULT_H = 1e-2
#: Where ``h`` is measured: [0, 1] pixels, or the network's normalised input (the official space).
H_SPACES = ("pixels", "normalized")


@dataclass
class NTLoss:
    """One evaluation of the NT objective.

    ``total = l1 + lam * reg`` (scalar, differentiable w.r.t. the parameters); ``l1`` the mean
    absolute error to the labels; ``reg`` = ``1/2 * mean(fd ** 2)`` (before ``lam``; 0 when
    ``lam == 0``); ``scores`` = ``f(x)`` ``(B,)`` detached; ``fd`` the finite-difference estimate
    of ``||grad f||_1`` per sample ``(B,)`` detached (in the units of ``h_space``; zeros when
    ``lam == 0``).
    """

    total: Tensor
    l1: Tensor
    reg: Tensor
    scores: Tensor
    fd: Tensor


def check_nt_options(lam: float, h: float, h_space: str) -> None:
    """Raise :class:`InputError` unless ``lam >= 0``, ``h > 0`` (both finite) and ``h_space`` is known."""
    if not isinstance(lam, (int, float)) or not math.isfinite(lam) or lam < 0:
        raise InputError(f"NT lambda (the regulariser's weight) must be a finite number >= 0, got {lam!r}")
    if not isinstance(h, (int, float)) or not math.isfinite(h) or h <= 0:
        raise InputError(f"NT h (the finite-difference step) must be a finite number > 0, got {h!r}")
    if h_space not in H_SPACES:
        raise InputError(f"h_space must be one of {', '.join(H_SPACES)}, got {h_space!r}")


def input_std(model: QualityModel) -> tuple[float, float, float] | None:
    """The pixel size of one normalised input unit per RGB channel, from the model's
    ``input_std`` (or, for a defence, the model it wraps); ``None`` when no model in the chain
    states it."""
    seen = model
    while seen is not None:
        value = getattr(seen, "input_std", None)
        if value is not None:
            stds = (float(value),) * 3 if isinstance(value, (int, float)) else tuple(float(v) for v in value)
            if len(stds) != 3 or not all(math.isfinite(s) and s > 0 for s in stds):
                raise InputError(f"{type(seen).__name__}.input_std must be a positive number or three, "
                                 f"got {value!r}")
            return stds  # type: ignore[return-value]
        seen = getattr(seen, "model", None)
    return None


def h_step(model: QualityModel, h: float, h_space: str = "normalized",
           std: float | Sequence[float] | None = None) -> Tensor:
    """The finite-difference step in pixel units, per channel: ``(3, 1, 1)``.

    ``h_space="pixels"``: ``h``; ``"normalized"``: ``h * std``, with ``std`` given or taken from
    :func:`input_std` (InputError when the model does not state it: pass ``std`` or use
    ``h_space="pixels"``).
    """
    check_nt_options(0.0, h, h_space)
    if h_space == "pixels":
        stds: Sequence[float] = (1.0, 1.0, 1.0)
    elif std is not None:
        stds = (float(std),) * 3 if isinstance(std, (int, float)) else [float(s) for s in std]
        if len(stds) != 3 or not all(math.isfinite(s) and s > 0 for s in stds):
            raise InputError(f"input std must be a positive number or three, got {std!r}")
    else:
        found = input_std(model)
        if found is None:
            raise InputError(f"model {model.card.name!r} does not state its input normalisation (input_std), "
                             "so h cannot be taken in the normalised space: pass the std or use "
                             "h_space='pixels'")
        stds = found
    return torch.tensor([h * s for s in stds], dtype=torch.float32).view(3, 1, 1)


def raw_score(model: QualityModel, x: Tensor) -> Tensor:
    """``model``'s differentiable score without input validation: images ``(B, 3, H, W)`` of an
    image model through ``score_images``, anything else (videos ``(B, T, 3, H, W)``) through
    ``score``. For the NT perturbation, which may step just outside [0, 1]."""
    if x.ndim == 4:
        if not isinstance(model, ImageQualityModel):
            raise InputError(f"model {model.card.name!r} scores videos (B, T, 3, H, W); got images "
                             f"{tuple(x.shape)}: add a frame axis")
        return model.score_images(x)
    return model.score(x)


def paper_equivalent_lambda(lam_paper: float, score_span: float, paper_span: float = 100.0) -> float:
    """The ``lambda`` that weighs NT against L1 on a ``score_span``-wide scale as ``lam_paper``
    does on the paper's ``paper_span`` (0-100, Eq. S10): ``lam_paper * paper_span / score_span``
    (scores scaled by ``c`` scale L1 by ``c`` and the regulariser by ``c ** 2``)."""
    return lam_paper * paper_span / score_span


def nt_loss(model: QualityModel, x: Tensor, target: Tensor, *, lam: float = DEFAULT_LAMBDA,
            h: float = DEFAULT_H, h_space: str = "normalized",
            std: float | Sequence[float] | None = None) -> NTLoss:
    """L1 + NT (Eq. 6 as the official code computes it) on a batch.

    ``x``: videos ``(B, T, 3, H, W)`` (or images ``(B, 3, H, W)`` for an image model) in [0, 1];
    ``target``: labels ``(B,)`` on the model's score scale. ``lam`` (>= 0; 0 gives plain L1 and
    skips the input gradient), ``h`` (> 0) in ``h_space`` (see the module docstring; ``std``
    overrides the model's ``input_std``). The input gradient is taken without ``create_graph``
    and its sign is detached, so no second-order graph is built. Call
    ``result.total.backward(inputs=params)`` so the backward stops at the trainable parameters.
    """
    check_nt_options(lam, h, h_space)
    target = torch.as_tensor(target, dtype=torch.float32, device=x.device).reshape(-1)
    x = x.detach()
    if lam == 0:
        pred = raw_score(model, x)
        l1 = (pred - target).abs().mean()
        zero = pred.new_zeros(())
        return NTLoss(l1, l1.detach(), zero, pred.detach(), torch.zeros_like(pred.detach()))
    step = h_step(model, h, h_space, std).to(x.device)
    x = x.requires_grad_(True)
    pred = raw_score(model, x)
    (grad,) = torch.autograd.grad(pred.sum(), x, retain_graph=True)  # no create_graph: first order only
    direction = grad.sign().detach()
    pred_pert = raw_score(model, x.detach() + step * direction)
    fd = (pred_pert - pred) / h
    reg = 0.5 * (fd ** 2).mean()
    l1 = (pred - target).abs().mean()
    return NTLoss(l1 + lam * reg, l1.detach(), reg.detach(), pred.detach(), fd.detach())
