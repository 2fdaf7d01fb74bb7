"""Blur, noise, resizing and bit depth (advqa.transforms.filters), each checked against a number."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from advqa import transforms as T
from advqa.data.sources import skimage_photo
from advqa.errors import InputError


def grating(period: float, width: int = 96, height: int = 8) -> torch.Tensor:
    """A (1, 1, 3, height, width) video: ``0.5 + 0.25 cos(2 pi (x + 0.5) / period)`` along x.

    With ``width`` a multiple of ``period`` it is its own mirror image at both edges, so a filter
    with mirrored edges (scipy's "reflect") sees an endless cosine."""
    x = torch.arange(width, dtype=torch.float64)
    row = 0.5 + 0.25 * torch.cos(2 * math.pi * (x + 0.5) / period)
    return row.expand(1, 1, 3, height, width).float().contiguous()


def amplitude(video: torch.Tensor, period: float) -> float:
    """Amplitude of the grating's cosine in row 4 of the first frame (projection on the cosine)."""
    row = video[0, 0, 0, 4].double() - 0.5
    x = torch.arange(row.shape[0], dtype=torch.float64)
    return float(2 / row.shape[0] * (row * torch.cos(2 * math.pi * (x + 0.5) / period)).sum())


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    return torch.from_numpy(np.asarray(skimage_photo("astronaut"))).permute(2, 0, 1)[None].float() / 255


# --------------------------------------------------------------------------------------------
# blur


@pytest.mark.parametrize("sigma", [0.8, 2.0])
def test_blur_scales_a_cosine_by_the_kernel_response(sigma: float) -> None:
    period = 8
    g = grating(period)
    out = T.gaussian_blur(g, sigma)
    # By hand: scipy's kernel is exp(-k^2 / 2 sigma^2) for |k| <= int(4 sigma + 0.5), normalised;
    # a cosine of frequency f comes out scaled by H(f) = sum_k w_k cos(2 pi f k).
    r = int(4 * sigma + 0.5)
    k = np.arange(-r, r + 1)
    w = np.exp(-k ** 2 / (2 * sigma ** 2))
    w /= w.sum()
    h = float((w * np.cos(2 * np.pi * k / period)).sum())
    x = np.arange(g.shape[-1])
    want = 0.5 + 0.25 * h * np.cos(2 * np.pi * (x + 0.5) / period)
    np.testing.assert_allclose(out[0, 0, :, :, :].numpy(), np.broadcast_to(want, out.shape[2:]), atol=2e-6)
    # ... which is the continuous Gaussian's exp(-2 pi^2 sigma^2 f^2) to within the truncation
    assert h == pytest.approx(math.exp(-2 * math.pi ** 2 * sigma ** 2 / period ** 2), abs=1e-3)
    assert out.shape == g.shape and out.dtype == g.dtype


@pytest.mark.parametrize("sigma", [0.8, 2.0])
def test_blur_removes_high_frequency_energy_of_a_photo(photo: torch.Tensor, sigma: float) -> None:
    def hf_fraction(x: torch.Tensor) -> float:
        """Share of the (Hann-windowed, interior) spectrum's energy at |f| >= 0.25 cycles/px."""
        x = x.double()[..., 64:-64, 64:-64]
        win = torch.hann_window(x.shape[-2], periodic=False, dtype=torch.float64)[:, None] \
            * torch.hann_window(x.shape[-1], periodic=False, dtype=torch.float64)[None, :]
        spec = torch.fft.fft2((x - x.mean(dim=(-2, -1), keepdim=True)) * win).abs() ** 2
        fy = torch.fft.fftfreq(x.shape[-2]).abs()[:, None]
        fx = torch.fft.fftfreq(x.shape[-1]).abs()[None, :]
        return float((spec * ((fy >= 0.25) | (fx >= 0.25))).sum() / spec.sum())

    before, after = hf_fraction(photo), hf_fraction(T.gaussian_blur(photo, sigma))
    # The Gaussian's power gain at frequency f is exp(-4 pi^2 sigma^2 f^2) <= its value at 0.25
    # (0.206 for sigma 0.8, 5.2e-5 for sigma 2). Measured: 0.064 and 2.7e-6.
    bound = math.exp(-4 * math.pi ** 2 * sigma ** 2 * 0.25 ** 2)
    assert before > 5e-3 and after / before < bound


# --------------------------------------------------------------------------------------------
# noise


def test_noise_std_and_mean_match(photo: torch.Tensor) -> None:
    flat = torch.full((1, 4, 3, 64, 64), 0.5)  # no clipping at 0.5 +- 6 sigma
    std = 12 / 255
    g = torch.Generator().manual_seed(0)
    for noisy in (T.gaussian_noise(flat, std, generator=g), T.gaussian_noise(flat, std, seed=3)):
        d = (noisy - flat).double()
        n = d.numel()  # 49152: the std estimate's relative s.e. is 1/sqrt(2n) = 0.3 %
        assert float(d.std()) == pytest.approx(std, rel=0.02)
        assert abs(float(d.mean())) < 4 * std / math.sqrt(n)
    # clamped into [0, 1] on real content
    out = T.gaussian_noise(photo, 32 / 255, seed=1)
    assert out.min() >= 0 and out.max() <= 1 and out.shape == photo.shape


def test_noise_seeds_and_generators_reproduce(photo: torch.Tensor) -> None:
    img = photo[..., :40, :50]
    a, b = T.gaussian_noise(img, 0.05, seed=7), T.gaussian_noise(img, 0.05, seed=7)
    assert torch.equal(a, b) and not torch.equal(a, T.gaussian_noise(img, 0.05, seed=8))
    # seed=: NumPy's PCG64 noise in stored-frame order (N, H, W, 3), on the 0-255 scale
    z = np.random.default_rng(7).normal(0.0, 0.05 * 255, size=(1, 40, 50, 3)).astype(np.float32)
    want = (img * 255 + torch.from_numpy(z).permute(0, 3, 1, 2)).clamp(0, 255) / 255
    assert torch.equal(a, want)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(T.gaussian_noise(img, 0.05, generator=g1), T.gaussian_noise(img, 0.05, generator=g2))
    q = T.gaussian_noise(img, 0.05, seed=7, quantize=True)
    assert torch.equal(q, torch.round((img * 255 + torch.from_numpy(z).permute(0, 3, 1, 2)).clamp(0, 255)) / 255)
    # differentiable in the video: identity where nothing was clamped
    x = torch.full((1, 2, 3, 8, 8), 0.5, requires_grad=True)
    T.gaussian_noise(x, 0.01, seed=0).sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))
    with pytest.raises(InputError, match="not both"):
        T.gaussian_noise(img, 0.05, seed=1, generator=g1)
    with pytest.raises(InputError, match=r"std \(pixel scale\) must be a number in \[0, 1\], got 12"):
        T.gaussian_noise(img, 12)
    with pytest.raises(InputError, match=r"seed must be an integer in \[0, "):
        T.gaussian_noise(img, 0.05, seed=-1)


