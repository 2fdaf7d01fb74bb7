"""Training the fusion head of the temporal / secure defences on cached features."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from doubles import TinyFrameModel

from advqa.defenses.temporal import FusionHead, TemporalFusion
from advqa.errors import InputError
from advqa.models.blocks import pool_scores
from advqa.training.secure import (draw_seed, evaluate_fusion, extract_features, fit_reduction, pool_equal_lengths,
                                   predict, train_fusion)


def test_batched_pooling_is_vsfa_pooling():
    q = torch.rand(6, 17, generator=torch.Generator().manual_seed(0)) * 4
    assert torch.allclose(pool_equal_lengths(q), pool_scores(q), atol=1e-6)


def test_reduction_is_the_principal_subspace():
    g = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(10, 2, generator=g))[0]
    feats = [[((torch.randn(8, 2, generator=g) * torch.tensor([5.0, 2.0])) @ basis.T + 3.0
               + 0.01 * torch.randn(8, 10, generator=g), torch.zeros(8, 3))] for _ in range(30)]
    mean, b = fit_reduction(feats, 2, frame_step=1)
    assert torch.allclose(b.T @ b, torch.eye(2), atol=1e-5)  # orthonormal components
    assert torch.allclose((b @ b.T) @ basis, basis, atol=1e-2)  # spanning the planted subspace
    assert torch.allclose(mean, torch.full((10,), 3.0), atol=0.5)
    with pytest.raises(InputError):
        fit_reduction(feats, 11)


def test_training_fits_labels_that_depend_on_both_branches():
    g = torch.Generator().manual_seed(1)
    feats, mos = [], []
    for _ in range(32):
        a, b = float(torch.rand(1, generator=g)), float(torch.rand(1, generator=g))
        f = a + 0.05 * torch.randn(6, 12, generator=g)
        e = b + 0.05 * torch.randn(6, 5, generator=g)
        feats.append([(f, e), (f + 0.01, e - 0.01)])
        mos.append(1 + 2 * a + 2 * b)
    res = train_fusion(feats, mos, epochs=40, reduced=4, lr=1e-2, batch_size=32, seed=0)
    assert res.history[-1] < 0.5 * res.history[0]
    assert res.metrics["train"]["srcc"] > 0.9
    ablated = train_fusion(feats, mos, epochs=40, reduced=4, lr=1e-2, batch_size=32, seed=0, use_branch=False)
    assert ablated.metrics["train"]["srcc"] < res.metrics["train"]["srcc"] - 0.1  # half the label is in the branch
    head = FusionHead.from_state_dict(res.state_dict)
    head.load_state_dict(res.state_dict)
    assert head.reduced == 4 and predict(head, feats).shape == (32, 2)
    one, two = (train_fusion(feats, mos, epochs=2, reduced=4, seed=3) for _ in range(2))
    assert all(torch.allclose(one.state_dict[k], two.state_dict[k]) for k in one.state_dict)  # seeded
    with pytest.raises(InputError):
        train_fusion(feats, mos[:-1])


def test_cached_features_are_what_the_defended_model_scores(tmp_path):
    from advqa.data.base import Sample
    from advqa.io import write_video_lossless

    inner = TinyFrameModel()
    head = FusionHead(16)
    d = TemporalFusion(inner, weights=head.state_dict(), intra=["grid"], guardian=1 / 255)
    g = torch.Generator().manual_seed(0)
    frames = (torch.rand(4, 60, 72, 3, generator=g) * 255).to(torch.uint8).numpy()
    write_video_lossless(tmp_path / "v.mkv", frames, fps=25)
    sample = Sample("v", tmp_path / "v.mkv", 3.0)
    (per,) = extract_features(d, [sample], draws=2, seed=4)
    assert len(per) == 2 and not torch.equal(per[0][0], per[1][0])  # two random draws
    video = torch.from_numpy(frames).permute(0, 3, 1, 2).float().div(255)[None]
    with torch.no_grad():
        d.seed(draw_seed(4, "v", 1))
        direct = float(d(video)[0])
    assert predict(d.fusion, [per])[0, 1] == pytest.approx(direct, abs=1e-5)
    metrics = evaluate_fusion(d.fusion, [per, per], [1.0, 2.0])
    assert metrics["draws"] == 2 and np.isfinite(metrics["rmse"])
