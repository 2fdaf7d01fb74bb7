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
minus candidate). ``objective="queries"`` (default) means ``batched=False``, ``objective="time"``
means ``batched=True``.

Early stopping (``early_stop``, default on): a round stops at the first accepted candidate whose
score meets the loss's goal (:func:`advqa.attacks.losses.make_goal`; for SRB the boundary). With
``context="video"`` the attack then stops and the remaining frames stay clean; if the round's
8-bit rounding changed pixels (budgets off the 8-bit grid), the committed video is scored once
more (one query, counted in both accountings) to confirm the goal. Later passes
(``passes`` > 1) cost exactly what the first does: a step is one minus (and maybe one plus)
candidate, whatever its cells.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor

from advqa.attacks.base import Attack, AttackContext, QueryCounter, stop_options
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


@dataclass
class Move:
    """One step of a sign search: candidates ``base -/+ gamma * d``.

    ``d`` has entries in {-1, 0, +1} and broadcasts to ``(1, k, 3, H, W)``. With ``reset`` the
    support of ``d`` is first set back to the clean values (``base``), so a later pass over cells
    that already moved *replaces* their perturbation instead of adding to it: every pixel-channel
    stays at ``clean + {-gamma, 0, +gamma}`` (before clamping). The engine fills in ``change``
    (``|loss(minus candidate) - loss(current)|``: the minus candidate is scored in both evaluation
    modes, so batched and accept-first runs make the same decisions) and ``accepted``.
    """

    d: Tensor
    reset: bool = False
    cells: tuple[int, ...] = ()
    change: float = 0.0
    accepted: bool = False


Objective = Literal["queries", "time"]


