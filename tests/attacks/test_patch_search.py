"""Paper 000's patch-based random search (Algorithm 2): plan, query accounting, budget, borders."""
from __future__ import annotations

import logging

import pytest
import torch
from torch import Tensor

from advqa.attacks.base import lp_ball
from advqa.attacks.patch_search import PatchSearch, patch_plan
from advqa.attacks.registry import create
from advqa.errors import InputError
from advqa.models.base import ModelCard, QualityModel

GAMMA = 5 / 255


def lower(scores: Tensor, info: object) -> Tensor:
    """Minimise the score itself."""
    return scores


class DeviationModel(QualityModel):
    """Score = mean |x - reference|: any perturbation of a mid-grey video raises it."""

    card = ModelCard(name="deviation", paper="test double", score_range=(0.0, 1.0))

    def __init__(self, reference: Tensor) -> None:
        super().__init__()
        self.register_buffer("reference", reference.clone())
        self.shapes: list[tuple[int, ...]] = []

    def score(self, video: Tensor) -> Tensor:
        self.shapes.append(tuple(video.shape))
        return (video - self.reference[:, : video.shape[1]]).abs().flatten(1).mean(dim=1)


def grey(t: int, h: int, w: int) -> Tensor:
    return torch.full((1, t, 3, h, w), 128 / 255)


def test_plan_hand_computed() -> None:
    # 40x56: ceil -> 1x1 cells per channel, 3 cells, Z = max(3 // 300, 1) = 1, 3 steps per round
    p = patch_plan(40, 56)
    assert (p.rows, p.cols, p.cells, p.z, p.steps, p.coverage) == (1, 1, 3, 1, 3, 1.0)
    # official: floor(40/56) = 0 rows -> nothing fits
    assert patch_plan(40, 56, border="official").cells == 0
    # 1080p official: 19 x 34 x 3 = 1938 cells, Z = 6, ceil(1938 / 6) = 323 steps (last step 0 cells short)
    p = patch_plan(1080, 1920, border="official")
    assert (p.cells, p.z, p.steps) == (1938, 6, 323)
    assert p.coverage == pytest.approx(19 * 56 * 34 * 56 / (1080 * 1920))
    # 1080p covered: 20 x 35 x 3 = 2100 cells, Z = 7, 300 steps
    p = patch_plan(1080, 1920)
    assert (p.cells, p.z, p.steps, p.coverage) == (2100, 7, 300, 1.0)
    # 60x120, N=4: 2 x 3 x 3 = 18 cells, Z = 4, ceil(18/4) = 5 steps (last one with 2 cells)
    assert (patch_plan(60, 120, iterations=4).steps, patch_plan(60, 120, iterations=4).z) == (5, 4)


def test_exact_queries_batched_and_sequential(tiny_model, random_video) -> None:
    batched = PatchSearch(batched=True, loss=lower)(tiny_model, random_video)
    # 6 rounds x (1 start evaluation + 3 steps x 2 candidates) = 42
    assert batched.queries == 42
    assert batched.iterations == 18
    assert batched.extras["steps_per_round"] == 3 and batched.extras["cells_per_step"] == 1
    seq = PatchSearch(loss=lower, batched=False)(tiny_model, random_video)
    # the sequential run makes the same decisions and uses exactly the count the batched run reports
    assert torch.equal(seq.adversarial, batched.adversarial)
    assert seq.queries == batched.extras["queries_sequential"] == seq.extras["queries_sequential"]
    minus = batched.extras["accepted_minus"]
    assert 0 < minus < batched.extras["accepted"] <= 18
    assert seq.queries == 6 + minus + 2 * (18 - minus)


def test_frames_per_round_queries(tiny_model, random_video) -> None:
    # rounds [0, 4) and [4, 6): 2 x (1 + 2 x 3) = 14
    res = PatchSearch(batched=True, loss=lower, frames_per_round=4)(tiny_model, random_video)
    assert res.queries == 14 and res.extras["rounds"] == 2


@pytest.mark.parametrize("budget", [1, 10, 11, 42, 1000])
def test_query_budget_exact(tiny_model, random_video, budget: int) -> None:
    res = PatchSearch(batched=True, loss=lower, queries=budget)(tiny_model, random_video)
    assert res.queries == min(budget, 42)
    assert res.extras["budget_exhausted"] == (budget < 42)


@pytest.mark.parametrize("threat", [lp_ball("linf", GAMMA), lp_ball("linf", 2.5 / 255),
                                    lp_ball("l2", GAMMA)])
def test_budget_after_rounding(tiny_model, random_video, threat: ThreatModel) -> None:
    res = PatchSearch(threat, batched=True, loss=lower)(tiny_model, random_video)
    diff = res.frames_uint8().int() - (random_video[0] * 255).round().int().permute(0, 2, 3, 1)
    assert int(diff.abs().max()) <= int(threat.eps * 255 + 1e-6)
    assert int(diff.abs().max()) >= 2  # it did perturb
    assert threat.contains(res.adversarial - random_video)
    assert res.linf <= threat.eps + 1e-6 and res.l2 <= threat.eps + 1e-6


def test_loss_monotone_and_score_moves(tiny_model, random_video) -> None:
    res = PatchSearch(batched=True, loss=lower, trace=True)(tiny_model, random_video)
    trace = res.extras["loss_trace"]
    assert len(trace) == 18
    assert all(b <= a for a, b in zip(trace, trace[1:]))
    # whole-video context: each round starts where the previous one ended
    rounds = res.extras["round_losses"]
    for (_, end), (begin, _) in zip(rounds, rounds[1:]):
        assert begin == pytest.approx(end, abs=1e-6)
    assert res.adv_score == pytest.approx(trace[-1], abs=1e-5)
    assert res.clean_score - res.adv_score > 5e-4  # measured: 0.34446 -> 0.34315


