"""The default image model ``liteiqa``: shipped head (checksum enforced), differentiable any-size
input, the ridge fit, and the held-out demo predictions reproduced on stored inputs."""
from __future__ import annotations

import csv
import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

import advqa
from advqa.errors import InputError, WeightsError
from advqa.io import read_image
from advqa.metrics.correlation import plcc, srcc
from advqa.models import DEFAULT_IMAGE_MODEL, ImageQualityModel, registry
from advqa.models import liteiqa as L
from advqa.models.blocks import mean_std_pool
from advqa.training.liteiqa import features_from_stats, fit_ridge, fit_ridge_path, grouped_cv, predict

HEAD_FILE = Path(advqa.__file__).resolve().parent / "resources" / "liteiqa_head.pt"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "liteiqa"


@pytest.fixture(scope="module")
def model() -> L.LiteIQA:
    return registry.create("liteiqa")


def _heldout() -> list[dict[str, str]]:
    with open(FIXTURES / "heldout.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_default_image_model_and_shipped_head(model: L.LiteIQA) -> None:
    assert DEFAULT_IMAGE_MODEL == "liteiqa" and isinstance(model, ImageQualityModel)
    c = registry.card("liteiqa")
    assert c.kind == "image" and c.score_range == (1.0, 5.0) and c.higher_is_better
    assert registry.summary("liteiqa").startswith("image:")
    assert hashlib.sha256(HEAD_FILE.read_bytes()).hexdigest() == L.HEAD_SHA256 == c.weights[0].sha256
    sd = torch.load(HEAD_FILE, weights_only=True)
    assert list(sd) == list(model.head.state_dict()) == ["mean", "scale", "fc.weight", "fc.bias"]
    assert sd["fc.weight"].shape == (1, L.FEATURE_DIM) and bool((sd["scale"] > 0).all())
    assert L.FEATURE_DIM == 2 * sum(dict(zip(L.MAPS, L.MAP_CHANNELS))[t] for t in L.TAPS)


def test_shipped_head_checksum_is_enforced(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(L, "HEAD_WEIGHTS", dataclasses.replace(L.HEAD_WEIGHTS, sha256="0" * 64))
    with pytest.raises(WeightsError, match="SHA-256"):
        L.create_liteiqa()
    # a local file is the user's choice (retrained heads): used as it is, loaded strictly
    other = tmp_path / "head.pt"
    sd = torch.load(HEAD_FILE, weights_only=True)
    torch.save({k: v * 0 if k == "fc.weight" else v for k, v in sd.items()}, other)
    m = L.create_liteiqa(weights=other)
    with torch.no_grad():
        assert torch.allclose(m(torch.rand(2, 3, 40, 60)), sd["fc.bias"].expand(2))
    torch.save({k: v for k, v in sd.items() if k != "scale"}, other)
    with pytest.raises(WeightsError):
        L.create_liteiqa(weights=other)


def test_any_size_with_finite_pixel_gradient(model: L.LiteIQA) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 50, 70, generator=g).requires_grad_(True)
    s = model(x)
    assert s.shape == (2,) and torch.isfinite(s).all()
    s.sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert model.resize(torch.zeros(1, 3, 90, 120)).shape[-2:] == (180, 240)  # short side 180
    assert model.resize(torch.zeros(1, 3, 1080, 1920)).shape[-2:] == (180, 320)
    native = torch.rand(1, 3, 180, 320, generator=g)
    assert model.resize(native) is native  # the demo's frames are not resampled
    # a flat grey image: constant feature channels, still a finite gradient (std with eps)
    flat = torch.full((1, 3, 40, 40), 0.5, requires_grad=True)
    model(flat).sum().backward()
    assert torch.isfinite(flat.grad).all()
    # features are the power-normalised tapped columns of the statistics
    with torch.no_grad():
        st = model.stats(native)
        assert st.shape == (1, L.STATS_DIM)
        assert torch.allclose(model.features(native), features_from_stats(st, L.TAPS), atol=1e-6)
        # videos: the mean of the frame scores
        video = torch.rand(1, 3, 3, 36, 48, generator=g)
        assert torch.allclose(model(video), model(video[0]).mean().reshape(1), atol=1e-5)
    with pytest.raises(InputError):
        model(torch.full((1, 3, 8, 8), 2.0))
    with pytest.raises(InputError, match="unknown feature maps"):
        L.stats_columns(("s9",))


def test_pooling_and_power_normalisation() -> None:
    x = torch.arange(24.0).reshape(1, 2, 3, 4)
    flat = x.flatten(2)[0].numpy()
    ps = mean_std_pool(x, eps=1e-8)
    assert np.allclose(ps[0, :2].numpy(), flat.mean(1)) and np.allclose(ps[0, 2:].numpy(), flat.std(1, ddof=1))
    assert torch.equal(mean_std_pool(x), torch.cat([x.flatten(2).mean(2), x.flatten(2).std(2)], 1))
    const = torch.zeros(1, 1, 3, 3, requires_grad=True)
    mean_std_pool(const, eps=1e-8).sum().backward()  # torch.std would give NaN here
    assert torch.isfinite(const.grad).all()
    v = torch.tensor([-4.0, 0.0, 9.0], requires_grad=True)
    assert torch.allclose(L.power_normalise(v, eps=1e-12), torch.tensor([-2.0, 0.0, 3.0]), atol=1e-5)
    L.power_normalise(v).sum().backward()
    assert torch.isfinite(v.grad).all()
    # the column layout: means of all maps, then their stds
    cols = L.stats_columns(("s1", "head"))
    total = sum(L.MAP_CHANNELS)
    assert cols[:16].tolist() == list(range(16)) and cols[16] == total - 1280
    assert cols[16 + 1280] == total and cols.numel() == 2 * (16 + 1280)


def test_ridge_fit_is_the_closed_form_solution() -> None:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(40, 6, generator=g, dtype=torch.float64) * torch.tensor([1, 2, 3, 4, 5, 6.0], dtype=torch.float64)
    y = 3 + x @ torch.tensor([0.3, -0.1, 0.05, 0.0, 0.02, -0.04], dtype=torch.float64) \
        + 0.01 * torch.randn(40, generator=g, dtype=torch.float64)
    alpha = 0.5
    state = fit_ridge(x, y, alpha)
    # reference: numpy least squares on the augmented system [Z; sqrt(alpha n) I] w = [y - mean; 0]
    z = ((x - x.mean(0)) / x.std(0)).numpy()
    aug = np.vstack([z, np.sqrt(alpha * 40) * np.eye(6)])
    w = np.linalg.lstsq(aug, np.concatenate([(y - y.mean()).numpy(), np.zeros(6)]), rcond=None)[0]
    assert np.allclose(state["fc.weight"].numpy()[0], w, atol=1e-5)
    assert np.allclose(predict(state, x.float()), z @ w + y.mean().item(), atol=1e-4)
    assert abs(float(state["fc.bias"]) - float(y.mean())) < 1e-6
    # fewer rows than features: the dual form gives the same vector as the augmented system
    xs, ys = x[:5], y[:5]
    zs = ((xs - xs.mean(0)) / xs.std(0)).numpy()
    aug = np.vstack([zs, np.sqrt(alpha * 5) * np.eye(6)])
    ws = np.linalg.lstsq(aug, np.concatenate([(ys - ys.mean()).numpy(), np.zeros(6)]), rcond=None)[0]
    a, b = fit_ridge_path(xs, ys, (alpha, 2 * alpha))
    assert np.allclose(a["fc.weight"].numpy()[0], ws, atol=1e-5)
    assert float(b["fc.weight"].norm()) < float(a["fc.weight"].norm())  # stronger ridge, smaller weights
    cv = grouped_cv(x.float(), y, [str(i % 5) for i in range(40)], alphas=(1e-3, 10.0))
    assert [c["folds"] for c in cv] == [10, 10] and cv[0]["srcc"] > 0.9 and cv[0]["srcc"] > cv[1]["srcc"] - 1e-9
    with pytest.raises(InputError):
        fit_ridge(x, y, 0.0)
    with pytest.raises(InputError):
        grouped_cv(x.float(), y, ["a", "b"] * 20)  # 2 groups for 5 folds


def test_heldout_predictions_match_the_documented_accuracy() -> None:
    """The stored held-out predictions: every frame of the 70 demo test videos (5 sources never
    used for fitting or model selection) against its own per-frame VMAF pseudo-MOS.

    Measured: SRCC 0.668, PLCC 0.731, below the 0.85 the project aims for (see the model's
    docstring); asserted at the measured level, so a regression fails."""
    from advqa.data.demo import TEST_SOURCES

    rows = _heldout()
    assert len(rows) == 70 * 24 and {r["source"] for r in rows} == set(TEST_SOURCES)
    pred = np.array([float(r["score"]) for r in rows])
    mos = np.array([float(r["mos"]) for r in rows])
    assert np.allclose(mos, 1 + 4 * np.clip([float(r["vmaf"]) for r in rows], 0, 100) / 100, atol=1e-5)
    s, p = float(srcc(pred, mos)), float(plcc(pred, mos))
    assert s >= 0.66 and p >= 0.72, (s, p)
    assert abs(s - L.HELDOUT_SRCC) < 5e-4 and abs(p - L.HELDOUT_PLCC) < 5e-4, (s, p)


def test_shipped_head_reproduces_the_heldout_predictions(model: L.LiteIQA) -> None:
    """On stored head inputs (one frame per test video), the shipped head gives the stored
    scores within 1e-4 (float32 rounding of a 3168-term dot product)."""
    stored = torch.load(FIXTURES / "features.pt", weights_only=True)
    rows = _heldout()
    want = np.array([float(rows[i]["score"]) for i in stored["rows"].tolist()])
    assert stored["features"].shape == (70, L.FEATURE_DIM)
    with torch.no_grad():
        got = model.head(stored["features"]).numpy()
    assert np.abs(got - want).max() < 1e-4


def test_whole_model_reproduces_stored_frames(model: L.LiteIQA) -> None:
    """Stored demo test frames (PNG) scored end to end, backbone included: within 2e-3 of the
    stored scores (float32 convolutions differ in the last bits across torch versions and CPUs;
    the stored scores' own spread is ~1 on this scale)."""
    with open(FIXTURES / "images.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3
    heldout = {(r["video"], int(r["frame"])): float(r["score"]) for r in _heldout()}
    with torch.no_grad():
        for r in rows:
            x = read_image(FIXTURES / r["file"])
            assert x.shape == (1, 3, 180, 320)
            got = float(model(x)[0])
            assert abs(got - float(r["score"])) < 2e-3, (r, got)
            assert abs(float(r["score"]) - heldout[(r["video"], int(r["frame"]))]) < 2e-3
    scores = [float(r["score"]) for r in rows]
    assert max(scores) - min(scores) > 0.5  # pristine vs heavy compression / blur