class SignSearch(Attack):
    """Shared engine of the ``x -/+ gamma * d`` random searches (:class:`PatchSearch`, SimBA).

    Subclasses implement :meth:`_directions`, the per-round sequence of directions ``d`` (or
    :class:`Move` objects) with entries in {-1, 0, +1}; a pixel-channel is non-zero in at most
    one direction of a round unless its later moves ``reset`` it. ``gamma`` is the threat model's
    ``eps`` (Linf, or paper 000's pixel-level L2, which the search also satisfies by construction).

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
    objective:
        What the user pays for: ``"queries"`` (default; a remote service) evaluates the plus
        candidate only when the minus one fails, as Algorithm 2 does (``batched=False``);
        ``"time"`` scores both in one batched forward (``batched=True``), which costs more
        queries and can save wall time where a batch of two is cheaper than two single calls
        (accelerators).
    batched:
        Set the evaluation mode directly (``None``: from ``objective``); both make the same decisions.
    early_stop, stop_gain:
        Stop a round, and with ``context="video"`` the attack, once an accepted candidate's score
        meets the loss's goal (:func:`advqa.attacks.losses.make_goal`); default on.
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
    #: the ``objective`` used when neither ``objective`` nor ``batched`` is given (measured: bench_speed.py)
    default_objective: ClassVar[str] = "queries"

    def __init__(self, threat: ThreatModel | None = None, *, iterations: int = 300, frames_per_round: int = 1,
                 context: Context = "video", queries: int | None = None, objective: Objective | None = None,
                 batched: bool | None = None, early_stop: bool | None = None, stop_gain: float | None = None,
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
        self.objective, self.batched = self._evaluation_mode(objective, batched)
        self.early_stop, self.stop_gain = stop_options(early_stop, stop_gain, default=True)
        self.trace = bool(trace)

    def _evaluation_mode(self, objective: Any, batched: Any) -> tuple[str, bool]:
        if objective is not None and objective not in ("queries", "time"):
            raise InputError(f"objective must be 'queries' (pay per query: accept-first, batched=False) or 'time' "
                             f"(pay per second: minus and plus candidates in one batch), got {objective!r}")
        if batched is not None and not isinstance(batched, bool):
            raise InputError(f"batched must be True, False or None (from objective), got {batched!r}")
        if objective is not None and batched is not None and batched != (objective == "time"):
            raise InputError(f"objective={objective!r} contradicts batched={batched}: objective 'queries' means "
                             "batched=False and 'time' means batched=True; give one of them")
        if batched is None:
            objective = objective or self.default_objective
            return objective, objective == "time"
        return ("time" if batched else "queries"), batched

    # -- subclass hooks ------------------------------------------------------------------------
    def _directions(self, k: int, height: int, width: int, generator: torch.Generator,
                    device: torch.device) -> Iterator[Tensor | Move]:  # pragma: no cover - abstract
        """Yield the round's directions, each broadcastable to ``(1, k, 3, H, W)`` (or a :class:`Move`)."""
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
        goal = self._goal(model, ctx)
        budget = self.queries
        steps = accepted = accepted_minus = seq_queries = checks = stopped_rounds = 0
        exhausted = goal_met = False
        round_losses: list[tuple[float, float]] = []
        trace: list[float] = []

        eot = self.eot

        def left() -> int | None:  # candidates that can still be evaluated (eot queries each)
            return None if budget is None else (budget - model.queries) // eot

        def evaluate(cands: Tensor, start: int) -> tuple[Tensor, Tensor]:
            """Mean loss and mean score of each candidate over the ``eot`` samples."""
            scores = scorer.score(cands, start)
            total_loss, total_score = ctx.loss(scores), scores
            for _ in range(eot - 1):
                scores = scorer.score(cands, start)
                total_loss, total_score = total_loss + ctx.loss(scores), total_score + scores
            return total_loss / eot, total_score / eot

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
            loss0, score0 = evaluate(cur, start)  # Alg. 2 line 6
            best, best_score = float(loss0[0]), float(score0[0])
            seq_queries += 1
            first = best
            stopped = goal is not None and goal.reached(best_score)
            for item in ([] if stopped else self._directions(k, height, width, ctx.generator, video.device)):
                remaining = left()
                if remaining is not None and remaining < 1:
                    exhausted = True
                    break
                move = item if isinstance(item, Move) else Move(item)
                base = torch.where(move.d != 0, clean, cur) if move.reset else cur
                minus = (base - gamma * move.d).clamp(0.0, 1.0)
                plus = (base + gamma * move.d).clamp(0.0, 1.0)
                loss_plus: float | None = None
                score_plus = float("nan")
                if self.batched and (remaining is None or remaining >= 2):
                    pair, pair_scores = evaluate(torch.cat([minus, plus]), start)
                    loss_minus, loss_plus = float(pair[0]), float(pair[1])
                    score_minus, score_plus = float(pair_scores[0]), float(pair_scores[1])
                else:
                    lm, sm = evaluate(minus, start)
                    loss_minus, score_minus = float(lm[0]), float(sm[0])
                    if not loss_minus < best and (remaining is None or remaining >= 2):
                        lp, sp = evaluate(plus, start)
                        loss_plus, score_plus = float(lp[0]), float(sp[0])
                steps += 1
                move.change = abs(loss_minus - best)  # scored in both modes: same decisions
                if loss_minus < best:
                    seq_queries += 1
                    cur, best, best_score = minus, loss_minus, score_minus
                    accepted += 1
                    accepted_minus += 1
                    move.accepted = True
                else:
                    seq_queries += 1 if loss_plus is None else 2
                    if loss_plus is not None and loss_plus < best:
                        cur, best, best_score = plus, loss_plus, score_plus
                        accepted += 1
                        move.accepted = True
                if self.trace:
                    trace.append(best)
                if move.accepted and goal is not None and goal.reached(best_score):
                    stopped = True
                    break
            rounded = threat.enforce(clean, cur)  # 8-bit rounding after each round (official)
            scorer.commit(rounded, start)
            round_losses.append((first, best))
            if stopped:
                stopped_rounds += 1
                if self.context == "video":
                    if not torch.equal(rounded, cur):  # rounding moved pixels: score the committed video
                        if left() is None or left() >= 1:  # type: ignore[operator]
                            checks += 1
                            seq_queries += 1
                            best_score = scorer.current_score()
                        else:
                            exhausted = True
                    goal_met = goal is not None and goal.reached(best_score)
                    if goal_met:
                        break
            if exhausted:
                break
        ctx.iterations = steps
        ctx.extras.update(
            steps=steps, accepted=accepted, accepted_minus=accepted_minus,
            queries_sequential=(seq_queries - checks) * eot + checks, budget_exhausted=exhausted,
            rounds=len(round_losses), frames_per_round=t, context=self.context, batched=self.batched,
            objective=self.objective, early_stop=self.early_stop, goal_met=goal_met,
            stopped_rounds=stopped_rounds, goal_checks=checks,
            goal=float("nan") if goal is None else goal.threshold,
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


Shrink = Literal["never", "pass", "stall"]
Order = Literal["random", "change"]

#: Zhang et al.'s settings as their code runs them (Algorithm 2, GZHU-DVL/AttackVQA).
OFFICIAL_PATCH: dict[str, Any] = dict(frames_per_round=1, context="frame", border="official", objective="queries",
                                      early_stop=False, passes=1, shrink="never", order="random")
#: advqa's defaults (chosen by measurement: benchmarks/bench_speed.py).
DEFAULT_PATCH: dict[str, Any] = dict(frames_per_round=1, context="video", border="cover", objective="queries",
                                     early_stop=True, passes=1, shrink="never", order="random")
#: a pass whose acceptance rate is below this has stalled (``shrink="stall"``)
STALL_RATE = 0.25


class PatchSearch(SignSearch):
    """Paper 000's patch-based random search (Algorithm 2); see the module docstring.

    ``gamma`` is the threat's ``eps`` (paper: 5/255). One pass over the cells per round is
    Algorithm 2. ``passes`` > 1 visits the cells again: a later pass *replaces* a cell's
    perturbation by a fresh ``+-gamma`` sign map (a :class:`Move` with ``reset``), so
    ``|delta| <= gamma`` still holds by construction; ``shrink`` halves the patch (down to
    ``min_patch``) after every pass (``"pass"``) or after a pass that accepted fewer than a
    quarter of its steps (``"stall"``), the schedule of Andriushchenko et al.'s Square Attack
    (ECCV 2020); ``order="change"`` visits a later pass's cells by the loss change their region
    caused in the previous pass (largest first) instead of at random. ``official=True`` selects
    Zhang et al.'s settings as their code runs them (``context="frame"``, ``border="official"``,
    accept-first, one pass, no early stop); explicit options override it. Registered as ``"patch"``.
    """

    name = "patch"
    summary = "Zhang et al. (NeurIPS 2023) Alg. 2: black-box patch-based random search (p=56, N=300)"

    def __init__(self, threat: ThreatModel | None = None, *, patch: int = 56, iterations: int = 300,
                 frames_per_round: int | None = None, context: Context | None = None, border: Border | None = None,
                 queries: int | None = None, objective: Objective | None = None, batched: bool | None = None,
                 early_stop: bool | None = None, stop_gain: float | None = None, passes: int | None = None,
                 shrink: Shrink | None = None, order: Order | None = None, min_patch: int = 8,
                 trace: bool = False, loss: Any = "srb", eot: int = 1, official: bool = False,
                 seed: int | None = 0) -> None:
        if not isinstance(official, bool):
            raise InputError(f"official must be True or False, got {official!r}")
        preset = OFFICIAL_PATCH if official else DEFAULT_PATCH
        given = dict(frames_per_round=frames_per_round, context=context, border=border, early_stop=early_stop,
                     passes=passes, shrink=shrink, order=order)
        opts = {k: preset[k] if v is None else v for k, v in given.items()}
        if early_stop is None and stop_gain is not None:
            opts["early_stop"] = None  # a stop_gain turns early stopping on
        if objective is None and batched is None:
            objective = preset["objective"]
        if official:
            changed = {k: v for k, v in given.items() if v is not None and v != preset[k]}
            if changed or batched:
                log.info("patch: official=True with non-official options %s", changed or {"batched": batched})
        super().__init__(threat, iterations=iterations, frames_per_round=opts["frames_per_round"],
                         context=opts["context"], queries=queries, objective=objective, batched=batched,
                         early_stop=opts["early_stop"], stop_gain=stop_gain, trace=trace, loss=loss, eot=eot,
                         seed=seed)
        self.patch = _positive_int(patch, "patch")
        if opts["border"] not in ("cover", "official"):
            raise InputError(f"border must be 'cover' (default: partial cells at the borders) or 'official' "
                             f"(floor(H/p) x floor(W/p) cells, borders untouched), got {opts['border']!r}")
        if opts["shrink"] not in ("never", "pass", "stall"):
            raise InputError(f"shrink must be 'never', 'pass' (halve the patch after every pass) or 'stall' "
                             f"(after a pass that accepted < {STALL_RATE:.0%} of its steps), got {opts['shrink']!r}")
        if opts["order"] not in ("random", "change"):
            raise InputError(f"order must be 'random' or 'change' (later passes visit cells by the loss change "
                             f"they caused), got {opts['order']!r}")
        self.border: str = opts["border"]
        self.passes = _positive_int(opts["passes"], "passes")
        self.shrink: str = opts["shrink"]
        self.order: str = opts["order"]
        self.min_patch = _positive_int(min_patch, "min_patch")
        self.official = official

    def plan(self, height: int, width: int) -> PatchPlan:
        """The cell grid used for ``height x width`` frames."""
        return patch_plan(height, width, patch=self.patch, iterations=self.iterations, border=self.border)

    def _round_info(self, k: int, height: int, width: int) -> dict[str, Any]:
        plan = self.plan(height, width)
        return {"cells_per_round": plan.cells, "cells_per_step": plan.z, "steps_per_round": plan.steps,
                "coverage": plan.coverage, "passes": self.passes}

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
                    device: torch.device) -> Iterator[Move]:
        patch, previous = self.patch, []  # previous: (plan, moves) of the last pass
        for index in range(self.passes):
            if index and (self.shrink == "pass" or (self.shrink == "stall" and previous and
                                                    _acceptance(previous[1]) < STALL_RATE)):
                patch = max(self.min_patch, patch // 2)
            plan = patch_plan(height, width, patch=patch, iterations=self.iterations, border=self.border)
            if not plan.cells:
                return
            order = torch.randperm(plan.cells, generator=generator).tolist()
            if index and self.order == "change" and previous:
                prio = _cell_priorities(plan, _change_map(*previous, height, width), height, width)
                order.sort(key=lambda i: -prio[i])  # stable: ties keep the random order
            moves: list[Move] = []
            for first in range(0, plan.cells, plan.z):
                signs = (torch.randint(0, 2, (patch, patch), generator=generator) * 2 - 1).to(device, torch.float32)
                d = torch.zeros(3, height, width, device=device)
                cells = tuple(order[first:first + plan.z])
                for idx in cells:
                    c, y0, y1, x0, x1 = _cell_box(plan, idx, height, width)
                    d[c, y0:y1, x0:x1] = signs[:y1 - y0, :x1 - x0]
                move = Move(d, reset=index > 0, cells=cells)
                moves.append(move)
                yield move
            previous = [plan, moves]


def _cell_box(plan: PatchPlan, idx: int, height: int, width: int) -> tuple[int, int, int, int, int]:
    """``(channel, y0, y1, x0, x1)`` of cell ``idx`` (channel-major, as the official code)."""
    c, rest = divmod(idx, plan.rows * plan.cols)
    r, col = divmod(rest, plan.cols)
    y0, x0 = r * plan.patch, col * plan.patch
    return c, y0, min(y0 + plan.patch, height), x0, min(x0 + plan.patch, width)


def _acceptance(moves: list[Move]) -> float:
    return sum(m.accepted for m in moves) / max(len(moves), 1)


def _change_map(plan: PatchPlan, moves: list[Move], height: int, width: int) -> Tensor:
    """``(3, H, W)``: each pixel-channel holds the loss change of the move that last covered it."""
    out = torch.zeros(3, height, width)
    for move in moves:
        for idx in move.cells:
            c, y0, y1, x0, x1 = _cell_box(plan, idx, height, width)
            out[c, y0:y1, x0:x1] = move.change
    return out


def _cell_priorities(plan: PatchPlan, change: Tensor, height: int, width: int) -> list[float]:
    """The mean previous loss change over each cell of ``plan``."""
    return [float(change[c, y0:y1, x0:x1].mean()) for c, y0, y1, x0, x1
            in (_cell_box(plan, i, height, width) for i in range(plan.cells))]


__all__ = ["DEFAULT_PATCH", "Move", "OFFICIAL_PATCH", "PatchPlan", "PatchSearch", "SignSearch", "patch_plan"]
