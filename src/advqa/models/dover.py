"""DOVER: the Disentangled Objective Video Quality Evaluator (Wu et al., ICCV 2023).

Two branches score two views of a video:

* **technical**: FAST-VQA's fragments (7x7 grid of 32x32 patches, aligned over 32 frames) through a
  Video Swin-T with gated relative position biases (:mod:`advqa.models.swin3d`) and a ``VQAHead``;
* **aesthetic**: the frames resized to 224x224 (aspect ratio not kept) through an inflated 3D
  ConvNeXt-T (:mod:`advqa.models.convnext3d`) and a second ``VQAHead``.

Each head maps every token to a score (map ``(1, T/2, 7, 7)`` per clip); a branch score is the mean
of its maps. The official evaluation (``evaluate_one_video.py -f``) fuses the two with constants
from the authors' script::

    t = (technical - 0.1107) / 0.07355
    a = (aesthetic + 0.08285) / 0.03774
    overall = sigmoid(0.6104 * t + 0.3896 * a)

:class:`DOVER` returns ``overall`` from ``forward``; :meth:`DOVER.branch_scores` returns the raw
branch scores, their z-scores and sigmoids, the fused logit and the fused score. State-dict keys
(``technical_backbone.*``, ``aesthetic_backbone.*``, ``technical_head.*``, ``aesthetic_head.*``,
381 entries) equal the official ``DOVER.pth``, a plain state_dict loaded strictly.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.checkpoint import checkpoint as _checkpoint

from advqa.errors import InputError
from advqa.models.base import ModelCard, QualityModel, WeightsSpec, check_video
from advqa.models.blocks import load_weights
from advqa.models.convnext3d import ConvNeXt3D, convnext3d_tiny
from advqa.models.fastvqa import VQAHead
from advqa.models.fragments import (FragmentSpec, assemble_fragments, fragment_offsets, sampling_rngs,
                                    segment_frame_indices, upsample_for_fragments)
from advqa.models.registry import register
from advqa.registry import forwards_options
from advqa.models.swin3d import swin3d_tiny_grpb

log = logging.getLogger(__name__)

__all__ = [
    "DOVER",
    "DOVER_CARD",
    "DOVER_WEIGHTS",
    "FUSION",
    "create_dover",
    "fuse_scores",
    "official_frame_indices",
    "normalise",
    "resize_view",
]

Frames = Literal["official", "all"]

#: ImageNet mean / std on the 0..255 scale, RGB (the official ``evaluate_one_video.py``).
MEAN_255 = (123.675, 116.28, 103.53)
STD_255 = (58.395, 57.12, 57.375)

#: Score-level fusion constants of the official ``evaluate_one_video.py`` / ``evaluate_a_set_of_videos.py``.
FUSION: dict[str, float] = {
    "technical_mean": 0.1107,
    "technical_std": 0.07355,
    "technical_weight": 0.6104,
    "aesthetic_mean": -0.08285,
    "aesthetic_std": 0.03774,
    "aesthetic_weight": 0.3896,
}

DOVER_WEIGHTS = WeightsSpec(
    url="https://github.com/QualityAssessment/DOVER/releases/download/v0.1.0/DOVER.pth",
    sha256=None,
    filename="DOVER.pth",
    licence="S-Lab License 1.0 (non-commercial use only)",
    notes="Official release v0.1.0 (the README's link; the repository now lives at VQAssessment/DOVER, "
          "GitHub redirects). Mirror: https://huggingface.co/teowu/DOVER/resolve/main/DOVER.pth. "
          "A plain state_dict of 381 entries, loaded with strict=True. No SHA-256 is published: the "
          "download is kept with a warning; pin it with the hash of a file you trust.",
)

DOVER_CARD = ModelCard(
    name="dover",
    paper="Wu, Zhang, Liao, Chen, Hou, Wang, Sun, Yan, Lin. Exploring Video Quality Assessment on User "
          "Generated Contents from Aesthetic and Technical Perspectives (DOVER), ICCV 2023",
    score_range=(0.0, 1.0),
    higher_is_better=True,
    input="(B, T, 3, H, W) RGB float in [0, 1], any length and size. Inside forward, as the official "
          "evaluate_one_video.py (val-l1080p sample types): technical view = 3 clips of 32 frames at "
          "stride 2 (one per third of the video), 7x7 fragments of 32x32 px aligned over 32 frames "
          "(frames smaller than 224 px are upsampled first); aesthetic view = 32 frames (one per "
          "1/32 of the video) resized to 224x224 (bilinear, no antialias, aspect ratio not kept, "
          "rounded to integers). Both normalised with ImageNet mean/std on the 0..255 scale. "
          "Random temporal and fragment offsets come from model.generator (model.seed(n)).",
    weights=(DOVER_WEIGHTS,),
    licence="S-Lab License 1.0: redistribution and use for NON-COMMERCIAL purposes only (official "
            "code and weights since commit f1ddc96; commercial use needs the authors' permission)",
    rescale=dict(FUSION),
    notes="Score = sigmoid(0.6104*(technical-0.1107)/0.07355 + 0.3896*(aesthetic+0.08285)/0.03774), "
          "the fused score printed by evaluate_one_video.py -f; branch_scores() gives each branch. "
          "onnx_inference.py feeds the branches in the opposite order (a bug there); the constants "
          "match the LIVE-VQC statistics in dover_predictions/val-livevqc.pkl with the branch labels "
          "swapped, so which branch each pair belongs to is uncertain upstream; advqa follows the two "
          "evaluate scripts. The released weights were made with torchvision<0.17, whose tensor Resize "
          "has no antialias (antialias=False here; option antialias=True gives the behaviour of the "
          "unmodified official code on newer torchvision). Videos shorter than 32 frames give an "
          "aesthetic view of 32 copies of frame 0, as the official sampler does. Options: frames='official'|'all', "
          "antialias, deterministic, seed, clip_batch, checkpointing, pretrained.",
)


def _round_ste(x: Tensor) -> Tensor:
    """Round to integers in the forward pass, identity gradient (straight-through estimator)."""
    return x + (torch.round(x) - x).detach()


def resize_view(frames: Tensor, size: tuple[int, int] = (224, 224), antialias: bool = False,
                round_values: bool = True) -> Tensor:
    """DOVER's aesthetic view of frames ``(N, 3, H, W)`` in [0, 1] -> ``(N, 3, *size)`` on 0..255.

    The official ``get_resized_video`` runs ``torchvision.transforms.Resize(size)`` on uint8
    frames, i.e. bilinear interpolation (``align_corners=False``) of the float values followed by
    rounding to uint8. The rounding is reproduced with a straight-through estimator so gradients
    reach the pixels; for frames on the 8-bit grid the result equals the official view exactly.
    """
    v = frames * 255.0
    out = F.interpolate(v, size=size, mode="bilinear", align_corners=False, antialias=antialias)
    if round_values:
        out = _round_ste(out).clamp(0.0, 255.0)
    return out


def normalise(view: Tensor) -> Tensor:
    """``(value - mean[c]) / std[c]`` on the 0..255 scale for ``(..., 3, H, W)`` views (channel axis -3)."""
    mean = view.new_tensor(MEAN_255).view(3, 1, 1)
    std = view.new_tensor(STD_255).view(3, 1, 1)
    return (view - mean) / std


def official_frame_indices(num_frames: int, rng: np.random.RandomState | torch.Generator | None = None
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Frame indices of ``evaluate_one_video.py`` (val-l1080p): ``(technical (96,), aesthetic (32,))``.

    Technical: ``UnifiedFrameSampler(32, 3, 2)``, 3 segments of ``L = N // 3`` frames, clip k =
    ``k*L + r_k + 2*arange(32)`` with ``r_k`` uniform in ``[0, L - 64)`` when ``L > 64``, else 0.
    Aesthetic: ``UnifiedFrameSampler(1, 32, 2)``, frame ``k*L' + r'_k`` of 32 segments of
    ``L' = N // 32``, ``r'_k`` uniform in ``[0, L' - 2)`` when ``L' > 2``. Indices wrap modulo N (a
    video shorter than 32 frames gives 32 copies of frame 0 to the aesthetic view). Drawn in that
    order from ``rng``: a ``np.random.RandomState`` reproduces the official draws after
    ``np.random.seed``; a ``torch.Generator`` (or ``None``, the global torch RNG) draws with torch.
    """
    tech = segment_frame_indices(num_frames, 32, 3, 2, 1, rng)
    aes = segment_frame_indices(num_frames, 1, 32, 2, 1, rng)
    return tech, aes


