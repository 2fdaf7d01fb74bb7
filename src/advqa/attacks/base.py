"""The Attack / AttackResult contract.

An attack is configured once and called per video::

    attack = SomeAttack(LinfBall(3 / 255), loss="srb")
    result = attack(model, video, mos=..., target=...)

Subclasses implement only :meth:`Attack._run`. The base class owns everything that must hold
for every attack: input checks, the clean score, query counting, the seed, and the budget —
after ``_run`` returns it projects onto the threat model (:mod:`advqa.threat`), clamps to
[0, 1] and rounds to the 8-bit grid *toward the clean video* where plain rounding would break the
budget, so no attack can exceed its budget by a bug. Enforcement and the perturbation metrics
run frame by frame, so their memory does not grow with the video's length.

Universal and generative attacks derive from :class:`FittedAttack`: ``fit(model, videos)``
once on a train split returns a state (tensors only, saved with safetensors-compatible
``torch.save`` and loaded with ``weights_only=True``), which every later call applies.
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
from advqa.threat import BUDGET_TOL, Q, L2Ball, LinfBall, ThreatModel, lp_ball, per_frame_rms

log = logging.getLogger(__name__)

Norm = Literal["linf", "l2"]


@dataclass
class AttackResult:
    """The outcome of attacking one video.

    ``adversarial``: ``(1, T, 3, H, W)`` float32 on the 8-bit grid (CPU). Scores are in the
    model's scale. ``queries`` counts every model evaluation made by the attack itself (one per
    video in each batch); the clean and final evaluations done by the base class are not counted.
    ``l2`` is the pixel-level L2 of Zhang et al. (NeurIPS 2023) (mean over frames of per-frame RMS), ``linf`` the
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

    def frame_parts(self, num_frames: int):  # noqa: ANN201 - FrameParts | None
        """The wrapped model's exact fast path, if it offers one (see ``QualityModel.frame_parts``)."""
        return self.model.frame_parts(num_frames)


@dataclass
class AttackContext:
    """What ``_run`` gets besides the model and the video.

    ``threat`` is the attack's budget bound to this clean video (for per-video budgets such as
    JND masks); attacks project with it, and the base class enforces it afterwards.
    """

    clean_score: float
    mos: float | None
    target: float | None
    generator: torch.Generator
    #: maps scores ``(N,)`` to per-video losses ``(N,)`` to *minimise*
    loss: Callable[[Tensor], Tensor]
    threat: ThreatModel
    iterations: int = 0
    extras: dict[str, Any] = field(default_factory=dict)


def stop_options(early_stop: bool | None, stop_gain: float | None, default: bool) -> tuple[bool, float | None]:
    """Resolve an attack's early-stopping options: ``early_stop=None`` means the attack's
    ``default``, or on when a ``stop_gain`` is given; ``stop_gain`` with ``early_stop=False`` is an error."""
    from advqa.attacks.losses import check_stop_gain

    stop_gain = check_stop_gain(stop_gain)
    if early_stop is None:
        return bool(default or stop_gain is not None), stop_gain
    if not isinstance(early_stop, bool):
        raise InputError(f"early_stop must be True, False or None (the attack's default), got {early_stop!r}")
    if not early_stop and stop_gain is not None:
        raise InputError(f"stop_gain={stop_gain} has no effect with early_stop=False; drop one of them")
    return early_stop, stop_gain


def snap_to_grid(video: Tensor) -> Tensor:
    """``video`` on the 8-bit grid: itself when it already is, else its rounding (frame by frame check)."""
    off = max(float((torch.round(video[:, t] * 255.0) / 255.0 - video[:, t]).abs().max())
              for t in range(video.shape[1]))
    if off <= 1e-6:
        return video
    log.warning("clean video is not on the 8-bit grid; attacking its 8-bit rounding")
    return torch.round(video * 255.0) / 255.0


def perturbation_stats(clean: Tensor, adversarial: Tensor) -> dict[str, float]:
    """Linf, pixel-level L2 (mean over frames of per-frame RMS) and PSNR (dB, whole video) of
    ``adversarial - clean`` (``(1, T, 3, H, W)``), one frame at a time."""
    linf, rms_sum, sq_sum, n = 0.0, 0.0, 0.0, 0
    for t in range(clean.shape[1]):
        d = adversarial[:, t:t + 1] - clean[:, t:t + 1]
        linf = max(linf, float(d.abs().max()))
        rms_sum += float(per_frame_rms(d).sum())
        sq_sum += float(d.double().pow(2).sum())
        n += d.numel()
    mse = sq_sum / max(n, 1)
    return {"linf": linf, "l2": rms_sum / (clean.shape[0] * clean.shape[1]),
            "psnr": float("inf") if mse == 0 else 10.0 * math.log10(1.0 / mse)}


