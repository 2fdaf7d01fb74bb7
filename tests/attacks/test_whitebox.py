"""Paper 000's white-box SRB attack (Algorithm 1), PGD and the shared gradient loop."""
from __future__ import annotations

import pytest
import torch
from doubles import TinyFrameModel, TinyRandomModel

from advqa.attacks import lp_ball, create, per_frame_rms
from advqa.attacks.base import QueryCounter
from advqa.attacks.losses import make_loss
from advqa.attacks.whitebox import (
    PGD,
    Adam,
    L2Step,
    Momentum,
    SignStep,
    WhiteBoxSRB,
    autograd_gradient,
    chunked_gradient,
    expectation,
    random_start,
)
from advqa.errors import InputError

LINF3 = lp_ball("linf", 3 / 255)


def small_video(t: int = 6, h: int = 16, w: int = 16, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (1, t, 3, h, w), generator=g).float() / 255


class CountingModel(TinyFrameModel):
    """Records how many frames each backbone call sees and whether it builds a graph."""

    def __init__(self) -> None:
        super().__init__()
        for p in self.parameters():
            p.requires_grad_(False)
        self.calls: list[tuple[int, bool]] = []

    def frame_features(self, frames):
        self.calls.append((int(frames.shape[0]), torch.is_grad_enabled()))
        return super().frame_features(frames)


class VideoOnlyModel(TinyFrameModel):
    """Records the number of frames of each video it scores (a frame-wise model used as a plain one)."""

    def __init__(self) -> None:
        super().__init__()
        for p in self.parameters():
            p.requires_grad_(False)
        self.lengths: list[int] = []

    def score(self, video):
        self.lengths.append(int(video.shape[1]))
        return super().score(video)


def test_paper_defaults():
    a = WhiteBoxSRB()
    assert (a.frames_per_round, a.iterations, a.lr, a.context) == (1, 30, 3e-4, "video")
    assert a.threat == lp_ball("l2", 1 / 255) and a.loss == "srb"
    assert create("whitebox").threat == lp_ball("l2", 1 / 255)
    assert create("whitebox", norm="linf", eps=3 / 255).threat == LINF3
    p = PGD()
    assert p.random_start and p.iterations == 10 and p.step_size() == pytest.approx(2.5 * (3 / 255) / 10)


def test_queries_and_iterations_are_exact(tiny_model):
    # T = 1, K = 30 on 6 frames: 6 rounds x 30 gradient queries
    res = WhiteBoxSRB()(tiny_model, small_video())
    assert res.queries == 180 and res.iterations == 180 and res.extras["rounds"] == 6
    # T = 4 on 6 frames: rounds of 4 and 2 frames
    res = WhiteBoxSRB(LINF3, frames_per_round=4, iterations=5)(tiny_model, small_video())
    assert (res.queries, res.iterations, res.extras["rounds"]) == (10, 10, 2)
    res = WhiteBoxSRB(LINF3, iterations=3, context="frame")(tiny_model, small_video())
    assert (res.queries, res.iterations) == (18, 18)


def test_video_context_uses_cached_features():
    model, k = CountingModel(), 3
    res = WhiteBoxSRB(LINF3, iterations=k)(model, small_video())
    assert res.extras["feature_cache"] is True
    graph_calls = [n for n, grad in model.calls if grad]
    # the backbone builds a graph only for the round's single frame, once per step
    assert graph_calls == [1] * (6 * k)
    # no-graph work: clean score (6) + cache (6) + one commit per round (6 x 1) + final score (6)
    assert sum(n for n, grad in model.calls if not grad) == 24


def test_frame_context_scores_rounds_alone():
    model = VideoOnlyModel()
    WhiteBoxSRB(LINF3, frames_per_round=2, iterations=2, context="frame")(model, small_video())
    # clean score (6 frames), 3 rounds x 2 steps on 2-frame clips, final score (6 frames)
    assert model.lengths == [6] + [2] * 6 + [6]


def test_video_context_without_feature_cache_scores_whole_video(tiny_random_model):
    res = WhiteBoxSRB(LINF3, iterations=2)(tiny_random_model, small_video())
    assert res.extras["feature_cache"] is False and res.queries == 12


