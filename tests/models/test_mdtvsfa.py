"""MDTVSFA against the official code's outputs (tests/fixtures/mdtvsfa/README.md, recipe weights).

The input clip and the features are bitwise those of tests/fixtures/vsfa/ (README), so they are
read from there.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from advqa.errors import InputError
from advqa.models.mdtvsfa import MDTVSFA, MDTVSFAHead

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recipe import recipe_from_manifest  # noqa: E402  (tests/models/recipe.py)

FIX = Path(__file__).resolve().parents[1] / "fixtures"
MD = FIX / "mdtvsfa"
ATOL = 2e-6  # README: relative/mapped/aligned


def _load(name: str):
    return torch.load(MD / name, weights_only=True)


@pytest.fixture(scope="module")
def features() -> torch.Tensor:
    return torch.load(FIX / "vsfa" / "features.pt", weights_only=True)


@pytest.fixture(scope="module")
def head() -> MDTVSFAHead:
    h = MDTVSFAHead()
    h.load_state_dict(recipe_from_manifest(json.loads((MD / "keys.json").read_text())), strict=True)
    return h.eval()


def test_head_keys_are_official() -> None:
    manifest = json.loads((MD / "keys.json").read_text())
    sd = MDTVSFAHead().state_dict()
    assert list(sd) == list(manifest)
    assert all(list(sd[k].shape) == manifest[k][0] for k in manifest)
    # the official constructor's defaults
    h = MDTVSFAHead()
    assert h.nlm[0].weight.item() == pytest.approx(2 * 3 ** 0.5)
    assert h.nlm[0].bias.item() == pytest.approx(-(3 ** 0.5))


def test_head_outputs_match_official(head: MDTVSFAHead, features: torch.Tensor) -> None:
    out = _load("outputs.pt")
    with torch.no_grad():
        torch.testing.assert_close(head.dimemsion_reduction(features), out["fc0_out"], rtol=0, atol=1e-5)
        q = head.frame_scores(features[None])[0]
        s = head.all_scores(features[None])
    torch.testing.assert_close(q, out["frame_q"], rtol=0, atol=1e-5)
    assert s["pooled"].item() == pytest.approx(out["sitp_mean"].item(), abs=ATOL)
    assert s["relative"].item() == pytest.approx(0.5143209099769592, abs=ATOL)
    assert s["mapped"].item() == pytest.approx(0.048099078238010406, abs=ATOL)
    for d in "KCLN":
        assert s[d].item() == pytest.approx(out[f"aligned_score_{d}"].item(), abs=ATOL), d


def test_long_and_padded_batch(head: MDTVSFAHead, features: torch.Tensor) -> None:
    ex = _load("head_extra_outputs.pt")
    idx = ex["long_index"]
    with torch.no_grad():
        q = head.frame_scores(features[idx][None])[0]
        s = head.all_scores(features[idx][None])
        batch = torch.zeros(2, 40, 4096)
        batch[0], batch[1, :8] = features[idx], features
        letters = ["KCLN"[i] for i in ex["batch_datasets_KN"].tolist()]
        rel = head(batch, ex["batch_lengths"], "relative")
        mapped = head(batch, ex["batch_lengths"])
        aligned = head(batch, ex["batch_lengths"], letters)
    torch.testing.assert_close(q, ex["long_frame_q"], rtol=0, atol=1e-5)
    assert s["relative"].item() == pytest.approx(0.4825949966907501, abs=ATOL)
    assert s["mapped"].item() == pytest.approx(0.04703188315033913, abs=ATOL)
    assert s["K"].item() == pytest.approx(-0.07075483351945877, abs=ATOL)
    torch.testing.assert_close(rel, ex["batch_relative_score"], rtol=0, atol=ATOL)
    torch.testing.assert_close(mapped, ex["batch_mapped_score"], rtol=0, atol=ATOL)
    torch.testing.assert_close(aligned, ex["batch_aligned_score"], rtol=0, atol=ATOL)


def test_model_features_output_option_and_gradient(features: torch.Tensor) -> None:
    model = MDTVSFA(output="K")
    model.head.load_state_dict(recipe_from_manifest(json.loads((MD / "keys.json").read_text())), strict=True)
    model.backbone.load_state_dict(recipe_from_manifest(json.loads((MD / "backbone_keys.json").read_text())),
                                   strict=True)
    for p in model.parameters():
        p.requires_grad_(False)
    video = torch.load(FIX / "vsfa" / "video_u8.pt", weights_only=True).float().div(255)
    with torch.no_grad():
        f = model.frame_features(video[:2])
        torch.testing.assert_close(f, features[:2], rtol=1e-4, atol=1e-4)
        aligned_k = model.temporal_head(features[None])
    assert aligned_k.item() == pytest.approx(-0.07220067083835602, abs=ATOL)
    x = video[None, :2, :, :48, :48].clone().requires_grad_(True)
    model(x).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    with pytest.raises(InputError, match="output"):
        MDTVSFA(output="X")
