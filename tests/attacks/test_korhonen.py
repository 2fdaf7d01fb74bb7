"""Korhonen et al.'s masked Adam attack (MSU benchmark settings): the spatial-activity map against
scipy, the first step by hand, budgets and directions on the default model and real photos."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from advqa.attacks import create, lp_ball
from advqa.attacks.korhonen import DISK, Korhonen, spatial_activity_map
from advqa.errors import InputError
from msu_doubles import LowerIsBetter, litevsfa, photo


def _scipy_map(frame: torch.Tensor, activity: str) -> np.ndarray:
    rgb = frame.double().numpy() * 255
    y = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    act = ndimage.sobel(y) if activity == "official" else np.hypot(ndimage.sobel(y, 1), ndimage.sobel(y, 0))
    z = np.zeros_like(act)
    z[1:-1, 1:-1] = act[1:-1, 1:-1]
    z /= z.max()
    return ndimage.grey_dilation(z, footprint=DISK.numpy(), mode="constant", cval=-np.inf) / 255


@pytest.mark.parametrize("activity", ["magnitude", "official"])
def test_activity_map_matches_scipy(activity):
    frame = photo("coffee.png", (60, 90))[0]
    ours = spatial_activity_map(frame, activity).double().numpy()
    ref = _scipy_map(frame, activity)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6 / 255)
    assert ours.max() == pytest.approx(1 / 255, rel=1e-6)
    if activity == "official":  # the signed horizontal derivative leaves negative weights
        assert ours.min() < 0
    else:
        assert ours.min() >= 0


def test_flat_frame_falls_back_to_ones():
    assert torch.allclose(spatial_activity_map(torch.full((3, 8, 8), 0.5)), torch.full((8, 8), 1 / 255))


def test_defaults_are_the_benchmarks():
    a = create("korhonen")
    assert type(a) is Korhonen and (a.lr, a.iterations, a.loss, a.activity) == (0.005, 10, "up", "magnitude")
    assert a.threat == lp_ball("linf", 1.0)


def test_first_step_by_hand(tiny_model):
    x = photo("chelsea.png", (40, 56))
    res = Korhonen(iterations=1)(tiny_model, x)
    xg = x[None].clone().requires_grad_(True)
    (g,) = torch.autograd.grad(tiny_model(xg).sum(), xg)
    mg = g * spatial_activity_map(x[0])
    # Adam's first step is lr * g / (|g| + 1e-8); for |g| > 2e-8 that is over 0.85/255, and at most
    # 0.005 = 1.275/255, so it rounds to one 8-bit level in the direction of the masked gradient
    inside = (x[None] > 1.5 / 255) & (x[None] < 253.5 / 255)
    strong = (mg.abs() > 2e-8) & inside
    moved = ((res.adversarial - x[None]) * 255).round()
    assert strong.float().mean() > 0.5
    assert torch.equal(moved[strong], mg.sign()[strong])
    assert res.queries == 1


def test_raises_and_lowers_the_default_model_on_a_photo():
    m, x = litevsfa(), photo("astronaut.png", (96, 96))
    up = create("korhonen")(m, x)
    down = create("korhonen", loss="down")(m, x)
    assert up.adv_score > up.clean_score + 0.5
    assert down.adv_score < down.clean_score - 0.5
    for r in (up, down):  # 10 Adam steps of 0.005: at most ~0.05 per pixel
        assert r.linf <= 13 / 255 and r.queries == 10 and r.iterations == 10


def test_budget_holds_when_given():
    m, x = litevsfa(), photo("rocket.jpg", (72, 96))
    r = create("korhonen", eps=3 / 255)(m, x)
    assert r.linf <= 3 / 255 + 1e-7 and r.adv_score > r.clean_score


def test_lower_is_better_model_gets_better_quality():
    m, x = LowerIsBetter(), photo("astronaut.png", (96, 96))
    r = create("korhonen", iterations=3)(m, x)
    assert r.adv_score < r.clean_score - 0.1  # "up" = better predicted quality = a lower distortion score


def test_frame_by_frame_on_a_video():
    m = litevsfa()
    v = torch.stack([photo("coffee.png", (64, 96))[0], photo("chelsea.png", (64, 96))[0]])[None]
    r = create("korhonen", iterations=3)(m, v)
    assert r.queries == 6 and r.iterations == 6 and r.adv_score > r.clean_score
    assert all(float((r.adversarial[0, t] - v[0, t]).abs().max()) > 0 for t in range(2))


def test_bad_options():
    for kw, what in (({"lr": 0}, "lr"), ({"iterations": 0}, "iterations"), ({"activity": "laplace"}, "activity"),
                     ({"context": "clip"}, "context"), ({"eot": 0}, "eot")):
        with pytest.raises(InputError, match=what):
            Korhonen(**kw)
