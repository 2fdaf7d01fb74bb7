"""Shared model blocks (advqa.models.blocks): pooling checked by hand, shape checks."""
from __future__ import annotations

import pytest
import torch

from advqa.errors import InputError
from advqa.models.blocks import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    check_features,
    imagenet_normalise,
    mean_std_pool,
    subjective_pooling,
)


def test_pooling_by_hand() -> None:
    # T=3, tau=2: l = [q0, min(q0,q1), min(q1,q2)], m_t softmin-weighted mean of q_t, q_{t+1}
    q = torch.tensor([0.2, 0.5, 0.1], dtype=torch.float64)
    w = torch.exp(-q)
    m = torch.stack([(q[0] * w[0] + q[1] * w[1]) / (w[0] + w[1]),
                     (q[1] * w[1] + q[2] * w[2]) / (w[1] + w[2]), q[2]])
    low = torch.tensor([0.2, 0.2, 0.1], dtype=torch.float64)
    torch.testing.assert_close(subjective_pooling(q, tau=2, beta=0.5), 0.5 * m + 0.5 * low)
    x = torch.arange(12.0).reshape(1, 2, 2, 3)
    ref = torch.cat([x.reshape(1, 2, -1).mean(2), x.reshape(1, 2, -1).std(2, unbiased=True)], 1)
    torch.testing.assert_close(mean_std_pool(x), ref)


def test_imagenet_normalise_and_feature_check() -> None:
    x = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1).expand(2, 3, 4, 5)
    assert imagenet_normalise(x).abs().max() == 0
    one = imagenet_normalise(torch.ones(1, 3, 1, 1)).flatten()
    torch.testing.assert_close(one, torch.tensor([(1 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)]))
    check_features(torch.zeros(2, 3, 8), 8)
    with pytest.raises(InputError, match=r"\(B, T, 8\)"):
        check_features(torch.zeros(2, 3, 7), 8)
    with pytest.raises(InputError, match="shaped"):
        subjective_pooling(torch.zeros(2, 3))
