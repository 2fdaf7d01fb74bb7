"""The defence seam: a Defense wraps a model, owns its generator and its gradient estimate."""
from __future__ import annotations

import pytest
import torch
from doubles import TinyFrameModel

from advqa.defenses import Defense, unwrap
from advqa.errors import InputError


class Quantise(Defense):
    """Rounds to 4 bits (not differentiable): BPDA with the identity."""

    name = "quantise"
    differentiable = False

    def transform(self, video):
        return torch.round(video * 15) / 15


class SmoothQuantise(Quantise):
    """The same rounding, with a differentiable approximation (x itself, scaled by 2 to see it)."""

    name = "smooth-quantise"

    def approximation(self, video):
        return 2 * video


class Noise(Defense):
    """Adds uniform noise of +-1/255 drawn from the defence's own generator."""

    name = "noise"
    randomized_transform = True

    def transform(self, video):
        u = torch.rand(video.shape, generator=self.generator).to(video)
        return (video + (2 * u - 1) / 255).clamp(0, 1)


@pytest.fixture
def inner():
    m = TinyFrameModel()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def test_forward_is_the_inner_model_on_the_transformed_video(inner, random_video):
    d = Quantise(inner)
    assert d(random_video).item() == pytest.approx(inner(torch.round(random_video * 15) / 15).item(), abs=1e-7)
    assert d.card.name == "tiny-frame+quantise" and d.card.inner is inner.card and d.card.defense == "quantise"
    assert unwrap(Noise(d, seed=0)) is inner
    assert d.frame_parts(random_video.shape[1]) is None and inner.frame_parts(random_video.shape[1]) is not None


def test_bpda_identity_and_approximation_gradients(inner, random_video):
    x = random_video.clone().requires_grad_(True)
    (g_def,) = torch.autograd.grad(Quantise(inner)(x).sum(), x)
    xq = (torch.round(random_video * 15) / 15).requires_grad_(True)
    (g_ref,) = torch.autograd.grad(inner(xq).sum(), xq)
    assert torch.allclose(g_def, g_ref)  # identity BPDA: the inner gradient at the transformed point
    (g_smooth,) = torch.autograd.grad(SmoothQuantise(inner)(x).sum(), x)
    assert torch.allclose(g_smooth, 2 * g_ref)  # chain rule through the approximation 2x


def test_randomised_defence_owns_a_seedable_generator(inner, random_video):
    a, b = Noise(inner, seed=5), Noise(inner, seed=5)
    assert a.randomized and not Quantise(inner).randomized
    s1, s2 = a(random_video).item(), a(random_video).item()
    assert s1 != s2  # a fresh draw on every call
    assert b(random_video).item() == s1
    state = a.rng_state()
    s3 = a(random_video).item()
    a.set_rng_state(state)
    assert a(random_video).item() == s3
    a.seed(5)
    assert a(random_video).item() == s1  # seed() reaches the defence's generator
    g = torch.Generator().manual_seed(5)
    assert Noise(inner, generator=g).generator is g


def test_seed_reaches_every_generator_of_a_chain(inner, random_video):
    chain = Noise(Noise(inner, seed=1), seed=2)
    assert len(dict(chain.random_sources())) == 2
    chain.seed(9)
    first = chain(random_video).item()
    chain.seed(9)
    assert chain(random_video).item() == first


def test_bad_defence_arguments(inner):
    with pytest.raises(InputError, match="wraps a QualityModel"):
        Quantise(torch.nn.Linear(2, 2))
    with pytest.raises(InputError, match="deterministic"):
        Quantise(inner, seed=0)
    with pytest.raises(InputError, match="torch.Generator"):
        Noise(inner, generator=3)
