"""Spatial grid sampling: the first principle of Zhang, Wang, Ran, Tang, Guan, Yang, "Secure Video
Quality Assessment Resisting Adversarial Attacks" (SecureVQA), Sec. III-A, Eq. 3-4, as a defence
for any video model.

Each frame is cut into a ``G x G`` grid (7); one ``S x S`` patch (32) is taken from every cell at a
random offset and the patches are spliced, in grid order, into a ``G*S x G*S`` mosaic (224 x 224)
that the inner model scores. The positions are the same for every frame of a clip of
``aligned`` (32) consecutive frames ("aligned" fragments) and are redrawn for each clip and on
every call, from the defence's generator. Frames smaller than the mosaic on a side are first
upsampled bilinearly (the official sampler's rule, :func:`advqa.models.fragments.upsample_for_fragments`).

An attacker who perturbs the whole frame sees most of the perturbation discarded at each query,
and the part that survives lands at new positions on the next call. The mosaic is made by
indexing, so gradients flow to the sampled pixels; the cost is clean accuracy for models trained
on whole frames (measure it: the runner reports the defended model's clean SRCC/PLCC).

On FAST-VQA, FasterVQA and DOVER, which already sample such fragments inside ``forward``, this
defence samples the mosaic first and the model then fragments the 224 x 224 mosaic again: with
the default 7 x 7 x 32 grid that second sampling keeps the mosaic as it is (each cell is exactly
one 32 x 32 patch), so the defended model is the model with its fragment offsets drawn by the
defence — use ``advqa.defenses.create("guardian", ...)`` alone on those models to follow SecureVQA.
"""
from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from advqa.defenses.base import Defense
from advqa.errors import InputError
from advqa.models.base import QualityModel
from advqa.models.fragments import FragmentSpec, assemble_fragments, fragment_offsets, upsample_for_fragments


def _positive(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"grid {what} must be a positive integer, got {value!r}")
    return value


class GridSampling(Defense):
    """Scores the ``grid*patch`` square mosaic of randomly placed patches (fresh positions per call).

    ``grid`` (G, default 7), ``patch`` (S, default 32), ``aligned`` (frames sharing positions,
    default 32). ``(B, T, 3, H, W)`` -> ``(B, T, 3, G*S, G*S)``; each video of a batch gets its own
    positions.
    """

    name: ClassVar[str] = "grid"
    summary: ClassVar[str] = ("SecureVQA (Zhang et al.) spatial grid sampling: a 7x7 grid of 32x32 patches spliced "
                              "into a 224x224 mosaic, positions aligned over 32 frames, redrawn per call")
    randomized_transform: ClassVar[bool] = True

    def __init__(self, model: QualityModel, *, grid: int = 7, patch: int = 32, aligned: int = 32,
                 generator: torch.Generator | None = None, seed: int | None = None) -> None:
        super().__init__(model, generator=generator, seed=seed)
        self.grid, self.patch, self.aligned = _positive(grid, "grid"), _positive(patch, "patch"), \
            _positive(aligned, "aligned")

    def _spec(self, aligned: int) -> FragmentSpec:
        return FragmentSpec(self.grid, self.grid, self.patch, self.patch, aligned)

    def transform(self, video: Tensor) -> Tensor:
        video = upsample_for_fragments(video, self._spec(self.aligned))
        h, w = video.shape[-2:]
        out = []
        for b in range(video.shape[0]):
            clips = []
            for start in range(0, video.shape[1], self.aligned):
                clip = video[b, start:start + self.aligned]
                spec = self._spec(clip.shape[0])
                top, left = fragment_offsets(h, w, clip.shape[0], spec, self.generator)
                clips.append(assemble_fragments(clip, top, left, spec))
            out.append(torch.cat(clips, dim=0))
        return torch.stack(out)


__all__ = ["GridSampling"]
