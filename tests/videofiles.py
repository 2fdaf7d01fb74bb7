"""Video files with the properties real footage has and synthetic tests usually lack: gaps in the
timestamps (variable frame rate), AVIs whose header counts empty "repeat the previous frame" chunks."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

#: Presentation times in ticks of 1/25 s: 12 coded frames over 25 ticks (two gaps, 1.0 s).
VFR_PTS = [0, 1, 2, 3, 10, 11, 12, 20, 21, 22, 23, 24]


def moving_frames(n: int, height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    """``n`` uint8 RGB frames ``(n, H, W, 3)``: smooth gradients that shift per frame (compressible,
    unlike noise, so lossy codecs decode them close to the source)."""
    y, x = np.mgrid[0:height, 0:width]
    rng = np.random.default_rng(seed)
    out = np.empty((n, height, width, 3), np.uint8)
    for i in range(n):
        phase = rng.uniform(0, 2 * np.pi, 3)
        for c in range(3):
            out[i, :, :, c] = (127.5 + 100 * np.sin(x / 9.0 + y / 13.0 + phase[c] + i / 3.0)).astype(np.uint8)
    return out


def write_with_timestamps(path: Path, frames: np.ndarray, pts: list[int], rate: int = 25,
                          codec: str = "mpeg4", options: dict[str, str] | None = None,
                          container_options: dict[str, str] | None = None) -> Path:
    """Encode ``frames`` with presentation times ``pts`` (ticks of ``1/rate`` s) into ``path``.

    The AVI muxer fills each gap in the timestamps with empty chunks and counts them in the
    header's frame count (what capture software does for dropped frames); Matroska and MP4 keep
    the gaps in their timestamps (variable frame rate).
    """
    import av

    with av.open(str(path), "w", options=container_options or {}) as c:
        s = c.add_stream(codec, rate=rate, options=options or {})
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        s.codec_context.time_base = Fraction(1, rate)
        for a, t in zip(frames, pts):
            f = av.VideoFrame.from_ndarray(np.ascontiguousarray(a), format="rgb24")
            f.pts, f.time_base = t, Fraction(1, rate)
            for packet in s.encode(f):
                c.mux(packet)
        for packet in s.encode():
            c.mux(packet)
    return path


def avi_with_dropped_frames(path: Path, coded: int = 12, ticks: int = 75) -> Path:
    """An MPEG-4 AVI of ``coded`` frames spread over ``ticks`` frame slots of 1/25 s: the header
    counts ``ticks`` frames, the other slots are empty chunks. pts = ``avi_pts(coded, ticks)``."""
    return write_with_timestamps(path, moving_frames(coded), avi_pts(coded, ticks),
                                 options={"qmin": "2", "qmax": "3"})


def avi_pts(coded: int = 12, ticks: int = 75) -> list[int]:
    return np.linspace(0, ticks - 1, coded).round().astype(int).tolist()
