"""Attack losses: what an attack minimises, as a function of the model's scores.

:func:`make_loss` turns a name (or a user callable) into ``loss(scores (N,)) -> (N,)``, the
per-video quantity to *minimise*. Every built-in loss is divided by the card's score span
(``score_range[1] - score_range[0]``), so step sizes and learning rates behave the same on a
model scoring in [0, 1] and one scoring in [0, 100].

Built-in losses (``f`` the score, ``lo``/``hi``/``mid`` the card's range and its middle,
``c`` the clean score):

``"srb"``
    Paper 000's Score-Reversed Boundary loss (Eq. 2), ``|f - b| / span``. ``b`` is the
    boundary already mapped into the model's score space by Eq. 7 (the ``target`` argument;
    :func:`advqa.metrics.robustness.boundary_targets` computes it over the attacked set).
    Without a target (no MOS and no set statistics) the fallback of paper 000 §4.1 applies:
    the clean score stands in for the MOS, the threshold is the middle of the score range, and
    the boundary is the far end of the range: ``b = lo`` if ``c >= mid`` else ``b = hi``.
``"mse"``
    Push the score away from the clean score: ``-((f - c) / span)^2``. Its gradient is zero
    at the clean video, so it needs a random start (PGD, the white-box attack's initial
    noise); paper 003 (Table S2) found it weak for FGSM.
``"mid"``
    Paper 003's L_mid (Eq. S13): ``f / span`` when ``c <= mid`` else ``-f / span`` — the
    clean score decides the direction (y is the clean prediction in paper 003).
``"up"``
    Paper 004's loss: ``1 - (f - lo) / span`` (raise the score; ``1 - f/range`` for scores
    starting at 0).
``"down"``
    ``(f - lo) / span`` (lower the score).
``"toward"``
    ``|f - target| / span`` toward a given ``target`` in the model's scale (required).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor

from advqa.errors import InputError, UnknownNameError
from advqa.models.base import ModelCard

log = logging.getLogger(__name__)

LossFn = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class LossInfo:
    """What a user-supplied loss ``loss(scores, info)`` gets besides the scores."""

    card: ModelCard
    clean_score: float
    mos: float | None = None
    target: float | None = None

    @property
    def span(self) -> float:
        """Width of the card's score range."""
        return self.card.score_span

    @property
    def middle(self) -> float:
        """Middle of the card's score range."""
        lo, hi = self.card.score_range
        return 0.5 * (float(lo) + float(hi))


def fallback_boundary(card: ModelCard, clean_score: float) -> float:
    """Paper 000 §4.1 without MOS: the end of the score range farther from the clean score's side.

    ``lo`` if ``clean_score >= middle`` else ``hi`` (the clean score stands in for the MOS and the
    middle of the range for the set's median).
    """
    lo, hi = (float(v) for v in card.score_range)
    return lo if clean_score >= 0.5 * (lo + hi) else hi


def _srb(info: LossInfo) -> LossFn:
    target = info.target
    if target is None:
        target = fallback_boundary(info.card, info.clean_score)
        log.debug("srb: no target given; boundary %.4g from the clean score %.4g (paper 000 §4.1)",
                  target, info.clean_score)
    span = info.span

    def srb(scores: Tensor) -> Tensor:
        return (scores - target).abs() / span

    return srb


def _mse(info: LossInfo) -> LossFn:
    ref, span = info.clean_score, info.span

    def mse(scores: Tensor) -> Tensor:
        return -((scores - ref) / span).pow(2)

    return mse


def _mid(info: LossInfo) -> LossFn:
    sign = 1.0 if info.clean_score <= info.middle else -1.0
    span = info.span

    def mid(scores: Tensor) -> Tensor:
        return sign * scores / span

    return mid


def _up(info: LossInfo) -> LossFn:
    lo, span = float(info.card.score_range[0]), info.span

    def up(scores: Tensor) -> Tensor:
        return 1.0 - (scores - lo) / span

    return up


def _down(info: LossInfo) -> LossFn:
    lo, span = float(info.card.score_range[0]), info.span

    def down(scores: Tensor) -> Tensor:
        return (scores - lo) / span

    return down


def _toward(info: LossInfo) -> LossFn:
    if info.target is None:
        raise InputError("loss 'toward' needs a target score in the model's scale: "
                         "pass attack(model, video, target=...)")
    target, span = float(info.target), info.span

    def toward(scores: Tensor) -> Tensor:
        return (scores - target).abs() / span

    return toward


_LOSSES: dict[str, Callable[[LossInfo], LossFn]] = {
    "srb": _srb, "mse": _mse, "mid": _mid, "up": _up, "down": _down, "toward": _toward,
}


def available() -> list[str]:
    """Names of the built-in losses."""
    return sorted(_LOSSES)


def make_loss(spec: str | Callable[..., Tensor], *, card: ModelCard, clean_score: float,
              mos: float | None = None, target: float | None = None) -> LossFn:
    """Build the per-video loss to minimise, ``scores (N,) -> (N,)``.

    ``spec`` is a built-in name (see the module docstring) or a callable
    ``spec(scores, info: LossInfo) -> (N,)``. ``target`` is in the model's score scale (for
    ``"srb"`` the Eq. 7 boundary); ``mos`` is passed through to callables only (it is in the
    dataset's scale, which the model's need not share).
    """
    if card.score_span <= 0:
        raise InputError(f"model card {card.name!r} has an empty score range {card.score_range}")
    info = LossInfo(card=card, clean_score=float(clean_score),
                    mos=None if mos is None else float(mos),
                    target=None if target is None else float(target))
    if callable(spec):
        user = spec

        def custom(scores: Tensor) -> Tensor:
            out = user(scores, info)
            if not isinstance(out, Tensor) or out.shape != scores.shape:
                raise InputError(f"a custom loss must return a tensor shaped like the scores {tuple(scores.shape)}, "
                                 f"got {getattr(out, 'shape', type(out).__name__)}")
            return out

        custom.__name__ = getattr(spec, "__name__", "custom")
        return custom
    if not isinstance(spec, str):
        raise InputError(f"loss must be a name ({', '.join(available())}) or a callable, got {type(spec).__name__}")
    key = spec.strip().lower()
    if key not in _LOSSES:
        raise UnknownNameError("loss", spec, _LOSSES)
    return _LOSSES[key](info)


__all__ = ["LossInfo", "available", "fallback_boundary", "make_loss"]
