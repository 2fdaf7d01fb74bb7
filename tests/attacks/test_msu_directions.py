"""Every attack of the MSU benchmark in both directions, on the default model and on a
lower-is-better metric; the "up"/"down" losses in predicted quality; the CLI listing."""
from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from advqa.attacks import create
from advqa.attacks.losses import loss_direction, make_goal, make_loss
from advqa.cli import cli
from advqa.models.base import ModelCard
from msu_doubles import LowerIsBetter, litevsfa, photo

#: korhonen and madc have the same checks in their own test files
FGSM_FAMILY = ["fgsm", "ifgsm", "mifgsm", "amifgsm"]
MSU = ["uap", "cumulative-uap", "generative-uap", "korhonen", "madc"]


def test_up_and_down_are_in_predicted_quality():
    better_high = ModelCard(name="q", paper="-", score_range=(0.0, 10.0))
    better_low = ModelCard(name="d", paper="-", score_range=(0.0, 10.0), higher_is_better=False)
    s = torch.tensor([2.0, 7.0])
    assert torch.allclose(make_loss("up", card=better_high, clean_score=5)(s), torch.tensor([0.8, 0.3]))
    assert torch.allclose(make_loss("down", card=better_high, clean_score=5)(s), torch.tensor([0.2, 0.7]))
    assert torch.allclose(make_loss("up", card=better_low, clean_score=5)(s), torch.tensor([0.2, 0.7]))
    assert torch.allclose(make_loss("down", card=better_low, clean_score=5)(s), torch.tensor([0.8, 0.3]))
    assert [loss_direction(k, card=c, clean_score=5) for c in (better_high, better_low) for k in ("up", "down")] \
        == [1, -1, -1, 1]
    goal = make_goal("up", card=better_low, clean_score=5.0, stop_gain=0.1)
    assert goal.direction == -1 and goal.threshold < 5.0


@pytest.mark.parametrize("name", FGSM_FAMILY)
def test_both_directions_on_the_default_model(name):
    m, x = litevsfa(), photo("astronaut.png", (96, 96))
    up, down = create(name)(m, x), create(name, loss="down")(m, x)
    assert up.adv_score > up.clean_score + 0.1, (up.clean_score, up.adv_score)
    assert down.adv_score < down.clean_score - 0.1, (down.clean_score, down.adv_score)
    for r in (up, down):
        assert r.threat.contains(r.adversarial - x[None])


@pytest.mark.parametrize("name", FGSM_FAMILY)
def test_lower_is_better_metric_gets_a_better_score(name):
    r = create(name)(LowerIsBetter(), photo("coffee.png", (96, 128)))
    assert r.adv_score < r.clean_score - 0.05, (r.clean_score, r.adv_score)


def test_cli_lists_the_msu_attacks():
    out = CliRunner().invoke(cli, ["attacks"], catch_exceptions=False).output
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    for name in MSU:
        assert name in lines, out
    assert "fitted on a train split" in lines["uap"] and "fitted" not in lines["madc"]
    assert "l2<=10/255" in lines["madc"] and "linf<=10/255" in lines["generative-uap"]
