"""Every registered model: end-to-end differentiable from pixels, validated input, card consistency.

Built without downloads: the VSFA family with random weights (no official file is shipped), the
default model with its shipped weights, FAST-VQA / DOVER with random weights and one short clip,
the image models (HyperIQA, DBCNN, LinearityIQA, MANIQA) with random weights.
"""
from __future__ import annotations

import pytest
import torch

from advqa.models import available, card, create
from advqa.models.mdtvsfa import MDTVSFA
from advqa.models.vsfa import VSFA


def _build(name: str) -> torch.nn.Module:
    if name == "vsfa":
        return VSFA().eval()
    if name == "mdtvsfa":
        return MDTVSFA().eval()
    if name in ("litevsfa", "litevsfa-nt", "liteiqa", "liteiqa-nt", "litevsfa-secure"):
        return create(name)
    if name in ("fastvqa", "fastervqa"):
        return create(name, pretrained=False, num_clips=1)
    if name == "dover":
        return create("dover", pretrained=False, frames="all")
    if name == "securevqa":
        return create("securevqa", pretrained=False, num_clips=1)
    if name == "hyperiqa":
        return create("hyperiqa", pretrained=False, num_crops=1, resize=(224, 224))
    if name == "dbcnn":
        return create("dbcnn", pretrained=False)
    if name == "linearityiqa":
        return create("linearityiqa", pretrained=False, arch="resnet34", resize=(96, 128))
    if name == "maniqa":
        # The official score head ends in a ReLU: with random weights every token's score can be
        # 0 (it is under torch 2.1.2's initialisation), and so would the gradient. A positive
        # last bias keeps the head in its active region on any torch version.
        model = create("maniqa", pretrained=False, sampling="resize")
        with torch.no_grad():
            model.fc_score[3].bias.fill_(1.0)
        return model
    raise AssertionError(f"add a cheap builder for the new model {name!r} to this test")


#: (frames, height, width) per model: as small as each architecture accepts
SIZES = {"fastvqa": (32, 64, 64), "fastervqa": (32, 64, 64), "dover": (2, 64, 64), "securevqa": (8, 64, 64),
         "hyperiqa": (2, 64, 96), "maniqa": (1, 64, 96)}


@pytest.mark.parametrize("name", available())
def test_gradient_wrt_pixels_is_finite_and_nonzero(name):
    torch.manual_seed(0)
    model = _build(name)
    for p in model.parameters():
        p.requires_grad_(False)
    t, h, w = SIZES.get(name, (3, 64, 96))
    video = torch.rand(1, t, 3, h, w, requires_grad=True)
    score = model(video)
    assert score.shape == (1,) and torch.isfinite(score).all()
    (grad,) = torch.autograd.grad(score.sum(), video)
    assert torch.isfinite(grad).all()
    assert float(grad.abs().max()) > 0
    assert all(p.grad is None for p in model.parameters())
    assert not model.training  # never switched to train mode by forward


@pytest.mark.parametrize("name", available())
def test_cards_are_complete(name):
    c = card(name)
    assert c.paper and c.input and c.licence != "unknown"
    assert c.weights, f"{name}: the card must say where its weights come from"
    for w in c.weights:
        # weights with no published download (a local checkpoint) must say so in the card
        assert w.url or "no published" in w.notes.lower(), f"{name}: weights without a source"
        if w.sha256 is not None:
            assert len(w.sha256) == 64 and int(w.sha256, 16) >= 0
