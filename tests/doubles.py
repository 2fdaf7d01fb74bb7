"""Test doubles for the QualityModel contract: tiny models so attack tests run in a second on 2 CPU cores.

The real models live in advqa.models; these only exercise the contract.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from advqa.models.base import FrameWiseModel, ModelCard, QualityModel


class TinyFrameModel(FrameWiseModel):
    """Per-frame conv features (mean+std pooled) + mean of a linear per-frame score."""

    card = ModelCard(name="tiny-frame", paper="test double", score_range=(0.0, 1.0))

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.conv = nn.Conv2d(3, 8, 3, stride=2)
        self.fc = nn.Linear(16, 1)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        self.eval()

    def frame_features(self, frames: Tensor) -> Tensor:
        x = torch.tanh(self.conv(frames * 2 - 1))
        return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)

    def temporal_head(self, features: Tensor, lengths: Tensor | None = None) -> Tensor:
        return torch.sigmoid(self.fc(features)).squeeze(-1).mean(dim=1)


class TinyRandomModel(QualityModel):
    """A stochastic model: scores a random crop (offsets from ``self.generator``)."""

    card = ModelCard(name="tiny-random", paper="test double", score_range=(0.0, 1.0))
    stochastic = True

    def __init__(self) -> None:
        super().__init__()
        self.inner = TinyFrameModel(1)

    def score(self, video: Tensor) -> Tensor:
        h, w = video.shape[-2:]
        ch, cw = max(1, h // 2), max(1, w // 2)
        y = int(torch.randint(0, h - ch + 1, (1,), generator=self.generator))
        x = int(torch.randint(0, w - cw + 1, (1,), generator=self.generator))
        return self.inner.score(video[..., y:y + ch, x:x + cw])
