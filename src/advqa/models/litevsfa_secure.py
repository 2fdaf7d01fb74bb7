"""``litevsfa-secure``: the default model with SecureVQA's three defence principles combined.

Zhang, Wang, Ran, Tang, Guan, Yang, "Secure Video Quality Assessment Resisting Adversarial
Attacks" (SecureVQA) build a model on three principles; this is the default model ``litevsfa``
rebuilt on them (the ``secure`` defence, :class:`~advqa.defenses.temporal.SecurePrinciples`):

1. spatial grid sampling of the frames (7 x 7 grid of 32 x 32 patches, a 224 x 224 mosaic, positions
   aligned over 32 frames and redrawn on every call; ``grid``),
2. a guardian map (+-1/255 per channel and pixel, fresh on every call; ``guardian``) on the mosaic,
3. litevsfa's frozen EfficientNet-Lite0 frame features of the mosaic, fused with a frozen temporal
   branch on the whole frames resized to 112 x 112 (with a guardian map of its own; ``temporal``),
   scored by a VSFA head retrained on the fused features of the demo train split
   (:mod:`advqa.training.secure`).

Scores are on the demo's 1-5 pseudo-MOS scale, like litevsfa's. The model draws random numbers
on every call (grid positions, two guardian maps) from its own generators: seed it
(``model.seed(n)``) for reproducible scores, and evaluate it with EOT attacks. The undefended model
inside (``advqa.defenses.unwrap``) is litevsfa with its own head, the model a naive attacker
attacks.
"""
from __future__ import annotations

from pathlib import Path

import torch

from advqa.defenses.temporal import SECURE_WEIGHTS, SecurePrinciples
from advqa.models.base import ModelCard
from advqa.models.litevsfa import BACKBONE_WEIGHTS, HEAD_WEIGHTS, LABEL_SCALE, create_litevsfa
from advqa.models.registry import register

__all__ = ["HELDOUT", "LITEVSFA_SECURE_CARD", "create_litevsfa_secure"]

#: Held-out accuracy of the shipped head on the demo test split (70 videos, 24 frames, one random
#: draw per score, mean over 3 draws; per-video scores in tests/fixtures/litevsfa_secure/).
HELDOUT = {"srcc": 0.702, "plcc": 0.787, "rmse": 0.724}

LITEVSFA_SECURE_CARD = ModelCard(
    name="litevsfa-secure",
    paper="litevsfa with the principles of Zhang, Wang, Ran, Tang, Guan, Yang, \"Secure Video Quality Assessment "
          "Resisting Adversarial Attacks\" (SecureVQA): grid sampling, guardian maps, a temporal branch",
    score_range=(1.0, 5.0),
    higher_is_better=True,
    input="any size and length: 224x224 grid mosaic (frames under 224 px upsampled) at litevsfa's 180 px short "
          "side, temporal branch at 112x112, at most 96 frames (constant stride)",
    weights=(SECURE_WEIGHTS, BACKBONE_WEIGHTS, HEAD_WEIGHTS),
    licence="MIT (heads, advqa); backbone Apache-2.0",
    rescale={"label_scale": LABEL_SCALE},
    notes="Randomised (grid positions and guardian maps redrawn on every call): seed it for reproducible scores. "
          "Fusion head trained on the demo-v2 train split (322 videos, first 12 frames, 3 cached random draws "
          f"each); held-out demo test split (70 videos, one random draw per call, mean over 3 draws): SRCC "
          f"{HELDOUT['srcc']:.3f}, PLCC {HELDOUT['plcc']:.3f}, RMSE {HELDOUT['rmse']:.3f} (litevsfa: 0.887 / 0.916): "
          "grid sampling costs clean accuracy, as in the paper. "
          "Trained on objective pseudo-MOS (VMAF-based), not human opinion scores: a demonstration model. "
          "weights= replaces the fusion head file; the litevsfa head inside is the one a naive attacker attacks.",
)


@register("litevsfa-secure", LITEVSFA_SECURE_CARD)
def create_litevsfa_secure(weights: str | Path | None = None, device: str | torch.device = "cpu",
                           backbone_weights: str | Path | None = None) -> SecurePrinciples:
    """litevsfa wrapped in the ``secure`` defence. ``weights``: a fusion head file (default: the
    shipped one); ``backbone_weights``: an EfficientNet-Lite0 file for both branches."""
    inner = create_litevsfa(backbone_weights=backbone_weights)
    return SecurePrinciples(inner, weights=weights, backbone_weights=backbone_weights).to(device)
