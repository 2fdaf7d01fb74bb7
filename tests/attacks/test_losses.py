"""Attack losses against hand-computed values (paper 000 Eq. 2-3, paper 003 Eq. S13, paper 004)."""
from __future__ import annotations

import pytest
import torch

from advqa.attacks.losses import LossInfo, available, fallback_boundary, make_loss
from advqa.errors import InputError, UnknownNameError
from advqa.models.base import ModelCard

CARD = ModelCard(name="c100", paper="test", score_range=(0.0, 100.0))
CARD5 = ModelCard(name="c5", paper="test", score_range=(1.0, 5.0))
S = torch.tensor([20.0, 70.0])


def _loss(spec, card=CARD, **kw):
    kw.setdefault("clean_score", 40.0)
    return make_loss(spec, card=card, **kw)


def _close(out, expected):
    assert torch.allclose(out, torch.tensor(expected), atol=1e-6), (out, expected)


def test_available_names():
    assert available() == ["down", "mid", "mse", "srb", "toward", "up"]


def test_srb_with_mapped_boundary():
    # Eq. 2 with the Eq. 7 boundary already in the model's scale: |f - b| / span
    _close(_loss("srb", target=10.0)(S), [0.1, 0.6])
    # a boundary outside the score range (Eq. 7 can give one) is fine
    _close(_loss("srb", target=-12.5)(S), [0.325, 0.825])


@pytest.mark.parametrize("clean, boundary, expected", [
    (70.0, 0.0, [0.2, 0.7]),     # high quality -> pushed to the bottom of the range
    (30.0, 100.0, [0.8, 0.3]),   # low quality -> pushed to the top
    (50.0, 0.0, [0.2, 0.7]),     # the middle counts as high quality (q >= threshold, paper 000 code)
])
def test_srb_fallback_without_target(clean, boundary, expected):
    assert fallback_boundary(CARD, clean) == boundary
    _close(_loss("srb", clean_score=clean)(S), expected)


def test_srb_fallback_other_range():
    assert fallback_boundary(CARD5, 3.5) == 1.0 and fallback_boundary(CARD5, 2.0) == 5.0
    _close(_loss("srb", card=CARD5, clean_score=2.0)(torch.tensor([2.0, 4.0])), [0.75, 0.25])


def test_srb_mos_does_not_replace_target():
    # MOS is in the dataset's scale; only an explicit target changes the boundary
    _close(_loss("srb", clean_score=70.0, mos=1.2)(S), [0.2, 0.7])


def test_mse_pushes_away_from_clean():
    _close(_loss("mse", clean_score=40.0)(S), [-0.04, -0.09])


@pytest.mark.parametrize("clean, expected", [(40.0, [0.2, 0.7]), (50.0, [0.2, 0.7]), (60.0, [-0.2, -0.7])])
def test_mid_eq_s13(clean, expected):
    # L_mid = f if y <= middle else -f, y the clean prediction; divided by the span
    _close(_loss("mid", clean_score=clean)(S), expected)


def test_up_and_down():
    _close(_loss("up")(S), [0.8, 0.3])               # 1 - f/range (paper 004)
    _close(_loss("down")(S), [0.2, 0.7])
    _close(_loss("up", card=CARD5)(torch.tensor([2.0, 4.0])), [0.75, 0.25])
    _close(_loss("down", card=CARD5)(torch.tensor([2.0, 4.0])), [0.25, 0.75])


def test_toward_target():
    _close(_loss("toward", target=90.0)(S), [0.7, 0.2])
    with pytest.raises(InputError, match="target"):
        _loss("toward")


def test_gradient_directions():
    s = torch.tensor([60.0], requires_grad=True)
    grads = {}
    for name, kw in [("up", {}), ("down", {}), ("srb", {"target": 0.0}), ("mid", {"clean_score": 30.0})]:
        (g,) = torch.autograd.grad(_loss(name, **kw)(s).sum(), s)
        grads[name] = float(g)
    assert grads == pytest.approx({"up": -0.01, "down": 0.01, "srb": 0.01, "mid": 0.01})


def test_unknown_name_suggests():
    with pytest.raises(UnknownNameError) as info:
        _loss("sbr")
    assert "srb" in info.value.suggestions
    assert "Did you mean 'srb'" in str(info.value)


def test_name_is_case_insensitive():
    _close(_loss("UP")(S), [0.8, 0.3])


def test_custom_callable_gets_info():
    seen = {}

    def my_loss(scores, info):
        seen["info"] = info
        return (scores - info.middle) / info.span

    fn = _loss(my_loss, clean_score=42.0, mos=3.3, target=7.0)
    _close(fn(S), [-0.3, 0.2])
    info = seen["info"]
    assert isinstance(info, LossInfo)
    assert (info.clean_score, info.mos, info.target, info.span) == (42.0, 3.3, 7.0, 100.0)
    assert fn.__name__ == "my_loss"


def test_custom_callable_bad_shape():
    fn = _loss(lambda s, info: s.sum())
    with pytest.raises(InputError, match="shaped like the scores"):
        fn(S)


def test_bad_spec_type():
    with pytest.raises(InputError, match="loss must be"):
        _loss(3)