@pytest.mark.parametrize("target, sign", [(1.0, 1), (0.0, -1)])
def test_srb_moves_score_toward_target(tiny_model, random_video, target, sign):
    res = WhiteBoxSRB(LINF3, iterations=10)(tiny_model, random_video, target=target)
    # random +-3/255 noise moves this model's score by < 3e-4; the attack by ~0.02
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        noisy = (random_video + torch.randint(-3, 4, random_video.shape, generator=g) / 255).clamp(0, 1)
        random_shift = abs(float(tiny_model(noisy)) - res.clean_score)
    shift = sign * res.score_shift
    assert shift > 0.005 and shift > 15 * random_shift
    assert LINF3.contains(res.adversarial - random_video)


def test_srb_default_boundary_from_clean_score(tiny_model, random_video):
    # clean score ~0.34 < 0.5: without a target the boundary is the top of [0, 1]. Adam moves
    # pixels by ~lr = 3e-4 per step, so it takes the paper's K = 30 to get past 8-bit rounding
    res = WhiteBoxSRB(LINF3)(tiny_model, random_video[:, :2])
    assert res.clean_score < 0.5 and res.score_shift > 0.01


def test_same_seed_same_result_different_seed_differs(tiny_model):
    v = small_video()
    a = WhiteBoxSRB(LINF3, iterations=3, seed=7)(tiny_model, v).adversarial
    b = WhiteBoxSRB(LINF3, iterations=3, seed=7)(tiny_model, v).adversarial
    c = WhiteBoxSRB(LINF3, iterations=3, seed=8)(tiny_model, v).adversarial
    assert torch.equal(a, b) and not torch.equal(a, c)
    p1 = PGD(LINF3, iterations=2, seed=1)(tiny_model, v).adversarial
    p2 = PGD(LINF3, iterations=2, seed=1)(tiny_model, v).adversarial
    p3 = PGD(LINF3, iterations=2, seed=2)(tiny_model, v).adversarial
    assert torch.equal(p1, p2) and not torch.equal(p1, p3)


def test_generator_argument_overrides_seed(tiny_model):
    v = small_video()
    a = WhiteBoxSRB(LINF3, iterations=2, seed=1)(tiny_model, v, generator=torch.Generator().manual_seed(5))
    b = WhiteBoxSRB(LINF3, iterations=2, seed=2)(tiny_model, v, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a.adversarial, b.adversarial)


def test_stochastic_model_reproducible():
    v = small_video(h=24, w=24)
    out = []
    for _ in range(2):
        model = TinyRandomModel().seed(3)
        for attack in (WhiteBoxSRB(LINF3, iterations=2), PGD(LINF3, iterations=2)):
            res = attack(model, v)
            out.append(res.adversarial)
            assert LINF3.contains(res.adversarial - v)
    assert torch.equal(out[0], out[2]) and torch.equal(out[1], out[3])


def test_no_parameter_gets_grad(random_video):
    model = TinyFrameModel()  # parameters still require grad: the attack must not touch them
    assert all(p.requires_grad for p in model.parameters())
    WhiteBoxSRB(LINF3, iterations=2)(model, random_video)
    WhiteBoxSRB(LINF3, iterations=2, context="frame")(model, random_video)
    PGD(LINF3, iterations=2, chunked=False)(model, random_video)
    PGD(LINF3, iterations=2, chunked=True)(model, random_video)
    assert all(p.grad is None for p in model.parameters())


def test_adam_matches_torch_optim():
    g = torch.Generator().manual_seed(0)
    grads = [torch.randn(1, 2, 3, 4, 4, generator=g) for _ in range(5)]
    param = torch.zeros(1, 2, 3, 4, 4, requires_grad=True)
    opt = torch.optim.Adam([param], lr=3e-4)
    rule, x = Adam(3e-4, normalize=False), torch.zeros(1, 2, 3, 4, 4)
    for grad in grads:
        param.grad = grad.clone()
        opt.step()
        x = x - rule(grad)
    assert torch.allclose(x, param.detach(), atol=1e-9)


