"""The guardian map: pixel-wise randomisation of Zhang, Wang, Ran, Tang, Guan, Yang, "Secure Video
Quality Assessment Resisting Adversarial Attacks" (SecureVQA), Sec. III-A, Eq. 5 and Eq. 9.

On every call a map ``M`` with entries drawn i.i.d. uniformly from {-1, +1} on the 0-255 scale
(so +-1/255 in [0, 1] units) is added to the frames the inner model sees and the result is clamped
to [0, 1]. As in the official code the map has one value per colour channel and pixel, shaped
``(3, H, W)``, and is shared by every frame of the call (one map per video of the batch). The
released code computes the map and then discards it (it normalises the pre-guardian tensor);
this defence applies it, as the paper describes.

The perturbation is tiny on clean videos (one 8-bit level) but it changes the fine pixel pattern
an attacker's optimisation relies on at every query; an adaptive attacker averages it out with
expectation over transformation (EOT), which the runner evaluates beside the naive and
non-adaptive attackers.
"""
from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from advqa.defenses.base import Defense
from advqa.errors import InputError
from advqa.models.base import QualityModel


class GuardianMap(Defense):
    """Adds a fresh +-``amplitude`` map (``(B, 1, 3, H, W)``, shared across frames) on every call.

    ``amplitude`` in [0, 1] pixel units (default 1/255, the paper's); the map's signs come from
    the defence's own generator.
    """

    name: ClassVar[str] = "guardian"
    summary: ClassVar[str] = ("SecureVQA (Zhang et al.) pixel-wise randomisation: a fresh +-1/255 map per channel "
                              "and pixel, shared across frames, on every call")
    randomized_transform: ClassVar[bool] = True

    def __init__(self, model: QualityModel, *, amplitude: float = 1 / 255, generator: torch.Generator | None = None,
                 seed: int | None = None) -> None:
        super().__init__(model, generator=generator, seed=seed)
        if isinstance(amplitude, bool) or not isinstance(amplitude, (int, float)) or not 0 < amplitude <= 0.25:
            raise InputError(f"guardian amplitude must be a number in (0, 0.25] (pixel units, the paper's is 1/255), "
                             f"got {amplitude!r}")
        self.amplitude = float(amplitude)

    def draw(self, batch: int, height: int, width: int) -> Tensor:
        """One map per video: ``(batch, 1, 3, H, W)`` with entries +-amplitude."""
        signs = torch.randint(0, 2, (batch, 1, 3, height, width), generator=self.generator)
        return (signs.float() * 2 - 1) * self.amplitude

    def transform(self, video: Tensor) -> Tensor:
        m = self.draw(video.shape[0], video.shape[-2], video.shape[-1]).to(video)
        return (video + m).clamp(0.0, 1.0)


__all__ = ["GuardianMap"]
