"""MADC (MSU benchmark settings): the projection, two steps by hand, the RMSE pull-back, directions."""
from __future__ import annotations

import pytest
import torch

from advqa.attacks import create, lp_ball
from advqa.attacks.madc import MADC, orthogonal_to
from advqa.errors import InputError
from advqa.threat import per_frame_rms
from msu_doubles import LowerIsBetter, litevsfa, photo


def _grad(model, x):
    xg = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(model(xg).sum(), xg)
    return g


def test_projection_is_orthogonal():
    g = torch.Generator().manual_seed(0)
    a, d = torch.randn(3, 5, 7, generator=g), torch.randn(3, 5, 7, generator=g)
    p = orthogonal_to(a, d)
    assert float((p * d).sum()) == pytest.approx(0.0, abs=1e-4)
    assert float(((a - p) - ((a * d).sum() / (d * d).sum()) * d).abs().max()) < 1e-5
    assert torch.equal(orthogonal_to(a, torch.zeros_like(d)), a)


def test_defaults_are_the_benchmarks():
    a = create("madc")
    assert type(a) is MADC and (a.lr, a.iterations, a.pull_step, a.loss) == (0.001, 8, 0.0005, "up")
    assert a.threat == lp_ball("l2", 10 / 255)


def test_two_steps_by_hand(tiny_model):
    x = photo("coffee.png", (40, 56))[None]
    res = MADC(iterations=2, lr=2 / 255)(tiny_model, x)
    y = x.clone()
    for i in range(2):  # loss "up" = 1 - f: its gradient is -grad f
        g = -_grad(tiny_model, y)
        if i:
            d = y - x
            g = g - (d * g).sum() / (d * d).sum() * d
        y = (y - 2 / 255 * g.sign()).clamp(0, 1)
    assert torch.equal(res.adversarial, torch.round(y * 255) / 255)
    assert res.queries == 2 and res.extras["pull_back_steps"] == 0


def test_pull_back_holds_the_rmse():
    m, x = litevsfa(), photo("chelsea.png", (64, 96))
    r = MADC(lr=0.02)(m, x)  # 8 steps of 0.02 would reach an RMSE of 0.16 without the pull-back
    assert r.extras["pull_back_steps"] > 0
    assert float(per_frame_rms(r.adversarial - x[None]).max()) <= 10 / 255 + 1e-6
    assert r.adv_score > r.clean_score


def test_raises_and_lowers_the_default_model_on_a_photo():
    m, x = litevsfa(), photo("astronaut.png", (96, 96))
    up, down = create("madc")(m, x), create("madc", loss="down")(m, x)
    assert up.adv_score > up.clean_score + 0.3 and down.adv_score < down.clean_score - 0.3
    for r in (up, down):
        assert r.l2 <= 10 / 255 and r.linf <= 8 * 0.001 + 0.5 / 255 + 1e-6 and r.queries == 8


def test_lower_is_better_and_video():
    r = create("madc", iterations=3)(LowerIsBetter(), photo("astronaut.png", (96, 96)))
    assert r.adv_score < r.clean_score - 0.05
    v = torch.stack([photo("coffee.png", (64, 96))[0], photo("rocket.jpg", (64, 96))[0]])[None]
    r = create("madc", iterations=3)(litevsfa(), v)
    assert r.queries == 6 and r.adv_score > r.clean_score
    assert float(per_frame_rms(r.adversarial - v).max()) <= 10 / 255


def test_pull_back_holds_another_budget():
    m, x = litevsfa(), photo("chelsea.png", (64, 96))
    r = create("madc", norm="linf", eps=2 / 255, lr=0.004)(m, x)  # 8 x 0.004 = 8/255 without the pull-back
    assert r.extras["pull_back_steps"] > 0 and r.linf <= 2 / 255 + 1e-6 and r.adv_score > r.clean_score


def test_bad_options():
    for kw, what in (({"lr": -1}, "lr"), ({"pull_step": 0}, "pull_step"), ({"iterations": 1.5}, "iterations"),
                     ({"context": "x"}, "context"), ({"eot": 0}, "eot")):
        with pytest.raises(InputError, match=what):
            MADC(**kw)