class Attack:
    """Base class of every attack. Subclasses set ``name`` and implement :meth:`_run`.

    Parameters
    ----------
    threat:
        The budget (:mod:`advqa.threat`); enforced by the base class on the returned video.
        ``None`` gives the class's default, :attr:`default_norm` at :attr:`default_eps`.
    loss:
        What to minimise: a name understood by :func:`advqa.attacks.losses.make_loss`
        (``"srb"``, ``"mse"``, ``"mid"``, ``"up"``, ``"down"``, ...) or a callable
        ``loss(scores, ctx) -> (N,)``.
    seed:
        Seed of the attack's own randomness (initial noise, visiting orders); the same seed
        gives the same result.
    """

    name: ClassVar[str] = "attack"
    #: one line for ``advqa attacks``
    summary: ClassVar[str] = ""
    #: whether the attack needs gradients of the model (white-box)
    needs_gradients: ClassVar[bool] = True
    #: whether the attack must be fitted on a train split first (:class:`FittedAttack`)
    needs_fit: ClassVar[bool] = False
    #: the budget used when none is given: the paper's (stated once, here)
    default_norm: ClassVar[str] = "linf"
    default_eps: ClassVar[float] = 3.0 / 255.0

    def __init__(self, threat: ThreatModel | None = None, *, loss: str | Callable[..., Tensor] = "srb",
                 seed: int | None = 0) -> None:
        self.threat = threat if threat is not None else self.default_threat()
        if not isinstance(self.threat, ThreatModel):
            raise InputError(f"threat must be a ThreatModel (advqa.threat.LinfBall, L2Ball, ...), "
                             f"got {type(threat).__name__}")
        self.loss = loss
        self.seed = seed

    @classmethod
    def default_threat(cls) -> ThreatModel:
        """The paper-default budget of this attack."""
        return lp_ball(cls.default_norm, cls.default_eps)

    def config(self) -> dict[str, Any]:
        """Hyperparameters that define this attack (hashed by the results store)."""
        cfg = {k: v for k, v in vars(self).items() if not k.startswith("_") and k not in ("threat", "loss")}
        cfg.update(name=self.name, norm=self.threat.norm, eps=self.threat.eps,
                   loss=self.loss if isinstance(self.loss, str) else getattr(self.loss, "__name__", "custom"))
        if self.threat.norm not in ("linf", "l2"):
            cfg["threat"] = self.threat.describe()
        return cfg

    def _goal(self, model: QueryCounter, ctx: AttackContext):  # noqa: ANN202 - Goal | None
        """The early-stopping goal of this call (:func:`advqa.attacks.losses.make_goal`), or ``None``
        when the attack has no ``early_stop`` option, it is off, or the loss has no goal."""
        if not getattr(self, "early_stop", False):
            return None
        from advqa.attacks.losses import make_goal

        return make_goal(self.loss, card=model.card, clean_score=ctx.clean_score, target=ctx.target,
                         stop_gain=getattr(self, "stop_gain", None))

    def _run(self, model: QueryCounter, video: Tensor, ctx: AttackContext) -> Tensor:  # pragma: no cover
        """Return the adversarial video ``(1, T, 3, H, W)``; the base class enforces the budget."""
        raise NotImplementedError

    def _generator(self, generator: torch.Generator | None) -> torch.Generator:
        if generator is not None:
            return generator
        generator = torch.Generator(device="cpu")
        if self.seed is None:
            generator.seed()
        else:
            generator.manual_seed(int(self.seed))
        return generator

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
        self._check_ready()
        video = snap_to_grid(video.detach().to(model.device, torch.float32))
        generator = self._generator(generator)
        model_state = model.rng_state()

        with torch.no_grad():
            clean_score = float(model(video)[0])
        from advqa.attacks.losses import make_loss  # local: losses import this module

        loss_fn = make_loss(self.loss, card=model.card, clean_score=clean_score, mos=mos, target=target)
        threat = self.threat.bind(video)
        ctx = AttackContext(clean_score=clean_score, mos=mos, target=target, generator=generator,
                            loss=loss_fn, threat=threat)
        counter = QueryCounter(model)
        start = time.perf_counter()
        adv = self._run(counter, video, ctx)
        elapsed = time.perf_counter() - start
        if adv.shape != video.shape:
            raise RuntimeError(f"{self.name}: _run returned shape {tuple(adv.shape)} for {tuple(video.shape)}")
        if not all(bool(torch.isfinite(adv[:, t]).all()) for t in range(adv.shape[1])):
            raise RuntimeError(f"{self.name}: the attack produced NaN/inf pixels (model gradients overflowed?)")
        adv = threat.enforce(video, adv)
        # score the result with the same internal randomness as the clean video
        model.set_rng_state(model_state)
        with torch.no_grad():
            adv_score = float(model(adv)[0])
        stats = perturbation_stats(video, adv)
        return AttackResult(
            attack=self.name,
            adversarial=adv.cpu(),
            clean_score=clean_score,
            adv_score=adv_score,
            queries=counter.queries,
            iterations=ctx.iterations,
            time_s=elapsed,
            linf=stats["linf"],
            l2=stats["l2"],
            psnr=stats["psnr"],
            threat=self.threat,
            extras=dict(ctx.extras, target=target if target is not None else float("nan")),
        )

    def _check_ready(self) -> None:
        """Raise when the attack cannot run yet (a :class:`FittedAttack` before ``fit``)."""