def fuse_scores(technical: Tensor, aesthetic: Tensor) -> dict[str, Tensor]:
    """The official score-level fusion (``fuse_results`` in ``evaluate_one_video.py``).

    ``technical_z = (technical - 0.1107) / 0.07355``, ``aesthetic_z = (aesthetic + 0.08285) / 0.03774``,
    ``fused_logit = 0.6104 technical_z + 0.3896 aesthetic_z`` and ``fused = sigmoid(fused_logit)``;
    ``evaluate_a_set_of_videos.py`` also reports ``sigmoid`` of each z-score.
    """
    tz = (technical - FUSION["technical_mean"]) / FUSION["technical_std"]
    az = (aesthetic - FUSION["aesthetic_mean"]) / FUSION["aesthetic_std"]
    logit = FUSION["technical_weight"] * tz + FUSION["aesthetic_weight"] * az
    return {
        "technical": technical,
        "aesthetic": aesthetic,
        "technical_z": tz,
        "aesthetic_z": az,
        "technical_sigmoid": torch.sigmoid(tz),
        "aesthetic_sigmoid": torch.sigmoid(az),
        "fused_logit": logit,
        "fused": torch.sigmoid(logit),
    }


class DOVER(QualityModel):
    """DOVER on the :class:`QualityModel` contract: ``(B, T, 3, H, W)`` in [0, 1] -> fused score ``(B,)``.

    State dict: ``technical_backbone.*`` (Swin-T with GRPB, 193 entries), ``aesthetic_backbone.*``
    (ConvNeXt3D-T, 180), ``technical_head.*`` and ``aesthetic_head.*`` (4 each), as the official
    ``DOVER`` with ``dover.yml``.

    Args:
        frames: ``"official"`` samples frames as ``evaluate_one_video.py`` (val-l1080p sample types:
            technical 3 clips x 32 frames at stride 2, one clip per third of the video at a random
            offset; aesthetic 32 frames, one per 1/32 of the video); ``"all"`` feeds the input clip
            as it is to both branches (the golden fixture's setting; fragment offsets are shared by
            groups of 32 frames, or by the whole clip when T is not a multiple of 32).
        antialias: resize of the aesthetic view; ``False`` (default) is the behaviour the released
            weights were made with (torchvision < 0.17), ``True`` that of the unmodified official
            code on newer torchvision.
        deterministic, seed: redraw the random offsets on every call from fresh generators seeded
            with ``seed`` (``np.random.RandomState`` for the temporal offsets, technical then
            aesthetic; ``torch.Generator`` for the fragments), which reproduces the official script
            run after ``np.random.seed(seed); torch.manual_seed(seed)``. Otherwise every draw comes
            from ``self.generator`` (see :meth:`QualityModel.seed`).
        clip_batch: technical clips per backbone call (memory bound; no effect on the result).
        checkpointing: recompute activations in backward (``torch.utils.checkpoint``): less memory
            for attacks, same numbers.
    """

    card = DOVER_CARD
    input_std = (STD_255[0] / 255.0, STD_255[1] / 255.0, STD_255[2] / 255.0)  # both views: (255 x - mean) / std
    stochastic = True

    #: The val-l1080p sample types of ``dover.yml``.
    technical_clips = 3
    clip_len = 32
    frame_interval = 2

    def __init__(self, *, frames: Frames = "official", antialias: bool = False, deterministic: bool = False,
                 seed: int = 0, clip_batch: int = 1, checkpointing: bool = False) -> None:
        super().__init__()
        if frames not in ("official", "all"):
            raise InputError(f"dover: frames must be 'official' or 'all', got {frames!r}")
        if not isinstance(clip_batch, int) or clip_batch < 1:
            raise InputError(f"dover: clip_batch must be a positive integer, got {clip_batch!r}")
        self.frames = frames
        self.antialias = bool(antialias)
        self.deterministic = bool(deterministic)
        self.seed_value = int(seed)
        self.clip_batch = clip_batch
        self.checkpointing = bool(checkpointing)
        # attribute order = the official state_dict order (backbones, then heads)
        self.technical_backbone = swin3d_tiny_grpb(adaptive_window_size=False)
        self.aesthetic_backbone: ConvNeXt3D = convnext3d_tiny()
        self.technical_head = VQAHead(768, 64)
        self.aesthetic_head = VQAHead(768, 64)
        self.eval()

    # ------------------------------------------------------------------ sampling
    def frame_indices(self, num_frames: int, rng: np.random.RandomState | torch.Generator | None
                      ) -> tuple[np.ndarray, np.ndarray]:
        """Sampled frame indices ``(technical, aesthetic)`` of one video: :func:`official_frame_indices`
        for ``frames="official"``, every frame for both views for ``frames="all"``."""
        if self.frames == "all":
            idx = np.arange(num_frames, dtype=np.int64)
            return idx, idx
        return official_frame_indices(num_frames, rng)

    def views(self, video: Tensor) -> tuple[Tensor, Tensor]:
        """Normalised network inputs of a validated video ``(B, T, 3, H, W)``.

        Returns ``technical (B*clips, 3, Tt, 224, 224)`` (clips of video b are rows
        ``b*clips .. b*clips+clips-1``) and ``aesthetic (B, 3, Ta, 224, 224)``, in the official
        channels-before-time layout, differentiable with respect to ``video``.
        """
        tech, aes = [], []
        for b in range(video.shape[0]):
            t_rng, s_rng = sampling_rngs(self.deterministic, self.seed_value, self.generator)
            t_idx, a_idx = self.frame_indices(video.shape[1], t_rng)
            frames = video[b].index_select(0, torch.from_numpy(t_idx).to(video.device))
            clips = 1 if self.frames == "all" else self.technical_clips
            aligned = self.clip_len if frames.shape[0] % self.clip_len == 0 else frames.shape[0]
            spec = FragmentSpec(aligned=aligned)
            frames = upsample_for_fragments(frames, spec)
            top, left = fragment_offsets(frames.shape[-2], frames.shape[-1], frames.shape[0], spec, s_rng)
            mosaic = assemble_fragments(frames, top, left, spec) * 255.0            # (clips*Tt, 3, 224, 224)
            tech.append(normalise(mosaic).reshape(clips, -1, *mosaic.shape[1:]).transpose(1, 2))
            a_frames = video[b].index_select(0, torch.from_numpy(a_idx).to(video.device))
            view = normalise(resize_view(a_frames, antialias=self.antialias))          # (Ta, 3, 224, 224)
            aes.append(view.transpose(0, 1)[None])
        return torch.cat(tech), torch.cat(aes)

    # ------------------------------------------------------------------ network
    def _technical(self, x: Tensor) -> Tensor:
        return self.technical_head(self.technical_backbone(x))

    def _aesthetic(self, x: Tensor) -> Tensor:
        return self.aesthetic_head(self.aesthetic_backbone(x))

    def _run(self, fn: Any, x: Tensor) -> Tensor:
        if self.checkpointing and torch.is_grad_enabled():
            return _checkpoint(fn, x, use_reentrant=False)
        return fn(x)

    def score_views(self, technical: Tensor, aesthetic: Tensor) -> tuple[Tensor, Tensor]:
        """Score maps of normalised views ``(N, 3, T, 224, 224)`` -> ``(N, 1, T/2, 7, 7)`` per branch."""
        t_map = torch.cat([self._run(self._technical, technical[i:i + self.clip_batch])
                           for i in range(0, technical.shape[0], self.clip_batch)])
        return t_map, self._run(self._aesthetic, aesthetic)

    def branch_scores(self, video: Tensor) -> dict[str, Tensor]:
        """Every score of the official scripts, each ``(B,)``: ``technical`` and ``aesthetic`` (raw
        branch scores: the mean of the branch's score maps over clips and tokens, ``r.mean()`` in
        ``evaluate_one_video.py``), ``technical_z``, ``aesthetic_z``, their sigmoids,
        ``fused_logit`` and ``fused`` (see :func:`fuse_scores`). Validates ``video`` like ``forward``.
        """
        check_video(video)
        b = video.shape[0]
        t_map, a_map = self.score_views(*self.views(video))
        return fuse_scores(t_map.reshape(b, -1).mean(1), a_map.reshape(b, -1).mean(1))

    def score(self, video: Tensor) -> Tensor:
        """Fused score in (0, 1) of a validated video ``(B, T, 3, H, W)`` -> ``(B,)``."""
        b = video.shape[0]
        t_map, a_map = self.score_views(*self.views(video))
        return fuse_scores(t_map.reshape(b, -1).mean(1), a_map.reshape(b, -1).mean(1))["fused"]


@register("dover", DOVER_CARD)
@forwards_options(DOVER)
def create_dover(weights: str | Path | None = None, device: str | torch.device = "cpu",
                 pretrained: bool = True, **options: Any) -> DOVER:
    """Build DOVER. ``weights``: ``DOVER.pth`` (path or URL; ``None`` = the official URL), a plain
    state_dict loaded with ``strict=True``. ``pretrained=False`` builds random weights (tests);
    other options: see :class:`DOVER`."""
    model = DOVER(**options)
    if pretrained or weights is not None:
        load_weights(model, weights, DOVER_WEIGHTS)
    else:
        log.warning("dover built without weights (pretrained=False): scores are meaningless")
    return model.to(device).eval()
