"""Video I/O: decode, probe and encode videos (PyAV), and convert frames to model tensors."""
from __future__ import annotations

from advqa.io.video import (
    CODEC_ALIASES,
    LOSSLESS_SUFFIXES,
    VideoClip,
    VideoInfo,
    iter_frames,
    probe,
    read_video,
    to_tensor,
    to_uint8,
    write_video,
    write_video_lossless,
)

__all__ = [
    "CODEC_ALIASES",
    "LOSSLESS_SUFFIXES",
    "VideoClip",
    "VideoInfo",
    "iter_frames",
    "probe",
    "read_video",
    "to_tensor",
    "to_uint8",
    "write_video",
    "write_video_lossless",
]
