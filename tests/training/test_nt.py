"""NT regularisation (advqa.training.nt): the loss against closed forms and a step-by-step
computation, no second-order graph, the space of h, bad options."""
from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from advqa.errors import InputError
from advqa.models.base import ModelCard, QualityModel
from advqa.models.litevsfa import LiteVSFA
from advqa.training.nt import h_step, input_std, nt_loss, paper_equivalent_lambda
from doubles import TinyFrameModel


class LinearVideoModel(QualityModel):
    """``f(video) = mean_t sum(w * frame_t) + b``: the input gradient is ``w / T`` per frame, so
    ``||grad_pixels f||_1 = ||w||_1`` and ``||grad_normalised f||_1 = sum_c std_c ||w_c||_1``."""

    card = ModelCard(name="linear", paper="test double", score_range=(0.0, 10.0))
    input_std = (0.5, 0.25, 2.0)

    def __init__(self, h: int = 4, w: int = 5) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(3)
        self.w = nn.Parameter(torch.randn(3, h, w, generator=g) * 0.1)
        self.b = nn.Parameter(torch.tensor(1.5))

    def score(self, video: Tensor) -> Tensor:
        return (video * self.w).sum(dim=(2, 3, 4)).mean(dim=1) + self.b


def _video(shape: tuple[int, ...], seed: int = 0) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(20, 236, shape, generator=g).float() / 255


def test_linear_model_closed_form_in_both_spaces() -> None:
    model = LinearVideoModel()
    x = _video((2, 3, 3, 4, 5))
    y = torch.tensor([1.0, 2.0])
    w = model.w.detach()
    f = (x * w).sum(dim=(2, 3, 4)).mean(dim=1) + 1.5
    l1 = float((f - y).abs().mean())
    pixels = float(w.abs().sum())
    normalised = sum(s * float(w[c].abs().sum()) for c, s in enumerate(model.input_std))
    for space, fd in (("pixels", pixels), ("normalized", normalised)):
        out = nt_loss(model, x, y, lam=1e-2, h=1e-3, h_space=space)
        assert out.fd.tolist() == pytest.approx([fd, fd], rel=1e-4)
        assert float(out.reg) == pytest.approx(0.5 * fd ** 2, rel=2e-4)
        assert float(out.total.detach()) == pytest.approx(l1 + 1e-2 * 0.5 * fd ** 2, rel=2e-4)
        assert float(out.l1) == pytest.approx(l1, rel=1e-5)
    # d(total)/d(b): the regulariser does not depend on b, L1 gives mean(sign(f - y))
    out = nt_loss(model, x, y, lam=1e-2, h=1e-3)
    (gb,) = torch.autograd.grad(out.total, model.b)
    assert float(gb) == pytest.approx(float(torch.sign(f - y).mean()), abs=1e-6)
    # lambda = 0: plain L1, no regulariser
    zero = nt_loss(model, x, y, lam=0.0)
    assert float(zero.total.detach()) == pytest.approx(l1, rel=1e-5) and float(zero.reg) == 0.0


def test_tiny_frame_model_matches_step_by_step_and_builds_no_second_order_graph() -> None:
    model = TinyFrameModel(seed=2)
    x = _video((1, 2, 3, 12, 16), seed=1)
    y = torch.tensor([0.3])
    lam, h, std = 1e-3, 1e-2, 0.4
    xr = x.clone().requires_grad_(True)
    f = model(xr)
    (g,) = torch.autograd.grad(f.sum(), xr)
    d = torch.sign(g)
    with torch.no_grad():
        fp = model(x + h * std * d)
        fd = (fp - f.detach()) / h
        expected = float((f.detach() - y).abs().mean() + lam * 0.5 * (fd ** 2).mean())
    out = nt_loss(model, x, y, lam=lam, h=h, h_space="normalized", std=std)
    assert float(out.total.detach()) == pytest.approx(expected, rel=1e-5)
    assert float(out.fd) == pytest.approx(float(fd), rel=1e-5)

    # the graph holds first-order nodes only: no backward-of-backward, no sign of a gradient
    names, stack, seen = set(), [out.total.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.add(type(node).__name__)
        stack.extend(nxt for nxt, _ in node.next_functions)
    assert not any("BackwardBackward" in n or n.startswith("Sign") for n in names), names
    # and the parameters get the first-order gradient of both forwards
    params = [p for p in model.parameters()]
    grads = torch.autograd.grad(out.total, params)
    assert all(torch.isfinite(gr).all() and gr.abs().sum() > 0 for gr in grads)


def test_h_space_conversion_uses_the_models_normalisation() -> None:
    model = LiteVSFA()  # (255 x - 127) / 128: one normalised unit = 128/255 pixels
    assert input_std(model) == pytest.approx((128 / 255,) * 3)
    assert h_step(model, 1e-2).flatten().tolist() == pytest.approx([1e-2 * 128 / 255] * 3)
    assert h_step(model, 1e-2, "pixels").flatten().tolist() == pytest.approx([1e-2] * 3)
    assert h_step(model, 1e-2, "normalized", std=(0.1, 0.2, 0.3)).flatten().tolist() == pytest.approx(
        [1e-3, 2e-3, 3e-3])
    assert paper_equivalent_lambda(1e-3, 4.0) == pytest.approx(2.5e-2)


def test_bad_options_raise_input_error() -> None:
    model = LinearVideoModel()
    x, y = _video((1, 1, 3, 4, 5)), torch.tensor([1.0])
    for kwargs in ({"lam": -1e-3}, {"lam": float("nan")}, {"h": 0.0}, {"h": -1e-2}, {"h_space": "pixel"}):
        with pytest.raises(InputError):
            nt_loss(model, x, y, **kwargs)
    with pytest.raises(InputError, match="input_std"):
        nt_loss(TinyFrameModel(), x, y, h_space="normalized")  # states no normalisation
    nt_loss(TinyFrameModel(), x, y, h_space="pixels")
