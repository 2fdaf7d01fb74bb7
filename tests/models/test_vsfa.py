"""VSFA against the official code's outputs (tests/fixtures/vsfa/README.md, recipe weights)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from advqa.errors import InputError
from advqa.models.blocks import VSFAHead, pool_scores, subjective_pooling
from advqa.models.vsfa import VSFA

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recipe import recipe_from_manifest, recipe_value  # noqa: E402  (tests/models/recipe.py)

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "vsfa"


def _load(name: str):
    return torch.load(FIX / name, weights_only=True)


@pytest.fixture(scope="module")
def model() -> VSFA:
    m = VSFA()
    m.head.load_state_dict(recipe_from_manifest(json.loads((FIX / "keys.json").read_text())), strict=True)
    m.backbone.load_state_dict(recipe_from_manifest(json.loads((FIX / "backbone_keys.json").read_text())),
                               strict=True)
    for p in m.parameters():
        p.requires_grad_(False)
    return m.eval()


@pytest.fixture(scope="module")
def video() -> torch.Tensor:
    return _load("video_u8.pt").float().div(255).unsqueeze(0)  # (1, 8, 3, 224, 288)


def test_recipe_port_matches_fixture_checksums() -> None:
    check = json.loads((FIX / "recipe_check.json").read_text())
    manifests = {"head": json.loads((FIX / "keys.json").read_text()),
                 "backbone": json.loads((FIX / "backbone_keys.json").read_text())}
    for part, entries in check.items():
        for key, ref in entries.items():
            shape, dtype = manifests[part][key]
            t = recipe_value(key, shape, getattr(torch, dtype))
            assert t.double().sum().item() == pytest.approx(ref["sum"], abs=1e-6), key
            assert t.reshape(-1)[0].item() == pytest.approx(ref["first"], abs=1e-7), key


def test_state_dict_keys_are_official(model: VSFA) -> None:
    head = json.loads((FIX / "keys.json").read_text())
    sd = VSFAHead().state_dict()
    assert list(sd) == list(head)
    assert all(list(sd[k].shape) == head[k][0] for k in head)
    backbone = json.loads((FIX / "backbone_keys.json").read_text())
    assert list(model.backbone.state_dict()) == list(backbone)


def test_features_match_official(model: VSFA, video: torch.Tensor) -> None:
    ref = _load("features.pt")
    with torch.no_grad():
        feats = model.video_features(video)[0]
    assert feats.shape == (8, 4096)
    torch.testing.assert_close(feats, ref, rtol=1e-4, atol=1e-4)
    # forward = temporal_head(video_features): the end-to-end score is the official one
    with torch.no_grad():
        assert model.temporal_head(feats[None]).item() == pytest.approx(0.07254786789417267, abs=1e-5)
    # the frame loop's chunking does not change the result
    with torch.no_grad():
        one = model.frame_features(video[0, 3:4])
    torch.testing.assert_close(one[0], ref[3], rtol=1e-4, atol=1e-4)


def test_head_outputs_match_official(model: VSFA) -> None:
    feats, out = _load("features.pt"), _load("outputs.pt")
    with torch.no_grad():
        fc0 = model.head.ann.fc0(feats)
        q = model.head.frame_scores(feats[None])[0]
        tp = subjective_pooling(q)
        score = model.temporal_head(feats[None])
    torch.testing.assert_close(fc0, out["fc0_out"], rtol=0, atol=1e-5)
    torch.testing.assert_close(q, out["frame_q"], rtol=0, atol=1e-5)
    torch.testing.assert_close(tp, out["tp_per_frame"], rtol=0, atol=1e-5)
    assert score.shape == (1,)
    assert score.item() == pytest.approx(0.07254786789417267, abs=1e-5)


def test_long_and_padded_batch(model: VSFA) -> None:
    feats, extra = _load("features.pt"), _load("head_extra_outputs.pt")
    idx = extra["long_index"]
    assert idx.tolist() == [abs((i + 7) % 14 - 7) for i in range(40)]
    batch = torch.zeros(2, 40, 4096)
    batch[0], batch[1, :8] = feats[idx], feats
    with torch.no_grad():
        q = model.head.frame_scores(feats[idx][None])[0]
        long = model.temporal_head(feats[idx][None])
        scores = model.temporal_head(batch, extra["batch_lengths"])
    torch.testing.assert_close(q, extra["long_frame_q"], rtol=0, atol=1e-5)
    assert long.item() == pytest.approx(-0.07934848964214325, abs=1e-5)
    torch.testing.assert_close(scores, extra["batch_scores"], rtol=0, atol=1e-5)
    # tau matters on 40 steps (README: tau 11 moves the score by 7.5e-4)
    with torch.no_grad():
        tau11 = pool_scores(q[None], tau=11)
    assert abs(tau11.item() - long.item()) > 5e-4


def test_pixel_gradient_finite_and_nonzero(model: VSFA, video: torch.Tensor) -> None:
    x = video[:, :2, :, :48, :48].clone().requires_grad_(True)
    model(x).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_checkpointed_chunks_give_the_same_gradient(model: VSFA, video: torch.Tensor) -> None:
    x = video[:, :3, :, :32, :32].clone()
    grads = []
    for ckpt in (False, True):
        model.chunk_size, model.checkpoint_chunks = 1, ckpt
        xi = x.clone().requires_grad_(True)
        model(xi).sum().backward()
        grads.append(xi.grad)
    model.chunk_size, model.checkpoint_chunks = VSFA.chunk_size, True
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-7)


def test_bad_inputs(model: VSFA) -> None:
    with pytest.raises(InputError, match="lengths"):
        model.temporal_head(torch.zeros(1, 4, 4096), torch.tensor([5]))
    with pytest.raises(InputError, match="4096"):
        model.temporal_head(torch.zeros(1, 4, 100))


def test_create_from_local_files(tmp_path: Path) -> None:
    from advqa.errors import WeightsError
    from advqa.models import create

    head = recipe_from_manifest(json.loads((FIX / "keys.json").read_text()))
    backbone = recipe_from_manifest(json.loads((FIX / "backbone_keys.json").read_text()))
    torch.save(head, tmp_path / "VSFA.pt")
    torch.save(backbone, tmp_path / "resnet50.pth")
    model = create("vsfa", weights=tmp_path / "VSFA.pt", backbone_weights=tmp_path / "resnet50.pth")
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    with torch.no_grad():
        score = model.temporal_head(_load("features.pt")[None])
    assert score.item() == pytest.approx(0.07254786789417267, abs=1e-5)
    with pytest.raises(WeightsError):  # the backbone file is not a head
        create("vsfa", weights=tmp_path / "resnet50.pth", backbone_weights=tmp_path / "resnet50.pth")