def test_border_cover_vs_official() -> None:
    video = grey(1, 60, 120)
    model = DeviationModel(video)
    cover = PatchSearch(batched=True, loss=lambda s, info: -s, iterations=4)(model, video)
    delta = (cover.adversarial - video)[0, 0]
    assert cover.extras["cells_per_round"] == 18 and cover.extras["steps_per_round"] == 5
    assert torch.allclose(delta.abs(), torch.full_like(delta, GAMMA), atol=1e-6)  # every pixel-channel moved
    assert cover.queries == 1 + 2 * 5
    official = PatchSearch(batched=True, loss=lambda s, info: -s, iterations=4, border="official")(model, video)
    delta = (official.adversarial - video)[0, 0]
    assert official.extras["cells_per_round"] == 6 and official.extras["coverage"] == pytest.approx(56 * 112 / 7200)
    assert torch.allclose(delta[:, :56, :112].abs(), torch.full((3, 56, 112), GAMMA), atol=1e-6)
    assert float(delta[:, 56:].abs().max()) == 0.0 and float(delta[:, :, 112:].abs().max()) == 0.0


def test_official_border_on_small_frames_warns(random_video, caplog) -> None:
    model = DeviationModel(random_video)
    with caplog.at_level(logging.WARNING):
        res = PatchSearch(batched=True, loss=lower, border="official")(model, random_video)
    assert "smaller than" in caplog.text
    assert res.queries == 0 and torch.equal(res.adversarial, random_video)


def test_sign_map_shared_by_cells_and_frames() -> None:
    video = grey(2, 112, 112)
    model = DeviationModel(video)
    # 2 x 2 x 3 = 12 cells, N = 1 -> Z = 12: one step, one sign map for all cells and both frames
    res = PatchSearch(batched=True, loss=lambda s, info: -s, iterations=1, frames_per_round=2)(model, video)
    delta = (res.adversarial - video)[0]
    assert res.extras["steps_per_round"] == 1 and res.queries == 3
    tile = delta[0, 0, :56, :56]
    assert torch.allclose(tile.abs(), torch.full_like(tile, GAMMA), atol=1e-6)
    for t in range(2):
        for c in range(3):
            for y in (0, 56):
                for x in (0, 56):
                    assert torch.equal(delta[t, c, y:y + 56, x:x + 56], tile)


def test_frame_context_scores_round_frames_alone(random_video) -> None:
    model = DeviationModel(random_video)
    PatchSearch(batched=True, loss=lambda s, info: -s, context="frame")(model, random_video)
    shapes = model.shapes[1:-1]  # the base class scores the whole video first and last
    assert shapes and all(s[1] == 1 for s in shapes)
    assert {s[0] for s in shapes} == {1, 2}  # start evaluation, then minus/plus in one batch


def test_same_seed_same_result(tiny_model, random_video) -> None:
    a = PatchSearch(batched=True, loss=lower, seed=3, queries=14)(tiny_model, random_video)
    b = PatchSearch(batched=True, loss=lower, seed=3, queries=14)(tiny_model, random_video)
    c = PatchSearch(batched=True, loss=lower, seed=4, queries=14)(tiny_model, random_video)
    assert torch.equal(a.adversarial, b.adversarial) and a.adv_score == b.adv_score
    assert not torch.equal(a.adversarial, c.adversarial)


def test_stochastic_model_reproducible(tiny_random_model, random_video) -> None:
    a = PatchSearch(batched=True, loss=lower, queries=20)(tiny_random_model.seed(1), random_video)
    b = PatchSearch(batched=True, loss=lower, queries=20)(tiny_random_model.seed(1), random_video)
    assert a.queries == 20 and torch.equal(a.adversarial, b.adversarial)


class SpyModel(DeviationModel):
    """Records whether autograd was on during each evaluation; has a trainable parameter."""

    def __init__(self, reference: Tensor) -> None:
        super().__init__(reference)
        self.weight = torch.nn.Parameter(torch.ones(()))
        self.grad_modes: list[bool] = []

    def score(self, video: Tensor) -> Tensor:
        self.grad_modes.append(torch.is_grad_enabled())
        return super().score(video) * self.weight


@pytest.mark.parametrize("context", ["video", "frame"])
def test_never_touches_gradients(random_video, context: str) -> None:
    model = SpyModel(random_video)
    video = random_video.clone().requires_grad_(True)
    res = PatchSearch(batched=True, loss=lambda s, info: -s, context=context)(model, video)
    assert res.queries == 42
    assert model.grad_modes and not any(model.grad_modes)
    assert model.weight.grad is None and video.grad is None
    assert not res.adversarial.requires_grad


def test_registry_and_bad_options() -> None:
    attack = create("patch")
    assert isinstance(attack, PatchSearch)
    assert attack.threat == lp_ball("linf", GAMMA) and attack.patch == 56 and attack.iterations == 300
    assert attack.frames_per_round == 1 and attack.context == "video" and attack.border == "cover"
    for bad in ({"border": "floor"}, {"context": "clip"}, {"patch": 0}, {"iterations": 0}, {"queries": -1},
                {"frames_per_round": 1.5}):
        with pytest.raises(InputError):
            PatchSearch(**bad)
