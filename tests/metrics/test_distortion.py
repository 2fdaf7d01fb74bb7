"""Linf, pixel-level L2, PSNR and SSIM against hand computations and scikit-image."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage import data
from skimage.metrics import structural_similarity

from advqa.errors import InputError
from advqa.metrics import linf, pixel_l2, psnr, ssim


def _video(t=3, h=8, w=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (t, 3, h, w), generator=g).double() / 255


def test_linf_and_pixel_l2_hand_computed():
    clean = _video()
    adv = clean.clone()
    adv[0] += 1 / 255  # frame 0: every pixel-channel moved by 1/255 -> RMS 1/255
    adv[1, 2, 3, 4] += 3 / 255  # frame 1: a single value moved by 3/255
    rms1 = (3 / 255) / math.sqrt(3 * 8 * 10)
    assert linf(clean, adv) == pytest.approx(3 / 255, abs=1e-12)
    # mean over the 3 frames of ||delta_t||_2 / sqrt(3HW)
    assert pixel_l2(clean, adv) == pytest.approx((1 / 255 + rms1 + 0) / 3, abs=1e-12)


def test_batched_inputs_give_one_value_per_video():
    clean = torch.stack([_video(seed=1), _video(seed=2)])
    adv = clean.clone()
    adv[1] += 0.1
    out = linf(clean, adv)
    assert isinstance(out, torch.Tensor) and out.shape == (2,)
    assert out.dtype == torch.float64 and out.tolist() == pytest.approx([0.0, 0.1], abs=1e-15)
    p = psnr(clean, adv)
    assert math.isinf(p[0]) and p[1] == pytest.approx(20.0, abs=1e-9)  # MSE 0.01 -> 20 dB
    assert pixel_l2(clean.float(), adv.float())[1] == pytest.approx(0.1, abs=1e-6)


def test_psnr_hand_computed():
    clean = _video(seed=3)
    noise = (torch.rand(clean.shape, generator=torch.Generator().manual_seed(4)).double() - 0.5) * 0.04
    adv = clean + noise
    mse = float((noise ** 2).mean())
    assert psnr(clean, adv) == pytest.approx(10 * math.log10(1 / mse), abs=1e-9)
    assert psnr(clean * 255, adv * 255, data_range=255) == pytest.approx(10 * math.log10(1 / mse), abs=1e-9)
    assert psnr(clean, clean) == math.inf


def _astronaut_pair():
    img = data.astronaut().astype(np.float64) / 255  # (512, 512, 3) real photo
    rng = np.random.default_rng(0)
    adv = np.clip(img + rng.normal(0, 0.03, img.shape), 0, 1)
    return img, adv


def _to_video(*frames):
    return torch.stack([torch.from_numpy(f).permute(2, 0, 1) for f in frames])  # (T, 3, H, W)


def test_ssim_matches_skimage_on_a_real_photo():
    img, adv = _astronaut_pair()
    kw = dict(data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    luma = lambda x: x @ np.array([0.299, 0.587, 0.114])  # noqa: E731  BT.601
    ref_luma = structural_similarity(luma(img), luma(adv), **kw)
    ref_rgb = structural_similarity(img, adv, channel_axis=-1, **kw)
    got_luma = ssim(_to_video(img), _to_video(adv))
    got_rgb = ssim(_to_video(img), _to_video(adv), channel="rgb")
    assert got_luma == pytest.approx(ref_luma, abs=1e-3)
    assert got_rgb == pytest.approx(ref_rgb, abs=1e-3)
    # the implementation is exact, not only within 1e-3
    assert got_luma == pytest.approx(ref_luma, abs=1e-9)
    assert got_rgb == pytest.approx(ref_rgb, abs=1e-9)


def test_ssim_is_the_mean_over_frames():
    img, adv = _astronaut_pair()
    img, adv = img[:128, 200:328], adv[:128, 200:328]
    kw = dict(data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, channel_axis=-1)
    s1 = structural_similarity(img, adv, **kw)
    video = _to_video(img, img)
    assert ssim(video, _to_video(adv, img), channel="rgb") == pytest.approx((s1 + 1.0) / 2, abs=1e-9)
    batch = ssim(video[None].float(), video[None].float())
    assert batch.shape == (1,) and batch[0] == pytest.approx(1.0, abs=1e-12)


def test_bad_inputs():
    v = _video()
    with pytest.raises(InputError, match="same shape"):
        psnr(v, v[:2])
    with pytest.raises(InputError, match=r"\(B, T, 3, H, W\)"):
        linf(v[0], v[0])
    with pytest.raises(InputError, match="smaller than the 11x11"):
        ssim(v, v)
    bad = v.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        pixel_l2(v, bad)
    with pytest.raises(InputError, match="channel"):
        ssim(v, v, channel="yuv")


def test_chunked_computation_gives_the_same_numbers(monkeypatch):
    import advqa.metrics.distortion as dist

    g = torch.Generator().manual_seed(5)
    clean = torch.rand(2, 5, 3, 16, 20, generator=g)
    adv = (clean + 0.02 * torch.randn(clean.shape, generator=g)).clamp(0, 1)
    whole = [f(clean, adv) for f in (linf, pixel_l2, psnr, ssim)]
    monkeypatch.setattr(dist, "_CHUNK_PIXELS", 3 * 16 * 20 * 3)  # 3 frames per chunk, across videos
    chunked = [f(clean, adv) for f in (linf, pixel_l2, psnr, ssim)]
    for x, y in zip(whole, chunked):
        assert x.tolist() == pytest.approx(y.tolist(), rel=1e-12)
    # per-video values agree with the single-video form
    assert psnr(clean[1], adv[1]) == pytest.approx(float(whole[2][1]), rel=1e-12)
