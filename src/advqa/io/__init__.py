"""Video and image I/O: decode, probe and encode videos (PyAV), read and save images, and convert
frames to model tensors."""
from __future__ import annotations

from advqa.io.image import IMAGE_SUFFIXES, is_image_file, read_image, read_image_array, write_image
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
    "IMAGE_SUFFIXES",
    "is_image_file",
    "read_image",
    "read_image_array",
    "write_image",
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
