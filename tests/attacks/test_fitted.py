"""The fit phase: a FittedAttack is fitted once, its state saved safely and applied per video."""
from __future__ import annotations

import pytest
import torch

from advqa.attacks import FittedAttack, LinfBall
from advqa.attacks.base import fit_videos
from advqa.errors import InputError


class MeanSign(FittedAttack):
    """A universal sign perturbation: eps * sign of the mean gradient over the train videos."""

    name = "mean-sign"

    def _fit(self, model, videos, generator, progress):
        total = None
        for v in fit_videos(videos):
            x = v.clone().requires_grad_(True)
            (g,) = torch.autograd.grad(model(x).sum(), x)
            g = g.mean(dim=(0, 1))
            total = g if total is None else total + g
        return {"delta": total.sign() * self.threat.eps}

    def _check_state(self, state):
        if set(state) != {"delta"}:
            raise InputError(f"{self.name}: expected a state with 'delta', got {sorted(state)}")

    def _run(self, model, video, ctx):
        return video + self.state["delta"]


def test_fit_save_load_apply(tiny_model, random_video, tmp_path):
    attack = MeanSign(LinfBall(2 / 255), loss="up")
    with pytest.raises(InputError, match="fitted first"):
        attack(tiny_model, random_video)
    state = attack.fit(tiny_model, [random_video, random_video[0]])
    assert state["delta"].shape == (3, 40, 56) and float(state["delta"].abs().max()) == pytest.approx(2 / 255)
    res = attack(tiny_model, random_video)
    assert res.adv_score > res.clean_score and res.linf <= 2 / 255 + 1e-7
    attack.save_state(tmp_path / "s.pt")
    again = MeanSign(LinfBall(2 / 255), loss="up").load_state(tmp_path / "s.pt")
    assert torch.equal(again(tiny_model, random_video).adversarial, res.adversarial)


def test_bad_states_are_rejected(tmp_path):
    attack = MeanSign(LinfBall(2 / 255))
    with pytest.raises(InputError, match="does not exist"):
        attack.load_state(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(InputError, match="cannot read"):
        attack.load_state(tmp_path / "junk.pt")
    with pytest.raises(InputError, match="NaN"):
        attack.load_state_dict({"delta": torch.tensor([float("nan")])})
    with pytest.raises(InputError, match="expected a state"):
        attack.load_state_dict({"other": torch.zeros(1)})
    with pytest.raises(InputError, match="fit video 0"):
        attack.fit(None, [torch.zeros(1, 2, 4, 8, 8)])
