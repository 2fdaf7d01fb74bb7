"""FAST-VQA-B and FasterVQA (Wu et al., ECCV 2022; FasterVQA: arXiv 2210.05357).

Pipeline inside ``forward`` (all differentiable with respect to the pixels):

1. temporal sampling — ``temporal="dataset"`` (default): the official benchmark evaluation
   (``new_test.py`` / ``FusionDataset``, ``FragmentSampleFrames``): FAST-VQA-B takes 4 clips of
   32 frames at stride 2, one per quarter of the video, at random offsets within the quarter;
   FasterVQA takes one clip of 8 segments x 4 frames at stride 2. ``temporal="demo"``: the official
   ``vqa.py`` (``SampleFrames``, frame interval 1: ``num_clips`` evenly spread runs of 32
   consecutive frames, deterministic);
2. spatial fragments (:mod:`advqa.models.fragments`): one draw of 7x7 offsets per group of
   ``aligned`` frames over all sampled frames of a video (aligned = 32 for FAST-VQA-B, 8 for
   FasterVQA), as the official sampler is called once on all of them;
3. normalisation ``(255 x - mean) / std`` with ImageNet mean (123.675, 116.28, 103.53) and std
   (58.395, 57.12, 57.375);
4. Video Swin-T with GRPB (:mod:`advqa.models.swin3d`) and the VQA head (Conv3d 768->64, GELU,
   Conv3d 64->1 per token); the clip score is the mean of its ``(16, 7, 7)`` score map and the video
   score the mean over its clips (``result.mean()`` in ``vqa.py``).

The default output is the official demo's score in [0, 1] (``vqa.py``:
``1 / (1 + exp(-(s - mean) / std))`` of the raw score s, with the mean / std of raw scores recorded in
the card's ``rescale``); ``output="raw"`` gives the network's raw score, which the official
benchmark evaluation (``new_test.py``) correlates with MOS. The two rank videos identically.

Randomness (temporal offsets when the video is long enough, fragment offsets) comes from
``self.generator``; ``deterministic=True`` redraws them on every call from fresh generators seeded
with ``seed`` (``np.random.RandomState(seed)`` for the temporal offsets,
``torch.Generator().manual_seed(seed)`` for the fragments), which reproduces the official code run
after ``np.random.seed(seed); torch.manual_seed(seed)``.

Checkpoints: the official files hold ``{"state_dict": {...}}`` (``vqa.py`` loads
``torch.load(path)["state_dict"]`` strictly); advqa auto-detects that wrapper (``checkpoint_key``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from advqa.errors import InputError, WeightsError
from advqa.models.base import ModelCard, QualityModel, WeightsSpec
from advqa.models.fragments import (FragmentSpec, assemble_fragments, fragment_offsets, sampling_rngs,
                                    segment_frame_indices, uniform_clip_indices, upsample_for_fragments)
from advqa.models.registry import register
from advqa.registry import forwards_options
from advqa.models.swin3d import SwinTransformer3D

log = logging.getLogger(__name__)

__all__ = ["VQAHead", "FastVQA", "FasterVQA", "FastVQAConfig", "FASTVQA_CARD", "FASTERVQA_CARD", "create_fastvqa",
           "create_fastervqa", "MEAN", "STD", "FASTVQA_B", "FASTERVQA", "sigmoid_rescale",
           "load_checkpoint"]

#: ImageNet normalisation on the 0..255 scale (official ``vqa.py`` / ``FusionDataset``).
MEAN = (123.675, 116.28, 103.53)
STD = (58.395, 57.12, 57.375)

Temporal = Literal["dataset", "demo"]
Output = Literal["raw", "sigmoid"]


@dataclass(frozen=True)
class FastVQAConfig:
    """Sampling of one variant, from its official config (``options/fast/*.yml``, ``val-*`` sets)."""

    clip_len: int = 32           # frames per clip fed to the network
    t_frag: int = 1              # temporal segments per clip (FasterVQA: 8 segments of 4 frames)
    num_clips: int = 4           # clips per video at test time
    frame_interval: int = 2      # stride of the benchmark sampler (vqa.py uses 1)
    aligned: int = 32            # frames sharing fragment offsets
    rescale_mean: float = -0.110198185
    rescale_std: float = 0.04178565


FASTVQA_B = FastVQAConfig()
FASTERVQA = FastVQAConfig(t_frag=8, num_clips=1, aligned=8, rescale_mean=0.14759505, rescale_std=0.03613452)

_LICENCE = "MIT"
_INPUT = ("(B, T, 3, H, W) float RGB in [0, 1], any size and length: frames are sampled temporally "
          "(T wraps around when shorter than the sampler needs) and frames smaller than 224 px on a side "
          "are upsampled bilinearly first; scored on 7x7 fragments of 32x32 px (224x224 mosaics), "
          "32 frames per clip")


def _card(name: str, paper: str, cfg: FastVQAConfig, spec: WeightsSpec, notes: str) -> ModelCard:
    return ModelCard(
        name=name, paper=paper, score_range=(0.0, 1.0),
        higher_is_better=True, input=_INPUT, weights=(spec,), licence=_LICENCE,
        rescale={"mean": cfg.rescale_mean, "std": cfg.rescale_std},
        notes=notes)


FASTVQA_WEIGHTS = WeightsSpec(
    url="https://github.com/TimothyHTimothy/FAST-VQA/releases/download/v2.0.0/FAST_VQA_B_1_4.pth",
    sha256=None, filename="FAST_VQA_B_1_4.pth", licence="MIT",
    notes=("URL from the official README (the repository moved to VQAssessment/FAST-VQA-and-FasterVQA; "
           "GitHub redirects). No published SHA-256: pass --weights with a verified file or add "
           "'#sha256=<hex>' to the URL. The file is {'state_dict': ...}, trained on LSVQ."))
FASTERVQA_WEIGHTS = WeightsSpec(
    url="https://github.com/TimothyHTimothy/FAST-VQA/releases/download/v2.0.0/FAST_VQA_3D_1_1.pth",
    sha256=None, filename="FAST_VQA_3D_1_1.pth", licence="MIT",
    notes="URL from the official README; no published SHA-256. The file is {'state_dict': ...}.")

_COMMON_NOTES = (
    "Score: vqa.py's 1/(1+exp(-(s-mean)/std)) of the raw score s (mean of the head's (16,7,7) map "
    "per 32-frame clip, averaged over clips); output='raw' gives s, as new_test.py correlates it "
    "with MOS. Code and weights: MIT (VQAssessment/FAST-VQA-and-FasterVQA). Stochastic: fragment offsets "
    "(and temporal offsets, once a video is long enough: FAST-VQA-B >= 260 frames, FasterVQA >= 72) "
    "are redrawn every call from the model's generator; option deterministic=True (seed=0) "
    "reproduces the official draws after np.random.seed(0); torch.manual_seed(0). "
    "Options: temporal='dataset'|'demo', num_clips, clip_batch, checkpointing, checkpoint_key.")

FASTVQA_CARD = _card(
    "fastvqa", "Wu et al., FAST-VQA: Efficient End-to-end VQA with Fragment Sampling, ECCV 2022",
    FASTVQA_B, FASTVQA_WEIGHTS,
    "FAST-VQA-B: 4 clips x 32 frames at stride 2 (official benchmark sampling). " + _COMMON_NOTES)
FASTERVQA_CARD = _card(
    "fastervqa", "Wu et al., Neighbourhood Representative Sampling for Efficient End-to-end VQA "
    "(FasterVQA), TPAMI 2023", FASTERVQA, FASTERVQA_WEIGHTS,
    "FasterVQA: 1 clip of 8 segments x 4 frames at stride 2, fragments aligned over 8 frames; "
    "same network as FAST-VQA-B. " + _COMMON_NOTES)


def sigmoid_rescale(raw: Tensor, config: FastVQAConfig = FASTVQA_B) -> Tensor:
    """``vqa.py``: ``1 / (1 + exp(-(raw - mean) / std))`` with the variant's mean / std of raw scores."""
    return torch.sigmoid((raw - config.rescale_mean) / config.rescale_std)


class VQAHead(nn.Module):
    """Per-token regression head: Dropout(0.5), Conv3d(768->64, 1x1x1), GELU (erf), Dropout, Conv3d(64->1).

    ``(N, 768, D, H, W)`` features -> ``(N, 1, D, H, W)`` score map (no pooling).
    """

    def __init__(self, in_channels: int = 768, hidden_channels: int = 64, dropout: float = 0.5) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc_hid = nn.Conv3d(in_channels, hidden_channels, (1, 1, 1))
        self.fc_last = nn.Conv3d(hidden_channels, 1, (1, 1, 1))
        self.gelu = nn.GELU()

    def forward(self, x: Tensor) -> Tensor:
        return self.fc_last(self.dropout(self.gelu(self.fc_hid(self.dropout(x)))))


class FastVQA(QualityModel):
    """FAST-VQA-B / FasterVQA on the :class:`QualityModel` contract.

    State dict: ``fragments_backbone.*`` (193 entries) and ``vqa_head.*`` (4), as the official
    ``DiViDeAddEvaluator``. ``forward``: ``(B, T, 3, H, W)`` in [0, 1] -> ``(B,)`` scores.

    Args:
        config: sampling of the variant (:data:`FASTVQA_B` or :data:`FASTERVQA`).
        temporal: ``"dataset"`` (official benchmark sampler) or ``"demo"`` (``vqa.py``).
        num_clips: clips per video (default: the variant's official number).
        output: ``"sigmoid"`` (default, ``vqa.py``'s [0, 1] score) or ``"raw"`` network score.
        deterministic, seed: redraw the official seeded offsets on every call (see module doc).
        clip_batch: clips per backbone call (memory bound; no effect on the result).
        checkpointing: recompute each Swin block's activations in backward (``torch.utils.checkpoint``,
            as the official ``use_checkpoint=True``): far less memory for gradients, same values,
            about one extra forward of compute.
    """

    card = FASTVQA_CARD
    input_std = (STD[0] / 255.0, STD[1] / 255.0, STD[2] / 255.0)  # (255 x - mean) / std
    stochastic = True

    def __init__(self, config: FastVQAConfig = FASTVQA_B, *, temporal: Temporal = "dataset",
                 num_clips: int | None = None, output: Output = "sigmoid",
                 deterministic: bool = False, seed: int = 0, clip_batch: int = 4,
                 checkpointing: bool = False) -> None:
        super().__init__()
        if temporal not in ("dataset", "demo"):
            raise InputError(f"temporal must be 'dataset' or 'demo', got {temporal!r}")
        if output not in ("raw", "sigmoid"):
            raise InputError(f"output must be 'raw' or 'sigmoid', got {output!r}")
        for name, val in (("num_clips", num_clips), ("clip_batch", clip_batch)):
            if val is not None and (not isinstance(val, int) or val < 1):
                raise InputError(f"{name} must be a positive integer, got {val!r}")
        self.config = config
        self.temporal = temporal
        self.num_clips = num_clips or config.num_clips
        self.output = output
        self.deterministic = deterministic
        self.seed_value = int(seed)
        self.clip_batch = clip_batch
        self.spec = FragmentSpec(aligned=config.aligned)
        self.fragments_backbone = SwinTransformer3D(adaptive_window_size=True, use_checkpoint=checkpointing)
        self.vqa_head = VQAHead(768, 64)
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1, 1), persistent=False)
        self.eval()

    # ------------------------------------------------------------------ sampling
    def frame_indices(self, num_frames: int, rng: np.random.RandomState | torch.Generator | None) -> np.ndarray:
        """Sampled frame indices of one video, ``(num_clips * clip_len,)``, clip-major."""
        cfg = self.config
        if self.temporal == "demo":
            return uniform_clip_indices(num_frames, cfg.clip_len, self.num_clips, 1)
        if cfg.t_frag > 1:  # FasterVQA: FragmentSampleFrames(clip_len // t_frag, t_frag, interval, num_clips)
            return segment_frame_indices(num_frames, cfg.clip_len // cfg.t_frag, cfg.t_frag, cfg.frame_interval,
                                         self.num_clips, rng)
        # FAST-VQA-B ("revised legacy" sampler): one segment per clip
        return segment_frame_indices(num_frames, cfg.clip_len, self.num_clips, cfg.frame_interval, 1, rng)

    def sample(self, video: Tensor) -> Tensor:
        """Normalised network inputs of a validated video: ``(B, T, 3, H, W)`` -> ``(B*clips, 3, 32, 224, 224)``.

        Clips of video b are rows ``b*clips .. b*clips + clips - 1``.
        """
        out = []
        for b in range(video.shape[0]):
            t_rng, s_rng = sampling_rngs(self.deterministic, self.seed_value, self.generator)
            idx = torch.from_numpy(self.frame_indices(video.shape[1], t_rng)).to(video.device)
            src, fidx = video[b], idx
            if min(src.shape[-2] / self.spec.size[0], src.shape[-1] / self.spec.size[1]) < 1:
                src, fidx = upsample_for_fragments(src.index_select(0, idx), self.spec), None  # small frames
            top, left = fragment_offsets(src.shape[-2], src.shape[-1], idx.numel(), self.spec, s_rng)
            mosaic = assemble_fragments(src, top, left, self.spec, frame_index=fidx)   # (N, 3, 224, 224)
            out.append(mosaic.reshape(-1, self.config.clip_len, *mosaic.shape[1:]))    # (clips, 32, 3, ...)
        clips = torch.cat(out, 0).permute(0, 2, 1, 3, 4)                               # (B*clips, 3, 32, ...)
        return (clips * 255.0 - self.mean.to(clips.dtype)) / self.std.to(clips.dtype)

    # ------------------------------------------------------------------ network
    def score_map(self, clips: Tensor) -> Tensor:
        """Network on normalised clips ``(N, 3, 32, 224, 224)`` -> score maps ``(N, 1, 16, 7, 7)``."""
        maps = [self.vqa_head(self.fragments_backbone(clips[i:i + self.clip_batch]))
                for i in range(0, clips.shape[0], self.clip_batch)]
        return torch.cat(maps, 0)

    def rescale(self, raw: Tensor) -> Tensor:
        """``vqa.py``'s sigmoid rescale of raw scores to [0, 1] (:func:`sigmoid_rescale`)."""
        return sigmoid_rescale(raw, self.config)

    def score(self, video: Tensor) -> Tensor:
        b = video.shape[0]
        maps = self.score_map(self.sample(video))
        raw = maps.reshape(b, -1).mean(dim=1)  # equal-size clips: mean over clips of clip means
        return self.rescale(raw) if self.output == "sigmoid" else raw


class FasterVQA(FastVQA):
    """FasterVQA: the FAST-VQA-B network with FasterVQA's sampling (:data:`FASTERVQA`)."""

    card = FASTERVQA_CARD

    def __init__(self, config: FastVQAConfig = FASTERVQA, **options: Any) -> None:
        super().__init__(config, **options)


def load_checkpoint(model: nn.Module, source: str | Path | None, spec: WeightsSpec,
                    checkpoint_key: str | None = "auto") -> None:
    """Load official weights strictly (local path, URL, or ``None`` for ``spec.url``).

    ``checkpoint_key``: ``"auto"`` uses the file's ``"state_dict"`` entry when it has one (the
    official format) and the file itself otherwise; a key name forces that entry; ``None`` requires
    a plain state dict. Raises :class:`WeightsError` when the file is missing or does not fit.
    """
    from advqa.models import weights as W

    path = W.resolve(source, spec)
    if checkpoint_key == "auto":
        try:
            sd = W.load_state_dict(path, key="state_dict")
        except WeightsError:
            sd = W.load_state_dict(path)
    else:
        sd = W.load_state_dict(path, key=checkpoint_key)
    W.load_into(model, sd, strict=True)


def _build(cls: type[FastVQA], weights: str | Path | None, device: str | torch.device, pretrained: bool,
           key: str | None, options: dict[str, Any]) -> FastVQA:
    if pretrained or weights is not None:
        from advqa.models import weights as W

        path = W.resolve(weights, cls.card.weights[0])  # fail fast, before building the network
        model = cls(**options)
        load_checkpoint(model, path, cls.card.weights[0], key)
    else:
        model = cls(**options)
        log.warning("%s built without weights (pretrained=False): scores are meaningless", cls.card.name)
    return model.to(device).eval()


@register("fastvqa", FASTVQA_CARD)
@forwards_options(FastVQA)
def create_fastvqa(weights: str | Path | None = None, device: str | torch.device = "cpu", pretrained: bool = True,
                   checkpoint_key: str | None = "auto", **options: Any) -> FastVQA:
    """FAST-VQA-B. ``weights``: ``FAST_VQA_B_1_4.pth`` (path or URL; ``None`` = the official URL).
    ``pretrained=False`` builds random weights (tests); other options: see :class:`FastVQA`."""
    return _build(FastVQA, weights, device, pretrained, checkpoint_key, dict(options))


@register("fastervqa", FASTERVQA_CARD)
@forwards_options(FastVQA)
def create_fastervqa(weights: str | Path | None = None, device: str | torch.device = "cpu", pretrained: bool = True,
                     checkpoint_key: str | None = "auto", **options: Any) -> FastVQA:
    """FasterVQA. ``weights``: ``FAST_VQA_3D_1_1.pth`` (path or URL; ``None`` = the official URL)."""
    return _build(FasterVQA, weights, device, pretrained, checkpoint_key, dict(options))
