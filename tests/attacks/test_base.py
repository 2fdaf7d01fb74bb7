"""The Attack base class: budget enforcement after 8-bit rounding, counting, the frame-window scorer."""
from __future__ import annotations

import pytest
import torch

from advqa.attacks.base import Attack, QueryCounter, lp_ball, per_frame_rms
from advqa.attacks.context import FrameWindowScorer
from advqa.errors import InputError


def _grid(shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, shape, generator=g).float() / 255


@pytest.mark.parametrize("norm, eps", [("linf", 3 / 255), ("linf", 2.5 / 255), ("l2", 1 / 255), ("l2", 0.37 / 255)])
def test_enforce_holds_budget_on_the_8bit_grid(norm, eps):
    threat = lp_ball(norm, eps)
    clean = _grid((1, 3, 3, 17, 23))
    wild = clean + 0.2 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(1))
    adv = threat.enforce(clean, wild)
    assert torch.equal(adv, torch.round(adv * 255) / 255)  # on the 8-bit grid
    assert adv.min() >= 0 and adv.max() <= 1
    norms = threat.frame_norms(adv - clean)
    assert threat.contains(adv - clean)
    assert float(norms.max()) <= eps + 1e-6
    # the budget is used, not collapsed to zero
    assert float(norms.min()) > 0.5 * eps or norm == "l2" and float(norms.min()) > 0


def test_l2_projection_is_per_frame_rms():
    threat = lp_ball("l2", 1 / 255)
    delta = torch.zeros(1, 2, 3, 4, 4)
    delta[0, 0] = 4 / 255  # RMS 4/255 -> scaled to 1/255
    delta[0, 1] = 0.5 / 255  # inside: unchanged
    p = threat.project(delta)
    assert per_frame_rms(p)[0].tolist() == pytest.approx([1 / 255, 0.5 / 255])


@pytest.mark.parametrize("norm, eps", [("l1", 0.1), ("linf", 0.0), ("linf", 2.0), ("l2", float("nan"))])
def test_bad_threat_models(norm, eps):
    with pytest.raises(InputError):
        lp_ball(norm, eps)


class _Wild(Attack):
    """Returns a video far outside any budget: the base class must still enforce it."""

    name = "wild"

    def _run(self, model, video, ctx):
        model(video)
        model(video.expand(3, -1, -1, -1, -1))
        ctx.iterations = 2
        return video + 0.5 * torch.randn(video.shape, generator=ctx.generator)


def test_base_enforces_budget_counts_queries_and_is_seeded(tiny_model, random_video):
    atk = _Wild(lp_ball("linf", 3 / 255), loss="up", seed=3)
    r1 = atk(tiny_model, random_video)
    r2 = atk(tiny_model, random_video)
    assert r1.linf <= 3 / 255 + 1e-7
    assert r1.queries == 4 and r1.iterations == 2
    assert torch.equal(r1.adversarial, r2.adversarial)
    assert r1.clean_score == pytest.approx(float(tiny_model(random_video)[0]))
    assert r1.adv_score == pytest.approx(float(tiny_model(r1.adversarial)[0]), abs=1e-6)
    assert r1.frames_uint8().dtype == torch.uint8 and r1.frames_uint8().shape == (6, 40, 56, 3)
    assert r1.psnr > 20


def test_base_rejects_bad_inputs(tiny_model, random_video):
    atk = _Wild(lp_ball("linf", 3 / 255), loss="up")
    with pytest.raises(InputError, match="per video"):
        atk(tiny_model, random_video.expand(2, -1, -1, -1, -1))
    with pytest.raises(InputError, match="finite"):
        atk(tiny_model, random_video, mos=float("nan"))


def test_frame_window_scorer_matches_full_video_scores(tiny_model, random_video):
    counter = QueryCounter(tiny_model)
    scorer = FrameWindowScorer(counter, random_video, context="video")
    assert scorer.uses_feature_cache
    cand = torch.stack([random_video[0, 2:4], torch.rand(2, 3, 40, 56)])  # (2, k=2, 3, H, W)
    got = scorer.score(cand, start=2)
    want = []
    for c in cand:
        v = random_video.clone()
        v[0, 2:4] = c
        want.append(float(tiny_model(v)[0]))
    assert got.tolist() == pytest.approx(want, abs=1e-6)
    assert counter.queries == 2
    scorer.commit(cand[1:2], start=2)
    assert float(scorer.score(cand[1:2], 2)[0]) == pytest.approx(want[1], abs=1e-6)
    frame = FrameWindowScorer(QueryCounter(tiny_model), random_video, context="frame")
    assert float(frame.score(cand[:1], 2)[0]) == pytest.approx(float(tiny_model(cand[:1])[0]), abs=1e-6)