# --------------------------------------------------------------------------------------------
# resizing


def test_down_up_keeps_coarse_detail_and_loses_fine_detail() -> None:
    # Measured amplitude kept (bicubic): period 32 px, factor 3: 1.006; period 4 px (above the
    # small video's Nyquist frequency 1/6), factor 3: 0.0012. Bilinear, factor 6: 0.783 (its
    # wider antialiasing triangle takes more of the coarse grating too).
    coarse, fine = grating(32), grating(4)
    assert amplitude(T.down_up_resize(coarse, 3), 32) / 0.25 == pytest.approx(1.0, abs=0.02)
    assert abs(amplitude(T.down_up_resize(fine, 3), 4)) / 0.25 < 0.01
    out = T.down_up_resize(coarse, 6, mode="bilinear")
    assert out.shape == coarse.shape and amplitude(out, 32) / 0.25 == pytest.approx(0.783, abs=0.02)


def test_resize_shapes_constants_and_gradient(photo: torch.Tensor) -> None:
    flat = torch.full((2, 3, 3, 30, 40), 0.25)
    for mode in T.filters.MODES:
        out = T.resize(flat, (15, 20), mode=mode)
        assert out.shape == (2, 3, 3, 15, 20) and torch.allclose(out, flat[..., :15, :20], atol=1e-6)
    up = T.resize(photo, (600, 700))
    assert up.shape == (1, 3, 600, 700) and up.min() >= 0 and up.max() <= 1  # bicubic overshoot clamped
    q = T.resize(photo, (100, 120), quantize=True)
    assert torch.equal(q, torch.round(q * 255) / 255)
    x = photo[..., :32, :32].clone().requires_grad_(True)
    T.resize(x, (16, 16), mode="bilinear").sum().backward()
    assert torch.isfinite(x.grad).all()
    assert float(x.grad.sum()) == pytest.approx(3 * 16 * 16, rel=1e-4)  # each output's weights sum to 1
    with pytest.raises(InputError, match="mode must be one of bicubic, bilinear, nearest"):
        T.resize(photo, (10, 10), mode="lanczos")
    with pytest.raises(InputError, match=r"height must be an integer in \[1, "):
        T.resize(photo, (0, 10))
    with pytest.raises(InputError, match=r"factor must be a number in \[1, inf\), got 0.5"):
        T.down_up_resize(photo, 0.5)


# --------------------------------------------------------------------------------------------
# median


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7])
def test_median_matches_scipy_windows_ranks_and_edges(size: int) -> None:
    from scipy.ndimage import median_filter

    g = torch.Generator().manual_seed(size)
    video = torch.randint(0, 256, (2, 2, 3, 9, 11), generator=g).float() / 255
    images = video[:, 0, :, :4, :5].contiguous()  # (B, 3, 4, 5): smaller than a 7x7 window
    for x in (video, images):
        want = median_filter(x.numpy(), size=(1,) * (x.ndim - 2) + (size, size), mode="reflect")
        out = T.median_filter(x, size)
        assert out.shape == x.shape and out.dtype == x.dtype
        np.testing.assert_array_equal(out.numpy(), want)


