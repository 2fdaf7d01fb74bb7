"""Paper 000's black-box attack: patch-based random search (§3.3, Algorithm 2).

The video is attacked in rounds of ``frames_per_round`` (T) frames. A frame's colour channels
are cut into ``patch`` x ``patch`` cells, ``(channel, patch row, patch column)``; every cell is
visited exactly once per round, in a random order, ``Z = max(floor(cells / N), 1)`` cells per
step (``N = iterations = 300``). A step draws one ``p x p`` sign map ``m`` in {-1, +1}, shared by
its ``Z`` cells and by the round's ``T`` frames, and tries ``x - gamma*m`` then ``x + gamma*m``
(clamped to [0, 1]); the first candidate that lowers the loss is kept (strictly lower, as in the
official code). Because every pixel-channel is changed at most once, ``|delta| <= gamma``
(Linf) and the per-frame RMS ``<= gamma`` (paper 000's pixel-level L2, Eq. 4-5) hold by
construction; the base class checks both again after 8-bit rounding.

Facts from the official code (GZHU-DVL/AttackVQA, ``Black-box.py``):

- cells are indexed channel-major (``c * rows * cols + row * cols + col``) and visited in a
  ``randperm`` order; the last step of a round takes the remaining ``cells mod Z`` cells, so a
  round has ``ceil(cells / Z)`` steps (not exactly ``N``);
- the loss of the unperturbed window is evaluated once at the start of every round;
- ``floor(H / p) x floor(W / p)`` cells: the bottom and right borders (``H mod p`` rows,
  ``W mod p`` columns) are never perturbed, and a frame smaller than ``p`` is not attacked at
  all. advqa reproduces this with ``border="official"``; the default ``border="cover"`` uses
  ``ceil`` instead and the border cells are partial (the top-left part of the sign map);
- each round scores its T frames alone (``context="frame"``); advqa's default
  ``context="video"`` scores the whole video with the other frames at their current values
  (design.md §3), via :class:`~advqa.attacks.context.FrameWindowScorer`;
- each round ends with rounding to the 8-bit grid (here: :meth:`ThreatModel.enforce`).

Query accounting (every model evaluation counts, including the round-start evaluation):
with ``batched=True`` the minus and plus candidates of a step are scored in ONE forward of two
videos and both count, so a full round costs ``1 + 2 * steps`` queries; the decision is exactly
the sequential one (minus first, plus only if minus fails). ``batched=False`` evaluates them
one at a time, as the official code, costing ``1 + sum(1 if minus accepted else 2)``.
``result.extras["queries_sequential"]`` always holds the latter count for the decisions made,
so both accountings are reported. A query budget ``queries`` stops the attack exactly: it never
evaluates more videos than that (in batched mode a step with one query left evaluates only the
minus candidate).
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor

from advqa.attacks.base import Attack, AttackContext, QueryCounter
from advqa.threat import MaskBudget, ThreatModel
from advqa.attacks.context import Context, FrameWindowScorer
from advqa.errors import InputError

log = logging.getLogger(__name__)

Border = Literal["cover", "official"]


def _positive_int(value: Any, what: str, *, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


class SignSearch(Attack):
    """Shared engine of the ``x -/+ gamma * d`` random searches (:class:`PatchSearch`, SimBA).

    Subclasses implement :meth:`_directions`, the per-round sequence of directions ``d`` with
    entries in {-1, 0, +1}, each pixel-channel non-zero in at most one direction of a round.
    ``gamma`` is the threat model's ``eps`` (Linf, or paper 000's pixel-level L2, which the
    search also satisfies by construction).

    Parameters
    ----------
    iterations:
        Steps per round (paper 000's N for the patch search).
    frames_per_round:
        T, the frames optimised together in one round (sharing each direction).
    context:
        ``"video"`` (default): candidates are scored as the whole video; ``"frame"``
        (official): the round's frames are scored alone.
    queries:
        Total query budget (model evaluations); ``None`` for no limit.
    batched:
        Score the minus and plus candidates of a step in one forward (both count as queries).
    trace:
        Record the loss after every step in ``result.extras["loss_trace"]`` (and per round in
        ``extras["round_losses"]`` always).
    eot:
        Expectation over transformation for randomised models and defences (Athalye, Carlini,
        Wagner, ICML 2018): every candidate's loss is the mean over ``eot`` evaluations, each with
        fresh randomness; all of them count as queries.
    """

    needs_gradients = False
    default_norm: ClassVar[str] = "linf"
    default_eps: ClassVar[float] = 5.0 / 255.0

    def __init__(self, threat: ThreatModel | None = None, *, iterations: int = 300, frames_per_round: int = 1,
                 context: Context = "video", queries: int | None = None, batched: bool = True,
                 trace: bool = False, loss: Any = "srb", eot: int = 1, seed: int | None = 0) -> None:
        super().__init__(threat, loss=loss, seed=seed)
        self.iterations = _positive_int(iterations, "iterations")
        self.eot = _positive_int(eot, "eot (loss samples per candidate)")
        self.frames_per_round = _positive_int(frames_per_round, "frames_per_round")
        if context not in ("frame", "video"):
            raise InputError(f"context must be 'video' (whole-video scoring, default) or 'frame' "
                             f"(paper 000's official per-frame scoring), got {context!r}")
        self.context = context
        self.queries = _positive_int(queries, "queries", allow_none=True)
        self.batched = bool(batched)
        self.trace = bool(trace)

    # -- subclass hooks ------------------------------------------------------------------------
    def _directions(self, k: int, height: int, width: int, generator: torch.Generator,
                    device: torch.device) -> Iterator[Tensor]:  # pragma: no cover - abstract
        """Yield the round's directions, each broadcastable to ``(1, k, 3, H, W)``."""
        raise NotImplementedError

    def _round_info(self, k: int, height: int, width: int) -> dict[str, Any]:
        """Scalars describing a round's plan, merged into ``result.extras``."""
        return {}

    # -- the search ----------------------------------------------------------------------------
    def _run(self, model: QueryCounter, video: Tensor, ctx: AttackContext) -> Tensor:
        with torch.no_grad():
            return self._search(model, video, ctx)

    def _search(self, model: QueryCounter, video: Tensor, ctx: AttackContext) -> Tensor:
        n_frames, height, width = video.shape[1], video.shape[3], video.shape[4]
        t = min(self.frames_per_round, n_frames)
        scorer = FrameWindowScorer(model, video, self.context)
        budget = self.queries
        steps = accepted = accepted_minus = seq_queries = 0
        exhausted = False
        round_losses: list[tuple[float, float]] = []
        trace: list[float] = []

        eot = self.eot

        def left() -> int | None:  # candidates that can still be evaluated (eot queries each)
            return None if budget is None else (budget - model.queries) // eot

        def losses(cands: Tensor, start: int) -> Tensor:
            total = ctx.loss(scorer.score(cands, start))
            for _ in range(eot - 1):
                total = total + ctx.loss(scorer.score(cands, start))
            return total / eot

        for start in range(0, n_frames, t):
            k = min(t, n_frames - start)
            if left() is not None and left() < 1:  # type: ignore[operator]
                exhausted = True
                break
            clean = video[:, start:start + k]
            threat = ctx.threat.frames(start, start + k)
            # the step: gamma = eps for Lp budgets, the per-pixel limit for mask budgets
            gamma: float | Tensor = threat.limit() if isinstance(threat, MaskBudget) else float(threat.eps)
            cur = scorer.video[:, start:start + k].clone()
            best = float(losses(cur, start)[0])  # Alg. 2 line 6
            seq_queries += 1
            first = best
            for d in self._directions(k, height, width, ctx.generator, video.device):
                remaining = left()
                if remaining is not None and remaining < 1:
                    exhausted = True
                    break
                minus = (cur - gamma * d).clamp(0.0, 1.0)
                plus = (cur + gamma * d).clamp(0.0, 1.0)
                loss_plus: float | None = None
                if self.batched and (remaining is None or remaining >= 2):
                    pair = losses(torch.cat([minus, plus]), start)
                    loss_minus, loss_plus = float(pair[0]), float(pair[1])
                else:
                    loss_minus = float(losses(minus, start)[0])
                    if not loss_minus < best and (remaining is None or remaining >= 2):
                        loss_plus = float(losses(plus, start)[0])
                steps += 1
                if loss_minus < best:
                    seq_queries += 1
                    cur, best = minus, loss_minus
                    accepted += 1
                    accepted_minus += 1
                else:
                    seq_queries += 1 if loss_plus is None else 2
                    if loss_plus is not None and loss_plus < best:
                        cur, best = plus, loss_plus
                        accepted += 1
                if self.trace:
                    trace.append(best)
            cur = threat.enforce(clean, cur)  # 8-bit rounding after each round (official)
            scorer.commit(cur, start)
            round_losses.append((first, best))
            if exhausted:
                break
        ctx.iterations = steps
        ctx.extras.update(
            steps=steps, accepted=accepted, accepted_minus=accepted_minus, queries_sequential=seq_queries * eot, budget_exhausted=exhausted,
            rounds=len(round_losses), frames_per_round=t, context=self.context, batched=self.batched,
            round_losses=round_losses, **self._round_info(t, height, width))
        if self.trace:
            ctx.extras["loss_trace"] = trace
        log.debug("%s: %d steps, %d accepted, %d queries (%d sequential)", self.name, steps, accepted,
                  model.queries, seq_queries)
        return scorer.video


@dataclass(frozen=True)
class PatchPlan:
    """How a ``height x width`` frame is cut into cells and visited in one round.

    ``rows x cols`` cells per channel (``cells = 3 * rows * cols``), ``z`` cells per step,
    ``steps = ceil(cells / z)`` steps per round; ``coverage`` is the fraction of pixels that
    belong to a cell (1.0 unless ``border="official"`` leaves borders out).
    """

    patch: int
    rows: int
    cols: int
    cells: int
    z: int
    steps: int
    coverage: float


def patch_plan(height: int, width: int, *, patch: int = 56, iterations: int = 300,
               border: Border = "cover") -> PatchPlan:
    """The cell grid of Algorithm 2 for a ``height x width`` frame (see :class:`PatchPlan`).

    ``Z = max(floor(cells / N), 1)`` with ``N = iterations``; ``border="official"`` uses
    ``floor(H / p) x floor(W / p)`` cells per channel, ``"cover"`` uses ``ceil`` (partial border cells).
    """
    if border == "official":
        rows, cols = height // patch, width // patch
    elif border == "cover":
        rows, cols = -(-height // patch), -(-width // patch)
    else:
        raise InputError(f"border must be 'cover' (default: partial cells at the borders) or 'official' "
                         f"(floor(H/p) x floor(W/p) cells, borders untouched), got {border!r}")
    cells = 3 * rows * cols
    z = max(cells // iterations, 1)
    steps = -(-cells // z) if cells else 0
    covered = min(rows * patch, height) * min(cols * patch, width)
    return PatchPlan(patch=patch, rows=rows, cols=cols, cells=cells, z=z, steps=steps,
                     coverage=covered / float(height * width))


class PatchSearch(SignSearch):
    """Paper 000's patch-based random search (Algorithm 2); see the module docstring.

    ``PatchSearch(ThreatModel("linf", 5/255), patch=56, iterations=300, frames_per_round=1,
    context="video", border="cover", queries=None, batched=True)``. ``gamma`` is the threat's
    ``eps`` (paper: 5/255). Registered as ``"patch"``.
    """

    name = "patch"
    summary = "Zhang et al. (NeurIPS 2023) Alg. 2: black-box patch-based random search (p=56, N=300)"

    def __init__(self, threat: ThreatModel | None = None, *, patch: int = 56, iterations: int = 300,
                 frames_per_round: int = 1, context: Context = "video", border: Border = "cover",
                 queries: int | None = None, batched: bool = True, trace: bool = False, loss: Any = "srb",
                 eot: int = 1, seed: int | None = 0) -> None:
        super().__init__(threat, iterations=iterations, frames_per_round=frames_per_round, context=context,
                         queries=queries, batched=batched, trace=trace, loss=loss, eot=eot, seed=seed)
        self.patch = _positive_int(patch, "patch")
        if border not in ("cover", "official"):
            raise InputError(f"border must be 'cover' (default: partial cells at the borders) or 'official' "
                             f"(floor(H/p) x floor(W/p) cells, borders untouched), got {border!r}")
        self.border = border

    def plan(self, height: int, width: int) -> PatchPlan:
        """The cell grid used for ``height x width`` frames."""
        return patch_plan(height, width, patch=self.patch, iterations=self.iterations, border=self.border)

    def _round_info(self, k: int, height: int, width: int) -> dict[str, Any]:
        plan = self.plan(height, width)
        return {"cells_per_round": plan.cells, "cells_per_step": plan.z, "steps_per_round": plan.steps,
                "coverage": plan.coverage}

    def _run(self, model: QueryCounter, video: Tensor, ctx: AttackContext) -> Tensor:
        plan = self.plan(video.shape[3], video.shape[4])
        if plan.cells == 0:
            log.warning("patch: %dx%d frames are smaller than the %d-pixel patch; with border='official' "
                        "no cell fits and the video is left unchanged (use border='cover')",
                        video.shape[3], video.shape[4], self.patch)
            ctx.extras.update(self._round_info(1, video.shape[3], video.shape[4]), steps=0, accepted=0,
                              accepted_minus=0, queries_sequential=0)
            return video.clone()
        if plan.coverage < 1.0:
            log.info("patch: border='official' leaves %.1f%% of each frame unperturbed", 100 * (1 - plan.coverage))
        return super()._run(model, video, ctx)

    def _directions(self, k: int, height: int, width: int, generator: torch.Generator,
                    device: torch.device) -> Iterator[Tensor]:
        plan = self.plan(height, width)
        p, per_channel = self.patch, plan.rows * plan.cols
        order = torch.randperm(plan.cells, generator=generator).tolist()
        for first in range(0, plan.cells, plan.z):
            signs = (torch.randint(0, 2, (p, p), generator=generator) * 2 - 1).to(device, torch.float32)
            d = torch.zeros(3, height, width, device=device)
            for idx in order[first:first + plan.z]:
                c, rest = divmod(idx, per_channel)
                r, col = divmod(rest, plan.cols)
                y0, x0 = r * p, col * p
                y1, x1 = min(y0 + p, height), min(x0 + p, width)
                d[c, y0:y1, x0:x1] = signs[:y1 - y0, :x1 - x0]
            yield d


__all__ = ["PatchPlan", "PatchSearch", "SignSearch", "patch_plan"]
