"""Early stopping (goals of the losses), step-size schedules and the official presets."""
from __future__ import annotations

import math

import pytest
import torch
from doubles import TinyFrameModel

from advqa.attacks import create, lp_ball
from advqa.attacks.fgsm import FGSM, IFGSM, MIFGSM
from advqa.attacks.losses import Goal, make_goal
from advqa.attacks.patch_search import PatchSearch
from advqa.attacks.simba import SimBA
from advqa.attacks.whitebox import PGD, Scheduled, SignStep, WhiteBoxSRB, step_factors
from advqa.errors import InputError

LINF3 = lp_ball("linf", 3 / 255)
CARD = TinyFrameModel.card  # score range [0, 1]


# --------------------------------------------------------------------------- goals
def test_srb_goal_is_the_boundary():
    g = make_goal("srb", card=CARD, clean_score=0.7, target=0.4)
    assert (g.direction, g.threshold) == (-1, 0.4)
    assert g.reached(0.4) and g.reached(0.1) and not g.reached(0.41) and not g.reached(math.nan)
    assert g.progress(0.55) == pytest.approx(0.5)
    # no target: paper 000's fallback boundary, the far end of the range
    assert make_goal("srb", card=CARD, clean_score=0.3).threshold == 1.0
    assert make_goal("srb", card=CARD, clean_score=0.3).direction == 1


def test_stop_gain_is_the_relative_gain():
    # relative gain (f - c) / (c + 1) on [0, 1] scores: 0.1 from c = 0.5 is reached at f = 0.65
    g = make_goal("up", card=CARD, clean_score=0.5, stop_gain=0.1)
    assert (g.direction, g.threshold) == (1, pytest.approx(0.65))
    g = make_goal("down", card=CARD, clean_score=0.5, stop_gain=0.1)
    assert (g.direction, g.threshold) == (-1, pytest.approx(0.35))
    # the nearer of target and stop_gain wins
    assert make_goal("up", card=CARD, clean_score=0.5, target=0.6, stop_gain=0.1).threshold == 0.6
    assert make_goal("srb", card=CARD, clean_score=0.5, target=0.0, stop_gain=0.1).threshold == pytest.approx(0.35)
    # mse moves either way
    g = make_goal("mse", card=CARD, clean_score=0.5, stop_gain=0.1)
    assert g.direction == 0 and g.reached(0.35) and g.reached(0.65) and not g.reached(0.6)


def test_targets_behind_the_loss_and_custom_losses_give_no_goal():
    assert make_goal("up", card=CARD, clean_score=0.5, target=0.3) is None  # behind "up"
    assert make_goal("up", card=CARD, clean_score=0.5) is None  # nothing to stop at
    assert make_goal(lambda s, info: s, card=CARD, clean_score=0.5, target=0.3, stop_gain=0.1) is None
    # L_mid lowers a score in the lower half of the range
    assert make_goal("mid", card=CARD, clean_score=0.3, target=0.2) == Goal(-1, 0.2, 0.3)


# --------------------------------------------------------------------------- white-box
def test_whitebox_stops_when_the_target_is_reached(tiny_model, random_video):
    clean = float(tiny_model(random_video))
    target = clean + 0.001
    full = WhiteBoxSRB(LINF3, early_stop=False)(tiny_model, random_video, target=target)
    assert full.iterations == full.queries == 180
    res = WhiteBoxSRB(LINF3)(tiny_model, random_video, target=target)
    assert res.extras["goal_met"] and res.adv_score >= target
    assert res.iterations < 30  # measured: 9 steps of the first round
    # one query per gradient step plus one per check of a rounded video
    assert res.queries == res.iterations + res.extras["goal_checks"]
    # the frames after the goal was met stay clean
    attacked = res.extras["frames_attacked"]
    assert attacked < 6 and torch.equal(res.adversarial[:, attacked:], random_video[:, attacked:])


def test_whitebox_cheap_remaining_frames(tiny_model, random_video):
    clean = float(tiny_model(random_video))
    res = WhiteBoxSRB(LINF3, remaining="cheap", remaining_iterations=2)(tiny_model, random_video, target=clean + 0.001)
    clean_run = WhiteBoxSRB(LINF3)(tiny_model, random_video, target=clean + 0.001)
    attacked = clean_run.extras["frames_attacked"]
    assert attacked < 6
    # every frame gets a round; the ones after the goal 2 steps each
    assert res.extras["rounds"] == 6
    assert res.iterations == clean_run.iterations + 2 * (6 - attacked)
    assert not torch.equal(res.adversarial[:, attacked:], random_video[:, attacked:])


