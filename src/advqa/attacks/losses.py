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

Early stopping (:func:`make_goal`): each built-in loss has a direction (``+1`` raise the score,
``-1`` lower it, ``0`` either way) and an attack with ``early_stop`` stops once the score passes a
threshold in that direction: for ``"srb"`` and ``"toward"`` the boundary / target itself; for
``"up"``, ``"down"``, ``"mid"`` and ``"mse"`` a user-set ``target`` (ignored when it lies behind the
clean score) and/or a relative gain ``stop_gain``. The relative gain is that of Antsiferova et al.
(MSU metrics robustness benchmark), ``(f' - c') / (c' + 1)`` on scores scaled to [0, 1] by the
card's range, taken in the loss's direction.
"""
from __future__ import annotations

import logging
import math
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


@dataclass(frozen=True)
class Goal:
    """Where an attack may stop: the score has passed ``threshold`` in ``direction``.

    ``direction`` is ``+1`` (raise the score: reached when ``f >= threshold``), ``-1`` (lower it:
    ``f <= threshold``) or ``0`` (either way: ``|f - clean| >= |threshold - clean|``). Scores are
    in the model's scale.
    """

    direction: int
    threshold: float
    clean_score: float

    def reached(self, score: float) -> bool:
        """Whether ``score`` meets the goal (NaN never does)."""
        if not math.isfinite(score):
            return False
        if self.direction > 0:
            return score >= self.threshold
        if self.direction < 0:
            return score <= self.threshold
        return abs(score - self.clean_score) >= abs(self.threshold - self.clean_score)

    def progress(self, score: float) -> float:
        """The fraction of the way from the clean score to the threshold (1.0 at the goal)."""
        span = abs(self.threshold - self.clean_score)
        if span == 0:
            return 1.0
        moved = score - self.clean_score
        return (abs(moved) if self.direction == 0 else self.direction * moved) / span


def check_stop_gain(stop_gain: float | None) -> float | None:
    """Validate a relative-gain threshold (``None`` or a positive finite number)."""
    if stop_gain is None:
        return None
    if isinstance(stop_gain, bool) or not isinstance(stop_gain, (int, float)) or not math.isfinite(stop_gain) \
            or stop_gain <= 0:
        raise InputError(f"stop_gain (relative gain at which the attack stops, e.g. 0.1) must be a positive "
                         f"number, got {stop_gain!r}")
    return float(stop_gain)


def loss_direction(spec: str | Callable[..., Tensor], *, card: ModelCard, clean_score: float,
                   target: float | None = None) -> int | None:
    """The direction a built-in loss moves the score (+1 up, -1 down, 0 either); ``None`` for a
    custom callable (its direction is unknown)."""
    if not isinstance(spec, str):
        return None
    key = spec.strip().lower()
    lo, hi = (float(v) for v in card.score_range)
    if key in ("srb", "toward"):
        bound = target if target is not None else fallback_boundary(card, clean_score)
        return 0 if bound == clean_score else (1 if bound > clean_score else -1)
    if key == "up":
        return 1
    if key == "down":
        return -1
    if key == "mid":  # L_mid lowers the score of a video whose clean score is in the lower half
        return -1 if clean_score <= 0.5 * (lo + hi) else 1
    if key == "mse":
        return 0
    raise UnknownNameError("loss", spec, _LOSSES)


def make_goal(spec: str | Callable[..., Tensor], *, card: ModelCard, clean_score: float,
              target: float | None = None, stop_gain: float | None = None) -> Goal | None:
    """The early-stopping goal of a loss (see the module docstring), or ``None`` when it has none.

    ``"srb"`` / ``"toward"``: the boundary (``target``, or paper 000's fallback for ``"srb"``),
    or, if ``stop_gain`` is given and nearer, the score of that relative gain. Other built-in
    losses: the nearer of ``target`` (when it lies in the loss's direction) and ``stop_gain``;
    neither given: no goal. Custom callables: no goal (their direction is unknown).
    """
    stop_gain = check_stop_gain(stop_gain)
    direction = loss_direction(spec, card=card, clean_score=clean_score, target=target)
    if direction is None:
        log.debug("early stop: a custom loss has no known direction; the attack runs its full budget")
        return None
    key = spec.strip().lower()  # type: ignore[union-attr]
    lo, span = float(card.score_range[0]), card.score_span
    c = float(clean_score)
    candidates: list[float] = []
    if key in ("srb", "toward"):
        bound = target if target is not None else fallback_boundary(card, c)
        if key == "toward" and target is None:
            return None
        candidates.append(float(bound))
    elif target is not None:
        t = float(target)
        if direction == 0 or direction * (t - c) > 0:
            candidates.append(t)
        else:
            log.info("early stop: target %.4g lies behind the clean score %.4g for loss %r; ignored", t, c, spec)
    if stop_gain is not None:
        # relative gain (f' - c') / (c' + 1) on [0, 1]-scaled scores reaches stop_gain at this score
        move = stop_gain * ((c - lo) / span + 1.0) * span
        candidates.append(c + (direction if direction else 1) * move)
    if not candidates:
        return None
    if direction == 0:
        threshold = min(candidates, key=lambda v: abs(v - c))
    else:
        threshold = min(candidates, key=lambda v: direction * (v - c))
    return Goal(direction=direction, threshold=threshold, clean_score=c)


__all__ = ["Goal", "LossInfo", "available", "check_stop_gain", "fallback_boundary", "loss_direction",
           "make_goal", "make_loss"]
