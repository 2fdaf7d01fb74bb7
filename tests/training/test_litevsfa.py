"""Training the default model's head (advqa.training.litevsfa): determinism, learning, held-out accuracy."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from advqa.models import registry
from advqa.models.litevsfa import LiteVSFA
from advqa.training.litevsfa import evaluate_head, extract_features, train_litevsfa


@pytest.fixture(scope="module")
def model() -> LiteVSFA:
    return registry.create("litevsfa")


def test_training_is_deterministic_and_learns() -> None:
    class S:
        def __init__(self, mos: float) -> None:
            self.mos = mos

    g = torch.Generator().manual_seed(1)
    mos = torch.linspace(1.2, 4.8, 8)
    direction = torch.randn(2560, generator=g)
    feats = [torch.rand(4, 2560, generator=g) + m * 0.05 * direction.abs() for m in mos]
    data = [S(float(m)) for m in mos]
    a = train_litevsfa(data, epochs=25, batch_size=8, train_features=feats, seed=3, feature_dropout=0.1)
    b = train_litevsfa(data, epochs=25, batch_size=8, train_features=feats, seed=3, feature_dropout=0.1)
    assert all(torch.equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict)
    assert a.history[-1] < a.history[0]
    assert a.metrics["train"]["srcc"] > 0.9


@pytest.mark.slow
def test_heldout_demo_accuracy(model: LiteVSFA) -> None:
    """The shipped model on the demo test split (held-out sources, 70 videos).

    Measured: SRCC 0.887, PLCC 0.916 (the target: 0.85 for both). Asserted at the target and at
    the measured level minus 0.015, so a regression fails."""
    from advqa.data.demo import load_demo

    test = load_demo("test")
    feats = extract_features(model, test)
    m = evaluate_head(model.head, feats, [s.mos for s in test])
    assert m["n"] == 70, m
    assert m["srcc"] >= 0.87 and m["plcc"] >= 0.90, m


def test_package_exports_and_module_entry_point() -> None:
    import advqa.training as training

    assert training.train_litevsfa is train_litevsfa and training.evaluate_head is evaluate_head
    with pytest.raises(AttributeError):
        training.no_such_name  # noqa: B018
    out = subprocess.run([sys.executable, "-m", "advqa.training", "--help"], capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0 and "--out" in out.stdout and "demo" in out.stdout