class FittedAttack(Attack):
    """An attack fitted once on a train split, then applied per video (universal perturbations,
    generator networks).

    Subclasses implement :meth:`_fit` ``(model, videos, generator) -> state`` (a dict of
    tensors) and :meth:`_run`, which reads :attr:`state`. :meth:`fit` validates the inputs and
    stores the state; :meth:`save_state` / :meth:`load_state` write and read it safely
    (``torch.save`` of tensors only; loading uses ``weights_only=True``).
    """

    needs_fit: ClassVar[bool] = True

    def __init__(self, threat: ThreatModel | None = None, *, loss: str | Callable[..., Tensor] = "srb",
                 seed: int | None = 0) -> None:
        super().__init__(threat, loss=loss, seed=seed)
        self._state: dict[str, Tensor] | None = None

    @property
    def fitted(self) -> bool:
        return self._state is not None

    @property
    def state(self) -> dict[str, Tensor]:
        self._check_ready()
        assert self._state is not None
        return self._state

    def _check_ready(self) -> None:
        if self._state is None:
            raise InputError(f"attack {self.name!r} must be fitted first: call fit(model, train_videos) "
                             "or load_state(path) (advqa run fits it on the train split)")

    def fit(self, model: QualityModel, videos: Any, *, generator: torch.Generator | None = None,
            progress: Callable[[int, int], None] | None = None) -> dict[str, Tensor]:
        """Fit on ``videos`` (an iterable of ``(1, T, 3, H, W)`` or ``(T, 3, H, W)`` tensors, or a
        zero-argument callable returning a fresh iterable for several epochs) and return the state."""
        state = self._fit(model, videos, self._generator(generator), progress)
        self.load_state_dict(state)
        return self.state

    def _fit(self, model: QualityModel, videos: Any, generator: torch.Generator,
             progress: Callable[[int, int], None] | None) -> dict[str, Tensor]:  # pragma: no cover
        raise NotImplementedError

    def _check_state(self, state: dict[str, Tensor]) -> None:
        """Subclass hook: raise :class:`InputError` when ``state`` does not fit this attack."""

    def state_dict(self) -> dict[str, Tensor]:
        return {k: v.detach().cpu() for k, v in self.state.items()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
            raise InputError(f"{self.name}: a fitted state is a dict of tensors, got {type(state).__name__}")
        for key, value in state.items():
            if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                raise InputError(f"{self.name}: fitted state entry {key!r} contains NaN or infinite values")
        self._check_state(state)
        self._state = {k: v.detach() for k, v in state.items()}

    def save_state(self, path: Any) -> None:
        """Write the fitted state atomically (``torch.save`` of a dict of tensors)."""
        import os
        from pathlib import Path

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        torch.save(self.state_dict(), tmp)
        os.replace(tmp, path)

    def load_state(self, path: Any) -> FittedAttack:
        """Read a state written by :meth:`save_state` (``weights_only=True``)."""
        from pathlib import Path

        path = Path(path)
        if not path.is_file():
            raise InputError(f"{self.name}: fitted state file {path} does not exist")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same clear error
            raise InputError(f"{self.name}: cannot read fitted state {path}: {exc}") from None
        self.load_state_dict(state)
        return self


def fit_videos(videos: Any) -> Any:
    """Iterate ``videos`` (an iterable, or a callable returning one) as ``(1, T, 3, H, W)`` float
    tensors, each checked."""
    source = videos() if callable(videos) else videos
    for i, v in enumerate(source):
        if isinstance(v, Tensor) and v.ndim == 4:
            v = v.unsqueeze(0)
        check_video(v, name=f"fit video {i}")
        yield v


__all__ = ["Attack", "AttackContext", "AttackResult", "BUDGET_TOL", "FittedAttack", "L2Ball", "LinfBall",
           "Norm", "Q", "QueryCounter", "ThreatModel", "fit_videos", "lp_ball", "per_frame_rms",
           "perturbation_stats", "snap_to_grid", "stop_options"]
