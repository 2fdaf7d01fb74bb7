"""advqa.models.wrap: a user nn.Module becomes an attack target (images and videos)."""
from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from advqa.attacks import create
from advqa.errors import InputError
from advqa.models import ImageQualityModel, ModelCard, QualityModel, wrap
from advqa.models.wrap import IMAGENET

CARD = ModelCard(name="resnet18-regressor", paper="test: torchvision ResNet-18 as a regressor",
                 score_range=(0.0, 1.0), kind="image")


def _image(seed: int = 0, size: tuple[int, int] = (64, 64)) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (1, 3, *size), generator=g).float() / 255


@pytest.fixture(scope="module")
def regressor() -> nn.Module:
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=1000)
    net.fc = nn.Sequential(nn.Linear(512, 1), nn.Sigmoid())  # classifier head -> quality regressor
    return net


def test_classifier_turned_regressor_is_attacked_by_pgd(regressor):
    model = wrap(regressor, CARD, preprocess="imagenet")
    assert isinstance(model, ImageQualityModel) and model.card is CARD
    assert not regressor.training and all(not p.requires_grad for p in regressor.parameters())
    x = _image()
    with torch.no_grad():
        mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in IMAGENET)
        expected = regressor((x - mean) / std)[:, 0]
    assert torch.allclose(model(x), expected, atol=1e-6)  # normalisation inside forward, (B,1) -> (B,)
    eps = 4 / 255
    res = create("pgd", eps=eps, iterations=5, loss="up")(model, x)
    assert res.adversarial.shape == (1, 1, 3, 64, 64) and res.linf <= eps + 1e-6
    assert res.adv_score > res.clean_score + 0.01, (res.clean_score, res.adv_score)
    # the reported adversarial score is the wrapped module's score of the saved (8-bit) image
    with torch.no_grad():
        again = regressor((res.adversarial[:, 0] - mean) / std)[0, 0]
    assert abs(float(again) - res.adv_score) < 1e-5
    down = create("pgd", eps=eps, iterations=5, loss="down")(model, x)
    assert down.adv_score < down.clean_score - 0.01


class MultiHead(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        f = self.conv(x).mean(dim=(2, 3))
        return {"mos": f[:, 0], "aux": f[:, 1:]}


def test_dict_tuple_and_callable_outputs():
    x = _image(1, (16, 16)).repeat(2, 1, 1, 1)
    m = MultiHead()
    ref = m(x)["mos"]
    assert torch.allclose(wrap(m, name="mh", score_range=(0, 1), kind="image", output="mos")(x), ref)
    with pytest.raises(InputError, match=r"keys \['aux', 'mos'\]; pass output=<key>"):
        wrap(m, name="mh", score_range=(0, 1), kind="image")(x)
    with pytest.raises(InputError, match="not a key"):
        wrap(m, name="mh", score_range=(0, 1), kind="image", output="q")(x)

    class Pair(nn.Module):
        def forward(self, x):
            return x.mean(dim=(1, 2, 3)), x.std(dim=(1, 2, 3))

    assert torch.allclose(wrap(Pair(), name="p", score_range=(0, 1), kind="image", output=1)(x),
                          x.std(dim=(1, 2, 3)))
    with pytest.raises(InputError, match="pass output=<index>"):
        wrap(Pair(), name="p", score_range=(0, 1), kind="image")(x)
    picked = wrap(Pair(), name="p", score_range=(0, 1), kind="image", output=lambda o: o[0] - o[1])
    assert torch.allclose(picked(x), x.mean(dim=(1, 2, 3)) - x.std(dim=(1, 2, 3)))


def test_bad_outputs_and_inputs_are_reported(regressor):
    logits = torchvision.models.resnet18(num_classes=10)
    with pytest.raises(InputError, match=r"\(1, 10\) \(class logits\? pass output="):
        wrap(logits, name="cls", score_range=(0, 1), kind="image")(_image())
    model = wrap(regressor, CARD)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        model(_image() * 255)
    with pytest.raises(InputError, match=r"\(B, 3, H, W\) with 3 RGB channels"):
        model(torch.rand(1, 4, 8, 8))

    class Detached(nn.Module):
        def forward(self, x):
            return x.detach().mean(dim=(1, 2, 3))

    with pytest.raises(InputError, match="does not depend differentiably"):
        wrap(Detached(), name="d", score_range=(0, 1), kind="image")(_image().requires_grad_(True))
    with pytest.raises(InputError, match="ModelCard or the card fields score_range"):
        wrap(Detached(), name="d")
    with pytest.raises(InputError, match="kind must be"):
        wrap(Detached(), name="d", score_range=(0, 1), kind="audio")
    with pytest.raises(InputError, match="only named normalisation"):
        wrap(Detached(), name="d", score_range=(0, 1), preprocess="clip")


class Tiny3D(nn.Module):
    """Takes (B, 3, T, H, W), like torchvision's video models."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(2)
        self.conv = nn.Conv3d(3, 2, 3, padding=1)
        self.fc = nn.Linear(2, 1)

    def forward(self, x):
        assert x.shape[1] == 3
        return self.fc(torch.tanh(self.conv(x)).mean(dim=(2, 3, 4)))


def test_video_module_with_layout_is_attacked():
    net = Tiny3D()
    model = wrap(net, name="tiny3d", score_range=(-1, 1), layout="bcthw", preprocess=((0.5,) * 3, (0.25,) * 3))
    assert isinstance(model, QualityModel) and not isinstance(model, ImageQualityModel)
    g = torch.Generator().manual_seed(3)
    video = torch.randint(0, 256, (1, 4, 3, 16, 16), generator=g).float() / 255
    with torch.no_grad():
        ref = net(((video - 0.5) / 0.25).transpose(1, 2))[:, 0]
    assert torch.allclose(model(video), ref, atol=1e-6)
    res = create("pgd", eps=3 / 255, iterations=4, loss="up")(model, video)
    assert res.adv_score > res.clean_score and res.linf <= 3 / 255 + 1e-6
