"""``liteiqa-nt``: the default image model fine-tuned with NT gradient-norm regularisation.

liteiqa (EfficientNet-Lite0 stage statistics + a ridge head, :mod:`advqa.models.liteiqa`) whose
head's linear map (:data:`NT_TRAINABLE`; the standardisation buffers stay liteiqa's) was
fine-tuned on the demo set's train split with L1 plus the NT regulariser of Liu, Yang, Li, Ding,
Jiang ("Defense Against Adversarial Attacks on No-Reference Image Quality Models with Gradient
Norm Regularization", CVPR 2024, Eq. 6), the finite-difference estimate of ``||grad_x f(x)||_1``
(:mod:`advqa.training.nt`), with the fine-tuning loop that made ``litevsfa-nt``
(:func:`advqa.training.finetune.finetune`, unchanged: an image model scores the sampled frames
of a video and averages them, and the L1 term compares that with the video's pseudo-MOS). The
recipe is litevsfa-nt's (:data:`TRAIN_COMMAND`: one epoch over the 322 train
videos, 2 frames per video and step, 4 videos per Adam step at lr 1e-4, lambda 1e-3, h 1e-2 in
the normalised input space); it was not tuned again for this model.

Measured on the demo test split (``benchmarks/exp_liteiqa_nt.py --eps 2/255``): clean frame-level
SRCC / PLCC over all 1680 held-out frames 0.668 / 0.731 (liteiqa) -> 0.585 / 0.649 (liteiqa-nt);
one FGSM step of 2/255 with the L_mid loss on frame 12 of the 70 test videos moves SRCC from
0.709 to -0.023 for liteiqa and from 0.645 to 0.439 for liteiqa-nt (PLCC 0.748 -> -0.088 vs
0.684 -> 0.462): the direction NT's authors report, more robust at a clean-accuracy cost.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import torch

from advqa.models.liteiqa import LITEIQA_CARD, LiteIQA, create_liteiqa
from advqa.models.litevsfa_nt import load_partial, nt_recipe
from advqa.models.registry import register

__all__ = ["LITEIQA_NT_CARD", "LiteIQANT", "NT_LAMBDA", "NT_SHA256", "NT_TRAINABLE", "NT_WEIGHTS",
           "TRAIN_COMMAND", "create_liteiqa_nt"]

#: The parameter-name prefixes the shipped file holds (everything else is liteiqa's).
NT_TRAINABLE: tuple[str, ...] = ("head.",)
#: NT weight used for the shipped file (on liteiqa's 1-5 score scale).
NT_LAMBDA = 1e-3
#: SHA-256 of src/advqa/resources/liteiqa_nt.pt.
NT_SHA256 = "7699279348c39e67950dcf8f6df30360658bc895b891d52e803754f44ce023db"
#: How the shipped file was made (litevsfa-nt's recipe), and where it is.
TRAIN_COMMAND, NT_WEIGHTS = nt_recipe("liteiqa", NT_TRAINABLE, NT_LAMBDA, NT_SHA256)

LITEIQA_NT_CARD = replace(
    LITEIQA_CARD,
    name="liteiqa-nt",
    paper="liteiqa fine-tuned with NT gradient-norm regularisation (Liu, Yang, Li, Ding, Jiang, "
          "Defense Against Adversarial Attacks on No-Reference Image Quality Models with Gradient Norm "
          "Regularization, CVPR 2024)",
    weights=(NT_WEIGHTS,) + LITEIQA_CARD.weights,
    rescale={**LITEIQA_CARD.rescale, "nt_lambda": NT_LAMBDA, "nt_h": 1e-2},
    notes="A demonstration of NT on advqa's default image model (objective pseudo-MOS of the demo set, "
          "not human scores). weights= replaces the fine-tuned file (a state dict of exactly the "
          "parameters under the factory's trainable= prefixes, default " + ", ".join(NT_TRAINABLE)
          + "); the rest come from liteiqa.",
)


class LiteIQANT(LiteIQA):
    """liteiqa with NT-fine-tuned weights: same architecture and preprocessing, its own card."""

    card = LITEIQA_NT_CARD


@register("liteiqa-nt", LITEIQA_NT_CARD)
def create_liteiqa_nt(weights: str | Path | None = None, device: str | torch.device = "cpu",
                      trainable: Sequence[str] = NT_TRAINABLE,
                      backbone_weights: str | Path | None = None) -> LiteIQANT:
    """Build liteiqa-nt. ``weights``: a fine-tuned file holding exactly the parameters under
    ``trainable`` (default: the shipped file, SHA-256 checked); the other parameters and buffers
    are liteiqa's shipped head (SHA-256 checked) and the ImageNet backbone (``backbone_weights``
    overrides that file)."""
    from advqa.models import weights as W

    base = create_liteiqa(backbone_weights=backbone_weights)
    model = LiteIQANT()
    model.load_state_dict(base.state_dict(), strict=True)
    path = W.resolve(weights, NT_WEIGHTS)
    if weights is None:
        W.check_shipped(path, NT_SHA256, "liteiqa-nt")
    load_partial(model, W.load_state_dict(path), trainable, origin=str(path))
    return model.to(device)
