"""The JND budget and the temporal step bound: limits hold after 8-bit rounding, hand-computed cases."""
from __future__ import annotations

import math

import pytest
import torch

from advqa.attacks import create
from advqa.attacks.base import perturbation_stats
from advqa.errors import InputError
from advqa.jnd import jnd_map
from advqa.threat import JND, L2Ball, LinfBall, TemporalStep, block_motion, make_threat


def grid_limit(lim: torch.Tensor) -> torch.Tensor:
    """The largest deviation a pixel can take on the 8-bit grid under ``lim`` (the budgets' slack
    BUDGET_TOL = 1e-6 included)."""
    return torch.floor((lim + 1e-6) * 255) / 255


@pytest.mark.parametrize("scale", [1.0, 0.3])
def test_attack_with_jnd_budget_never_exceeds_the_map(tiny_model, random_video, scale) -> None:
    attack = create("pgd", norm="jnd", jnd_scale=scale, loss="up", iterations=3, step=2 / 255)
    assert isinstance(attack.threat, JND) and attack.config()["threat"] == f"jndx{scale:g}"
    res = attack(tiny_model, random_video)
    delta = res.adversarial - random_video
    lim = scale * jnd_map(random_video)
    # rounding rule: a pixel moves by at most floor(255 * limit) / 255 levels; below one level it stays clean
    assert bool((delta.abs() <= grid_limit(lim) + 1e-6).all())
    assert bool((delta[(lim < 1 / 255 - 1e-6).expand_as(delta)] == 0).all())
    assert res.adv_score > res.clean_score
    assert attack.threat.bind(random_video).contains(delta)
    if scale == 0.3:
        assert bool((lim < 1 / 255 - 1e-6).any())  # the sub-level case is exercised


def test_jnd_cap_and_names() -> None:
    t = make_threat("jnd", 2 / 255)
    assert isinstance(t, JND) and t.cap == pytest.approx(2 / 255)
    v = torch.zeros(1, 1, 3, 16, 16)  # black: JND 20/255 * 0.809, capped to 2/255
    assert float(t.bind(v).limit().max()) == pytest.approx(2 / 255)
    with pytest.raises(InputError, match="needs eps"):
        make_threat("linf")
    with pytest.raises(InputError, match="one of"):
        create("pgd", norm="l1")


def grey_video(t: int = 3, h: int = 16, w: int = 16) -> torch.Tensor:
    return torch.full((1, t, 3, h, w), 128 / 255)


def test_temporal_step_by_hand() -> None:
    clean = grey_video()
    want = torch.tensor([3.0, -3.0, 3.0]).view(1, 3, 1, 1, 1) / 255
    threat = TemporalStep(LinfBall(3 / 255), 1 / 255).bind(clean)
    out = threat.enforce(clean, clean + want)
    # frame 1: reference 3/255, box [2, 4] & [-3, 3] -> 2/255; frame 2: reference 2/255, box [1, 3] -> 3/255
    got = (out - clean)[0, :, 0, 0, 0] * 255
    assert got.tolist() == pytest.approx([3.0, 2.0, 3.0], abs=1e-4)
    assert threat.contains(out - clean)
    assert not threat.contains(want)  # the unbounded flip breaks the step bound


def test_temporal_step_needs_a_per_pixel_budget() -> None:
    with pytest.raises(InputError, match="per-pixel budget"):
        TemporalStep(L2Ball(1 / 255), 1 / 255)
    with pytest.raises(InputError, match="temporal_step"):
        make_threat("linf", 3 / 255, motion=True)


def moving_texture(t: int = 3, shift: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    base = torch.randint(40, 216, (1, 3, 32, 48), generator=g).float() / 255
    return torch.stack([torch.roll(base, shifts=shift * i, dims=-1) for i in range(t)], dim=1)


def test_block_motion_and_motion_compensated_step() -> None:
    clean = moving_texture()
    v = block_motion(clean, block=16, search=3)
    # content moves 2 px to the right: frame t at x matches frame t-1 at x - 2 (interior blocks)
    assert v[0, 1:, 0].eq(0).all() and v[0, 1:, 1, :, 1:].eq(-2).all()
    g = torch.Generator().manual_seed(2)
    d0 = (torch.randint(-3, 4, (1, 1, 3, 32, 48), generator=g).float() / 255)
    delta = torch.cat([torch.roll(d0, shifts=2 * i, dims=-1) for i in range(3)], dim=1)  # moves with the content
    adv = (clean + delta).clamp(0, 1)
    follow = TemporalStep(LinfBall(3 / 255), 1 / 255, motion=True).bind(clean)
    still = TemporalStep(LinfBall(3 / 255), 1 / 255).bind(clean)
    out_follow, out_still = follow.enforce(clean, adv), still.enforce(clean, adv)
    inner = (slice(None), slice(None), slice(None), slice(None), slice(20, 48))  # fed by blocks with exact motion
    assert torch.allclose(out_follow[inner], adv[inner], atol=1e-6)  # the moving perturbation is kept where motion is exact
    assert follow.contains(out_follow - clean) and still.contains(out_still - clean)
    assert float((out_still - adv).abs().max()) > 0  # without motion it is clipped


def test_flicker_stats_by_hand() -> None:
    clean = grey_video(3, 16, 16)
    steady = perturbation_stats(clean, clean + 2 / 255)
    assert steady["flicker"] == 0 and math.isinf(steady["tpsnr"]) and steady["tssim"] == pytest.approx(1.0)
    flip = torch.tensor([2.0, -2.0, 2.0]).view(1, 3, 1, 1, 1) / 255
    s = perturbation_stats(clean, clean + flip)
    assert s["flicker"] == pytest.approx(4 / 255, rel=1e-5)
    assert s["tpsnr"] == pytest.approx(20 * math.log10(255 / 4), rel=1e-5)
    c1 = 0.01 ** 2  # constant frames: only SSIM's luminance term, clean difference 0 -> 0.5

    def lum(y: float) -> float:
        return (2 * 0.5 * y + c1) / (0.25 + y * y + c1)

    assert s["tssim"] == pytest.approx(0.5 * (lum(0.5 - 2 / 255) + lum(0.5 + 2 / 255)), rel=1e-5)
    one = perturbation_stats(clean[:, :1], clean[:, :1] + flip[:, :1])
    assert math.isnan(one["flicker"]) and math.isnan(one["tssim"])


def test_every_attack_takes_the_temporal_budget(tiny_model, random_video) -> None:
    plain = create("pgd", norm="linf", eps=4 / 255, loss="up", iterations=3)
    smooth = create("pgd", norm="linf", eps=4 / 255, loss="up", iterations=3, temporal_step=1 / 255)
    assert isinstance(smooth.threat, TemporalStep) and "|dd|<=1/255" in smooth.config()["threat"]
    a, b = plain(tiny_model, random_video), smooth(tiny_model, random_video)
    assert smooth.threat.bind(random_video).contains(b.adversarial - random_video)
    assert b.extras["flicker"] < a.extras["flicker"]
    assert b.extras["flicker"] <= 1 / 255 + 1e-6 and b.linf <= 4 / 255 + 1e-6
    wb = create("whitebox", norm="jnd", temporal_step=1 / 255, motion=True, iterations=2)
    r = wb(tiny_model, random_video)
    assert wb.threat.bind(random_video).contains(r.adversarial - random_video)
