"""The generic fine-tuning loop (advqa.training.finetune) on tiny video and image models and real
photo crops: only the chosen parameters move, runs are reproducible, options are checked."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from advqa.data.base import Sample, VideoDataset
from advqa.errors import InputError
from advqa.models.base import ImageQualityModel, ModelCard
from advqa.training.finetune import finetune, frame_positions, label_map, load_sample, select_trainable
from doubles import TinyFrameModel


class TinyImageModel(ImageQualityModel):
    """Conv features + a linear head, scores on 0-1; normalises as (x - 0.5) / 0.25."""

    card = ModelCard(name="tiny-image", paper="test double", score_range=(0.0, 1.0), kind="image")
    input_std = 0.25

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(5)
        self.features = nn.Conv2d(3, 4, 3, stride=2)
        self.head = nn.Linear(8, 1)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        self.eval()

    def score_images(self, images: Tensor) -> Tensor:
        x = torch.tanh(self.features((images - 0.5) / 0.25))
        return torch.sigmoid(self.head(torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1))).squeeze(-1)


def _photo_crops(n: int) -> list[np.ndarray]:
    """``n`` real 24x32 RGB crops of scikit-image's astronaut photo, coarser and coarser."""
    from skimage import data

    img = data.astronaut()
    out = []
    for i in range(n):
        step = 4 * (i + 1)
        crop = img[100:100 + 24 * step:step, 150:150 + 32 * step:step]
        out.append(np.ascontiguousarray(crop))
    return out


@pytest.fixture(scope="module")
def video_set(tmp_path_factory: pytest.TempPathFactory) -> VideoDataset:
    from advqa.io import write_video_lossless

    root = tmp_path_factory.mktemp("videos")
    samples = []
    for i, crop in enumerate(_photo_crops(4)):
        frames = np.stack([np.roll(crop, 2 * t, axis=1) for t in range(6)])
        path = write_video_lossless(root / f"v{i}.mkv", frames)
        samples.append(Sample(name=f"v{i}", path=Path(path), mos=float(80 - 15 * i)))
    return VideoDataset(name="tiny", samples=samples, mos_range=(0.0, 100.0))


@pytest.fixture(scope="module")
def image_set(tmp_path_factory: pytest.TempPathFactory) -> list[Sample]:
    from skimage import io as skio

    root = tmp_path_factory.mktemp("images")
    samples = []
    for i, crop in enumerate(_photo_crops(4)):
        skio.imsave(root / f"i{i}.png", crop, check_contrast=False)
        samples.append(Sample(name=f"i{i}", path=root / f"i{i}.png", mos=0.8 - 0.2 * i))
    return samples


