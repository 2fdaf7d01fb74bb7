"""STQA-Net: network size, fit phase, budget, one network pass per video, shipped litevsfa states."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from advqa.attacks import create
from advqa.attacks import stqa as stqa_module
from advqa.attacks.stqa import STQANet, parameter_count
from advqa.errors import InputError, WeightsError
from advqa.jnd import jnd_map
from advqa.threat import JND


def grid_limit(lim: torch.Tensor) -> torch.Tensor:
    return torch.floor((lim + 1e-6) * 255) / 255


def test_network_size_and_shapes() -> None:
    assert parameter_count(STQANet()) == 67763 + 3 * 180 * 320  # convolutions + the universal map
    assert parameter_count(STQANet(heads=2)) == 68198 + 6 * 180 * 320
    torch.manual_seed(0)
    with torch.no_grad():
        w = STQANet(heads=2)(torch.rand(1, 3, 3, 18, 30), torch.rand(1, 3, 1, 18, 30) * 0.02)  # not multiples of 4
    assert w.shape == (1, 3, 2, 3, 18, 30) and float(w.abs().max()) < 1


class PassCounter:
    def __init__(self, net: torch.nn.Module) -> None:
        self.calls = 0
        net.register_forward_hook(self)

    def __call__(self, *args: object) -> None:
        self.calls += 1


def test_fit_budget_and_one_pass(tiny_model, random_video, tmp_path) -> None:
    attack = create("stqa", weights=None, loss="up", epochs=15)
    assert attack.needs_fit and isinstance(attack.threat, JND)
    with pytest.raises(InputError, match="fitted first"):
        attack(tiny_model, random_video)
    attack.fit(tiny_model, [random_video], generator=torch.Generator().manual_seed(0))
    assert not attack.needs_fit
    passes = PassCounter(attack._net)
    res = attack(tiny_model, random_video)
    # one network pass; one model query (verify: the result is scored once)
    assert passes.calls == 1 and res.queries == 1 and res.extras["network_passes"] == 1
    raw = create("stqa", weights=None, loss="up", verify=False)
    raw.load_state_dict(attack.state_dict())
    r0 = raw(tiny_model, random_video)
    assert r0.queries == 0 and torch.equal(r0.adversarial, res.adversarial)
    assert res.adv_score > res.clean_score + 0.005
    delta = res.adversarial - random_video
    assert bool((delta.abs() <= grid_limit(jnd_map(random_video)) + 1e-6).all())
    attack.save_state(tmp_path / "s.pt")
    again = create("stqa", weights=str(tmp_path / "s.pt"))
    assert torch.equal(again(tiny_model, random_video).adversarial, res.adversarial)
    with pytest.raises(InputError, match="does not fit"):
        create("stqa-targeted", weights=str(tmp_path / "s.pt"))  # one head, not two


def test_targeted_heads_on_a_tiny_model(tiny_model, random_video) -> None:
    attack = create("stqa-targeted", weights=None, epochs=15)
    state = attack.fit(tiny_model, [random_video], generator=torch.Generator().manual_seed(0))
    up, down = create("stqa-targeted", weights=None, direction="up"), create("stqa-targeted", weights=None,
                                                                             direction="down")
    up.load_state_dict(state)
    down.load_state_dict(state)
    ru, rd = up(tiny_model, random_video), down(tiny_model, random_video)
    assert ru.adv_score > ru.clean_score > rd.adv_score
    assert ru.extras["head"] == 0 and rd.extras["head"] == 1
    with pytest.raises(InputError, match="direction"):
        create("stqa-targeted", direction="sideways")


def test_shipped_state_hash_is_checked(monkeypatch) -> None:
    fname, _ = stqa_module.SHIPPED["stqa"]
    monkeypatch.setitem(stqa_module.SHIPPED, "stqa", (fname, "f" * 64))
    with pytest.raises(WeightsError, match="SHA-256"):
        create("stqa")


@pytest.fixture(scope="module")
def heldout():
    """litevsfa and 6 held-out demo test clips (first 4 frames)."""
    from advqa.bench.jobs import load_clip
    from advqa.data.demo import load_demo
    from advqa.models import create as create_model

    model = create_model("litevsfa")
    clips = [load_clip(s.path, 4) for s in load_demo("test").subset(6, 0)]
    return model, clips


def test_shipped_states_move_litevsfa_on_heldout_clips(heldout) -> None:
    """Measured on these 6 held-out clips (4 frames): ``stqa`` lowers every clip (by 0.03 to 0.36;
    mean shift toward the fallback SRB boundary +0.04, the two clips whose boundary is below by 0.13
    and 0.36); ``stqa-targeted`` raises every clip (by 0.56 to 3.64, mean 1.53) and lowers them by
    0.095 on average (4 of 6). These are the raw network outputs (``verify=False``); with the default
    ``verify=True`` no clip moves the wrong way. litevsfa's 1-5 scale; the bounds leave a margin."""
    from advqa.attacks.losses import fallback_boundary

    model, clips = heldout
    stqa = create("stqa", verify=False)
    up, down = (create("stqa-targeted", direction=d, verify=False) for d in ("up", "down"))
    checked = create("stqa-targeted", direction="down")
    toward, below, raised, lowered = [], [], [], []
    for v in clips:
        r = stqa(model, v)
        assert r.queries == 0 and r.extras["network_passes"] == 1
        c = checked(model, v)
        assert c.queries == 1 and c.score_shift <= 0
        assert bool(((r.adversarial - v).abs() <= grid_limit(jnd_map(v)) + 1e-6).all())
        side = np.sign(fallback_boundary(model.card, r.clean_score) - r.clean_score)
        toward.append(side * r.score_shift)
        if side < 0:
            below.append(r.score_shift)
        raised.append(up(model, v).score_shift)
        lowered.append(down(model, v).score_shift)
    assert np.mean(toward) > 0.02
    assert below and max(below) < -0.05
    assert min(raised) > 0.4 and np.mean(raised) > 1.0
    assert np.mean(lowered) < -0.05


def test_runner_config_uses_the_shipped_state_or_fits(tmp_path) -> None:
    from advqa.bench.config import load_experiment
    from advqa.bench.jobs import build_attack

    cfg = tmp_path / "e.yaml"
    cfg.write_text("models: [{name: litevsfa}]\ndatasets: [{name: demo, split: test, videos: 2}]\n"
                   "attacks:\n  - {name: stqa}\n  - {name: stqa, weights: null, label: stqa-fit}\n"
                   "  - {name: whitebox, norm: jnd, temporal_step: 1/255}\n")
    exp = load_experiment(cfg)
    shipped, fitted, srb = (build_attack(a, None) for a in exp.attacks)
    assert not shipped.needs_fit and fitted.needs_fit
    assert shipped.config()["threat"] == "jndx1"
    assert srb.config()["threat"] == "jndx1, |dd|<=1/255"


def test_cli_lists_and_trains() -> None:
    from click.testing import CliRunner

    from advqa.cli import cli

    r = CliRunner().invoke(cli, ["attacks"], catch_exceptions=False)
    assert r.exit_code == 0 and "stqa-targeted" in r.output and "default jndx1" in r.output
    r = CliRunner().invoke(cli, ["train-attack", "--help"], catch_exceptions=False)
    assert r.exit_code == 0 and "advqa train-attack stqa --model litevsfa" in r.output