def test_whitebox_frame_context_stops_each_round(tiny_model, random_video):
    clean = float(tiny_model(random_video))
    res = WhiteBoxSRB(LINF3, context="frame")(tiny_model, random_video, target=clean + 0.002)
    # no whole-video score in the official context: every frame gets a round, each stopped early
    assert res.extras["rounds"] == 6 and res.extras["stopped_rounds"] == 6 and res.extras["goal_checks"] == 0
    assert res.iterations == res.queries < 180


def test_official_preset():
    a = WhiteBoxSRB(official=True)
    assert (a.frames_per_round, a.iterations, a.lr, a.schedule, a.context, a.early_stop) == \
        (1, 30, 3e-4, "constant", "frame", False)
    assert create("whitebox", official=True).context == "frame"
    assert WhiteBoxSRB(official=True, iterations=10).iterations == 10  # explicit options override it
    p = PatchSearch(official=True)
    assert (p.context, p.border, p.batched, p.frames_per_round, p.early_stop, p.passes) == \
        ("frame", "official", False, 1, False, 1)


def test_step_schedules():
    assert step_factors("constant", 3) == [1.0, 1.0, 1.0]
    assert step_factors("cosine", 4) == pytest.approx([1.0, 0.5 * (1 + math.cos(math.pi / 4)), 0.5,
                                                      0.5 * (1 + math.cos(3 * math.pi / 4))])
    rule = Scheduled(SignStep(1.0), [1.0, 0.5])
    g = torch.ones(1, 1, 1, 1, 2)
    assert rule(g).flatten().tolist() == [1.0, 1.0] and rule(g).flatten().tolist() == [0.5, 0.5]


def test_cosine_schedule_changes_the_result(tiny_model, random_video):
    a = WhiteBoxSRB(LINF3, iterations=5, early_stop=False)(tiny_model, random_video[:, :2], target=1.0)
    b = WhiteBoxSRB(LINF3, iterations=5, schedule="cosine", lr=1e-3, early_stop=False)(
        tiny_model, random_video[:, :2], target=1.0)
    assert not torch.equal(a.adversarial, b.adversarial) and b.score_shift > 0


# --------------------------------------------------------------------------- PGD / FGSM family
def test_pgd_stops_at_the_target(tiny_model, random_video):
    clean = float(tiny_model(random_video))
    res = PGD(LINF3)(tiny_model, random_video, target=clean + 0.004)
    assert res.extras["goal_met"] and res.iterations == res.queries < 10  # measured: 2 steps
    assert PGD(LINF3, early_stop=False)(tiny_model, random_video, target=clean + 0.004).iterations == 10


def test_fgsm_family_runs_its_steps_unless_asked(tiny_model, random_video):
    clean = float(tiny_model(random_video))
    # the benchmark's protocol: fixed steps even when a target is given
    assert IFGSM()(tiny_model, random_video, target=clean + 0.004).iterations == 10
    res = IFGSM(stop_gain=0.005)(tiny_model, random_video)
    assert res.extras["goal"] == pytest.approx(clean + 0.005 * (clean + 1))
    assert res.iterations < 10 and res.adv_score >= res.extras["goal"] - 1e-3
    res = MIFGSM(early_stop=True)(tiny_model, random_video, target=clean + 0.004)
    assert res.iterations < 10 and res.extras["goal_met"]


# --------------------------------------------------------------------------- black-box
def test_patch_search_stops_at_the_target(tiny_model, random_video):
    clean = float(tiny_model(random_video))
    target = clean - 0.0005  # measured: reached after 3 of the 6 rounds
    full = PatchSearch(loss="srb", early_stop=False, batched=True)(tiny_model, random_video, target=target)
    assert full.queries == 42
    res = PatchSearch(loss="srb", batched=True)(tiny_model, random_video, target=target)
    assert res.extras["goal_met"] and res.adv_score <= target
    assert res.queries < 42 and res.extras["rounds"] < 6
    # frames after the goal stay clean
    assert torch.equal(res.adversarial[:, res.extras["rounds"]:], random_video[:, res.extras["rounds"]:])


@pytest.mark.parametrize("kwargs", [{}, {"passes": 3, "shrink": "pass", "order": "change"},
                                    {"passes": 2, "shrink": "stall", "frames_per_round": 3}])