def _snapshot(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def test_video_model_only_chosen_parameters_move(video_set: VideoDataset) -> None:
    model = TinyFrameModel(seed=1)
    before = _snapshot(model)
    res = finetune(model, video_set, trainable=["fc."], nt_lambda=1e-3, nt_h=1e-2, h_space="pixels", frames=2,
                   batch_size=2, lr=1e-2, epochs=2, seed=0, test_set=video_set)
    after = _snapshot(model)
    assert set(res.state_dict) == {"fc.weight", "fc.bias"}
    assert all(torch.equal(before[k], after[k]) for k in ("conv.weight", "conv.bias"))
    assert all(not torch.equal(before[k], after[k]) for k in ("fc.weight", "fc.bias"))
    assert all(torch.equal(res.state_dict[k], after[k]) for k in res.state_dict)
    assert not any(p.requires_grad for p in model.parameters())
    assert res.history[0]["reg"] > 0 and res.history[0]["fd"] > 0
    assert res.metrics["test"]["n"] == 4 and res.metrics["parameters"] == 17
    # reproducible: the same seed gives the same parameters
    again = finetune(TinyFrameModel(seed=1), video_set, trainable=["fc."], nt_lambda=1e-3, h_space="pixels",
                     frames=2, batch_size=2, lr=1e-2, epochs=2, seed=0)
    assert all(torch.equal(res.state_dict[k], again.state_dict[k]) for k in res.state_dict)


def test_image_model_on_images_and_videos(image_set: list[Sample], video_set: VideoDataset) -> None:
    model = TinyImageModel()
    before = _snapshot(model)
    res = finetune(model, image_set, trainable=["head."], nt_lambda=1e-2, frames=None, batch_size=4, lr=5e-2,
                   epochs=3, test_set=image_set)  # h in the normalised space: 1e-2 * 0.25 pixels
    after = _snapshot(model)
    assert torch.equal(before["features.weight"], after["features.weight"])
    assert not torch.equal(before["head.weight"], after["head.weight"])
    assert res.history[-1]["l1"] < res.history[0]["l1"]
    assert load_sample(image_set[0], model).shape == (1, 3, 24, 32)
    # a video dataset on an image model: per-frame scores pooled, labels mapped 0-100 -> 0-1
    res = finetune(model, video_set, trainable=["features."], nt_lambda=1e-3, frames=3, batch_size=4, lr=1e-2)
    assert set(res.state_dict) == {"features.weight", "features.bias"}
    assert not torch.equal(after["features.weight"], model.features.weight)


def test_per_prefix_learning_rates(video_set: VideoDataset) -> None:
    model = TinyFrameModel(seed=1)
    before = _snapshot(model)
    finetune(model, video_set, trainable=["conv.", "fc."], lr=1e-2, lr_for={"conv.": 1e-4, "conv.bias": 1e-2},
             h_space="pixels", frames=2, batch_size=4, epochs=1)
    after = _snapshot(model)
    moved = {k: float((after[k] - before[k]).abs().max()) for k in before}
    # one Adam step moves every entry by about its learning rate
    assert moved["conv.weight"] == pytest.approx(1e-4, rel=0.05)
    assert moved["conv.bias"] == pytest.approx(1e-2, rel=0.05) and moved["fc.bias"] == pytest.approx(1e-2, rel=0.05)
    with pytest.raises(InputError, match="match no trainable"):
        finetune(model, video_set, trainable=["fc."], lr_for={"conv.": 1e-4}, h_space="pixels")
    with pytest.raises(InputError, match="positive"):
        finetune(model, video_set, trainable=["fc."], lr_for={"fc.": -1.0}, h_space="pixels")


def test_selection_frames_and_labels(video_set: VideoDataset) -> None:
    model = TinyFrameModel()
    assert select_trainable(model, ["conv.w", "fc."]) == ["conv.weight", "fc.weight", "fc.bias"]
    assert [p.requires_grad for p in model.parameters()] == [True, False, True, True]
    assert frame_positions(24, 4) == [0, 6, 12, 18]
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        pos = frame_positions(10, 3, g)
        assert pos[1] - pos[0] == 3 and pos[0] in (0, 1, 2, 3) and pos[-1] <= 9
    assert frame_positions(3, 8) == [0, 1, 2]
    assert load_sample(video_set[0], model, 3).shape == (1, 3, 3, 24, 32)
    assert label_map(video_set, model) == pytest.approx((0.01, 0.0))  # 0-100 -> the card's 0-1
    assert label_map(image_set_like := [], model) == (1.0, 0.0) and image_set_like == []


@pytest.mark.parametrize("kwargs, match", [
    ({"trainable": ["nothead."]}, "starts with"),
    ({"trainable": []}, "at least one"),
    ({"nt_lambda": -1.0}, "lambda"),
    ({"nt_h": 0.0}, "h"),
    ({"h_space": "normalised"}, "h_space"),
    ({"nt_lambda": 1e-3, "h_space": "normalized"}, "input_std"),
    ({"frames": 0}, "frames"),
])
def test_bad_options_raise_before_training(video_set: VideoDataset, kwargs: dict, match: str) -> None:
    model = TinyFrameModel()
    before = _snapshot(model)
    opts = {"trainable": ["fc."], "h_space": "pixels", **kwargs}
    with pytest.raises(InputError, match=match):
        finetune(model, video_set, **opts)
    assert all(torch.equal(before[k], v) for k, v in _snapshot(model).items())
