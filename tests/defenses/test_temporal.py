"""SecureVQA's inter-frame principle (``temporal``) and the combined principles (``secure``)."""
from __future__ import annotations

import pytest
import torch
from doubles import TinyFrameModel, TinyRandomModel

from advqa.defenses import DEFENSES, create, unwrap
from advqa.defenses.grid import GridSampling
from advqa.defenses.temporal import FusionHead, SecurePrinciples, TemporalBranch, TemporalFusion
from advqa.errors import InputError, UnknownNameError, WeightsError


@pytest.fixture(scope="module")
def inner():
    m = TinyFrameModel()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


@pytest.fixture(scope="module")
def head_state():
    """A fusion head for the tiny model's 16-d features, weights drawn at random (seeded)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        head = FusionHead(16, projection=8)
        for p in head.parameters():
            p.data.normal_(0, 0.3)
    return head.state_dict()


def _moving(t=5, h=40, w=56, seed=0):
    """A textured frame panning right by 3 px per frame, on the 8-bit grid."""
    g = torch.Generator().manual_seed(seed)
    big = torch.randint(0, 256, (3, h, w + 3 * t), generator=g).float() / 255
    big = torch.nn.functional.avg_pool2d(big[None], 3, stride=1, padding=1)[0]  # some spatial structure
    return torch.stack([big[:, :, 3 * i:3 * i + w] for i in range(t)])[None]


def test_branch_features_are_appearance_and_temporal_differences(inner, head_state):
    d = TemporalFusion(inner, weights=head_state)
    v = _moving()
    with torch.no_grad():
        e = d.branch_features(v)
        maps = d.branch(d.branch_input(v))
    assert e.shape == (1, 5, TemporalBranch.out_dim) and maps.shape[2] == 80
    c = 80
    # by hand: mean and std of the frame's map, then of its difference to the previous frame
    flat = maps.flatten(3)
    assert torch.allclose(e[0, 2, :c], flat[0, 2].mean(dim=1), atol=1e-5)
    assert torch.allclose(e[0, 2, c:2 * c], flat[0, 2].std(dim=1), atol=1e-4)
    diff = flat[0, 2] - flat[0, 1]
    assert torch.allclose(e[0, 2, 2 * c:3 * c], diff.mean(dim=1), atol=1e-5)
    assert torch.allclose(e[0, 2, 3 * c:], diff.std(dim=1), atol=1e-4)
    # the first frame has no predecessor: a zero difference (std floored at 1e-4, not NaN)
    assert torch.equal(e[0, 0, 2 * c:3 * c], torch.zeros(c))
    assert torch.allclose(e[0, 0, 3 * c:], torch.full((c,), 1e-4))
    assert float(e[0, 1:, 3 * c:].mean()) > 0.05  # motion gives real differences


def test_the_branch_changes_the_score(inner, head_state):
    d = TemporalFusion(inner, weights=head_state)
    v = _moving()
    still = v[:, :1].expand(-1, 5, -1, -1, -1).contiguous()
    with torch.no_grad():
        f = d.intra_features(v)
        moving = d.fusion(f, d.branch_features(v))
        frozen = d.fusion(f, d.branch_features(still))  # same frame features, no motion in the branch
        assert torch.allclose(d(v), moving, atol=1e-6)
        assert abs(float(moving - frozen)) > 1e-3
        # the inner model's own score is not the defended one: the head is replaced
        assert abs(float(inner(v) - d(v))) > 1e-3
    assert d.frame_parts(5) is None and not d.randomized
    assert unwrap(d) is inner


def test_gradient_flows_to_the_pixels_through_the_temporal_branch(inner, head_state):
    d = TemporalFusion(inner, weights=head_state)
    v = _moving().requires_grad_(True)
    (g_branch,) = torch.autograd.grad(d.fusion(d.intra_features(v.detach()), d.branch_features(v)).sum(), v)
    (g_intra,) = torch.autograd.grad(d.fusion(d.intra_features(v), d.branch_features(v.detach())).sum(), v)
    (g_full,) = torch.autograd.grad(d(v).sum(), v)
    assert torch.isfinite(g_branch).all()
    # every frame receives gradient from the branch (its own features and the differences)
    assert all(float(g_branch[0, t].abs().sum()) > 0 for t in range(5))
    assert torch.allclose(g_full, g_branch + g_intra, atol=1e-6, rtol=1e-4)  # the chain rule over both branches
    # a still video (zero differences) still has a finite gradient
    still = v.detach()[:, :1].expand(-1, 5, -1, -1, -1).contiguous().requires_grad_(True)
    (g_still,) = torch.autograd.grad(d(still).sum(), still)
    assert torch.isfinite(g_still).all() and float(g_still.abs().sum()) > 0


def test_guardian_and_intra_defences_are_the_defences_own_randomness(inner, head_state):
    d = TemporalFusion(inner, weights=head_state, intra=["grid", {"name": "guardian"}], guardian=1 / 255)
    assert d.randomized and {p for p, _ in d.random_sources()} == {"", "intra", "intra.model"}
    assert isinstance(d.intra, GridSampling)
    v = _moving(h=64, w=80)
    with torch.no_grad():
        d.seed(3)
        a = d(v)
        b = d(v)
        d.seed(3)
        assert torch.equal(d(v), a)  # seeded: reproducible
        assert not torch.equal(a, b)  # fresh draws per call
        x = d.branch_input(v)
        plain = d.branch.resize(v[0])
    delta = (x[0] - plain)[(plain > 0.01) & (plain < 0.99)]
    assert torch.allclose(delta.abs(), torch.full_like(delta, 1 / 255), atol=1e-6)  # the branch's guardian map
    with torch.no_grad():  # the frame branch sees the 224x224 mosaic (grid, then guardian)
        d.seed(0)
        mosaic = d.intra.defend(v)
        assert mosaic.shape[-2:] == (224, 224)


def test_wrapping_a_model_that_is_not_frame_wise_is_an_error(head_state, inner):
    with pytest.raises(InputError, match="frame-wise"):
        TemporalFusion(TinyRandomModel(), weights=head_state)
    with pytest.raises(InputError, match="frame-wise"):
        create([{"name": "temporal", "weights": head_state}, "grid"], inner)  # temporal(grid(model))
    d = create(["grid", {"name": "temporal", "weights": head_state}], inner)  # grid first, then temporal
    assert isinstance(d, GridSampling) and isinstance(d.model, TemporalFusion)


def test_bad_options_and_missing_weights(inner, head_state):
    with pytest.raises(WeightsError, match="needs trained fusion weights"):
        TemporalFusion(inner)
    with pytest.raises(WeightsError, match="needs trained fusion weights"):
        SecurePrinciples(inner)  # shipped weights exist only for litevsfa
    for bad in (-0.1, True, "1/255", 0.5):
        with pytest.raises(InputError, match="guardian must be"):
            TemporalFusion(inner, weights=head_state, guardian=bad)
    for bad in (8, 112.0, False):
        with pytest.raises(InputError, match="size"):
            TemporalFusion(inner, weights=head_state, size=bad)
    with pytest.raises(UnknownNameError):
        TemporalFusion(inner, weights=head_state, intra=["gird"])
    with pytest.raises(InputError, match="transform the input only"):
        TemporalFusion(inner, weights=head_state, intra=[{"name": "temporal", "weights": head_state}])
    with pytest.raises(InputError, match="deterministic"):
        TemporalFusion(inner, weights=head_state, seed=1)  # no guardian: nothing to seed
    with pytest.raises(UnknownNameError):
        DEFENSES.check_options("temporal", {"weigths": "x"})
    with pytest.raises(WeightsError, match="not a temporal fusion head"):
        TemporalFusion(inner, weights={"head.ann.fc0.weight": torch.zeros(128, 336)})
    wrong = FusionHead(32, projection=8).state_dict()  # trained for a model with 32-d features
    d = TemporalFusion(inner, weights=wrong)
    with pytest.raises(InputError, match="trained for another model"):
        d(_moving())
    with pytest.raises(InputError, match="changes the model"):
        d.transform(_moving())


def test_weights_file_loads_strictly_and_the_card_follows_the_head(inner, head_state, tmp_path):
    path = tmp_path / "head.pt"
    state = dict(head_state)
    state["score_range"] = torch.tensor([0.0, 10.0])
    torch.save(state, path)
    d = create({"name": "temporal", "weights": str(path)}, inner)
    assert d.card.name == "tiny-frame+temporal" and d.card.score_range == (0.0, 10.0)
    assert d.card.defense == "temporal" and d.card.inner is inner.card
    torch.save({**state, "extra": torch.zeros(1)}, path)
    with pytest.raises(WeightsError, match="unexpected"):
        TemporalFusion(inner, weights=str(path))


def test_fusion_head_reduction_and_padding():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        head = FusionHead(12, branch_dim=6, reduced=4)
        head.reduce_mean.normal_()
        head.reduce_basis.normal_()
    again = FusionHead.from_state_dict(head.state_dict())
    again.load_state_dict(head.state_dict())
    assert (again.feature_dim, again.branch_dim, again.reduced, again.projection) == (12, 6, 4, 0)
    f, e = torch.randn(2, 5, 12), torch.randn(2, 5, 6)
    with torch.no_grad():
        ref = head.label_scale * head.head(torch.cat([(f - head.reduce_mean) @ head.reduce_basis, e], dim=2))
        assert torch.allclose(again(f, e), ref, atol=1e-6)
        # frames past a video's length are padding
        padded = again(torch.cat([f, torch.randn(2, 3, 12)], 1), torch.cat([e, torch.randn(2, 3, 6)], 1), [5, 5])
        assert torch.allclose(padded, again(f, e), atol=1e-6)
    with pytest.raises(InputError):
        FusionHead(12, reduced=13)


# ------------------------------------------------------------------ the paper's SlowFast branch


@pytest.fixture(scope="module")
def slowfast_file(tmp_path_factory):
    """A SlowFast-R50 fast pathway with seeded random weights, saved under the hub's
    ``model_state`` with a slow-pathway key that the loader must drop."""
    from advqa.models.securevqa import SlowFastFastPathway

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        net = SlowFastFastPathway()
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm3d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    state = dict(net.state_dict())
    state["blocks.0.multipathway_blocks.0.conv.weight"] = torch.zeros(64, 3, 1, 7, 7)  # slow pathway: dropped
    path = tmp_path_factory.mktemp("slowfast") / "slowfast_r50.pyth"
    torch.save({"model_state": state}, path)
    return path, net


def test_slowfast_branch_is_the_fast_pathway_per_frame(inner, slowfast_file):
    """branch='slowfast': per-frame rows are the spatial means of the fast pathway's res5 output on
    the ImageNet-normalised 224 x 224 frames; a change of frame 3 reaches frame 2's row (temporal
    receptive field) but not frame 0's when the clip is long enough."""
    path, net = slowfast_file
    net.set_norm("running")
    net.eval()
    head = FusionHead(16, branch_dim=256).state_dict()
    d = TemporalFusion(inner, weights=head, branch="slowfast", branch_weights=path)
    assert d.branch.size == 224 and d.branch.out_dim == 256
    video = _moving(t=8)
    e = d.branch_features(video)
    assert e.shape == (1, 8, 256)
    x = torch.nn.functional.interpolate(video[0], size=(224, 224), mode="bilinear", align_corners=False)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1, 1)
    with torch.no_grad():
        ref = net((x.transpose(0, 1)[None] - mean) / std).mean(dim=(3, 4)).transpose(1, 2)
    assert torch.allclose(e, ref, atol=1e-5)
    moved = video.clone()
    moved[:, 3] = 1 - moved[:, 3]
    e2 = d.branch_features(moved)
    assert float((e2[0, 2] - e[0, 2]).abs().max()) > 1e-4
    # gradients reach the input through the frozen branch (white-box attacks see the whole model)
    v = video.clone().requires_grad_(True)
    d(v).sum().backward()
    assert v.grad is not None and float(v.grad.abs().sum()) > 0


def test_slowfast_branch_needs_its_weights(inner, tmp_path):
    head = FusionHead(16, branch_dim=256).state_dict()
    with pytest.raises(WeightsError, match="branch_weights=PATH"):
        TemporalFusion(inner, weights=head, branch="slowfast")
    bad = tmp_path / "other.pt"
    torch.save({"fc.weight": torch.zeros(2, 2)}, bad)
    with pytest.raises(WeightsError, match="not a SlowFast-R50 checkpoint"):
        TemporalFusion(inner, weights=head, branch="slowfast", branch_weights=bad)
    with pytest.raises(InputError, match="branch must be one of"):
        TemporalFusion(inner, weights=head, branch="x3d")
    with pytest.raises(InputError, match="backbone_weights"):
        TemporalFusion(inner, weights=head, branch_weights=bad)


def test_slowfast_head_mismatch_is_named(inner, slowfast_file):
    """An efficientnet-branch head (320-d branch input) on the slowfast branch (256-d) is refused."""
    path, _ = slowfast_file
    head = FusionHead(16, projection=8).state_dict()  # projection from 320-d features
    with pytest.raises(WeightsError, match="trained with another branch"):
        TemporalFusion(inner, weights=head, branch="slowfast", branch_weights=path)
