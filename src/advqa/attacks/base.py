"""The Attack / ThreatModel / AttackResult contract (design.md §2).

An attack is configured once and called per video::

    attack = SomeAttack(ThreatModel("linf", 3 / 255), loss="srb")
    result = attack(model, video, mos=..., target=...)

Subclasses implement only :meth:`Attack._run`. The base class owns everything that must hold
for every attack: input checks, the clean score, query counting, the seed, and the budget —
after ``_run`` returns it projects onto the threat model, clamps to [0, 1] and rounds to the
8-bit grid *toward the clean video* where plain rounding would break the budget, so no attack
can exceed its budget by a bug.
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from advqa.errors import InputError
from advqa.models.base import QualityModel, check_video

log = logging.getLogger(__name__)

Norm = Literal["linf", "l2"]
#: 8-bit quantisation step in [0, 1] units.
Q = 1.0 / 255.0
#: Absolute slack when checking a budget: float32 differences of pixel values in [0, 1] carry
#: errors of a few 1e-8, so a perturbation of exactly eps can measure eps + 3e-8.
BUDGET_TOL = 1e-6


def per_frame_rms(delta: Tensor) -> Tensor:
    """Pixel-level L2 of paper 000: per-frame RMS over pixel-channels, ``(B, T, 3, H, W) -> (B, T)``.

    ``||delta_t||_2 / sqrt(3 H W)``; a budget of 1/255 means the RMS of each frame is at most 1/255.
    """
    return delta.flatten(2).pow(2).mean(dim=2).sqrt()


@dataclass(frozen=True)
class ThreatModel:
    """A perturbation budget in [0, 1] pixel units.

    ``norm="linf"``: ``|delta| <= eps`` everywhere. ``norm="l2"``: paper 000's pixel-level L2,
    per frame ``||delta_t||_2 <= eps * sqrt(3 H W)`` (RMS of each frame ``<= eps``).
    """

    norm: Norm = "linf"
    eps: float = 3.0 / 255.0

    def __post_init__(self) -> None:
        if self.norm not in ("linf", "l2"):
            raise InputError(f"threat norm must be 'linf' or 'l2', got {self.norm!r}")
        if not (isinstance(self.eps, (int, float)) and math.isfinite(self.eps) and 0 < self.eps <= 1):
            raise InputError(f"threat eps must be a number in (0, 1] (pixel units, e.g. 3/255), got {self.eps!r}")

    def project(self, delta: Tensor) -> Tensor:
        """Project a perturbation ``(B, T, 3, H, W)`` onto the budget (differentiable a.e.)."""
        if self.norm == "linf":
            return delta.clamp(-self.eps, self.eps)
        rms = per_frame_rms(delta)
        factor = (self.eps / rms.clamp_min(1e-12)).clamp(max=1.0)
        return delta * factor[..., None, None, None]

    def frame_norms(self, delta: Tensor) -> Tensor:
        """The budgeted norm of each frame, ``(B, T)`` (max-abs for linf, RMS for l2)."""
        if self.norm == "linf":
            return delta.abs().flatten(2).amax(dim=2)
        return per_frame_rms(delta)

    def contains(self, delta: Tensor, tol: float = BUDGET_TOL) -> bool:
        """Whether every frame of ``delta`` is within the budget (up to the absolute ``tol``)."""
        return bool((self.frame_norms(delta) <= self.eps + tol).all())

    def enforce(self, clean: Tensor, adversarial: Tensor) -> Tensor:
        """Project, clamp to [0, 1] and round to the 8-bit grid without leaving the budget.

        ``clean`` must be on the 8-bit grid. Frames that plain rounding would push over the
        budget are rounded toward the clean values instead, which never increases any
        pixel's deviation, so the result is always inside the budget.
        """
        delta = self.project((adversarial - clean).detach())
        adv = (clean + delta).clamp(0.0, 1.0)
        nearest = torch.round(adv * 255.0) / 255.0
        over = self.frame_norms(nearest - clean) > self.eps + BUDGET_TOL
        if bool(over.any()):
            up = torch.ceil(adv * 255.0 - 1e-4) / 255.0
            down = torch.floor(adv * 255.0 + 1e-4) / 255.0
            toward = torch.where(adv > clean, down, up)
            nearest = torch.where(over[..., None, None, None], toward, nearest)
        return nearest


@dataclass
class AttackResult:
    """The outcome of attacking one video.

    ``adversarial``: ``(1, T, 3, H, W)`` float32 on the 8-bit grid (CPU). Scores are in the
    model's scale. ``queries`` counts every model evaluation made by the attack itself (one per
    video in each batch); the clean and final evaluations done by the base class are not counted.
    ``l2`` is paper 000's pixel-level L2 (mean over frames of per-frame RMS), ``linf`` the
    maximum absolute deviation, both in [0, 1] units; ``psnr`` in dB over the whole video.
    """

    attack: str
    adversarial: Tensor
    clean_score: float
    adv_score: float
    queries: int
    iterations: int
    time_s: float
    linf: float
    l2: float
    psnr: float
    threat: ThreatModel
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def score_shift(self) -> float:
        """``adv_score - clean_score`` in the model's scale."""
        return self.adv_score - self.clean_score

    def frames_uint8(self) -> Tensor:
        """The adversarial frames as uint8 ``(T, H, W, 3)``, ready for lossless saving."""
        return (self.adversarial[0] * 255.0).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()

    def summary(self) -> dict[str, Any]:
        """Scalars only, JSON-friendly (for the results store)."""
        return {
            "attack": self.attack, "clean_score": self.clean_score, "adv_score": self.adv_score,
            "queries": self.queries, "iterations": self.iterations, "time_s": self.time_s,
            "linf": self.linf, "l2": self.l2, "psnr": self.psnr,
            "norm": self.threat.norm, "eps": self.threat.eps,
            **{k: v for k, v in self.extras.items() if isinstance(v, (int, float, str, bool))},
        }