def test_median_by_hand_and_on_salt_and_pepper(photo: torch.Tensor) -> None:
    # 2x2: the window of pixel (i, j) is rows i-1..i, columns j-1..j (edges mirrored), and the upper
    # median (rank 2 of 4) is taken: for [[0.1, 0.2], [0.3, 0.4]] pixel (1, 1) -> 0.3, pixel (0, 0)
    # sees [0.1, 0.1, 0.1, 0.1] -> 0.1, pixel (0, 1) sees [0.1, 0.2, 0.1, 0.2] -> 0.2.
    x = torch.tensor([[0.1, 0.2], [0.3, 0.4]]).expand(1, 3, 2, 2).contiguous()
    torch.testing.assert_close(T.median_filter(x, 2)[0, 0], torch.tensor([[0.1, 0.2], [0.3, 0.3]]))
    # 3x3 removes an isolated impulse from a flat frame and keeps a straight edge
    flat = torch.full((1, 3, 7, 7), 0.5)
    flat[..., 3, 3] = 1.0
    flat[..., :, 5:] = 0.0
    out = T.median_filter(flat, 3)
    assert float(out[..., 3, 3].max()) == 0.5 and torch.equal(out[..., :, 5:], flat[..., :, 5:])
    # 2% salt-and-pepper impulses on the astronaut: 18.52 dB; after the 3x3 median 31.53 dB (measured)
    u = torch.rand(photo.shape, generator=torch.Generator().manual_seed(0))
    noisy = photo.clone()
    noisy[u < 0.02], noisy[u > 0.98] = 0.0, 1.0

    def psnr(a: torch.Tensor) -> float:
        return float(10 * torch.log10(1 / ((a.double() - photo.double()) ** 2).mean()))

    assert psnr(noisy) == pytest.approx(18.52, abs=0.3)
    assert psnr(T.median_filter(noisy, 3)) == pytest.approx(31.53, abs=0.3)


def test_median_gradient_goes_to_the_selected_pixels_and_bad_sizes() -> None:
    g = torch.Generator().manual_seed(1)
    x = (torch.randperm(3 * 6 * 8, generator=g).float() / (3 * 6 * 8)).reshape(1, 3, 6, 8).requires_grad_(True)
    out = T.median_filter(x, 3)
    (grad,) = torch.autograd.grad(out.sum(), x)
    # distinct values: every output takes its gradient 1 to exactly one input pixel of its window
    assert float(grad.sum()) == out.numel() and torch.equal(grad, torch.round(grad))
    counts = torch.zeros_like(x).flatten()
    for v in out.detach().flatten():  # the selected pixel of each output is the one with its value
        counts[(x.detach().flatten() == v).nonzero()[0, 0]] += 1
    torch.testing.assert_close(grad.flatten(), counts)
    with pytest.raises(InputError, match=r"size \(pixels\) must be an integer in \[1, 31\], got 0"):
        T.median_filter(x.detach(), 0)


# --------------------------------------------------------------------------------------------
# bit depth and argument checks


def test_bit_depth_leaves_exactly_two_to_the_bits_levels() -> None:
    ramp = torch.linspace(0, 1, 3 * 40 * 50).reshape(1, 3, 40, 50)
    for bits in (1, 4, 8):
        out = T.bit_depth(ramp, bits)
        levels = torch.unique(out)
        n = 2 ** bits
        assert len(levels) == n, bits
        torch.testing.assert_close(levels, torch.arange(n, dtype=torch.float32) / (n - 1))
        assert float((out - ramp).abs().max()) <= 0.5 / (n - 1) + 1e-6
    on_grid = torch.round(ramp * 255) / 255
    assert torch.equal(T.bit_depth(on_grid, 8), on_grid)
    with pytest.raises(InputError, match=r"bits must be an integer in \[1, 8\], got 9"):
        T.bit_depth(ramp, 9)


def test_blur_arguments_and_video_contract() -> None:
    v = torch.rand(1, 2, 3, 8, 8, dtype=torch.float64)
    out = T.gaussian_blur(v, 1.0)
    assert out.dtype == torch.float64 and out.shape == v.shape
    with pytest.raises(InputError, match=r"sigma \(pixels\) must be a number in \(0, inf\), got 0"):
        T.gaussian_blur(v, 0)
    with pytest.raises(InputError, match="NaN"):
        T.gaussian_blur(torch.full((1, 3, 4, 4), float("nan")), 1.0)
    with pytest.raises(InputError, match=r"\(B, T, 3, H, W\)"):
        T.gaussian_blur(torch.zeros(1, 2, 4, 8, 8), 1.0)
