"""DBCNN against the official code's outputs (tests/fixtures/dbcnn/README.md, recipe weights)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from advqa.errors import InputError, WeightsError
from advqa.models.dbcnn import DBCNN

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recipe import (  # noqa: E402  (tests/models/recipe.py)
    assert_official_keys, fixture_png, frozen, load_expected, recipe_from_manifest, recipe_value,
)

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "dbcnn"
META = json.loads((FIX / "expected.json").read_text())
KEYS = json.loads((FIX / "keys.json").read_text())


def _png(name: str) -> torch.Tensor:
    return fixture_png(FIX / name)


@pytest.fixture(scope="module")
def model() -> DBCNN:
    m = DBCNN()
    m.load_state_dict(recipe_from_manifest(KEYS), strict=True)
    return frozen(m)


@pytest.fixture(scope="module")
def expected() -> dict:
    return load_expected(FIX)


def test_state_dict_keys_are_official(model: DBCNN) -> None:
    assert_official_keys(model.state_dict(), KEYS)


@pytest.mark.parametrize("name", ["chelsea", "astronaut"])
def test_outputs_match_official(model: DBCNN, expected: dict, name: str) -> None:
    img = _png(f"input_{name}.png")
    ref, meta = expected[name], META["images"][name]
    with torch.no_grad():
        feats = model.bilinear_features(img)
        score = model(img)
    proj = torch.randn(512 * 128, 8, generator=torch.Generator().manual_seed(0)).double()
    # README: a bilinear resize with align_corners=False (chelsea's maps differ in size) moves the
    # projection by 1e-2 and the features by 1e-4; the port matches to float32 rounding
    torch.testing.assert_close(feats[0, :2048], ref["features_first2048"], rtol=1e-4, atol=1e-7)
    torch.testing.assert_close((feats.double() @ proj)[0], ref["features_projection"], rtol=0, atol=1e-4)
    assert float(feats.double().sum()) == pytest.approx(float(ref["features_sum"]), rel=1e-5)
    fc_part = float(feats.double() @ model.fc.weight.double().t())
    assert fc_part == pytest.approx(meta["fc_without_bias"], rel=1e-4)
    assert score.shape == (1,)
    assert score.item() == pytest.approx(meta["score"], abs=1e-6)


def test_gradient_reaches_the_pixels(model: DBCNN) -> None:
    x = _png("input_chelsea.png")[:, :, :40, :56].clone().requires_grad_(True)
    model(x).sum().backward()
    assert torch.isfinite(x.grad).all() and float(x.grad.abs().sum()) > 0


def test_bad_input_is_rejected(model: DBCNN) -> None:
    with pytest.raises(InputError, match="16"):
        model(torch.rand(1, 3, 12, 40))
    with pytest.raises(InputError):
        model(torch.rand(2, 4, 32, 32))
    with pytest.raises(InputError):
        model(torch.full((1, 3, 32, 32), float("nan")))


def test_create_loads_dataparallel_checkpoints(tmp_path: Path) -> None:
    from advqa.models import create

    with pytest.raises(WeightsError, match="no trained DBCNN"):
        create("dbcnn")
    # as DBCNNManager saves it: nn.DataParallel keys
    state = {f"module.{k}": v for k, v in recipe_from_manifest(KEYS).items()}
    torch.save(state, tmp_path / "net_params_best.pkl")
    m = create("dbcnn", weights=tmp_path / "net_params_best.pkl")
    assert torch.equal(m.fc.bias, recipe_value("fc.bias", (1,)))
    assert not m.training and not any(p.requires_grad for p in m.parameters())


def test_load_backbones_reads_the_released_scnn_format(tmp_path: Path) -> None:
    # scnn.pkl: nn.DataParallel(SCNN) saved before PyTorch 0.4.1, so no num_batches_tracked
    m = DBCNN()
    scnn = {f"module.features.{k[len('features2.'):]}": v for k, v in recipe_from_manifest(KEYS).items()
            if k.startswith("features2.") and not k.endswith("num_batches_tracked")}
    scnn["module.projection.0.weight"] = torch.zeros(256, 128, 1, 1)
    scnn["module.classifier.weight"] = torch.zeros(39, 256)
    torch.save(scnn, tmp_path / "scnn.pkl")
    vgg = {f"features.{k[len('features1.'):]}": v for k, v in recipe_from_manifest(KEYS).items()
           if k.startswith("features1.")}
    vgg["classifier.0.weight"] = torch.zeros(2, 2)
    torch.save(vgg, tmp_path / "vgg16.pth")
    m.load_backbones(tmp_path / "scnn.pkl", tmp_path / "vgg16.pth")
    assert torch.equal(m.features2[1].running_var, recipe_value("features2.1.running_var", (48,)))
    assert torch.equal(m.features1[28].weight, recipe_value("features1.28.weight", (512, 512, 3, 3)))
