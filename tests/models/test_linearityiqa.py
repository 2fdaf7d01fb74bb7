"""LinearityIQA against the official code's outputs (tests/fixtures/linearityiqa/README.md, recipe weights)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from advqa.errors import InputError, WeightsError
from advqa.models.crops import resize_like_pil
from advqa.models.linearityiqa import LinearityIQA, spsp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recipe import (  # noqa: E402  (tests/models/recipe.py)
    assert_official_keys, fixture_png, frozen, load_expected, recipe_from_manifest,
)

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "linearityiqa"
META = json.loads((FIX / "expected.json").read_text())


def _keys(arch: str) -> dict:
    return json.loads((FIX / f"keys_{arch}.json").read_text())


def _png(name: str) -> torch.Tensor:
    return fixture_png(FIX / name)


def _model(arch: str, **options) -> LinearityIQA:
    m = LinearityIQA(arch=arch, k=META["k"], b=META["b"], **options)
    m.load_state_dict(recipe_from_manifest(_keys(arch)), strict=True)
    return frozen(m)


@pytest.fixture(scope="module")
def expected() -> dict:
    return load_expected(FIX)


@pytest.fixture(scope="module")
def resnet34() -> LinearityIQA:
    return _model("resnet34", resize=tuple(META["resize"]))


@pytest.mark.slow
def test_resnext101_default_matches_official(expected: dict) -> None:
    m = _model("resnext101_32x8d", resize=None)  # the official default architecture
    assert_official_keys(m.state_dict(), _keys("resnext101_32x8d"))
    with torch.no_grad():
        pq = torch.stack(m.predictions(_png("resized.png")), dim=1)[0]
    score = pq[2] * m.k[0] + m.b[0]  # what forward returns (checked on ResNet-34 below)
    # float32 vs float64 of the official graph: 1.3e-6 (README)
    torch.testing.assert_close(pq, expected["resnext101_32x8d"]["pq"], rtol=0, atol=1e-5)
    assert score.item() == pytest.approx(META["resnext101_32x8d"]["score"], abs=3e-5)
    assert META["resnext101_32x8d"]["score"] == pytest.approx(
        META["resnext101_32x8d"]["pq"][2] * META["k"][0] + META["b"][0], abs=1e-9)


def test_resnet34_network_and_keys(resnet34: LinearityIQA, expected: dict) -> None:
    keys = _keys("resnet34")
    assert list(resnet34.state_dict()) == list(keys)
    resnet34.resize = None
    try:
        with torch.no_grad():
            pq = torch.stack(resnet34.predictions(_png("resized.png")), dim=1)[0]
    finally:
        resnet34.resize = tuple(META["resize"])
    torch.testing.assert_close(pq, expected["resnet34"]["pq"], rtol=0, atol=1e-5)


def test_resize_matches_pil_within_rounding() -> None:
    diff = (resize_like_pil(_png("input.png"), tuple(META["resize"])) - _png("resized.png")).abs() * 255
    assert float(diff.max()) <= 1.0 and float(diff.mean()) < 0.35


def test_end_to_end_matches_official(resnet34: LinearityIQA, expected: dict) -> None:
    with torch.no_grad():
        pq = torch.stack(resnet34.predictions(_png("input.png")), dim=1)[0]
        score = resnet34(_png("input.png"))
    # README: the port's resize moves the predictions by <= 1.1e-3; no antialiasing: 0.04-0.11
    torch.testing.assert_close(pq, expected["resnet34"]["pq"], rtol=0, atol=3e-3)
    assert score.item() == pytest.approx(META["resnet34"]["score"], abs=5e-3)


def test_gradient_reaches_the_pixels(resnet34: LinearityIQA) -> None:
    x = _png("input.png")[:, :, :60, :90].clone().requires_grad_(True)
    resnet34(x).sum().backward()
    assert torch.isfinite(x.grad).all() and float(x.grad.abs().sum()) > 0


def test_bad_input_is_rejected(resnet34: LinearityIQA) -> None:
    resnet34.resize = None
    try:
        with pytest.raises(InputError, match="32"):
            resnet34(torch.rand(1, 3, 20, 64))
    finally:
        resnet34.resize = tuple(META["resize"])
    with pytest.raises(InputError):
        resnet34(torch.rand(1, 3, 40, 40) - 1)
    with pytest.raises(InputError, match="arch"):
        LinearityIQA(arch="alexnet")
    with pytest.raises(InputError, match="pool"):
        LinearityIQA(arch="resnet18", pool="median")
    with pytest.raises(InputError):
        resnet34.set_mapping([1.0], [0.0])


def test_spsp_by_hand() -> None:
    x = torch.arange(32.0).reshape(1, 2, 4, 4)
    flat = x.reshape(1, 2, -1)
    torch.testing.assert_close(spsp(x, 1, "avg"), flat.mean(2))
    torch.testing.assert_close(spsp(x, 1, "maxmin"), torch.cat([flat.amax(2), flat.amin(2)], 1))
    torch.testing.assert_close(spsp(x, 1, "std"), flat.std(2, unbiased=False))
    # P = 2: the global value, then the four 2 x 2 quadrants per channel
    two = spsp(x, 2, "avg")
    assert two.shape == (1, 2 + 8)
    assert two[0, 2:6].tolist() == [2.5, 4.5, 10.5, 12.5]


def test_create_reads_official_checkpoints(tmp_path: Path) -> None:
    from advqa.models import create

    with pytest.raises(WeightsError, match="Google Drive"):
        create("linearityiqa")
    sd = recipe_from_manifest(_keys("resnet34"))
    ckpt = {"model": sd, "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4, "params": [0, 1]}]},
            "amp": {"loss_scaler0": {"loss_scale": 65536.0, "unskipped": 0}}, "k": [2.0, 1.0, 1.0],
            "b": [3.0, 0.0, 0.0]}
    torch.save(ckpt, tmp_path / "p1q2.pth")
    m = create("linearityiqa", weights=tmp_path / "p1q2.pth", arch="resnet34")
    assert m.k == [2.0, 1.0, 1.0] and m.b == [3.0, 0.0, 0.0]
    assert not m.training and not any(p.requires_grad for p in m.parameters())
    torch.save(sd, tmp_path / "plain.pth")
    m = create("linearityiqa", weights=tmp_path / "plain.pth", arch="resnet34")
    assert m.k == [1.0, 1.0, 1.0] and m.b == [0.0, 0.0, 0.0]
    with pytest.raises(WeightsError):  # a ResNet-34 file does not fit the default ResNeXt-101
        create("linearityiqa", weights=tmp_path / "plain.pth")
