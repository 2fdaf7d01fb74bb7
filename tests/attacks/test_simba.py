"""SimBA (pixel-space, Linf step = budget) and its comparison with the patch search."""
from __future__ import annotations

import pytest
import torch
from torch import Tensor

from advqa.attacks.base import lp_ball
from advqa.attacks.patch_search import PatchSearch
from advqa.attacks.registry import create
from advqa.attacks.simba import SimBA

GAMMA = 5 / 255


def lower(scores: Tensor, info: object) -> Tensor:
    return scores


def test_one_coordinate_per_step_and_budget(tiny_model, random_video) -> None:
    res = SimBA(batched=True, loss=lower, iterations=5)(tiny_model, random_video)
    # 6 rounds x (1 + 2 x 5)
    assert res.queries == 66 and res.iterations == 30
    delta = ((res.adversarial - random_video) * 255).round()
    changed = delta != 0
    assert int(changed.sum()) == res.extras["accepted"]  # each accepted step moves exactly one pixel-channel
    moved = delta[changed].abs()
    assert float(moved.max()) == 5.0 and float(moved.min()) >= 1.0  # 5/255 unless clamped at 0 or 1
    assert lp_ball("linf", GAMMA).contains(res.adversarial - random_video)
    seq = SimBA(loss=lower, iterations=5, batched=False)(tiny_model, random_video)
    assert torch.equal(seq.adversarial, res.adversarial)
    assert seq.queries == res.extras["queries_sequential"]


def test_iterations_capped_by_coordinates(tiny_model) -> None:
    video = torch.full((1, 1, 3, 5, 5), 128 / 255)
    res = SimBA(batched=True, loss=lower, iterations=100)(tiny_model, video)
    assert res.extras["steps_per_round"] == 75 and res.queries == 1 + 2 * 75


def test_large_window_sampling_distinct(tiny_model) -> None:
    # 3 x 160 x 160 = 76800 coordinates: drawn by rejection of repeats instead of a full permutation
    attack = SimBA(batched=True, loss=lower, iterations=50)
    dirs = list(attack._directions(1, 160, 160, torch.Generator().manual_seed(0), torch.device("cpu")))
    coords = {int(d.flatten().nonzero()) for d in dirs}
    assert len(dirs) == 50 and len(coords) == 50
    video = torch.full((1, 2, 3, 16, 16), 128 / 255)
    assert SimBA(batched=True, loss=lower, iterations=3, queries=5)(tiny_model, video).queries == 5


def test_seed_and_registry(tiny_model, random_video) -> None:
    a = SimBA(batched=True, loss=lower, iterations=4, seed=1)(tiny_model, random_video)
    b = SimBA(batched=True, loss=lower, iterations=4, seed=1)(tiny_model, random_video)
    assert torch.equal(a.adversarial, b.adversarial)
    attack = create("simba")
    assert isinstance(attack, SimBA) and attack.threat == lp_ball("linf", GAMMA)


def test_patch_beats_simba_at_same_queries(tiny_model) -> None:
    g = torch.Generator().manual_seed(1)
    video = torch.randint(0, 256, (1, 3, 3, 112, 112), generator=g).float() / 255
    patch = PatchSearch(batched=True, loss=lower, iterations=6)  # 12 cells, Z = 2, 6 steps per round
    assert patch.plan(112, 112).steps == 6
    res_patch = patch(tiny_model, video)
    res_simba = SimBA(batched=True, loss=lower, iterations=6)(tiny_model, video)
    assert res_patch.queries == res_simba.queries == 3 * (1 + 2 * 6)
    drop_patch = res_patch.clean_score - res_patch.adv_score
    drop_simba = res_simba.clean_score - res_simba.adv_score
        # measured: 3.87e-4 (patch) vs 7.7e-6 (SimBA), 50x
    assert drop_patch > 10 * max(drop_simba, 1e-7)
    assert drop_patch > 2e-4


@pytest.mark.parametrize("context", ["video", "frame"])
def test_simba_no_grad(tiny_model, random_video, context: str) -> None:
    for p in tiny_model.parameters():
        p.requires_grad_(True)
    video = random_video.clone().requires_grad_(True)
    SimBA(batched=True, loss=lower, iterations=3, context=context)(tiny_model, video)
    assert all(p.grad is None for p in tiny_model.parameters()) and video.grad is None
