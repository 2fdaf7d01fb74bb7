"""Lossy codec round trips: encode a video (or images) with a real codec and decode it back.

Every function takes a float video ``(B, T, 3, H, W)`` in [0, 1] (or images ``(B, 3, H, W)``,
each coded as a one-frame clip or a single JPEG) and returns the decoded result with the same
shape, dtype and device. The input is first rounded to 8 bits (``round(255 x)``), as a stored
video is; the output lies on the 8-bit grid (``k / 255``). Round trips are not differentiable:
the output carries no gradient, so a defence built on them supplies its own gradient estimate
(BPDA: identity through the codec; Athalye, Carlini, Wagner, "Obfuscated Gradients Give a False
Sense of Security", ICML 2018).

Video codecs (:func:`h264`, :func:`mpeg2`, :func:`mjpeg`) run the ffmpeg binary of
``imageio-ffmpeg`` with one thread and bit-exact flags, so the same input gives the same bytes
on every run (PyAV's bundled libx264 was measured to vary from run to run), and decode with
:func:`advqa.io.read_video`. RGB -> YUV 4:2:0 is ffmpeg's BT.601 conversion. Each video of the
batch is coded on its own, at ``fps`` frames per second. Odd frame sizes are padded to even ones by
repeating the last row / column (4:2:0 needs even sizes) and cropped back after decoding.

:func:`jpeg` codes each frame as a baseline JPEG with Pillow (libjpeg's quality scale 1-100,
4:2:0 chroma subsampling).
"""
from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
from torch import Tensor

from advqa.errors import UnknownNameError, VideoReadError, VideoWriteError
from advqa.transforms._checks import as_clips, check_int, check_number, check_video, from_u8, to_u8

__all__ = ["CODECS", "codec_roundtrip", "codec_roundtrip_frames", "h264", "jpeg", "mjpeg", "mpeg2"]

#: Per codec: container suffix, ffmpeg output options (``{q}`` is the level), the level's name
#: and its valid range. ``crf``: libx264's constant rate factor (0 = lossless .. 51 = worst);
#: ``qscale``: a fixed quantiser, as ``ffmpeg -q:v`` (1 = best .. 31 = worst).
CODECS: dict[str, tuple[str, tuple[str, ...], str, int, int]] = {
    "h264": (".mp4", ("-c:v", "libx264", "-preset", "medium", "-crf", "{q}", "-pix_fmt", "yuv420p"),
             "crf", 0, 51),
    "mpeg2": (".mpg", ("-c:v", "mpeg2video", "-q:v", "{q}", "-g", "12", "-pix_fmt", "yuv420p"),
              "qscale", 1, 31),
    "mjpeg": (".avi", ("-c:v", "mjpeg", "-q:v", "{q}", "-pix_fmt", "yuvj420p"), "qscale", 1, 31),
}


def _check_codec(codec: str) -> tuple[str, tuple[str, ...], str, int, int]:
    if codec not in CODECS:
        raise UnknownNameError("codec", str(codec), CODECS)
    return CODECS[codec]


def codec_roundtrip_frames(frames: np.ndarray, codec: str, level: int, *, fps: float = 25.0) -> np.ndarray:
    """Encode uint8 RGB frames ``(T, H, W, 3)`` with ``codec`` at ``level`` and decode them back.

    The frame-level core of :func:`codec_roundtrip` (what the demo set's ladder runs): returns
    uint8 ``(T, H, W, 3)``. ``level`` is libx264's CRF or the MPEG-2 / MJPEG quantiser (see
    :data:`CODECS`); ``fps`` in frames per second.
    """
    from advqa.io.ffmpeg import run_ffmpeg
    from advqa.io.video import read_video

    suffix, opts, what, lo, hi = _check_codec(codec)
    level = check_int(level, f"advqa.transforms.{codec}", what, lo, hi)
    fps = check_number(fps, f"advqa.transforms.{codec}", "fps", 0.0, 1000.0, lo_open=True)
    t, h, w = frames.shape[:3]
    src = frames
    if h % 2 or w % 2:
        src = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    ph, pw = src.shape[1:3]
    with tempfile.TemporaryDirectory(prefix="advqa-codec-") as tmp:
        path = Path(tmp) / f"enc{suffix}"
        run_ffmpeg(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{pw}x{ph}", "-r", f"{fps:g}", "-i", "-",
                    *(o.format(q=f"{level:g}") for o in opts), "-threads", "1", "-an",
                    "-fflags", "+bitexact", "-flags", "+bitexact", str(path)],
                   stdin=np.ascontiguousarray(src).tobytes(),
                   fail=lambda msg: VideoWriteError(path, f"ffmpeg could not encode with {codec} "
                                                          f"({what} {level}): {msg}"))
        dec = read_video(path).frames
        if dec.shape != src.shape:
            raise VideoReadError(path, f"the {codec} round trip decoded {dec.shape}, expected {src.shape}")
    return dec[:, :h, :w] if (ph, pw) != (h, w) else dec


