"""White-box attacks: paper 000's Score-Reversed Boundary attack (Algorithm 1) and PGD.

Both run on one projected-gradient loop, :func:`descend`, shared with the FGSM family
(:mod:`advqa.attacks.fgsm`); they differ only in the update rule (:class:`SignStep`,
:class:`L2Step`, :class:`Momentum`, :class:`Adam`), the start point and which frames move.

Gradients are taken with ``torch.autograd.grad`` with respect to the pixels only, so no model
parameter ever gets a ``.grad``.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor

from advqa.attacks.base import Attack, AttackContext, QueryCounter, stop_options
from advqa.attacks.context import Context, FrameWindowScorer
from advqa.attacks.losses import Goal, check_stop_gain, make_goal
from advqa.errors import InputError
from advqa.models.base import FrameParts
from advqa.threat import ThreatModel, per_frame_rms

log = logging.getLogger(__name__)

GradFn = Callable[[Tensor], Tensor]

_TINY = 1e-12


# --------------------------------------------------------------------------- update rules
class SignStep:
    """Linf steepest descent: displacement ``step * sign(g)`` (FGSM, PGD-Linf)."""

    def __init__(self, step: float) -> None:
        self.step = float(step)

    def __call__(self, grad: Tensor) -> Tensor:
        """In place on ``grad`` (a fresh tensor from the gradient function): no clip-sized temporaries."""
        return grad.sign_().mul_(self.step)


class L2Step:
    """Pixel-level L2 steepest descent: ``step * g / rms_t(g)`` per frame, so each frame moves by RMS ``step``."""

    def __init__(self, step: float) -> None:
        self.step = float(step)

    def __call__(self, grad: Tensor) -> Tensor:
        rms = per_frame_rms(grad).clamp_min(_TINY)
        return grad.mul_((self.step / rms)[..., None, None, None])  # in place, as SignStep


def direction_for(norm: str, step: float) -> SignStep | L2Step:
    """The steepest-descent step of a threat norm: RMS-normalised for pixel-level l2, sign steps
    for linf and for per-pixel (box) budgets such as masks."""
    return L2Step(step) if norm == "l2" else SignStep(step)


class Momentum:
    """MI-FGSM momentum (Dong et al. 2018): ``acc = g' + mu * acc``, then ``inner(acc)``.

    ``g' = g`` as in paper 004's code (``normalize=False``), or ``g / mean|g|`` per video as in
    Dong et al. (``normalize=True``).
    """

    def __init__(self, inner: Callable[[Tensor], Tensor], mu: float = 1.0, normalize: bool = False) -> None:
        self.inner, self.mu, self.normalize = inner, float(mu), bool(normalize)
        self.acc: Tensor | None = None

    def __call__(self, grad: Tensor) -> Tensor:
        if self.normalize:
            grad = grad / grad.abs().flatten(1).mean(dim=1).clamp_min(_TINY).view(-1, 1, 1, 1, 1)
        self.acc = grad.clone() if self.acc is None else self.acc.mul_(self.mu).add_(grad)
        return self.inner(grad.copy_(self.acc))  # the update rule works in place on the copy


class Adam:
    """Adam on the pixels (paper 000, Algorithm 1), after L2-normalising the gradient per frame.

    Same update as ``torch.optim.Adam`` with its defaults (betas 0.9/0.999, eps 1e-8); the
    official code divides each frame's gradient by its L2 norm (+1e-12) before the step.
    """

    def __init__(self, lr: float = 3e-4, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 normalize: bool = True) -> None:
        self.lr, self.betas, self.eps, self.normalize = float(lr), betas, float(eps), bool(normalize)
        self.m: Tensor | None = None
        self.v: Tensor | None = None
        self.t = 0

    def __call__(self, grad: Tensor) -> Tensor:
        if self.normalize:
            grad = grad / (grad.flatten(2).norm(dim=2) + _TINY)[..., None, None, None]
        b1, b2 = self.betas
        if self.m is None or self.v is None:
            self.m, self.v = torch.zeros_like(grad), torch.zeros_like(grad)
        self.t += 1
        self.m.lerp_(grad, 1 - b1)
        self.v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        # torch.optim.Adam's arithmetic: lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps)
        denom = self.v.sqrt().div_(math.sqrt(1 - b2 ** self.t)).add_(self.eps)
        return torch.div(self.m, denom, out=denom).mul_(self.lr / (1 - b1 ** self.t))


Schedule = Literal["constant", "cosine"]
SCHEDULES = ("constant", "cosine")


def step_factors(schedule: str, iterations: int) -> list[float]:
    """Multipliers of the step size for ``iterations`` steps: ``"constant"`` (all 1, the papers'
    setting) or ``"cosine"`` (``0.5 (1 + cos(pi i / iterations))``, from 1 at the first step
    toward 0 at the last; Loshchilov & Hutter, SGDR, ICLR 2017)."""
    if schedule == "constant":
        return [1.0] * iterations
    if schedule == "cosine":
        return [0.5 * (1.0 + math.cos(math.pi * i / iterations)) for i in range(iterations)]
    raise InputError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")


class Scheduled:
    """An update rule whose displacement is multiplied by ``factors[i]`` at the ``i``-th step (Adam's
    update is linear in its learning rate, so this is a learning-rate schedule)."""

    def __init__(self, inner: Callable[[Tensor], Tensor], factors: list[float]) -> None:
        self.inner, self.factors, self.i = inner, list(factors), 0

    def __call__(self, grad: Tensor) -> Tensor:
        factor = self.factors[min(self.i, len(self.factors) - 1)]
        self.i += 1
        out = self.inner(grad)
        return out if factor == 1.0 else out.mul_(factor)


class ScoreMonitor:
    """Wraps a loss and keeps the scores it saw since the last :meth:`take` (EOT samples averaged).

    The forward pass of every gradient step scores the current iterate anyway, so an attack can
    check its goal after each step at no extra query.
    """

    def __init__(self, loss: Callable[[Tensor], Tensor]) -> None:
        self._loss, self._sum, self._n = loss, 0.0, 0

    def loss(self, scores: Tensor) -> Tensor:
        self._sum += float(scores.detach()[0])
        self._n += 1
        return self._loss(scores)

    def take(self) -> float | None:
        """The mean score since the last call (``None`` if none), then reset."""
        out = self._sum / self._n if self._n else None
        self._sum, self._n = 0.0, 0
        return out


# --------------------------------------------------------------------------- gradients
def autograd_gradient(objective: Callable[[Tensor], Tensor]) -> GradFn:
    """``x -> d objective(x).sum() / dx`` with respect to ``x`` only (NaN entries set to 0)."""

    def grad_fn(x: Tensor) -> Tensor:
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            loss = objective(xg).sum()
            (grad,) = torch.autograd.grad(loss, xg)
        return grad.contiguous().nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)

    return grad_fn


def chunked_gradient(counter: QueryCounter, parts: FrameParts, loss: Callable[[Tensor], Tensor],
                     chunk: int | None = None) -> GradFn:
    """Exact whole-video gradient of a frame-wise model with activations for ``chunk`` frames at a time.

    ``parts`` are the halves the model offers (:meth:`~advqa.models.base.QualityModel.frame_parts`).
    Features of the scored frames are computed chunk by chunk without a graph, the temporal head
    is differentiated with respect to them, and the backbone is then back-propagated chunk by
    chunk with those feature gradients; frames the model does not score get a zero gradient.
    Memory is flat in the number of frames; cost is one extra backbone forward per step. One
    query per call.
    """
    chunk = int(chunk or parts.chunk_size)

    def grad_fn(x: Tensor) -> Tensor:
        b, t = x.shape[:2]
        pos = torch.arange(t) if parts.indices is None else parts.indices
        spans = [pos[i:i + chunk].to(x.device) for i in range(0, len(pos), chunk)]

        def frames_at(p: Tensor) -> Tensor:
            return x.detach()[:, p].reshape(b * len(p), *x.shape[2:])

        with torch.no_grad():
            feats = torch.cat([parts.frame_features(frames_at(p)).reshape(b, len(p), -1) for p in spans], dim=1)
        with torch.enable_grad():
            f = feats.requires_grad_(True)
            (gf,) = torch.autograd.grad(loss(parts.temporal_head(f)).sum(), f)
        counter.count(b)
        grad = torch.zeros_like(x)
        row = 0
        for p in spans:
            with torch.enable_grad():
                c = frames_at(p).requires_grad_(True)
                (g,) = torch.autograd.grad(parts.frame_features(c), c,
                                           gf[:, row:row + len(p)].reshape(b * len(p), -1))
            grad[:, p] = g.reshape(b, len(p), *x.shape[2:])
            row += len(p)
        return torch.nan_to_num_(grad, nan=0.0, posinf=0.0, neginf=0.0)

    return grad_fn


def expectation(grad_fn: GradFn, samples: int) -> GradFn:
    """Expectation over transformation (Athalye et al. 2018): the mean of ``samples`` gradients.

    For models with internal randomness (random crops, fragments, guardian maps), each call
    draws new randomness from the model's generator; ``samples`` queries per step.
    """
    if samples <= 1:
        return grad_fn

    def mean_grad(x: Tensor) -> Tensor:
        total = grad_fn(x)
        for _ in range(samples - 1):
            total.add_(grad_fn(x))
        return total.div_(samples)

    return mean_grad


def descend(grad_fn: GradFn, clean: Tensor, start: Tensor, *, rule: Callable[[Tensor], Tensor],
            threat: ThreatModel, iterations: int, project: bool = True,
            on_step: Callable[[int], bool] | None = None, copy: bool = True) -> Tensor:
    """The projected-gradient loop every gradient attack uses.

    Minimises a loss from ``start`` (``(1, k, 3, H, W)``): ``iterations`` times,
    ``x <- x - rule(grad)``, then (if ``project``) ``x <- clean + Pi_threat(x - clean)``, then
    ``x <- clamp(x, 0, 1)``. ``on_step(i)`` is called after the ``i``-th gradient (which scored the
    current iterate); when it returns True the loop stops there and returns that iterate, so
    ``i + 1`` gradients were spent. Returns the last iterate (not rounded). ``copy=False`` iterates
    in ``start`` itself (a fresh tensor the caller gives up), saving a clip-sized copy.
    """
    x = start.detach().clone() if copy else start.detach()
    for i in range(iterations):
        grad = grad_fn(x)
        if on_step is not None and on_step(i):
            break
        x.sub_(rule(grad))
        del grad  # the next gradient is computed without this one still alive
        if project and not threat.per_frame:
            x = threat.project(x.sub_(clean)).add_(clean)
        elif project:  # frame by frame: no clip-sized temporaries
            for t in range(x.shape[1]):
                x[:, t:t + 1] = threat.frames(t, t + 1).project(x[:, t:t + 1] - clean[:, t:t + 1]).add_(
                    clean[:, t:t + 1])
        x.clamp_(0.0, 1.0)
    return x


def random_start(clean: Tensor, threat: ThreatModel, generator: torch.Generator) -> Tensor:
    """A uniform random point of the budget around ``clean`` (clamped to [0, 1]).

    Linf: ``U(-eps, eps)`` per pixel. L2: a Gaussian direction per frame scaled to RMS
    ``eps * u``, ``u ~ U(0, 1)`` per frame.
    """
    shape = clean.shape
    if threat.norm == "l2":
        d = torch.randn(shape, generator=generator)
        u = torch.rand(shape[:2], generator=generator)
        delta = d.mul_((threat.eps * u / per_frame_rms(d).clamp_min(_TINY))[..., None, None, None])
    elif threat.norm == "linf":
        delta = torch.rand(shape, generator=generator).mul_(2).sub_(1).mul_(threat.eps)
    else:  # a per-pixel box budget (mask): uniform inside the box
        delta = threat.project(torch.rand(shape, generator=generator).mul_(2).sub_(1))
    return delta.to(clean).add_(clean).clamp_(0.0, 1.0)  # in place: one clip-sized buffer


# --------------------------------------------------------------------------- attacks
Remaining = Literal["clean", "cheap"]

#: Zhang et al.'s settings as their code runs them (each frame scored alone, no early stop).
OFFICIAL_WHITEBOX: dict[str, Any] = dict(frames_per_round=1, iterations=30, lr=3e-4, schedule="constant",
                                         context="frame", early_stop=False)
#: advqa's defaults (chosen by measurement: benchmarks/bench_speed.py).
DEFAULT_WHITEBOX: dict[str, Any] = dict(frames_per_round=1, iterations=30, lr=3e-4, schedule="constant",
                                        context="video", early_stop=True)


class WhiteBoxSRB(Attack):
    """Paper 000's white-box attack (Algorithm 1) with the Score-Reversed Boundary loss.

    The video is attacked ``frames_per_round`` (T) frames at a time. Each round starts from
    the clean frames plus noise drawn from {-1, 0, +1}/255, runs ``iterations`` (K) Adam steps
    at ``lr`` (times the ``schedule``'s factor) on the per-frame L2-normalised gradient,
    projecting onto the threat model and clamping to [0, 1] after every step, then rounds the
    frames to 8 bits (inside the budget).

    ``context="video"`` (default) scores the whole video with the other frames at their
    current values (cached features for frame-wise models, so a round runs the backbone on its
    T frames only and memory is flat in the video's length); ``context="frame"`` is the official
    behaviour, scoring the T frames alone as a short video.

    Early stopping (``early_stop``, on by default): every gradient step scores the current
    iterate, so a round stops as soon as that score meets the loss's goal (for SRB: the
    boundary; :func:`advqa.attacks.losses.make_goal`). With ``context="video"`` the rounded
    video is then scored once more (one query) and, when it meets the goal, the attack stops:
    the remaining frames stay clean (``remaining="clean"``) or get ``remaining_iterations``
    steps each without the goal check (``remaining="cheap"``). With ``context="frame"`` each
    round's goal is its own clip's score and every frame gets a round.

    ``official=True`` selects Zhang et al.'s settings as their code runs them (T=1, K=30,
    lr=3e-4, constant step, ``context="frame"``, no early stop); options given explicitly
    still override it. Budget default: pixel-level L2 <= 1/255 (or Linf <= 3/255). ``eot`` > 1
    averages that many gradients per step. Queries: the gradient steps taken times ``eot``,
    plus one per goal check of a rounded video; ``result.iterations`` counts the steps taken.
    """

    name: ClassVar[str] = "whitebox"
    summary: ClassVar[str] = ("Zhang et al. (NeurIPS 2023) Alg. 1: Score-Reversed Boundary loss, T frames per round, "
                              "K=30 Adam steps")
    default_norm: ClassVar[str] = "l2"
    default_eps: ClassVar[float] = 1 / 255

    def __init__(self, threat: ThreatModel | None = None, *, loss: str | Callable[..., Tensor] = "srb",
                 frames_per_round: int | None = None, iterations: int | None = None, lr: float | None = None,
                 schedule: Schedule | None = None, context: Context | None = None,
                 early_stop: bool | None = None, stop_gain: float | None = None,
                 remaining: Remaining = "clean", remaining_iterations: int | None = None,
                 init_noise: bool = True, eot: int = 1, official: bool = False,
                 seed: int | None = 0) -> None:
        super().__init__(threat, loss=loss, seed=seed)
        if not isinstance(official, bool):
            raise InputError(f"official must be True or False, got {official!r}")
        preset = OFFICIAL_WHITEBOX if official else DEFAULT_WHITEBOX
        given = dict(frames_per_round=frames_per_round, iterations=iterations, lr=lr, schedule=schedule,
                     context=context, early_stop=early_stop)
        if official:
            changed = {k: v for k, v in given.items() if v is not None and v != preset[k]}
            if changed or stop_gain is not None:
                log.info("whitebox: official=True with non-official options %s", changed or {"stop_gain": stop_gain})
        opts = {k: preset[k] if v is None else v for k, v in given.items()}
        if early_stop is None and stop_gain is not None:
            opts["early_stop"] = None  # a stop_gain turns early stopping on
        frames_per_round, iterations, lr = opts["frames_per_round"], opts["iterations"], opts["lr"]
        if not isinstance(eot, int) or eot < 1:
            raise InputError(f"eot (gradient samples per step) must be a positive integer, got {eot!r}")
        if isinstance(frames_per_round, bool) or not isinstance(frames_per_round, int) or frames_per_round < 1:
            raise InputError(f"frames_per_round must be a positive integer, got {frames_per_round!r}")
        if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
            raise InputError(f"iterations must be a positive integer, got {iterations!r}")
        if not isinstance(lr, (int, float)) or not lr > 0:
            raise InputError(f"lr must be positive, got {lr!r}")
        if opts["context"] not in ("frame", "video"):
            raise InputError(f"context must be 'frame' (official) or 'video' (default), got {opts['context']!r}")
        if opts["schedule"] not in SCHEDULES:
            raise InputError(f"schedule must be one of {', '.join(SCHEDULES)}, got {opts['schedule']!r}")
        if remaining not in ("clean", "cheap"):
            raise InputError(f"remaining must be 'clean' (frames after the goal is met stay clean) or 'cheap' "
                             f"(they get remaining_iterations steps each), got {remaining!r}")
        if remaining_iterations is not None and (isinstance(remaining_iterations, bool)
                                                 or not isinstance(remaining_iterations, int)
                                                 or remaining_iterations < 1):
            raise InputError(f"remaining_iterations must be a positive integer, got {remaining_iterations!r}")
        self.frames_per_round = frames_per_round
        self.iterations = iterations
        self.lr = float(lr)
        self.schedule: str = opts["schedule"]
        self.context: str = opts["context"]
        self.early_stop, self.stop_gain = stop_options(opts["early_stop"], stop_gain, default=False)
        self.remaining: str = remaining
        self.remaining_iterations = remaining_iterations if remaining_iterations is not None \
            else max(1, iterations // 10)
        self.init_noise = bool(init_noise)
        self.eot = eot
        self.official = official

    def _run(self, model: QueryCounter, video: Tensor, ctx: AttackContext) -> Tensor:
        scorer = FrameWindowScorer(model, video, self.context)  # type: ignore[arg-type]
        goal = self._goal(model, ctx)
        monitor = ScoreMonitor(ctx.loss)
        n_frames, k = video.shape[1], self.frames_per_round
        rounds = stopped_rounds = checks = 0
        goal_met_at: int | None = None  # the frame where the whole video met the goal
        for start in range(0, n_frames, k):
            done = goal_met_at is not None
            if done and self.remaining == "clean":
                break
            steps_max = self.remaining_iterations if done else self.iterations
            clean = video[:, start:start + k]
            threat = ctx.threat.frames(start, start + k)
            x0 = clean
            if self.init_noise:
                noise = torch.randint(-1, 2, clean.shape, generator=ctx.generator).to(clean) / 255.0
                x0 = (clean + threat.project(noise)).clamp(0.0, 1.0)

            def objective(frames: Tensor, start: int = start) -> Tensor:
                return monitor.loss(scorer.score(frames, start))

            spent = [0, False]  # gradients taken, goal met

            def on_step(i: int, check: bool = goal is not None and not done) -> bool:
                score = monitor.take()
                spent[0] = i + 1
                if check and score is not None and goal.reached(score):  # type: ignore[union-attr]
                    spent[1] = True
                return bool(spent[1])

            grad_fn = expectation(autograd_gradient(objective), self.eot)
            rule = Scheduled(Adam(self.lr), step_factors(self.schedule, steps_max))
            x = descend(grad_fn, clean, x0, rule=rule, threat=threat, iterations=steps_max, on_step=on_step)
            scorer.commit(threat.enforce(clean, x), start)
            ctx.iterations += int(spent[0])
            rounds += 1
            if spent[1]:
                stopped_rounds += 1
                if self.context == "video":
                    checks += 1
                    if goal.reached(scorer.current_score()):  # type: ignore[union-attr]
                        goal_met_at = start + clean.shape[1]
        ctx.extras.update(rounds=rounds, context=self.context, feature_cache=scorer.uses_feature_cache,
                          early_stop=self.early_stop, stopped_rounds=stopped_rounds, goal_checks=checks,
                          goal_met=goal_met_at is not None,
                          frames_attacked=min(n_frames, rounds * k),
                          goal=float("nan") if goal is None else goal.threshold)
        log.debug("whitebox: %d rounds, %d steps, context=%s, cached features=%s, goal met after frame %s",
                  rounds, ctx.iterations, self.context, scorer.uses_feature_cache, goal_met_at)
        return scorer.video


class GradientAttack(Attack):
    """Whole-video projected gradient attacks (PGD and the FGSM family) on :func:`descend`.

    Each iteration takes one gradient of the loss of the whole video's score (one query),
    steps by ``step`` (sign for linf, per-frame RMS-normalised for l2), optionally with
    momentum ``momentum``, and projects onto the budget (``project_each_step``) and [0, 1].
    ``chunked`` (default: automatic) computes the exact gradient of a plain frame-wise model
    chunk by chunk so memory stays flat in the video's length; ``eot`` > 1 averages that many
    gradients per step (expectation over transformation, for randomised models/defences).

    ``early_stop`` (default :attr:`default_early_stop`: on for PGD, off for the FGSM family,
    whose benchmark protocol measures the gain after a fixed number of steps; a ``stop_gain``
    turns it on) stops as soon as the score of the current iterate, which every gradient step
    computes anyway, meets the loss's goal (:func:`advqa.attacks.losses.make_goal`).
    Queries: the steps taken times ``eot`` (``iterations * eot`` without a stop).
    """

    name: ClassVar[str] = "gradient"
    #: whether ``early_stop=None`` means on
    default_early_stop: ClassVar[bool] = True

    def __init__(self, threat: ThreatModel | None = None, *, loss: str | Callable[..., Tensor] = "srb",
                 iterations: int = 10, step: float | None = None, momentum: float = 0.0,
                 normalize_momentum: bool = False, random_start: bool = False,
                 project_each_step: bool = True, chunked: bool | None = None, eot: int = 1,
                 early_stop: bool | None = None, stop_gain: float | None = None,
                 seed: int | None = 0) -> None:
        super().__init__(threat, loss=loss, seed=seed)
        self.early_stop, self.stop_gain = stop_options(early_stop, stop_gain, default=self.default_early_stop)
        if not isinstance(eot, int) or eot < 1:
            raise InputError(f"eot (gradient samples per step) must be a positive integer, got {eot!r}")
        if not isinstance(iterations, int) or iterations < 1:
            raise InputError(f"iterations must be a positive integer, got {iterations!r}")
        if step is not None and not step > 0:
            raise InputError(f"step must be positive (pixel units, e.g. 1/255), got {step!r}")
        if momentum < 0:
            raise InputError(f"momentum must be >= 0, got {momentum!r}")
        self.iterations = iterations
        self.step = None if step is None else float(step)
        self.momentum = float(momentum)
        self.normalize_momentum = bool(normalize_momentum)
        self.random_start = bool(random_start)
        self.project_each_step = bool(project_each_step)
        self.chunked = chunked
        self.eot = eot

    def step_size(self) -> float:
        """The per-iteration step in pixel units (RMS units for l2)."""
        return self.step if self.step is not None else self.threat.eps / self.iterations

    def _run(self, model: QueryCounter, video: Tensor, ctx: AttackContext) -> Tensor:
        parts = model.frame_parts(video.shape[1])
        chunked = self.chunked
        if chunked is None:
            chunked = parts is not None and video.shape[1] > parts.chunk_size
        elif chunked and parts is None:
            raise InputError("chunked=True needs a model that offers its frame-wise parts exactly "
                             "(a deterministic frame-wise model scoring every frame); use chunked=None")
        monitor = ScoreMonitor(ctx.loss)
        if chunked:
            assert parts is not None
            grad_fn = chunked_gradient(model, parts, monitor.loss)
        else:
            grad_fn = autograd_gradient(lambda v: monitor.loss(model(v)))
        grad_fn = expectation(grad_fn, self.eot)
        rule: Callable[[Tensor], Tensor] = direction_for(ctx.threat.norm, self.step_size())
        if self.momentum > 0:
            rule = Momentum(rule, self.momentum, self.normalize_momentum)
        x0 = random_start(video, ctx.threat, ctx.generator) if self.random_start else video.clone()
        goal = self._goal(model, ctx)
        spent = [0, False]

        def on_step(i: int) -> bool:
            score = monitor.take()
            spent[0] = i + 1
            spent[1] = goal is not None and score is not None and goal.reached(score)
            return bool(spent[1])

        adv = descend(grad_fn, video, x0, rule=rule, threat=ctx.threat, iterations=self.iterations,
                      project=self.project_each_step, on_step=on_step, copy=False)
        del x0
        ctx.iterations = int(spent[0])
        ctx.extras.update(chunked=bool(chunked), step=self.step_size(), early_stop=self.early_stop,
                          goal_met=bool(spent[1]), goal=float("nan") if goal is None else goal.threshold)
        return adv


class PGD(GradientAttack):
    """Projected gradient descent (Madry et al. 2018) on the whole video, Linf or pixel-level L2.

    Random start inside the budget, ``iterations`` steps of ``step`` (default ``2.5 eps /
    iterations``): sign steps for linf, per-frame RMS-normalised steps for l2; projection and
    clamp after every step; stops early when the score meets the loss's goal (``early_stop``).
    Queries: the steps taken (at most ``iterations``).
    """

    name: ClassVar[str] = "pgd"
    summary: ClassVar[str] = "Madry et al. (ICLR 2018): projected gradient descent with a random start"
    default_norm: ClassVar[str] = "linf"
    default_eps: ClassVar[float] = 3 / 255

    def __init__(self, threat: ThreatModel | None = None, *, loss: str | Callable[..., Tensor] = "srb",
                 iterations: int = 10, step: float | None = None, random_start: bool = True,
                 chunked: bool | None = None, eot: int = 1, early_stop: bool | None = None,
                 stop_gain: float | None = None, seed: int | None = 0) -> None:
        super().__init__(threat, loss=loss, iterations=iterations, step=step,
                         random_start=random_start, chunked=chunked, eot=eot, early_stop=early_stop,
                         stop_gain=stop_gain, seed=seed)

    def step_size(self) -> float:
        return self.step if self.step is not None else 2.5 * self.threat.eps / self.iterations


__all__ = ["Adam", "DEFAULT_WHITEBOX", "GradientAttack", "L2Step", "Momentum", "OFFICIAL_WHITEBOX", "PGD",
           "SCHEDULES", "Scheduled", "ScoreMonitor", "SignStep", "WhiteBoxSRB", "autograd_gradient",
           "chunked_gradient", "descend", "direction_for", "expectation", "random_start", "step_factors"]
