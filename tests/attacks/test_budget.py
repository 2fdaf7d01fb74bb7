"""Every registered attack's result satisfies its budget after 8-bit rounding.

Runs each attack of the registry (those whose module exists) with a few iterations/queries on
a small video that has saturated (0 and 255) regions, for grid-aligned and non-aligned budgets.
"""
from __future__ import annotations

import pytest
import torch
from doubles import TinyFrameModel

from advqa.attacks import lp_ball, available, per_frame_rms
from advqa.attacks.registry import ATTACKS
from advqa.attacks.uap import UniversalAttack
from advqa.threat import ThreatModel

THREATS = [lp_ball("linf", 3 / 255), lp_ball("linf", 2.5 / 255), lp_ball("l2", 1 / 255),
           lp_ball("l2", 2.5 / 255), lp_ball("linf", 10 / 255)]
#: small settings so the whole matrix runs in seconds (only those an attack accepts are passed)
SMALL = {"iterations": 3, "queries": 30, "frames_per_round": 2, "epochs": 1, "ngf": 8}


def _video() -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    v = torch.randint(0, 256, (1, 3, 3, 24, 32), generator=g).float()
    v[..., :6, :] = 0.0      # saturated dark rows
    v[..., -6:, :] = 255.0   # saturated bright rows
    return v / 255


def _attack(name: str, threat: ThreatModel, model=None):
    """The attack with small settings (those it accepts); fitted attacks are fitted on the test video."""
    accepted = ATTACKS.options(name)
    params = {k: v for k, v in SMALL.items() if k in accepted}
    attack = ATTACKS.create(name, threat, **params)
    if attack.needs_fit:
        attack.fit(model if model is not None else TinyFrameModel(2), [_video()])
    return attack


@pytest.fixture(scope="module")
def model() -> TinyFrameModel:
    m = TinyFrameModel(2)
    for p in m.parameters():
        p.requires_grad_(False)
    return m


@pytest.mark.parametrize("threat", THREATS, ids=lambda t: f"{t.norm}-{t.eps * 255:g}")
@pytest.mark.parametrize("name", available())
def test_budget_holds_after_rounding(name, threat, model):
    video = _video()
    attack = _attack(name, threat, model)
    for loss in ("srb", "up"):
        attack.loss = loss
        res = attack(model, video, target=0.0 if loss == "srb" else None)
        adv = res.adversarial
        assert adv.shape == video.shape and adv.dtype == torch.float32
        assert torch.equal(adv, torch.round(adv * 255) / 255), "not on the 8-bit grid"
        assert float(adv.min()) >= 0.0 and float(adv.max()) <= 1.0
        # the saved uint8 frames are exactly the attacked video
        assert torch.equal(res.frames_uint8().permute(0, 3, 1, 2).float()[None] / 255, adv)
        delta = adv - video
        if threat.norm == "linf":
            norms = delta.abs().flatten(2).amax(dim=2)
        else:
            norms = per_frame_rms(delta)
        # float32 differences of 8-bit values are exact to ~1e-7 (an exact 3/255 reads 0.01176473)
        assert float(norms.max()) <= threat.eps + 1e-6 and threat.contains(delta), f"{name}: {float(norms.max()) * 255:.4f}/255"
        assert res.linf == pytest.approx(float(delta.abs().max()), abs=1e-7)
        assert res.l2 == pytest.approx(float(per_frame_rms(delta).mean()), abs=1e-7)
        # a universal perturbation is applied without querying the model (its queries were spent fitting)
        assert res.queries >= (0 if isinstance(attack, UniversalAttack) else 1)


def test_non_aligned_linf_budget_rounds_inward(model):
    # 2.5/255 is between grid steps: no pixel may end 3/255 away from the clean value
    video = _video()
    attack = _attack("ifgsm", lp_ball("linf", 2.5 / 255))
    res = attack(model, video)
    levels = torch.unique(torch.round((res.adversarial - video) * 255)).tolist()
    assert set(levels) <= {-2.0, -1.0, 0.0, 1.0, 2.0} and {-2.0, 2.0} & set(levels)