def codec_roundtrip(video: Tensor, codec: str, level: int, *, fps: float = 25.0) -> Tensor:
    """Encode each video of the batch with ``codec`` ("h264", "mpeg2", "mjpeg") at ``level`` and
    decode it back: ``(B, T, 3, H, W)`` or ``(B, 3, H, W)`` in [0, 1] -> the same shape, on the
    8-bit grid. ``level``: see :data:`CODECS`; ``fps``: frames per second of the coded clips."""
    name = f"advqa.transforms.{codec}"
    _, _, what, lo, hi = _check_codec(codec)
    level = check_int(level, name, what, lo, hi)
    video = check_video(video, name)
    clips = to_u8(as_clips(video))  # (B, T, H, W, 3)
    out = np.stack([codec_roundtrip_frames(c, codec, level, fps=fps) for c in clips])
    return from_u8(out, video).reshape(video.shape)


def h264(video: Tensor, crf: int, *, fps: float = 25.0) -> Tensor:
    """H.264 (libx264, preset medium, 4:2:0) round trip at constant rate factor ``crf`` in
    [0, 51] (18: visually near-lossless; 51: the coarsest). ``(B, T, 3, H, W)`` or ``(B, 3, H, W)``
    in [0, 1] -> the same shape, on the 8-bit grid."""
    return codec_roundtrip(video, "h264", crf, fps=fps)


def mpeg2(video: Tensor, qscale: int, *, fps: float = 25.0) -> Tensor:
    """MPEG-2 (ffmpeg's mpeg2video, GOP 12, 4:2:0) round trip at the fixed quantiser ``qscale``
    in [1, 31] (``ffmpeg -q:v``; 31 is the coarsest). Same shapes as :func:`h264`."""
    return codec_roundtrip(video, "mpeg2", qscale, fps=fps)


def mjpeg(video: Tensor, qscale: int, *, fps: float = 25.0) -> Tensor:
    """Motion-JPEG (ffmpeg's mjpeg, full-range 4:2:0) round trip at the fixed quantiser
    ``qscale`` in [1, 31] (``ffmpeg -q:v``; 31 is the coarsest). Same shapes as :func:`h264`."""
    return codec_roundtrip(video, "mjpeg", qscale, fps=fps)


def jpeg(video: Tensor, quality: int) -> Tensor:
    """JPEG round trip of every frame (or image) at libjpeg quality ``quality`` in [1, 100]
    (75: Pillow's default; 95+: near-lossless), baseline, 4:2:0 chroma, via Pillow.

    ``(B, T, 3, H, W)`` or ``(B, 3, H, W)`` in [0, 1] -> the same shape, on the 8-bit grid.
    """
    from PIL import Image

    name = "advqa.transforms.jpeg"
    quality = check_int(quality, name, "quality", 1, 100)
    video = check_video(video, name)
    frames = to_u8(video.reshape(-1, *video.shape[-3:]))  # (N, H, W, 3)
    out = np.empty_like(frames)
    for i, f in enumerate(frames):
        buf = io.BytesIO()
        Image.fromarray(f).save(buf, format="JPEG", quality=quality, subsampling=2)
        buf.seek(0)
        with Image.open(buf) as im:
            out[i] = np.asarray(im.convert("RGB"))
    return from_u8(out, video).reshape(video.shape)