class QueryCounter(nn.Module):
    """Wraps a model and counts evaluated videos (each batch entry of each forward is a query)."""

    def __init__(self, model: QualityModel) -> None:
        super().__init__()
        self.model = model
        self.queries = 0

    @property
    def card(self):  # noqa: ANN201 - the wrapped model's card
        return self.model.card

    def forward(self, video: Tensor) -> Tensor:
        self.queries += int(video.shape[0])
        return self.model(video)

    def count(self, n: int) -> None:
        """Count ``n`` queries made through a model's parts (e.g. a cached temporal head)."""
        self.queries += int(n)


@dataclass
class AttackContext:
    """What ``_run`` gets besides the model and the video."""

    clean_score: float
    mos: float | None
    target: float | None
    generator: torch.Generator
    #: maps scores ``(N,)`` to per-video losses ``(N,)`` to *minimise*
    loss: Callable[[Tensor], Tensor]
    iterations: int = 0
    extras: dict[str, Any] = field(default_factory=dict)


class Attack:
    """Base class of every attack. Subclasses set ``name`` and implement :meth:`_run`.

    Parameters
    ----------
    threat:
        The budget; enforced by the base class on the returned video.
    loss:
        What to minimise: a name understood by :func:`advqa.attacks.losses.make_loss`
        (``"srb"``, ``"mse"``, ``"mid"``, ``"up"``, ``"down"``, ...) or a callable
        ``loss(scores, ctx) -> (N,)``.
    seed:
        Seed of the attack's own randomness (initial noise, visiting orders); the same seed
        gives the same result.
    """

    name: ClassVar[str] = "attack"
    #: whether the attack needs gradients of the model (white-box)
    needs_gradients: ClassVar[bool] = True

    def __init__(self, threat: ThreatModel | None = None, *, loss: str | Callable[..., Tensor] = "srb",
                 seed: int | None = 0) -> None:
        self.threat = threat or ThreatModel()
        if not isinstance(self.threat, ThreatModel):
            raise InputError(f"threat must be a ThreatModel, got {type(threat).__name__}")
        self.loss = loss
        self.seed = seed

    def config(self) -> dict[str, Any]:
        """Hyperparameters that define this attack (hashed by the results store)."""
        cfg = {k: v for k, v in vars(self).items() if not k.startswith("_") and k not in ("threat", "loss")}
        cfg.update(name=self.name, norm=self.threat.norm, eps=self.threat.eps,
                   loss=self.loss if isinstance(self.loss, str) else getattr(self.loss, "__name__", "custom"))
        return cfg

    def _run(self, model: QueryCounter, video: Tensor, ctx: AttackContext) -> Tensor:  # pragma: no cover
        """Return the adversarial video ``(1, T, 3, H, W)``; the base class enforces the budget."""
        raise NotImplementedError

    def __call__(self, model: QualityModel, video: Tensor, *, mos: float | None = None,
                 target: float | None = None, generator: torch.Generator | None = None) -> AttackResult:
        if video.ndim == 4:
            video = video.unsqueeze(0)
        check_video(video)
        if video.shape[0] != 1:
            raise InputError(f"attacks are called per video: got a batch of {video.shape[0]}; "
                             "loop over the videos (advqa.bench.run does)")
        for value, what in ((mos, "mos"), (target, "target")):
            if value is not None and not math.isfinite(float(value)):
                raise InputError(f"{what} must be a finite number, got {value!r}")
        video = video.detach().to(model.device, torch.float32)
        snapped = torch.round(video * 255.0) / 255.0
        if float((snapped - video).abs().max()) > 1e-6:
            log.warning("clean video is not on the 8-bit grid; attacking its 8-bit rounding")
        video = snapped
        if generator is None:
            generator = torch.Generator(device="cpu")
            if self.seed is None:
                generator.seed()
            else:
                generator.manual_seed(int(self.seed))
        model_state = model.generator.get_state() if getattr(model, "generator", None) is not None else None

        with torch.no_grad():
            clean_score = float(model(video)[0])
        from advqa.attacks.losses import make_loss  # local: losses import this module

        loss_fn = make_loss(self.loss, card=model.card, clean_score=clean_score, mos=mos, target=target)
        ctx = AttackContext(clean_score=clean_score, mos=mos, target=target, generator=generator,
                            loss=loss_fn)
        counter = QueryCounter(model)
        start = time.perf_counter()
        adv = self._run(counter, video, ctx)
        elapsed = time.perf_counter() - start
        if adv.shape != video.shape:
            raise RuntimeError(f"{self.name}: _run returned shape {tuple(adv.shape)} for {tuple(video.shape)}")
        if not bool(torch.isfinite(adv).all()):
            raise RuntimeError(f"{self.name}: the attack produced NaN/inf pixels (model gradients overflowed?)")
        adv = self.threat.enforce(video, adv)
        if model_state is not None:  # score the result with the same internal randomness as the clean video
            model.generator.set_state(model_state)
        with torch.no_grad():
            adv_score = float(model(adv)[0])
        delta = adv - video
        mse = float(delta.pow(2).mean())
        return AttackResult(
            attack=self.name,
            adversarial=adv.cpu(),
            clean_score=clean_score,
            adv_score=adv_score,
            queries=counter.queries,
            iterations=ctx.iterations,
            time_s=elapsed,
            linf=float(delta.abs().max()),
            l2=float(per_frame_rms(delta).mean()),
            psnr=float("inf") if mse == 0 else 10.0 * math.log10(1.0 / mse),
            threat=self.threat,
            extras=dict(ctx.extras, target=target if target is not None else float("nan")),
        )
