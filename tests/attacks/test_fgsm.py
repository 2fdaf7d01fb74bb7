"""The FGSM family with paper 004's settings, checked against hand-computed steps."""
from __future__ import annotations

import pytest
import torch

from advqa.attacks import lp_ball, create
from advqa.attacks.fgsm import AMIFGSM, FGSM, IFGSM, MIFGSM

EPS = 10 / 255


def _grad_of_score(model, x):
    xg = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(model(xg).sum(), xg)
    return g


def test_paper_004_defaults():
    for cls in (FGSM, IFGSM, MIFGSM, AMIFGSM):
        a = cls()
        assert a.threat == lp_ball("linf", EPS) and a.loss == "up"
    assert FGSM().iterations == 1 and FGSM().step_size() == pytest.approx(EPS)
    i = IFGSM()
    assert (i.iterations, i.step_size(), i.momentum, i.project_each_step) == (10, pytest.approx(1 / 255), 0.0, True)
    m = MIFGSM()
    assert (m.iterations, m.step_size(), m.momentum) == (10, pytest.approx(1 / 255), 1.0)
    a = AMIFGSM()
    assert (a.iterations, a.momentum, a.project_each_step) == (10, 1.0, False)
    assert a.step_size() * a.iterations == pytest.approx(EPS)
    assert AMIFGSM(lp_ball("linf", 4 / 255), iterations=8).step_size() == pytest.approx(0.5 / 255)
    for name, cls in (("fgsm", FGSM), ("ifgsm", IFGSM), ("mifgsm", MIFGSM), ("amifgsm", AMIFGSM)):
        assert type(create(name)) is cls and create(name).threat.eps == pytest.approx(EPS)


def test_fgsm_is_one_signed_step(tiny_model, random_video):
    # loss "up" = 1 - f: minimising it steps along +sign(grad f)
    res = FGSM()(tiny_model, random_video)
    g = _grad_of_score(tiny_model, random_video)
    expected = (random_video + EPS * g.sign()).clamp(0, 1)
    expected = torch.round(expected * 255) / 255
    assert torch.equal(res.adversarial, expected)
    assert res.queries == 1 and res.iterations == 1 and res.score_shift > 0


def test_fgsm_down_loss_lowers(tiny_model, random_video):
    res = FGSM(loss="down")(tiny_model, random_video)
    g = _grad_of_score(tiny_model, random_video)
    expected = torch.round((random_video - EPS * g.sign()).clamp(0, 1) * 255) / 255
    assert torch.equal(res.adversarial, expected) and res.score_shift < 0


def test_ifgsm_two_steps_by_hand(tiny_model, random_video):
    step, eps = 2 / 255, 3 / 255
    res = IFGSM(lp_ball("linf", eps), iterations=2, step=step)(tiny_model, random_video)
    x = random_video
    for _ in range(2):
        x = x + step * _grad_of_score(tiny_model, x).sign()
        x = (random_video + (x - random_video).clamp(-eps, eps)).clamp(0, 1)
    assert torch.allclose(res.adversarial, torch.round(x * 255) / 255)
    assert res.queries == 2


def test_mifgsm_accumulates_raw_gradients(tiny_model, random_video):
    step = 1 / 255
    res = MIFGSM(iterations=3)(tiny_model, random_video)
    x, acc = random_video, torch.zeros_like(random_video)
    for _ in range(3):
        acc = -_grad_of_score(tiny_model, x) + 1.0 * acc  # gradient of the loss 1 - f
        x = (random_video + (x - step * acc.sign() - random_video).clamp(-EPS, EPS)).clamp(0, 1)
    assert torch.allclose(res.adversarial, torch.round(x * 255) / 255)


def test_every_member_raises_the_score(tiny_model, random_video):
    for cls in (FGSM, IFGSM, MIFGSM, AMIFGSM):
        res = cls()(tiny_model, random_video)
        assert res.score_shift > 0.01, cls.__name__
        assert res.linf <= EPS + 1e-7
        assert res.queries == res.iterations == (1 if cls is FGSM else 10)


def test_l2_threat_uses_normalised_steps(tiny_model, random_video):
    threat = lp_ball("l2", 2 / 255)
    res = IFGSM(threat, iterations=3, step=1 / 255)(tiny_model, random_video)
    assert threat.contains(res.adversarial - random_video) and res.score_shift > 0
