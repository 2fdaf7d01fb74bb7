"""SimBA, the pixel-based random search baseline (Guo et al., ICML 2019), the baseline of Table 4 of
Zhang, Ran, Tang, Wang, "Vulnerabilities in Video Quality Assessment Models: The Challenge of
Adversarial Attacks" (NeurIPS 2023).

Pixel-space SimBA with the standard (Cartesian) basis: each step picks a coordinate ``q`` not
picked before, tries ``x - eps*q`` and then ``x + eps*q`` (clamped to [0, 1]) and keeps the first
candidate that lowers the loss (strictly). Guo et al. choose ``q`` without replacement, so each
coordinate moves at most once; advqa adapts SimBA to a Linf budget (as that comparison
does) by using the budget as the step, ``eps = gamma``: every pixel-channel changes by 0 or
``+-gamma``, hence ``|delta| <= gamma`` by construction (and the per-frame RMS too).

To compare with :class:`~advqa.attacks.patch_search.PatchSearch` at the same number of queries,
SimBA shares its round structure and query accounting (:class:`~advqa.attacks.patch_search.SignSearch`):
the video is attacked in rounds of ``frames_per_round`` frames, a round evaluates its start loss
once and then runs ``iterations`` steps, each on one coordinate ``(frame, channel, row, column)``
of the round's window drawn without replacement; with ``batched=True`` a step costs 2 queries.
So ``SimBA(iterations=S)`` and a ``PatchSearch`` with ``S`` steps per round use exactly the same
number of queries (``1 + 2 S`` per round) when batched. The default evaluation is accept-first
(``objective="queries"``: the plus candidate only when the minus one fails).
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor

from advqa.threat import ThreatModel
from advqa.attacks.context import Context
from advqa.attacks.patch_search import Objective, SignSearch


class SimBA(SignSearch):
    """Pixel-space SimBA under a Linf budget (step = ``threat.eps``); registered as ``"simba"``.

    ``SimBA(ThreatModel("linf", 5/255), iterations=300, frames_per_round=1, context="video",
    queries=None, objective="queries")``: ``iterations`` coordinates per round (capped at the window's
    ``k * 3 * H * W`` coordinates).
    """

    name = "simba"
    summary = "Guo et al. (ICML 2019): pixel-space simple black-box attack"

    def __init__(self, threat: ThreatModel | None = None, *, iterations: int = 300, frames_per_round: int = 1,
                 context: Context = "video", queries: int | None = None, objective: Objective | None = None,
                 batched: bool | None = None, early_stop: bool | None = None, stop_gain: float | None = None,
                 trace: bool = False, loss: Any = "srb", eot: int = 1, seed: int | None = 0) -> None:
        super().__init__(threat, iterations=iterations, frames_per_round=frames_per_round, context=context,
                         queries=queries, objective=objective, batched=batched, early_stop=early_stop,
                         stop_gain=stop_gain, trace=trace, loss=loss, eot=eot, seed=seed)

    def _round_info(self, k: int, height: int, width: int) -> dict[str, Any]:
        return {"steps_per_round": min(self.iterations, k * 3 * height * width)}

    def _directions(self, k: int, height: int, width: int, generator: torch.Generator,
                    device: torch.device) -> Iterator[Tensor]:
        numel = k * 3 * height * width
        steps = min(self.iterations, numel)
        # Drawing ``steps`` distinct coordinates: a full permutation is exact but O(numel); for
        # large windows sample with rejection of repeats (same distribution: uniform without replacement).
        if numel <= 4 * steps or numel <= 1 << 16:
            coords = torch.randperm(numel, generator=generator)[:steps].tolist()
        else:
            seen: set[int] = set()
            coords = []
            while len(coords) < steps:
                for c in torch.randint(0, numel, (steps,), generator=generator).tolist():
                    if c not in seen:
                        seen.add(c)
                        coords.append(c)
                        if len(coords) == steps:
                            break
        for c in coords:
            d = torch.zeros(numel, device=device)
            d[c] = 1.0
            yield d.view(1, k, 3, height, width)


__all__ = ["SimBA"]
