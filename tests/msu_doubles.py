"""Shared pieces of the MSU attack tests: real photos (scikit-image's), the default model (litevsfa,
built once per process) and a lower-is-better model made from it."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import skimage
import torch
import torch.nn.functional as F
from torch import Tensor

from advqa.io import read_image
from advqa.models.base import ModelCard, QualityModel

PHOTOS = Path(skimage.__file__).parent / "data"


def photo(name: str, size: tuple[int, int] | None = None) -> Tensor:
    """A scikit-image photo as ``(1, 3, H, W)`` on the 8-bit grid, area-resized to ``size`` (H, W) if given."""
    x = read_image(PHOTOS / name)
    if size is not None:
        x = torch.round(F.interpolate(x, size=size, mode="area") * 255) / 255
    return x


@lru_cache(maxsize=1)
def litevsfa() -> QualityModel:
    from advqa.models import create

    m = create("litevsfa")
    for p in m.parameters():
        p.requires_grad_(False)
    return m


class LowerIsBetter(QualityModel):
    """A distortion-style metric: ``6 - litevsfa`` on [1, 5], lower is better."""

    card = ModelCard(name="litevsfa-distortion", paper="test double: 6 - litevsfa", score_range=(1.0, 5.0),
                     higher_is_better=False)

    def __init__(self) -> None:
        super().__init__()
        self.inner = litevsfa()

    def score(self, video: Tensor) -> Tensor:
        return 6.0 - self.inner.score(video)
