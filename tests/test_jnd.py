"""JND maps: Yang et al.'s NAMM and Chou & Chen's temporal factor, checked against hand-computed values."""
from __future__ import annotations

import math

import pytest
import torch

from advqa.errors import InputError
from advqa.jnd import jnd_map, temporal_weight

STATIC = 4.0 * math.exp(-0.15 / (2 * math.pi) * 255.0) + 0.8  # Chou & Chen at ild = 0: 0.80909


def grey(value: float, t: int = 1, h: int = 24, w: int = 32) -> torch.Tensor:
    return torch.full((1, t, 3, h, w), value / 255.0)


def test_flat_regions_luminance_adaptation() -> None:
    # flat: no texture (G = 0), so JND = T_l(bg) of Chou & Li
    mid = jnd_map(grey(127), temporal=False)
    dark = jnd_map(grey(0), temporal=False)
    bright = jnd_map(grey(255), temporal=False)
    assert mid.shape == (1, 1, 1, 24, 32)
    assert float(mid.max()) == pytest.approx(3.0 / 255, abs=1e-6)   # 17 (1 - 1) + 3
    assert float(mid.min()) == pytest.approx(3.0 / 255, abs=1e-6)
    assert float(dark.mean()) == pytest.approx(20.0 / 255, abs=1e-6)  # 17 (1 - 0) + 3
    assert float(bright.mean()) == pytest.approx(6.0 / 255, abs=1e-6)  # 3/128 * 128 + 3
    bg = 32.0
    assert float(jnd_map(grey(bg), temporal=False).mean()) == pytest.approx(
        (17 * (1 - math.sqrt(bg / 127)) + 3) / 255, abs=1e-6)


def ramp(h: int = 20, w: int = 49) -> torch.Tensor:
    """Luma 31 + 4 x: 127 at the centre column x = 24."""
    row = (31.0 + 4.0 * torch.arange(w)) / 255.0
    return row.view(1, 1, 1, 1, w).expand(1, 1, 3, h, w).clone()


def test_texture_masking_on_a_ramp() -> None:
    # slope 4 per pixel: the vertical-edge operator gives |f(x-1) - f(x+1)| = 8, the diagonal
    # ones 26 * 4 / 16 = 6.5, the horizontal one 0, so G = 8 and T_t = 0.117 * 8 = 0.936;
    # bg = 127 (symmetric weights on a linear ramp), T_l = 3; NAMM: 3 + 0.936 - 0.3 * 0.936
    j = jnd_map(ramp(), temporal=False, edge_weight=None)
    assert float(j[0, 0, 0, 10, 24]) == pytest.approx((3 + 0.7 * 0.936) / 255, abs=1e-6)
    # with edge protection: every ramp pixel is an edge (constant Sobel magnitude), W_e = 0.1
    je = jnd_map(ramp(), temporal=False)
    assert float(je[0, 0, 0, 10, 24]) == pytest.approx((3 + 0.7 * 0.0936) / 255, abs=1e-6)
    # textured > flat at the same luminance
    assert float(j[0, 0, 0, 10, 24]) > float(jnd_map(grey(127), temporal=False).max())


def test_static_vs_moving_region() -> None:
    # left half static mid-grey; right half white in frame 0, black in frame 1
    v = torch.full((1, 2, 3, 16, 40), 127 / 255)
    v[:, 0, :, :, 20:] = 1.0
    v[:, 1, :, :, 20:] = 0.0
    j = jnd_map(v)
    assert j.shape == (1, 2, 1, 16, 40)
    assert float(j[0, 0, 0, 8, 5]) == pytest.approx(3.0 * STATIC / 255, abs=1e-6)   # frame 0: static weight
    assert float(j[0, 1, 0, 8, 5]) == pytest.approx(3.0 * STATIC / 255, abs=1e-6)   # static region
    # moving region: ild = (-255 - 255) / 2 = -255 -> f = 8/2 + 0.8 = 4.8; black: T_l = 20
    assert float(j[0, 1, 0, 8, 32]) == pytest.approx(20.0 * 4.8 / 255, abs=1e-6)
    assert float(temporal_weight(torch.tensor(255.0))) == pytest.approx(3.2 / 2 + 0.8)  # dark -> bright
    assert float(temporal_weight(torch.tensor(0.0))) == pytest.approx(STATIC)


def test_bad_options() -> None:
    with pytest.raises(InputError, match="edge_weight"):
        jnd_map(grey(127), edge_weight=2.0)
    with pytest.raises(InputError):
        jnd_map(torch.zeros(3, 8, 8))
