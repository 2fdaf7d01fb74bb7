"""The image contract: an image model scores images and, frame by frame, videos."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from advqa.attacks import create
from advqa.errors import InputError
from advqa.models import ImageQualityModel, ModelCard


class TinyIQA(ImageQualityModel):
    card = ModelCard(name="tiny-iqa", paper="test double", score_range=(0.0, 1.0), kind="image")
    chunk_size = 2

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 1)
        for p in self.parameters():
            p.requires_grad_(False)

    def score_images(self, images):
        return torch.sigmoid(self.fc(torch.tanh(self.conv(images)).mean(dim=(2, 3)))).squeeze(-1)


def test_images_and_videos_are_scored():
    m = TinyIQA()
    g = torch.Generator().manual_seed(1)
    video = torch.rand(2, 5, 3, 12, 16, generator=g)
    per_frame = torch.stack([m(video[:, t]) for t in range(5)], dim=1)
    assert m(video[:, 0]).shape == (2,)
    assert torch.allclose(m(video), per_frame.mean(dim=1), atol=1e-7)
    parts = m.frame_parts(5)
    assert torch.allclose(parts.temporal_head(parts.video_features(video)), m(video), atol=1e-7)
    with pytest.raises(InputError, match=r"\(B, 3, H, W\)"):
        m.score_images  # noqa: B018 - attribute exists
        from advqa.models import check_image

        check_image(torch.rand(2, 4, 8, 8))


def test_an_image_is_a_one_frame_video_for_attacks():
    m = TinyIQA()
    image = torch.randint(0, 256, (1, 3, 24, 24), generator=torch.Generator().manual_seed(2)).float() / 255
    res = create("ifgsm", eps=4 / 255, iterations=4, step=1 / 255)(m, image)
    assert res.adversarial.shape == (1, 1, 3, 24, 24)
    assert res.adv_score > res.clean_score and res.linf <= 4 / 255 + 1e-7
