"""Differentiable image preprocessing shared by the image quality models: resizes, crops, normalisation.

The official IQA pipelines (HyperIQA, MANIQA, LinearityIQA, DBCNN) resize with PIL and crop with
torchvision or numpy before the network. Here every step works on float tensors ``(N, 3, H, W)``
in [0, 1] so the score stays differentiable with respect to the pixels:

* :func:`resize_like_pil`: PIL's bilinear ``Image.resize`` (what ``torchvision.transforms.Resize``
  does to a PIL image) is a triangle filter whose support grows with the downscaling factor; torch's
  ``interpolate(mode="bilinear", antialias=True)`` implements the same filter. The official code
  then rounds to 8 bits (the PIL image is uint8); this port does not (rounding has no gradient), so
  resized values differ from PIL's by at most about half an 8-bit step plus filter rounding;
* :func:`crop_positions`: crop corners drawn in the official order (top, then left, per crop);
* :func:`take_crops`: slicing, so gradients pass to the pixels unchanged.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from advqa.errors import InputError

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "crop_positions", "normalise", "resize_like_pil", "take_crops"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalise(images: Tensor, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> Tensor:
    """``(images - mean) / std`` per channel: ``(N, 3, H, W)`` -> same shape."""
    m = images.new_tensor(tuple(mean)).view(1, 3, 1, 1)
    s = images.new_tensor(tuple(std)).view(1, 3, 1, 1)
    return (images - m) / s


def resize_like_pil(images: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear resize to ``size = (height, width)`` with PIL's antialiasing filter (differentiable).

    ``(N, 3, H, W)`` -> ``(N, 3, height, width)``; returned unchanged when already that size.
    """
    h, w = int(size[0]), int(size[1])
    if images.shape[-2:] == (h, w):
        return images
    return F.interpolate(images, size=(h, w), mode="bilinear", align_corners=False, antialias=True)


def crop_positions(height: int, width: int, size: int, count: int,
                   generator: torch.Generator | np.random.RandomState | None, *,
                   exclusive_end: bool = False) -> list[tuple[int, int]]:
    """``count`` random ``(top, left)`` corners of ``size x size`` crops, drawn top then left per crop.

    With ``exclusive_end=False`` a corner lies in ``[0, H - size]`` (torchvision's
    ``RandomCrop.get_params``: ``torch.randint(0, H - size + 1)``); with ``exclusive_end=True`` in
    ``[0, H - size - 1]`` (the official ``np.random.randint(0, H - size)`` of MANIQA, which never
    reaches the last position; a side of exactly ``size`` gives 0, where numpy would raise).
    A ``torch.Generator`` (or ``None``, the global torch RNG) draws with ``torch.randint``, an
    ``np.random.RandomState`` with its ``randint``, so a seeded source reproduces the official draws.
    """
    if height < size or width < size:
        raise InputError(f"images must be at least {size} x {size} pixels for {size} x {size} crops, "
                         f"got {height} x {width}")

    def draw(n: int) -> int:
        hi = n - size + (0 if exclusive_end else 1)
        if hi <= 0:
            return 0
        if isinstance(generator, np.random.RandomState):
            return int(generator.randint(0, hi))
        return int(torch.randint(0, hi, (1,), generator=generator).item())

    out = []
    for _ in range(count):
        top = draw(height)
        out.append((top, draw(width)))
    return out


def take_crops(image: Tensor, positions: Sequence[tuple[int, int]], size: int) -> Tensor:
    """Crops of one image ``(3, H, W)`` at ``positions`` -> ``(len(positions), 3, size, size)``."""
    return torch.stack([image[:, t:t + size, l:l + size] for t, l in positions])
