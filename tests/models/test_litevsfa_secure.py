"""``litevsfa-secure``: shipped fusion head (strict load, SHA-256), structure, held-out accuracy claim."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import advqa
from advqa.defenses import create as defend
from advqa.defenses import unwrap
from advqa.defenses.grid import GridSampling
from advqa.defenses.temporal import SECURE_SHA256, SECURE_WEIGHTS, FusionHead, SecurePrinciples
from advqa.errors import WeightsError
from advqa.metrics.correlation import plcc, srcc
from advqa.models import card, create
from advqa.models.litevsfa import LiteVSFA
from advqa.models.litevsfa_secure import HELDOUT
from advqa.models.weights import load_into, load_state_dict, sha256_file

HEAD_FILE = Path(advqa.__file__).resolve().parent / "resources" / "litevsfa_secure.pt"
PREDICTIONS = Path(__file__).resolve().parents[1] / "fixtures" / "litevsfa_secure" / "test_predictions.json"


@pytest.fixture(scope="module")
def model() -> SecurePrinciples:
    return create("litevsfa-secure")


def test_shipped_head_loads_strictly_and_matches_its_sha256(model):
    spec = card("litevsfa-secure").weights[0]
    assert spec is SECURE_WEIGHTS and spec.sha256 == SECURE_SHA256
    assert sha256_file(HEAD_FILE) == SECURE_SHA256
    state = load_state_dict(HEAD_FILE)
    head = FusionHead.from_state_dict(state)
    load_into(head, state, strict=True)
    assert list(state) == list(model.fusion.state_dict())
    assert all(torch.equal(state[k], v) for k, v in model.fusion.state_dict().items())
    assert head.feature_dim == LiteVSFA.feature_dim and tuple(head.score_range.tolist()) == (1.0, 5.0)
    with pytest.raises(WeightsError, match="unexpected"):
        load_into(FusionHead.from_state_dict(state), {**state, "stray": torch.zeros(1)}, strict=True)


def test_a_shipped_head_that_does_not_match_the_card_is_refused(monkeypatch):
    """The packaged fusion head is hashed before it is loaded (a damaged install fails clearly)."""
    import advqa.defenses.temporal as temporal

    monkeypatch.setattr(temporal, "SECURE_SHA256", "0" * 64)
    with pytest.raises(WeightsError, match="does not match the SHA-256 in litevsfa-secure's card"):
        create("litevsfa-secure")


def test_structure_card_and_randomness(model):
    assert isinstance(model, SecurePrinciples) and isinstance(model.intra, GridSampling)
    assert isinstance(unwrap(model), LiteVSFA)  # what a naive attacker attacks
    assert model.card.name == "litevsfa-secure" and model.card.defense == "secure"
    assert model.card.score_range == (1.0, 5.0) and model.randomized and model.frame_parts(8) is None
    assert "litevsfa-secure" in advqa.models.available()
    # the same model as litevsfa with the `secure` defence (what defenses.yaml runs)
    same = defend("secure", create("litevsfa"))
    assert all(torch.equal(a, b) for a, b in zip(same.fusion.state_dict().values(), model.fusion.state_dict().values()))
    v = torch.rand(1, 3, 3, 90, 160)
    with torch.no_grad():
        model.seed(5)
        a = model(v)
        same.seed(5)
        assert torch.allclose(same(v), a, atol=1e-5)
        assert not torch.equal(model(v), a)  # fresh grid positions and guardian maps per call


def test_stored_predictions_give_the_card_claim():
    data = json.loads(PREDICTIONS.read_text())
    mos = np.array([v["mos"] for v in data["videos"].values()])
    scores = np.array([v["scores"] for v in data["videos"].values()])
    assert scores.shape == (70, data["draws"])
    assert np.mean([srcc(scores[:, d], mos) for d in range(scores.shape[1])]) == pytest.approx(HELDOUT["srcc"], abs=5e-4)
    assert np.mean([plcc(scores[:, d], mos) for d in range(scores.shape[1])]) == pytest.approx(HELDOUT["plcc"], abs=5e-4)
    assert f"SRCC {HELDOUT['srcc']:.3f}" in card("litevsfa-secure").notes


@pytest.mark.slow
def test_the_model_reproduces_the_stored_held_out_scores(model):
    """The claim's scores come from cached features; the model recomputes them from the videos."""
    from advqa.data.demo import load_demo
    from advqa.io import read_video, to_tensor
    from advqa.training.secure import draw_seed

    data = json.loads(PREDICTIONS.read_text())
    test = {s.name: s for s in load_demo("test")}
    names = sorted(data["videos"], key=lambda n: data["videos"][n]["mos"])
    picked = names[::14]  # 5 videos across the quality range
    got, want = [], []
    for name in picked:
        video = to_tensor(read_video(test[name].path).frames)
        model.seed(draw_seed(data["seed"], name, 0))
        with torch.no_grad():
            got.append(float(model(video)[0]))
        want.append(data["videos"][name]["scores"][0])
    assert np.allclose(got, want, atol=2e-3), (got, want)
    assert srcc(got, [data["videos"][n]["mos"] for n in picked]) > 0.8
