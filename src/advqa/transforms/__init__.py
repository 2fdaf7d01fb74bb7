"""Transforms: pure functions on the video contract, for distortion ladders and purification defences.

Every function takes a float video ``(B, T, 3, H, W)`` (or images ``(B, 3, H, W)``) in [0, 1]
and returns the same layout, dtype and device; arguments are validated (a bad quality, CRF,
sigma, ... raises :class:`~advqa.errors.InputError` naming the valid range).

Codec round trips (:mod:`advqa.transforms.codecs`; outputs on the 8-bit grid, no gradient):
    :func:`h264` (``crf`` 0-51), :func:`mpeg2` (``qscale`` 1-31), :func:`mjpeg` (``qscale`` 1-31),
    :func:`codec_roundtrip` (any of them by name), :func:`jpeg` (``quality`` 1-100, per frame).
Filters (:mod:`advqa.transforms.filters`):
    :func:`gaussian_blur` (``sigma`` px), :func:`median_filter` (``size`` px),
    :func:`gaussian_noise` (``std`` on the [0, 1] scale, seeded by a ``torch.Generator`` or an
    integer ``seed``), :func:`resize`,
    :func:`down_up_resize` (``factor``), :func:`bit_depth` (``bits`` 1-8).

The built-in demo set's distortion ladder (:mod:`advqa.data.demo`) is made with these functions.
"""
from __future__ import annotations

from advqa.transforms.codecs import CODECS, codec_roundtrip, h264, jpeg, mjpeg, mpeg2
from advqa.transforms.filters import bit_depth, down_up_resize, gaussian_blur, gaussian_noise, median_filter, resize

__all__ = [
    "CODECS",
    "bit_depth",
    "codec_roundtrip",
    "down_up_resize",
    "gaussian_blur",
    "gaussian_noise",
    "h264",
    "jpeg",
    "median_filter",
    "mjpeg",
    "mpeg2",
    "resize",
]
