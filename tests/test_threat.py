"""The budget protocol: Lp balls and per-pixel mask budgets, enforced frame by frame."""
from __future__ import annotations

import pytest
import torch

from advqa.errors import InputError
from advqa.threat import L2Ball, LinfBall, MaskBudget, ThreatModel, lp_ball, per_frame_rms


def _grid(shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, shape, generator=g).float() / 255


class _HalfMask(MaskBudget):
    """Budget 4/255 on the left half of every frame, 1/255 on the right half."""

    def bind(self, clean):
        mask = torch.full((clean.shape[0], clean.shape[1], 1, *clean.shape[-2:]), 1 / 255)
        mask[..., : clean.shape[-1] // 2] = 4 / 255
        return type(self)(self.scale, self.cap, mask)


def test_lp_balls_are_threat_models_with_their_norms():
    assert isinstance(lp_ball("linf", 3 / 255), LinfBall) and isinstance(lp_ball("l2", 1 / 255), L2Ball)
    assert all(isinstance(t, ThreatModel) for t in (LinfBall(), L2Ball()))
    assert lp_ball("linf", 3 / 255) == LinfBall(3 / 255) != L2Ball(3 / 255)
    assert LinfBall(3 / 255).describe() == "linf<=3/255"
    delta = torch.zeros(1, 2, 3, 4, 4)
    delta[0, 0, 0, 0, 0] = 0.5
    assert LinfBall(0.1).frame_norms(delta).tolist() == [[0.5, 0.0]]
    assert L2Ball(0.1).frame_norms(delta)[0, 0].item() == pytest.approx(0.5 / 48 ** 0.5)


def test_mask_budget_is_per_pixel_and_enforced_after_rounding():
    clean = _grid((1, 3, 3, 8, 10))
    threat = _HalfMask(scale=1.0).bind(clean)
    wild = clean + 0.2 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(2))
    adv = threat.enforce(clean, wild)
    delta = adv - clean
    assert torch.equal(adv, torch.round(adv * 255) / 255)
    assert float(delta[..., :5].abs().max()) == pytest.approx(4 / 255, abs=1e-6)   # the whole budget is used
    assert float(delta[..., 5:].abs().max()) == pytest.approx(1 / 255, abs=1e-6)
    assert threat.contains(delta) and not threat.contains(delta * 1.5)
    assert threat.frame_norms(delta).max().item() == pytest.approx(1.0, abs=1e-5)
    # frames() slices the mask with the frames
    assert threat.frames(1, 2).limit().shape == (1, 1, 1, 8, 10)
    capped = _HalfMask(scale=2.0, cap=3 / 255).bind(clean)
    assert float(capped.limit().max()) == pytest.approx(3 / 255)
    assert float(capped.limit().min()) == pytest.approx(2 / 255)


def test_mask_budget_needs_binding_and_valid_options():
    with pytest.raises(InputError, match="bind"):
        _HalfMask().project(torch.zeros(1, 1, 3, 2, 2))
    with pytest.raises(InputError, match="scale"):
        _HalfMask(scale=0)
    with pytest.raises(InputError, match="cap"):
        _HalfMask(cap=2.0)


def test_enforce_runs_frame_by_frame_with_the_same_result_as_whole_clip():
    clean = _grid((1, 5, 3, 9, 7), seed=4)
    wild = clean + 0.05 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(5))
    for threat in (LinfBall(2.5 / 255), L2Ball(1 / 255)):
        adv = threat.enforce(clean, wild)
        for t in range(5):
            assert torch.equal(adv[:, t:t + 1], threat.enforce(clean[:, t:t + 1], wild[:, t:t + 1]))
        assert float(per_frame_rms(adv - clean).max()) <= (threat.eps if threat.norm == "l2" else 1) + 1e-6
    with pytest.raises(InputError, match="shape"):
        LinfBall().enforce(clean, wild[:, :2])
