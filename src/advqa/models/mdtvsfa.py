"""MDTVSFA: Unified Quality Assessment of In-the-Wild Videos with Mixed Datasets Training
(Li, Jiang, Jiang, IJCV 2021).

Official code: github.com/lidq92/MDTVSFA (branch ``main``, snapshot ``1460fb2``). The frame
features are VSFA's (ResNet-50, [mean, unbiased std] of layer4 -> 4096). The head
(``VQAmodel.VQAModel``):

1. ``dimemsion_reduction`` (sic) Linear(4096, 128), ``feature_aggregation`` GRU(128, 32),
   ``regression`` Linear(32, 1) -> per-frame ``q_t``;
2. VSFA's subjectively-inspired temporal pooling (tau=12, beta=0.5), mean over time;
3. ``relative_score = sigmoid(.)`` (in (0, 1));
4. ``mapped_score = nlm(relative)``, ``nlm = Linear(1,1) -> Sigmoid -> Linear(1,1)`` (the
   nonlinear mapping to the common perceptual scale; what the official ``test_demo.py`` prints);
5. ``aligned_score = lm[d](mapped)``: a per-dataset linear map to dataset ``d``'s MOS scale
   (K = KoNViD-1k, C = CVD2014, L = LIVE-Qualcomm, N = LIVE-VQC).

``forward`` returns the score named by the model's ``output`` option: ``"mapped"`` (default,
as test_demo), ``"relative"``, or a dataset letter ``"K"``, ``"C"``, ``"L"``, ``"N"`` for the
aligned score on that dataset's scale.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from advqa.errors import InputError
from advqa.models.base import FrameWiseModel, ModelCard, WeightsSpec
from advqa.models.blocks import (
    IMAGENET_STD,
    RESNET50_WEIGHTS,
    CheckpointedChunks,
    check_features,
    imagenet_normalise,
    load_weights,
    mean_std_pool,
    pool_scores,
    resnet50_layer4,
    resnet50_trunk,
)
from advqa.models.registry import register

__all__ = ["DATASETS", "MDTVSFA", "MDTVSFAHead", "MDTVSFA_CARD", "OUTPUTS"]

#: Dataset letters of the official per-dataset linear maps.
DATASETS = ("K", "C", "L", "N")
OUTPUTS = ("mapped", "relative", *DATASETS)

MDTVSFA_HEAD_WEIGHTS = WeightsSpec(
    url="https://github.com/lidq92/MDTVSFA/raw/main/models/MDTVSFA.pt",
    sha256="d5dd4fdf69ad4ee0e7f15caca1b5346d30e4d24a67fbbfd2e3fe434cbf5458c7",
    filename="MDTVSFA.pt",
    licence="MIT (lidq92/MDTVSFA)",
    notes="head trained on KoNViD-1k + CVD2014 + LIVE-Qualcomm (split 9); 2163133 bytes",
)

MDTVSFA_CARD = ModelCard(
    name="mdtvsfa",
    paper="Li, Jiang, Jiang. Unified Quality Assessment of In-the-Wild Videos with Mixed "
          "Datasets Training. IJCV 2021",
    score_range=(0.0, 1.0),
    higher_is_better=True,
    input="any size, native resolution (no resize), every frame; ImageNet normalisation inside",
    weights=(MDTVSFA_HEAD_WEIGHTS, RESNET50_WEIGHTS),
    licence="MIT (code and head); backbone BSD-3-Clause (torchvision)",
    rescale={},
    notes="Default output is the mapped score (common perceptual scale, about 0-1; what the "
          "official test_demo prints). Option output='relative' gives sigmoid(pooled), "
          "output='K'|'C'|'L'|'N' the aligned score on KoNViD-1k / CVD2014 / LIVE-Qualcomm / "
          "LIVE-VQC's MOS scale (the official head's lm.* weights map to those scales, so "
          "score_range does not hold for them). weights= is MDTVSFA.pt, backbone_weights= the "
          "torchvision ResNet-50 file.",
)


class MDTVSFAHead(nn.Module):
    """The official MDTVSFA head (``VQAModel``); keys ``dimemsion_reduction.*``,
    ``feature_aggregation.*``, ``regression.*``, ``nlm.{0,2}.*``, ``lm.{K,C,L,N}.*``."""

    def __init__(self, input_size: int = 4096, reduced_size: int = 128, hidden_size: int = 32,
                 tau: int = 12, beta: float = 0.5) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.tau, self.beta = tau, beta
        self.dimemsion_reduction = nn.Linear(input_size, reduced_size)
        self.feature_aggregation = nn.GRU(reduced_size, hidden_size, batch_first=True)
        self.regression = nn.Linear(hidden_size, 1)
        self.nlm = nn.Sequential(nn.Linear(1, 1), nn.Sigmoid(), nn.Linear(1, 1))
        self.lm = nn.Sequential(OrderedDict((d, nn.Linear(1, 1)) for d in DATASETS))
        # The official constructor's defaults (overwritten by any loaded checkpoint).
        with torch.no_grad():
            self.nlm[0].weight.fill_(2 * math.sqrt(3))
            self.nlm[0].bias.fill_(-math.sqrt(3))
            self.nlm[2].weight.fill_(1.0)
            self.nlm[2].bias.fill_(0.0)
            for d in DATASETS:
                self.lm._modules[d].weight.fill_(1.0)
                self.lm._modules[d].bias.fill_(0.0)

    def frame_scores(self, features: Tensor) -> Tensor:
        """``(B, T, 4096)`` -> per-frame scores ``(B, T)``."""
        x = self.dimemsion_reduction(features)
        h0 = features.new_zeros(1, features.shape[0], self.hidden_size)
        x, _ = self.feature_aggregation(x, h0)
        return self.regression(x).squeeze(-1)

    def all_scores(self, features: Tensor, lengths: Tensor | Sequence[int] | None = None
                   ) -> dict[str, Tensor]:
        """Every head output, each ``(B,)``: ``pooled`` (before the sigmoid), ``relative``,
        ``mapped`` and the aligned score per dataset letter (``K``, ``C``, ``L``, ``N``)."""
        pooled = pool_scores(self.frame_scores(features), lengths, self.tau, self.beta)
        relative = torch.sigmoid(pooled)
        mapped = self.nlm(relative.unsqueeze(-1))
        out = {"pooled": pooled, "relative": relative, "mapped": mapped.squeeze(-1)}
        for d in DATASETS:
            out[d] = self.lm._modules[d](mapped).squeeze(-1)
        return out

    def forward(self, features: Tensor, lengths: Tensor | Sequence[int] | None = None,
                output: str | Sequence[str] = "mapped") -> Tensor:
        """``(B, T, 4096)`` -> ``(B,)``; ``output`` is one name of :data:`OUTPUTS` or one per
        video (like the official per-video dataset letters ``KCL``)."""
        scores = self.all_scores(features, lengths)
        names = [output] * features.shape[0] if isinstance(output, str) else list(output)
        if len(names) != features.shape[0]:
            raise InputError(f"output must be one name or one per video ({features.shape[0]}), got {len(names)}")
        for n in names:
            _check_output(n)
        return torch.stack([scores[n][i] for i, n in enumerate(names)])


def _check_output(output: str) -> None:
    if output not in OUTPUTS:
        raise InputError(f"mdtvsfa output must be one of {', '.join(OUTPUTS)}, got {output!r}")


class MDTVSFA(CheckpointedChunks, FrameWiseModel):
    """MDTVSFA: VSFA's frame features + the mixed-dataset head.

    ``forward(video (B, T, 3, H, W) in [0, 1]) -> (B,)``: the score named by ``output``
    (default ``"mapped"``). State dict: ``backbone.*`` (torchvision ResNet-50), ``head.*``.
    """

    card = MDTVSFA_CARD
    input_std = IMAGENET_STD  # frames are ImageNet-normalised
    chunk_size = 8
    feature_dim = 4096

    def __init__(self, output: str = "mapped") -> None:
        super().__init__()
        _check_output(output)
        self.output = output
        self.backbone = resnet50_trunk()
        self.head = MDTVSFAHead()
        self.eval()

    def frame_features(self, frames: Tensor) -> Tensor:
        """Frames ``(N, 3, H, W)`` in [0, 1] -> ``(N, 4096)``: [mean, unbiased std] of layer4."""
        return mean_std_pool(resnet50_layer4(self.backbone, imagenet_normalise(frames)))

    def temporal_head(self, features: Tensor, lengths: Tensor | Sequence[int] | None = None) -> Tensor:
        """Features ``(B, T, 4096)`` (zero-padded past ``lengths``) -> ``(B,)`` (``self.output``)."""
        check_features(features, self.feature_dim)
        return self.head(features, lengths, self.output)


@register("mdtvsfa", MDTVSFA_CARD)
def create_mdtvsfa(weights: str | Path | None = None, device: str | torch.device = "cpu",
                   backbone_weights: str | Path | None = None, output: str = "mapped") -> MDTVSFA:
    """Build MDTVSFA. ``weights``: ``MDTVSFA.pt`` (path/URL; ``None`` = official URL);
    ``backbone_weights``: torchvision ResNet-50 file; ``output``: see :data:`OUTPUTS`."""
    model = MDTVSFA(output=output)
    load_weights(model.head, weights, MDTVSFA_HEAD_WEIGHTS)
    load_weights(model.backbone, backbone_weights, RESNET50_WEIGHTS)
    return model.to(device)
