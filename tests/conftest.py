"""Shared test fixtures: small differentiable quality models (tests/doubles.py) and a random video."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import Tensor

from doubles import TinyFrameModel, TinyRandomModel


SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def tiny_model() -> TinyFrameModel:
    m = TinyFrameModel()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


@pytest.fixture
def tiny_random_model() -> TinyRandomModel:
    m = TinyRandomModel().seed(0)
    for p in m.parameters():
        p.requires_grad_(False)
    return m


@pytest.fixture
def random_video() -> Tensor:
    """A (1, 6, 3, 40, 56) video on the 8-bit grid."""
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (1, 6, 3, 40, 56), generator=g).float() / 255
