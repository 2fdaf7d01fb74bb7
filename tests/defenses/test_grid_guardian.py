"""SecureVQA's spatial grid sampling and guardian map as defences on any model."""
from __future__ import annotations

import pytest
import torch
from doubles import TinyFrameModel

from advqa.defenses import create
from advqa.defenses.grid import GridSampling
from advqa.defenses.guardian import GuardianMap
from advqa.errors import InputError, UnknownNameError


@pytest.fixture
def inner():
    m = TinyFrameModel()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def _clip(t=3, h=40, w=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (1, t, 3, h, w), generator=g).float() / 255


def test_guardian_adds_one_map_of_plus_minus_one_level_shared_across_frames(inner):
    d = GuardianMap(inner, seed=0)
    v = _clip()
    v[..., 0, 0] = 1.0  # saturated pixels are clamped
    x = d.transform(v)
    delta = x - v
    inside = (v > 0) & (v < 1)  # away from 0 and 1 nothing is clamped
    assert torch.allclose(delta[inside].abs(), torch.full_like(delta[inside], 1 / 255), atol=1e-6)
    assert float(x[..., 0, 0].min()) >= 254 / 255  # a saturated pixel moves down or stays clamped at 1
    signs = torch.sign(delta)
    both = inside[:, 0] & inside[:, 1]
    assert torch.equal(signs[:, 0][both], signs[:, 1][both])  # one map shared by the frames
    frac = float((delta[inside] > 0).float().mean())
    assert 0.45 < frac < 0.55  # signs drawn uniformly
    assert not torch.equal(d.transform(v), x)  # a fresh map on every call
    assert torch.equal(GuardianMap(inner, seed=0).transform(v), x)  # seeded
    assert float(x.max()) <= 1 and float(x.min()) >= 0


def test_grid_mosaic_takes_aligned_patches_and_redraws_them(inner):
    d = GridSampling(inner, grid=2, patch=8, aligned=2, seed=1)
    v = _clip(t=3, h=40, w=48)
    x = d.transform(v)
    assert x.shape == (1, 3, 3, 16, 16)
    # every mosaic cell is a patch of its grid cell; frames 0 and 1 share positions, frame 2 is a new clip
    for t in range(3):
        for i in range(2):
            for j in range(2):
                cell = x[0, t, :, i * 8:(i + 1) * 8, j * 8:(j + 1) * 8]
                hits = [(y, z) for y in range(20 * i, 20 * i + 20 - 8 + 1) for z in range(24 * j, 24 * j + 24 - 8 + 1)
                        if torch.equal(v[0, t, :, y:y + 8, z:z + 8], cell)]
                assert hits, (t, i, j)
    first = d.transform(v)
    assert not torch.equal(first, x)
    g = GridSampling(inner, grid=7, patch=32, seed=0).transform(_clip(t=2, h=100, w=120))
    assert g.shape == (1, 2, 3, 224, 224)  # small frames are upsampled first


def test_grid_is_differentiable_and_defended_scores_vary(inner):
    d = GridSampling(inner, grid=2, patch=8, seed=2)
    v = _clip().requires_grad_(True)
    (g,) = torch.autograd.grad(d(v).sum(), v)
    # only sampled pixels get a gradient: 4 patches of 8x8 per frame of 40x48 (the tiny model's
    # stride-2 3x3 conv ignores the mosaic's last row and column: 15x15 of each 16x16 mosaic)
    assert float((g != 0).float().mean()) == pytest.approx(225 / (40 * 48), abs=1e-3)
    scores = {round(float(d(v.detach())), 6) for _ in range(5)}
    assert len(scores) > 1


def test_specs_and_bad_options(inner):
    chain = create(["grid", {"name": "guardian", "amplitude": 2 / 255}], inner)
    assert chain.card.name == "tiny-frame+grid+guardian" and isinstance(chain, GridSampling)
    assert chain.card.defense == "grid+guardian" and chain.card.inner.name == "tiny-frame+guardian"
    assert isinstance(chain.model, GuardianMap) and chain.model.amplitude == pytest.approx(2 / 255)
    with pytest.raises(InputError, match="amplitude"):
        GuardianMap(inner, amplitude=0)
    with pytest.raises(InputError, match="patch"):
        GridSampling(inner, patch=0)
    with pytest.raises(UnknownNameError, match="Did you mean 'amplitude'"):
        create({"name": "guardian", "amplitud": 1}, inner)
    with pytest.raises(UnknownNameError, match="guardian"):
        create("guardain", inner)