def test_adam_normalises_each_frame():
    # a frame's gradient scale must not matter (the official code divides by its L2 norm)
    g = torch.randn(1, 2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    scaled = g.clone()
    scaled[:, 1] *= 1000
    assert torch.allclose(Adam()(g), Adam()(scaled), atol=1e-9)


def test_step_rules():
    g = torch.tensor([0.5, -2.0, 0.0, 1.0]).view(1, 1, 1, 2, 2).expand(1, 2, 3, 2, 2).clone()
    assert torch.equal(SignStep(0.1)(g)[0, 0, 0].flatten(), torch.tensor([0.1, -0.1, 0.0, 0.1]))
    disp = L2Step(0.01)(g)
    assert torch.allclose(per_frame_rms(disp), torch.full((1, 2), 0.01))
    m = Momentum(SignStep(1.0), mu=1.0)
    m(torch.tensor([1.0, -1.0]).view(1, 1, 1, 1, 2))
    # accumulated: [1, -1] + [-3, 0.5] = [-2, -0.5]
    out = m(torch.tensor([-3.0, 0.5]).view(1, 1, 1, 1, 2))
    assert torch.equal(out.flatten(), torch.tensor([-1.0, -1.0]))


def test_random_start_within_budget():
    v = small_video()
    g = torch.Generator().manual_seed(0)
    for threat in (LINF3, lp_ball("l2", 1 / 255)):
        x = random_start(v, threat, g)
        assert threat.contains(x - v) and float((x - v).abs().max()) > 0
        assert 0 <= float(x.min()) and float(x.max()) <= 1


def test_chunked_gradient_equals_autograd():
    model = CountingModel()
    v = small_video(t=7)
    loss = make_loss("srb", card=model.card, clean_score=0.3, target=0.9)
    counter = QueryCounter(model)
    full = autograd_gradient(lambda x: loss(model(x)))(v)
    model.calls.clear()
    chunked = chunked_gradient(counter, model.frame_parts(7), loss, chunk=3)(v)
    assert torch.allclose(full, chunked, atol=1e-7, rtol=1e-5)
    assert counter.queries == 1
    assert max(n for n, grad in model.calls if grad) == 3  # activations for 3 frames at most


def test_pgd_chunks_long_videos_automatically(tiny_model):
    tiny_model.chunk_size = 2
    res = PGD(LINF3, iterations=2)(tiny_model, small_video())
    assert res.extras["chunked"] is True and res.queries == 2
    res = PGD(LINF3, iterations=2, chunked=False)(tiny_model, small_video())
    assert res.extras["chunked"] is False
    with pytest.raises(InputError, match="chunked"):
        PGD(LINF3, chunked=True)(TinyRandomModel().seed(0), small_video())


def test_pgd_raises_score_with_up_loss(tiny_model, random_video):
    for threat in (LINF3, lp_ball("l2", 1 / 255)):
        res = PGD(threat, loss="up", iterations=5)(tiny_model, random_video)
        assert res.score_shift > 0.005 and res.queries == 5 and res.iterations == 5
        assert threat.contains(res.adversarial - random_video)


@pytest.mark.parametrize("kwargs, match", [
    ({"frames_per_round": 0}, "frames_per_round"), ({"iterations": 0}, "iterations"),
    ({"lr": 0.0}, "lr"), ({"context": "clip"}, "context"),
])
def test_bad_options(kwargs, match):
    with pytest.raises(InputError, match=match):
        WhiteBoxSRB(**kwargs)


def test_pgd_bad_step():
    with pytest.raises(InputError, match="step"):
        PGD(step=-1.0)


def test_expectation_over_transformation():
    calls = iter([1.0, 2.0, 6.0])
    grad = expectation(lambda x: torch.full_like(x, next(calls)), 3)(torch.zeros(1, 1, 3, 2, 2))
    assert torch.allclose(grad, torch.full((1, 1, 3, 2, 2), 3.0))
    v = small_video(h=24, w=24)
    res = WhiteBoxSRB(LINF3, iterations=2, eot=3)(TinyRandomModel().seed(0), v)
    assert res.queries == 6 * 2 * 3 and res.iterations == 12
    res = PGD(LINF3, iterations=2, eot=4)(TinyRandomModel().seed(0), v)
    assert res.queries == 8 and res.iterations == 2
    with pytest.raises(InputError, match="eot"):
        PGD(eot=0)