def test_accept_first_and_batched_same_decisions(tiny_model, random_video, kwargs):
    lower = lambda s, info: s  # noqa: E731 - minimise the score, no goal
    batched = PatchSearch(loss=lower, objective="time", **kwargs)(tiny_model, random_video)
    first = PatchSearch(loss=lower, objective="queries", **kwargs)(tiny_model, random_video)
    assert batched.extras["batched"] and not first.extras["batched"]
    assert torch.equal(batched.adversarial, first.adversarial)
    assert first.queries == batched.extras["queries_sequential"] == first.extras["queries_sequential"]
    rounds, steps = batched.extras["rounds"], batched.iterations
    assert batched.queries == rounds + 2 * steps
    assert first.queries == rounds + steps + (steps - first.extras["accepted_minus"])


def test_multi_pass_search_keeps_the_budget_and_exact_queries(tiny_model, random_video):
    gamma = 5 / 255
    # 40x56 frames: p = 56 -> 3 cells, p = 28 -> 2x2x3 = 12, p = 14 -> 3x4x3 = 36 (Z = 1): 51 steps a round
    res = PatchSearch(loss=lambda s, info: s, batched=True, passes=3, shrink="pass", order="change")(
        tiny_model, random_video)
    assert res.iterations == 6 * 51 and res.queries == 6 * (1 + 2 * 51)
    delta = torch.round((res.adversarial - random_video) * 255)
    assert float(delta.abs().max()) <= 5 and res.linf <= gamma + 1e-6
    # later passes replace cells: values stay on clean + {-5, 0, +5}/255 wherever no clamping occurred
    inside = (random_video * 255 >= 5) & (random_video * 255 <= 250)
    assert set(torch.unique(delta[inside]).tolist()) <= {-5.0, 0.0, 5.0}
    one = PatchSearch(loss=lambda s, info: s, batched=True)(tiny_model, random_video)
    assert res.clean_score - res.adv_score > one.clean_score - one.adv_score


def test_multi_pass_query_budget_is_exact(tiny_model, random_video):
    for budget in (7, 50, 101):
        res = PatchSearch(loss=lambda s, info: s, passes=3, shrink="pass", queries=budget)(tiny_model, random_video)
        assert res.queries == budget and res.extras["budget_exhausted"]


def test_simba_objective(tiny_model, random_video):
    lower = lambda s, info: s  # noqa: E731
    a = SimBA(loss=lower, iterations=5, objective="time")(tiny_model, random_video)
    b = SimBA(loss=lower, iterations=5)(tiny_model, random_video)
    assert a.queries == 66 and torch.equal(a.adversarial, b.adversarial) and b.queries == a.extras["queries_sequential"]


# --------------------------------------------------------------------------- bad options
@pytest.mark.parametrize("cls, kwargs, match", [
    (PatchSearch, {"objective": "money"}, "objective"),
    (PatchSearch, {"objective": "queries", "batched": True}, "contradicts"),
    (PatchSearch, {"batched": "yes"}, "batched"),
    (PatchSearch, {"passes": 0}, "passes"),
    (PatchSearch, {"shrink": "always"}, "shrink"),
    (PatchSearch, {"order": "best"}, "order"),
    (PatchSearch, {"min_patch": 0}, "min_patch"),
    (PatchSearch, {"official": "yes"}, "official"),
    (PatchSearch, {"stop_gain": -0.1}, "stop_gain"),
    (SimBA, {"objective": "speed"}, "objective"),
    (WhiteBoxSRB, {"schedule": "linear"}, "schedule"),
    (WhiteBoxSRB, {"remaining": "noisy"}, "remaining"),
    (WhiteBoxSRB, {"remaining_iterations": 0}, "remaining_iterations"),
    (WhiteBoxSRB, {"early_stop": "yes"}, "early_stop"),
    (WhiteBoxSRB, {"early_stop": False, "stop_gain": 0.1}, "stop_gain"),
    (WhiteBoxSRB, {"stop_gain": 0}, "stop_gain"),
    (WhiteBoxSRB, {"official": 1}, "official"),
    (PGD, {"stop_gain": float("nan")}, "stop_gain"),
    (FGSM, {"early_stop": False, "stop_gain": 0.2}, "stop_gain"),
])
def test_bad_options(cls, kwargs, match):
    with pytest.raises(InputError, match=match):
        cls(**kwargs)
