"""HyperIQA against the official code's outputs (tests/fixtures/hyperiqa/README.md, recipe weights)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from advqa.errors import InputError, WeightsError
from advqa.models.crops import resize_like_pil
from advqa.models.hyperiqa import HyperIQA, target_network

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recipe import (  # noqa: E402  (tests/models/recipe.py)
    assert_official_keys, fixture_png, frozen, load_expected, recipe_from_manifest,
)

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "hyperiqa"
META = json.loads((FIX / "expected.json").read_text())
KEYS = json.loads((FIX / "keys.json").read_text())


def _png(name: str) -> torch.Tensor:
    return fixture_png(FIX / name)[0]


@pytest.fixture(scope="module")
def model() -> HyperIQA:
    m = HyperIQA(deterministic=True, seed=0)
    m.load_state_dict(recipe_from_manifest(KEYS), strict=True)
    return frozen(m)


@pytest.fixture(scope="module")
def expected() -> dict:
    return load_expected(FIX)


def test_state_dict_keys_are_official(model: HyperIQA) -> None:
    assert_official_keys(model.state_dict(), KEYS)


def test_network_matches_official_on_stored_crops(model: HyperIQA, expected: dict) -> None:
    resized = _png("resized.png")  # the official PIL resize, (3, 512, 384)
    pick = [0, 3, 6, 9]
    crops = torch.stack([resized[:, t:t + 224, l:l + 224] for t, l in
                         (META["positions_top_left"][i] for i in pick)])
    with torch.no_grad():
        params = model.hyper_params((crops - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
                                    / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        scores = target_network(params)
    torch.testing.assert_close(params["target_in_vec"], expected["target_in_vec"][pick], rtol=0, atol=2e-5)
    torch.testing.assert_close(params["fc1b"][0], expected["crop0"]["target_fc1b"], rtol=0, atol=2e-5)
    torch.testing.assert_close(params["fc5w"][0].reshape(-1), expected["crop0"]["target_fc5w"].reshape(-1),
                               rtol=0, atol=2e-5)
    torch.testing.assert_close(scores, expected["scores"][pick], rtol=0, atol=2e-5)
    # the crops really differ: a port that ignored the positions would not pass
    assert float(expected["scores"].max() - expected["scores"].min()) > 0.2


def test_crop_positions_are_the_official_draws(model: HyperIQA) -> None:
    assert model.crop_positions(512, 384) == [tuple(p) for p in META["positions_top_left"]]


def test_resize_matches_pil_within_rounding() -> None:
    img = _png("input.png")
    assert tuple(img.shape) == (3, 300, 450)
    diff = (resize_like_pil(img[None], (512, 384))[0] - _png("resized.png")).abs() * 255
    # PIL works on 8-bit values and rounds; the port does not: at most one 8-bit step apart
    assert float(diff.max()) <= 1.0 and float(diff.mean()) < 0.35


def test_end_to_end_score_matches_official(model: HyperIQA) -> None:
    model.num_crops = 2  # the first two official crops (same draws), to keep the test light
    try:
        with torch.no_grad():
            score = model(_png("input.png")[None])
    finally:
        model.num_crops = 10
    assert score.shape == (1,)
    # README: the 8-bit rounding of PIL's resize moves crop scores by < 1e-3; an unfiltered
    # (antialias=False) resize by 2-3e-3, bicubic by 1e-2
    assert score.item() == pytest.approx(float(np.mean(META["scores"][:2])), abs=1e-3)


def test_gradient_reaches_the_pixels(model: HyperIQA) -> None:
    model.num_crops = 1
    try:
        x = _png("input.png")[None, :, :64, :80].clone().requires_grad_(True)
        model(x).sum().backward()
    finally:
        model.num_crops = 10
    assert torch.isfinite(x.grad).all() and float(x.grad.abs().sum()) > 0


def test_randomness_comes_from_the_generator(model: HyperIQA) -> None:
    m = HyperIQA()
    assert m.randomized and not model.randomized and model.frame_parts(3) is not None
    m.seed(3)
    a = m.crop_positions(512, 384)
    m.seed(3)
    assert m.crop_positions(512, 384) == a
    assert m.crop_positions(512, 384) != a
    assert all(0 <= t <= 512 - 224 and 0 <= l <= 384 - 224 for t, l in a)


def test_bad_input_is_rejected(model: HyperIQA) -> None:
    with pytest.raises(InputError):
        model(torch.rand(1, 1, 64, 64))
    with pytest.raises(InputError):
        model(torch.rand(1, 3, 64, 64) * 2)
    model.resize = None
    try:
        with pytest.raises(InputError, match="224"):
            model(torch.rand(1, 3, 200, 300))
    finally:
        model.resize = (512, 384)
    with pytest.raises(InputError):
        HyperIQA(num_crops=0)
    with pytest.raises(InputError):
        HyperIQA(resize=(100, 384))


def test_trainable_parameters_fix_the_consumed_iterator(model: HyperIQA) -> None:
    m = model
    n_res = len(list(m.res.parameters()))
    n_all = len(list(m.parameters()))
    g0 = m.trainable_parameters(0)
    assert [len(g["params"]) for g in g0] == [n_all - n_res, n_res]
    assert g0[0]["lr"] == pytest.approx(2e-4) and g0[1]["lr"] == pytest.approx(2e-5)
    assert {id(p) for g in g0 for p in g["params"]} == {id(p) for p in m.parameters()}
    # after epoch t the solver uses lr / 10 ** (t // 6) (x lr_ratio until t > 8) for the hyper network
    assert m.trainable_parameters(7)[0]["lr"] == pytest.approx(2e-5 / 10 * 10)
    assert m.trainable_parameters(10)[0]["lr"] == pytest.approx(2e-5 / 10)
    assert m.trainable_parameters(13)[0]["lr"] == pytest.approx(2e-5 / 100)
    assert len(m.trainable_parameters(5)[0]["params"]) == n_all - n_res
    # the official bug: every optimiser rebuilt after epoch 1 has an empty hyper network group
    assert len(m.trainable_parameters(0, official_bug=True)[0]["params"]) == n_all - n_res
    assert m.trainable_parameters(1, official_bug=True)[0]["params"] == []
    assert len(m.trainable_parameters(1, official_bug=True)[1]["params"]) == n_res
    torch.optim.Adam(m.trainable_parameters(2))  # usable as given


def test_create_loads_official_state_dict_files(tmp_path: Path) -> None:
    from advqa.models import create

    with pytest.raises(WeightsError, match="Google Drive"):
        create("hyperiqa")
    torch.save(recipe_from_manifest(KEYS), tmp_path / "koniq_pretrained.pkl")
    m = create("hyperiqa", weights=tmp_path / "koniq_pretrained.pkl", deterministic=True)
    assert not m.training and not any(p.requires_grad for p in m.parameters())
    ref = recipe_from_manifest({"fc5b_fc.bias": KEYS["fc5b_fc.bias"]})["fc5b_fc.bias"]
    assert torch.equal(m.fc5b_fc.bias, ref)
    bad = recipe_from_manifest(KEYS)
    bad.pop("fc5b_fc.bias")
    torch.save(bad, tmp_path / "bad.pkl")
    with pytest.raises(WeightsError, match="missing"):
        create("hyperiqa", weights=tmp_path / "bad.pkl")
