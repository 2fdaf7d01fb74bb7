"""VSFA: Quality Assessment of In-the-Wild Videos (Li, Jiang, Jiang, ACM MM 2019).

Official code: github.com/lidq92/VSFA (snapshot ``b78751b``). Pipeline, as in the official
``CNNfeatures.py`` and ``VSFA.py``:

1. every frame at native resolution, ImageNet-normalised, through torchvision's ResNet-50 up to
   ``layer4`` (``children()[:-2]``, eval mode);
2. per frame, the global mean and the **unbiased** standard deviation of the layer4 map,
   concatenated ``[mean, std]`` -> 4096-d;
3. head: ``ann.fc0`` Linear(4096, 128) (no activation; ``ann.fc`` exists in the checkpoint but is
   unused), GRU(128, 32), ``q`` Linear(32, 1) per frame;
4. subjectively-inspired temporal pooling (the paper's Eq. 3-6,
   :func:`~advqa.models.blocks.subjective_pooling`, tau=12, beta=0.5) and the mean over time.

The score is in the training label scale: VSFA trains on ``MOS / max MOS`` of the dataset
(KoNViD-1k: max MOS 4.64), so ``score * 4.64`` is on KoNViD-1k's 1-5 MOS scale.

The pieces other frame-wise models share with VSFA (the head, the pooling, the ResNet-50 trunk,
chunked checkpointing, weight loading) are in :mod:`advqa.models.blocks`.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from advqa.errors import InputError
from advqa.models.base import FrameWiseModel, ModelCard, WeightsSpec
from advqa.models.blocks import (
    IMAGENET_STD,
    RESNET50_WEIGHTS,
    CheckpointedChunks,
    VSFAHead,
    check_features,
    imagenet_normalise,
    load_weights,
    mean_std_pool,
    resnet50_layer4,
    resnet50_trunk,
)
from advqa.models.registry import register

log = logging.getLogger(__name__)

__all__ = ["VSFA", "VSFA_CARD", "VSFA_HEAD_WEIGHTS", "create_vsfa"]

VSFA_HEAD_WEIGHTS = WeightsSpec(
    url="https://github.com/lidq92/VSFA/raw/master/models/VSFA.pt",
    sha256="07ce3eab277f3351b989f8d9b39fd22507262a9daf05a309eee4106ab2a0e57b",
    filename="VSFA.pt",
    licence="MIT (lidq92/VSFA)",
    notes="head trained on KoNViD-1k (split 9); 2227645 bytes, legacy torch serialisation",
)

VSFA_CARD = ModelCard(
    name="vsfa",
    paper="Li, Jiang, Jiang. Quality Assessment of In-the-Wild Videos. ACM MM 2019",
    score_range=(0.0, 1.0),
    higher_is_better=True,
    input="any size, native resolution (no resize), every frame; ImageNet normalisation inside",
    weights=(VSFA_HEAD_WEIGHTS, RESNET50_WEIGHTS),
    licence="MIT (code and head); backbone BSD-3-Clause (torchvision)",
    rescale={"label_scale": 4.64},
    notes="Score = MOS / 4.64 (max MOS of KoNViD-1k, the training set); multiply by label_scale "
          "for KoNViD-1k's 1-5 scale. weights= is the head file (VSFA.pt), the option "
          "backbone_weights= the torchvision ResNet-50 file. Memory grows with resolution: "
          "540p+ videos are slow on CPU.",
)


# ----------------------------------------------------------------------------------------------
# VSFA


class VSFA(CheckpointedChunks, FrameWiseModel):
    """VSFA: ResNet-50 mean+std frame features, GRU head, subjectively-inspired pooling.

    ``forward(video (B, T, 3, H, W) in [0, 1]) -> (B,)`` in the training label scale
    (``MOS / 4.64`` for the official KoNViD-1k head). State dict: ``backbone.*`` is torchvision's
    ResNet-50, ``head.*`` the official head (``head.ann.fc0.weight``, ...).
    """

    card = VSFA_CARD
    input_std = IMAGENET_STD  # frames are ImageNet-normalised
    chunk_size = 8
    feature_dim = 4096

    def __init__(self) -> None:
        super().__init__()
        self.backbone = resnet50_trunk()
        self.head = VSFAHead()
        self.eval()

    def frame_features(self, frames: Tensor) -> Tensor:
        """Frames ``(N, 3, H, W)`` in [0, 1] -> ``(N, 4096)``: [mean, unbiased std] of layer4."""
        return mean_std_pool(resnet50_layer4(self.backbone, imagenet_normalise(frames)))

    def temporal_head(self, features: Tensor, lengths: Tensor | Sequence[int] | None = None) -> Tensor:
        """Features ``(B, T, 4096)`` (zero-padded past ``lengths``) -> scores ``(B,)``."""
        check_features(features, self.feature_dim)
        return self.head(features, lengths)


@register("vsfa", VSFA_CARD)
def create_vsfa(weights: str | Path | None = None, device: str | torch.device = "cpu",
                backbone_weights: str | Path | None = None) -> VSFA:
    """Build VSFA. ``weights``: the official head file ``VSFA.pt`` (path or URL; ``None`` = the
    official URL); ``backbone_weights``: torchvision's ``resnet50-0676ba61.pth`` (``None`` = its URL)."""
    model = VSFA()
    load_weights(model.head, weights, VSFA_HEAD_WEIGHTS)
    load_weights(model.backbone, backbone_weights, RESNET50_WEIGHTS)
    return model.to(device)

