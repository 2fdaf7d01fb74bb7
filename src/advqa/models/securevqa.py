"""SecureVQA (Zhang, Wang, Ran, Tang, Guan, Yang, "Secure Video Quality Assessment Resisting
Adversarial Attacks", IEEE Transactions on Broadcasting 2025; arXiv:2410.06866).

Two branches score the same video (paper §III, Fig. 2), all inside a differentiable ``forward``:

* **intra-frame**: skip sampling (Eq. 1; ``num_clips`` clips of 32 frames at stride 2, one clip per
  equal part of the video at a random offset, FAST-VQA's ``FragmentSampleFrames``), spatial grid
  sampling (Eqs. 2-4; 7x7 cells, one 32x32 patch each, the same offsets for the 32 frames of a clip,
  :mod:`advqa.models.fragments`), the guardian map (Eq. 5), ImageNet normalisation and FAST-VQA's
  Video Swin-T with gated relative position biases (:mod:`advqa.models.swin3d`) -> E_intra, the
  ``(768, 16)`` spatially pooled token features of each clip;
* **inter-frame**: every frame resized to 224x224 (Eq. 8, aspect ratio not kept), the guardian map
  (Eq. 9), 16 segments of 32 consecutive frames (segment i starts at ``i * (T // 16)``; frames past
  the end repeat the last one), the fast pathway of SlowFast-R50 (Kinetics-400, frozen; res5 pooled
  to 256 values per segment) -> E_inter ``(256, 16)``;
* **fusion** (Eqs. 11-14, as the official code has it): a 1x1x1 convolution 1024->1024 mixes
  ``cat(E_intra, E_inter)`` (not in the paper), then ``z3 = z1 + B_a(z2)``, ``z4 = z2 + B_b(z1)``
  with inverted bottlenecks (1x1x1 conv, ReLU6, depthwise 1x1x1 conv, ReLU6, 1x1x1 conv);
* **head** (Eq. 15): Dropout, Conv 1024->64, GELU, Dropout, Conv 64->1 per temporal token; the score
  is the mean over the 16 tokens and the clips. Temporal token j of a clip is paired with segment
  j of the video (the official pairing; they are not time-aligned).

The output is the network's raw score (the official code correlates it with MOS and maps it
linearly onto the MOS scale only to report RMSE).

Facts from the official code (GZHU-DVL/SecureVQA) that the paper leaves out:

* the guardian map is one ``{-1, +1}`` value per channel and pixel of a 224x224 view (``±1/255`` in
  [0, 1] units), the same for every frame, added before normalisation and clamped;
* SlowFast runs in training mode: every BatchNorm normalises with the statistics of its own
  32-frame segment (the released heads were trained on embeddings made this way);
* the inter-frame frames are resized by Pillow's bilinear filter on 8-bit frames (antialiased,
  fixed-point, integer output); :func:`pil_bilinear_resize` reproduces it bit for bit,
  differentiably (straight-through roundings).

Official bugs, fixed by default, each with an option that reproduces the released behaviour:

* ``guardian``: the released datasets and attack scripts add the map and then normalise the
  pre-guardian tensor, so the map never reaches the intra branch (nor, in the attack scripts, the
  inter branch); only the offline inter-embedding extraction applies it. ``"applied"`` (default)
  adds a fresh map to both branches on every call; ``"released"`` is the released test pipeline
  (inter branch only); ``"none"`` is the attack scripts (neither branch).
* ``frame_interval``: the attack scripts sample frames at stride 4 instead of the training stride 2
  (``frame_interval=4`` reproduces them).
* ``dropout``: the attack scripts score with the model in training mode, so the head's two
  Dropout(0.5) and the Swin's DropPath(0.1) are active; ``dropout=True`` reproduces that (masks from
  :attr:`generator`); the default scores in eval mode.
* ``inter_gradient`` / ``inter_frames``: the attack scripts recompute E_inter from the sampled
  frames only (``inter_frames="sampled"``), through an 8-bit truncation and under ``no_grad``, so
  no gradient reaches the pixels through the inter branch (``inter_gradient=False``). By default
  E_inter comes from the whole video and is differentiable, so white-box attacks see the model.

:data:`RELEASED_TEST` and :data:`RELEASED_ATTACK_SCRIPTS` collect the options of the two released
pipelines. Randomness (temporal offsets, fragment offsets, guardian maps, released dropout masks)
comes only from :attr:`generator`, drawn in that order for each video of a batch.

State dict: ``fragments_backbone.*`` (193 entries) and ``vqa_head.*`` (12), exactly the official
checkpoint (``{"state_dict": ...}``, 205 entries), plus ``slowfast.*`` (318): the fast pathway of
pytorchvideo's ``slowfast_r50`` under its hub names ``blocks.N.multipathway_blocks.1.*``.
"""
from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint as _checkpoint

from advqa.errors import InputError, WeightsError
from advqa.models.base import ModelCard, QualityModel, WeightsSpec
from advqa.models.fastvqa import MEAN, STD
from advqa.models.fragments import (FragmentSpec, assemble_fragments, fragment_offsets, segment_frame_indices,
                                    upsample_for_fragments)
from advqa.models.registry import register
from advqa.models.swin3d import SwinTransformer3D
from advqa.registry import forwards_options

log = logging.getLogger(__name__)

__all__ = [
    "SecureVQA", "SECUREVQA_CARD", "SECUREVQA_WEIGHTS", "SLOWFAST_WEIGHTS", "RELEASED_TEST",
    "RELEASED_ATTACK_SCRIPTS", "FusionHead", "SlowFastFastPathway", "create_securevqa", "draw_guardian",
    "apply_guardian", "normalise", "pil_bilinear_resize", "tensor_bilinear_resize", "segment_indices",
    "slowfast_state_dict", "load_securevqa_weights",
]

Guardian = Literal["applied", "released", "none"]
InterFrames = Literal["all", "sampled"]
SlowFastNorm = Literal["segment", "running"]

#: Options reproducing the released test pipeline (main.py / Finetune.py): the intra-branch
#: guardian is discarded, the offline inter embeddings carry one.
RELEASED_TEST: dict[str, Any] = {"guardian": "released"}
#: Options reproducing the released attack scripts (``SecureVQA_under_*-box.py``).
RELEASED_ATTACK_SCRIPTS: dict[str, Any] = {
    "guardian": "none", "frame_interval": 4, "dropout": True, "inter_gradient": False, "inter_frames": "sampled"}

VIEW = 224          # side of both branches' views
CLIP_LEN = 32       # frames per intra clip (16 Swin temporal tokens)
SEGMENTS = 16       # inter segments (hard-coded in the official extraction)
SEGMENT_LEN = 32    # frames per inter segment

SECUREVQA_WEIGHTS = WeightsSpec(
    url=None, sha256=None, filename=None,
    licence="research purposes only (GZHU-DVL/SecureVQA README; the repository has no LICENSE file)",
    notes=("No published checkpoint: the official repository releases no weights and names no download. "
           "Train one with the official main.py (LSVQ) or Finetune.py and pass its local path "
           "(weights=...). The file is {'state_dict': ..., 'validation_results': ...} with 205 entries "
           "(fragments_backbone.*, vqa_head.*), loaded strictly; SlowFast is not in it (slowfast_weights=)."))
SLOWFAST_WEIGHTS = WeightsSpec(
    url="https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/kinetics/SLOWFAST_8x8_R50.pyth",
    sha256=None, filename="SLOWFAST_8x8_R50.pyth", licence="Apache-2.0 (facebookresearch/pytorchvideo)",
    notes=("pytorchvideo's slowfast_r50(pretrained=True) checkpoint (Kinetics-400), the one the official "
           "code loads; {'model_state': ...} with 662 hub entries, of which the 318 fast-pathway ones "
           "(blocks.N.multipathway_blocks.1.*) are used. No published SHA-256."))

SECUREVQA_CARD = ModelCard(
    name="securevqa",
    paper=("Zhang, Wang, Ran, Tang, Guan, Yang. Secure Video Quality Assessment Resisting Adversarial "
           "Attacks (SecureVQA). IEEE Transactions on Broadcasting 2025 (arXiv:2410.06866)"),
    score_range=(-1.0, 1.0), higher_is_better=True,
    input=("(B, T, 3, H, W) float RGB in [0, 1], any size and length (T wraps around when short). Intra: "
           "4 clips x 32 frames at stride 2 on 7x7 fragments of 32x32 px (frames under 224 px upsampled); "
           "inter: every frame resized to 224x224, 16 segments of 32 frames"),
    weights=(SECUREVQA_WEIGHTS, SLOWFAST_WEIGHTS),
    licence="research purposes only (GZHU-DVL/SecureVQA); SlowFast weights Apache-2.0 (pytorchvideo)",
    notes=("Raw network score (unbounded; score_range is nominal): trained with PLCC + 0.3 x rank loss, so "
           "only its ranking / linear relation to MOS is meaningful (the official scripts map it linearly "
           "to the MOS scale for RMSE). Weights: a local checkpoint (no published download) plus the "
           "Kinetics SlowFast-R50 (slowfast_weights=, default its pytorchvideo URL). Stochastic: temporal and "
           "fragment offsets and two guardian maps redrawn every call from the model's generator. Official "
           "bugs fixed by default, options reproduce them: guardian='applied'|'released'|'none', "
           "frame_interval (attack scripts: 4), dropout (attack scripts: True), inter_gradient, inter_frames; "
           "advqa.models.securevqa.RELEASED_TEST / RELEASED_ATTACK_SCRIPTS collect them. Other options: "
           "num_clips, slowfast_norm, clip_batch, segment_batch, checkpointing."))

_MEAN_T = torch.tensor(MEAN)
_STD_T = torch.tensor(STD)


# --------------------------------------------------------------------------- preprocessing


def normalise(frames: Tensor, channel_dim: int = -3) -> Tensor:
    """ImageNet normalisation of [0, 1] frames on the 0..255 scale: ``(255 x - mean) / std`` with
    mean (123.675, 116.28, 103.53), std (58.395, 57.12, 57.375); channels on ``channel_dim``."""
    shape = [1] * frames.ndim
    shape[channel_dim] = 3
    mean = _MEAN_T.to(frames.device, frames.dtype).view(shape)
    std = _STD_T.to(frames.device, frames.dtype).view(shape)
    return (frames * 255.0 - mean) / std


def draw_guardian(generator: torch.Generator | None, size: tuple[int, int] = (VIEW, VIEW)) -> Tensor:
    """One guardian map (paper Eq. 5): int8 ``(3, 1, H, W)`` of i.i.d. uniform ``{-1, +1}`` (0..255 units),
    one value per channel and pixel, shared by all frames (the official layout, C, T=1, H, W)."""
    return (torch.randint(0, 2, (3, 1, *size), generator=generator) * 2 - 1).to(torch.int8)


def apply_guardian(frames: Tensor, guardian: Tensor) -> Tensor:
    """``clamp(frames + guardian / 255, 0, 1)`` (paper Eqs. 5, 9; the official order: add on the 0..255
    scale, clamp, then normalise). ``frames`` ``(..., 3, H, W)`` in [0, 1]; ``guardian`` ``(3, 1, H, W)``."""
    if guardian.ndim != 4 or guardian.shape[:2] != (3, 1) or guardian.shape[-2:] != frames.shape[-2:]:
        raise InputError(f"guardian map must be shaped (3, 1, {frames.shape[-2]}, {frames.shape[-1]}), "
                         f"got {tuple(guardian.shape)}")
    g = guardian.to(frames.device, frames.dtype).permute(1, 0, 2, 3) / 255.0   # (1, 3, H, W)
    return (frames + g).clamp(0.0, 1.0)


def _straight_through_round(x: Tensor) -> Tensor:
    return x + (torch.round(x) - x).detach()


_PIL_PRECISION_BITS = 22   # Pillow's Resample.c: 32 - 8 - 2 fractional bits for 8-bit images


@functools.lru_cache(maxsize=32)
def _pil_bilinear_matrix(in_size: int, out_size: int) -> Tensor:
    """Pillow's bilinear resampling along one axis as a float64 ``(in_size, out_size)`` matrix of its
    fixed-point weights (integers, ``2^22`` = 1), as ``precompute_coeffs`` and
    ``normalize_coeffs_8bpc`` compute them: triangle filter, support widened by the scale when
    downscaling (antialiasing), taps normalised to sum 1, then rounded to 22 fractional bits."""
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = 1.0 * filterscale
    ss = 1.0 / filterscale
    matrix = np.zeros((in_size, out_size), np.float64)
    for xx in range(out_size):
        center = (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size) - xmin
        taps = [max(0.0, 1.0 - abs((x + xmin - center + 0.5) * ss)) for x in range(xmax)]
        total = sum(taps)
        for x, w in enumerate(taps):
            w = w / total if total != 0.0 else w
            matrix[xmin + x, xx] = int(0.5 + w * (1 << _PIL_PRECISION_BITS))
    return torch.from_numpy(matrix)


def _pil_pass(x: Tensor, in_size: int, out_size: int, dim: int) -> Tensor:
    """One separable pass on 8-bit-valued float64 ``x`` along ``dim`` (-1 or -2): the integer sum
    (exact in float64 whatever the summation order), then Pillow's rounding ``(sum + 2^21) >> 22``
    clipped to [0, 255], with a straight-through gradient."""
    if in_size == out_size:
        return x
    m = _pil_bilinear_matrix(in_size, out_size).to(x.device)
    y = (x @ m if dim == -1 else (x.transpose(-1, -2) @ m).transpose(-1, -2)) / float(1 << _PIL_PRECISION_BITS)
    return y + (torch.floor(y + 0.5).clamp(0.0, 255.0) - y).detach()


def pil_bilinear_resize(frames: Tensor, size: tuple[int, int] = (VIEW, VIEW)) -> Tensor:
    """The official inter-branch resize (paper Eq. 8), bit-exact and differentiable: Pillow's
    ``Image.resize(size, BILINEAR)`` of 8-bit frames (torchvision ``Resize`` on a PIL image).

    ``frames`` ``(N, 3, H, W)`` in [0, 1] -> ``(N, 3, h, w)`` on the 8-bit grid: ``255 x`` rounded to
    integers, a horizontal then a vertical pass with Pillow's fixed-point weights (support widened
    by the scale when downscaling, i.e. antialiased), each rounded and clipped to 8 bits as Pillow
    does. Computed in float64 (the integer sums are exact); every rounding passes gradients
    straight through, so the gradient is that of the two linear filters.
    """
    n, c, h, w = frames.shape
    out_h, out_w = size
    chunk = max(1, (1 << 22) // max(1, c * h * w))    # bound the float64 working set (~32 MiB per chunk)
    parts = []
    for i in range(0, n, chunk):
        x = _straight_through_round(frames[i:i + chunk].to(torch.float64) * 255.0)
        x = _pil_pass(_pil_pass(x, w, out_w, -1), h, out_h, -2)
        parts.append((x / 255.0).to(frames.dtype))
    return torch.cat(parts)


def tensor_bilinear_resize(frames: Tensor, size: tuple[int, int] = (VIEW, VIEW), *,
                           truncate_input: bool = False) -> Tensor:
    """A torch tensor resize, as the released attack scripts do it: (optionally) the ``uint8`` cast
    of ``255 x`` (truncation), antialiased bilinear, the result rounded to 8 bits (straight-through
    gradients). Within one grey level of :func:`pil_bilinear_resize` (mean 0.11 on the fixture clip)."""
    x = frames * 255.0
    if truncate_input:
        x = x + (torch.floor(x) - x).detach()
    if tuple(x.shape[-2:]) != tuple(size):
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    return (_straight_through_round(x) / 255.0).clamp(0.0, 1.0)


def segment_indices(num_frames: int, segments: int = SEGMENTS, length: int = SEGMENT_LEN) -> Tensor:
    """Frame indices of the inter segments, int64 ``(segments, length)``: segment i is frames
    ``[i * (N // segments), ... + length)``, indices past the end replaced by the last frame (official)."""
    if num_frames < 1:
        raise InputError("cannot sample frames from an empty video")
    rate = num_frames // segments
    idx = torch.arange(segments)[:, None] * rate + torch.arange(length)[None, :]
    return idx.clamp(max=num_frames - 1)


# --------------------------------------------------------------------------- randomised layers


class _SeededDropout(nn.Module):
    """Dropout whose masks come from an explicit generator: active in training mode or when
    ``active`` is set (the released attack scripts' train-mode scoring), identity otherwise."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = float(p)
        self.active = False
        self.generator: torch.Generator | None = None

    def _mask_shape(self, x: Tensor) -> tuple[int, ...]:
        return tuple(x.shape)

    def forward(self, x: Tensor) -> Tensor:
        if not (self.active or self.training) or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = torch.rand(self._mask_shape(x), generator=self.generator) < keep   # drawn on the CPU
        return x * mask.to(x.device, x.dtype) / keep


class _SeededDropPath(_SeededDropout):
    """Stochastic depth with one keep/drop draw per sample (``x`` ``(B, ...)``)."""

    def _mask_shape(self, x: Tensor) -> tuple[int, ...]:
        return (x.shape[0],) + (1,) * (x.ndim - 1)

    def extra_repr(self) -> str:
        return f"p={self.p}"


# --------------------------------------------------------------------------- SlowFast fast pathway


class _SegmentNorm(nn.BatchNorm3d):
    """BatchNorm3d (pytorchvideo keys, eps 1e-5) that, with ``per_segment`` set, normalises each sample
    with its own statistics over (T, H, W) (biased variance): the official training-mode BatchNorm
    on one-segment batches, batched. Running statistics are never updated; ``per_segment=False``
    uses them (eval mode)."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels, eps=1e-5, momentum=0.1)
        self.per_segment = True

    def forward(self, x: Tensor) -> Tensor:
        if self.per_segment:
            return F.instance_norm(x, None, None, self.weight, self.bias, use_input_stats=True, eps=self.eps)
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)


def _conv(cin: int, cout: int, kernel: tuple[int, int, int], stride: tuple[int, int, int] = (1, 1, 1),
          padding: tuple[int, int, int] = (0, 0, 0)) -> nn.Conv3d:
    return nn.Conv3d(cin, cout, kernel, stride=stride, padding=padding, bias=False)


class _Stem(nn.Module):
    """Fast stem: Conv3d(3->8, (5,7,7), stride (1,2,2), pad (2,3,3)), BN, ReLU, MaxPool (1,3,3)/(1,2,2)."""

    def __init__(self, cout: int = 8) -> None:
        super().__init__()
        self.conv = _conv(3, cout, (5, 7, 7), (1, 2, 2), (2, 3, 3))
        self.norm = _SegmentNorm(cout)
        self.activation = nn.ReLU()
        self.pool = nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.activation(self.norm(self.conv(x))))


class _Bottleneck(nn.Module):
    """conv_a (3,1,1) -> BN -> ReLU -> conv_b (1,3,3), spatial stride -> BN -> ReLU -> conv_c (1,1,1) -> BN."""

    def __init__(self, cin: int, inner: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv_a = _conv(cin, inner, (3, 1, 1), padding=(1, 0, 0))
        self.norm_a = _SegmentNorm(inner)
        self.act_a = nn.ReLU()
        self.conv_b = _conv(inner, inner, (1, 3, 3), (1, stride, stride), (0, 1, 1))
        self.norm_b = _SegmentNorm(inner)
        self.act_b = nn.ReLU()
        self.conv_c = _conv(inner, cout, (1, 1, 1))
        self.norm_c = _SegmentNorm(cout)

    def forward(self, x: Tensor) -> Tensor:
        x = self.act_a(self.norm_a(self.conv_a(x)))
        x = self.act_b(self.norm_b(self.conv_b(x)))
        return self.norm_c(self.conv_c(x))


class _ResBlock(nn.Module):
    """Residual bottleneck; the first block of a stage has a projection shortcut (branch1)."""

    def __init__(self, cin: int, inner: int, cout: int, stride: int, shortcut: bool) -> None:
        super().__init__()
        if shortcut:
            self.branch1_conv = _conv(cin, cout, (1, 1, 1), (1, stride, stride))
            self.branch1_norm = _SegmentNorm(cout)
        else:
            self.branch1_conv = None
            self.branch1_norm = None
        self.branch2 = _Bottleneck(cin, inner, cout, stride)
        self.activation = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        short = x if self.branch1_conv is None else self.branch1_norm(self.branch1_conv(x))
        return self.activation(short + self.branch2(x))


class _ResStage(nn.Module):
    def __init__(self, cin: int, inner: int, cout: int, depth: int, stride: int) -> None:
        super().__init__()
        self.res_blocks = nn.ModuleList(
            _ResBlock(cin if i == 0 else cout, inner, cout, stride if i == 0 else 1, i == 0) for i in range(depth))

    def forward(self, x: Tensor) -> Tensor:
        for blk in self.res_blocks:
            x = blk(x)
        return x


class _Pathways(nn.Module):
    """One pytorchvideo ``MultiPathWayWithFuse`` block holding only its fast pathway (index 1). The
    slow pathway and the lateral fusion feed the slow output only, so they are not built."""

    def __init__(self, fast: nn.Module) -> None:
        super().__init__()
        self.multipathway_blocks = nn.ModuleList([nn.Identity(), fast])

    def forward(self, x: Tensor) -> Tensor:
        return self.multipathway_blocks[1](x)


class SlowFastFastPathway(nn.Module):
    """The fast pathway of pytorchvideo's ``slowfast_r50`` (Feichtenhofer et al., "SlowFast Networks
    for Video Recognition", ICCV 2019), blocks 0-4 (stem, res2-res5: 3, 4, 6, 3 bottlenecks of
    inner/output widths 8/32, 16/64, 32/128, 64/256; no temporal stride), with the hub's key names
    ``blocks.N.multipathway_blocks.1.*`` (318 entries).

    ``forward``: normalised segments ``(N, 3, T, H, W)`` -> res5 features ``(N, 256, T, H/32, W/32)``;
    :meth:`embed` pools them to ``(N, 256)`` (E_inter rows).
    """

    widths = ((8, 32, 3, 1), (16, 64, 4, 2), (32, 128, 6, 2), (64, 256, 3, 2))

    def __init__(self) -> None:
        super().__init__()
        blocks: list[nn.Module] = [_Pathways(_Stem(8))]
        cin = 8
        for inner, cout, depth, stride in self.widths:
            blocks.append(_Pathways(_ResStage(cin, inner, cout, depth, stride)))
            cin = cout
        self.blocks = nn.ModuleList(blocks)

    def set_norm(self, mode: SlowFastNorm) -> None:
        """``"segment"``: per-segment statistics (official); ``"running"``: the running statistics."""
        for m in self.modules():
            if isinstance(m, _SegmentNorm):
                m.per_segment = mode == "segment"

    def forward(self, x: Tensor) -> Tensor:
        for blk in self.blocks:
            x = blk(x)
        return x

    def embed(self, x: Tensor) -> Tensor:
        """``(N, 3, T, H, W)`` -> ``(N, 256)``: ``adaptive_avg_pool3d(res5, 1)``."""
        return self(x).mean(dim=(2, 3, 4))


_SLOW_OR_FUSION = re.compile(r"^blocks\.\d+\.(multipathway_blocks\.0|multipathway_fusion)\.|^blocks\.[56]\.")


def slowfast_state_dict(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The fast-pathway entries of a SlowFast-R50 state dict, keyed as :class:`SlowFastFastPathway`.

    Accepts the hub's ``model_state`` (``blocks.N.*``, 662 entries) or the official SecureVQA wrapper's
    keys (``feature_extraction.N.*``). The slow pathway, the lateral fusions and the classifier
    (``blocks.5``, ``blocks.6``) are dropped: they do not influence the fast output. Any other key
    is kept, so a strict load reports it.
    """
    out: dict[str, Tensor] = {}
    dropped = 0
    for k, v in state.items():
        if k.startswith("feature_extraction."):
            k = "blocks." + k[len("feature_extraction."):]
        if _SLOW_OR_FUSION.match(k):
            dropped += 1
            continue
        out[k] = v
    log.debug("slowfast: kept %d fast-pathway entries, dropped %d slow/fusion/head entries", len(out), dropped)
    return out


# --------------------------------------------------------------------------- fusion and head


class _InvertedBottleneck(nn.Module):
    """Official ``Bottleneck(inp, oup, expand=2)``: Conv 1x1x1 inp->2inp, ReLU6, depthwise Conv 1x1x1
    (a per-channel scale), ReLU6, Conv 1x1x1 2inp->oup; no biases (paper Eq. 13's B_a / B_b)."""

    def __init__(self, inp: int, oup: int, expand: int = 2) -> None:
        super().__init__()
        hidden = inp * expand
        self.bottleneckBlock = nn.Sequential(  # noqa: N815 - official key name
            nn.Conv3d(inp, hidden, 1, bias=False), nn.ReLU6(),
            nn.Conv3d(hidden, hidden, 1, groups=hidden, bias=False), nn.ReLU6(),
            nn.Conv3d(hidden, oup, 1, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        return self.bottleneckBlock(x)


class _EmbeddingsFusion(nn.Module):
    """Paper Eqs. 11-14 as the official ``Embeddings_fusion``: ``x = shffleconv(cat(E_intra, E_inter))``
    (1x1x1, with bias), ``z1, z2 = x[:768], x[768:]``, ``z3 = z1 + Intra(z2)``, ``z4 = z2 + Inter(z1)``."""

    def __init__(self, intra: int = 768, inter: int = 256) -> None:
        super().__init__()
        self.split = intra
        self.Inter = _InvertedBottleneck(intra, inter)   # noqa: N815 - maps 768 -> 256
        self.Intra = _InvertedBottleneck(inter, intra)   # noqa: N815 - maps 256 -> 768
        self.shffleconv = nn.Conv3d(intra + inter, intra + inter, 1, bias=True)

    def forward(self, e_intra: Tensor, e_inter: Tensor) -> tuple[Tensor, Tensor]:
        x = self.shffleconv(torch.cat([e_intra, e_inter], dim=1))
        z1, z2 = x[:, :self.split], x[:, self.split:]
        return z1 + self.Intra(z2), z2 + self.Inter(z1)


class FusionHead(nn.Module):
    """The official ``vqa_head`` (12 entries): fusion, then Dropout(0.5), Conv3d 1024->64, GELU (erf),
    Dropout(0.5), Conv3d 64->1 (paper Eq. 15).

    ``forward(e_intra (N, 768, D, 1, 1), e_inter (N, 256, D, 1, 1)) -> (N, 1, D, 1, 1)`` score map.
    """

    def __init__(self, intra: int = 768, inter: int = 256, hidden: int = 64, dropout: float = 0.5) -> None:
        super().__init__()
        self.dropout = _SeededDropout(dropout)
        self.fc_hid = nn.Conv3d(intra + inter, hidden, 1)
        self.fc_last = nn.Conv3d(hidden, 1, 1)
        self.gelu = nn.GELU()
        self.Embeddings_fusion = _EmbeddingsFusion(intra, inter)  # noqa: N815 - official key name

    def forward(self, e_intra: Tensor, e_inter: Tensor) -> Tensor:
        z3, z4 = self.Embeddings_fusion(e_intra, e_inter)
        x = torch.cat([z3, z4], dim=1)
        return self.fc_last(self.dropout(self.gelu(self.fc_hid(self.dropout(x)))))


# --------------------------------------------------------------------------- the model


class SecureVQA(QualityModel):
    """SecureVQA on the :class:`QualityModel` contract: ``(B, T, 3, H, W)`` in [0, 1] -> raw scores ``(B,)``.

    Args:
        num_clips: intra clips per video (official test configs: 4).
        frame_interval: stride of the intra temporal sampler (training: 2; the attack scripts: 4).
        guardian: ``"applied"`` (a fresh map on both branches every call), ``"released"`` (the
            released test pipeline: inter branch only) or ``"none"`` (the released attack scripts).
        dropout: score with the head's Dropout and the Swin's DropPath active, masks drawn from
            :attr:`generator` (the released attack scripts); default ``False`` (eval mode).
        inter_gradient: ``False`` detaches the inter branch and truncates its input to 8 bits (the
            attack scripts' ``uint8`` round trip under ``no_grad``); default ``True``.
        inter_frames: ``"all"`` (the paper and the released embeddings: the whole video) or
            ``"sampled"`` (the attack scripts: the intra branch's sampled frames).
        slowfast_norm: ``"segment"`` (official: training-mode BatchNorm, per-segment statistics) or
            ``"running"`` (eval-mode BatchNorm with the checkpoint's running statistics).
        clip_batch, segment_batch: clips per Swin call / segments per SlowFast call (memory only).
        checkpointing: recompute activations in backward (``torch.utils.checkpoint``): much less
            memory for attacks, same values. Not with ``dropout=True``.
    """

    card = SECUREVQA_CARD
    stochastic = True

    def __init__(self, *, num_clips: int = 4, frame_interval: int = 2, guardian: Guardian = "applied",
                 dropout: bool = False, inter_gradient: bool = True, inter_frames: InterFrames = "all",
                 slowfast_norm: SlowFastNorm = "segment", clip_batch: int = 4, segment_batch: int = 4,
                 checkpointing: bool = False) -> None:
        super().__init__()
        for name, val in (("num_clips", num_clips), ("frame_interval", frame_interval),
                          ("clip_batch", clip_batch), ("segment_batch", segment_batch)):
            if isinstance(val, bool) or not isinstance(val, int) or val < 1:
                raise InputError(f"securevqa: {name} must be a positive integer, got {val!r}")
        for name, val, allowed in (("guardian", guardian, ("applied", "released", "none")),
                                   ("inter_frames", inter_frames, ("all", "sampled")),
                                   ("slowfast_norm", slowfast_norm, ("segment", "running"))):
            if val not in allowed:
                raise InputError(f"securevqa: {name} must be one of {', '.join(map(repr, allowed))}, got {val!r}")
        if dropout and checkpointing:
            raise InputError("securevqa: dropout=True cannot be combined with checkpointing=True (the "
                             "recomputed forward would draw different dropout masks)")
        self.num_clips = num_clips
        self.frame_interval = frame_interval
        self.guardian = guardian
        self.dropout = bool(dropout)
        self.inter_gradient = bool(inter_gradient)
        self.inter_frames = inter_frames
        self.slowfast_norm = slowfast_norm
        self.clip_batch = clip_batch
        self.segment_batch = segment_batch
        self.checkpointing = bool(checkpointing)
        self.spec = FragmentSpec()
        # attribute order = the official checkpoint's order, then the SlowFast weights
        self.fragments_backbone = SwinTransformer3D(adaptive_window_size=True, drop_path_rate=0.1,
                                                    use_checkpoint=checkpointing)
        self.vqa_head = FusionHead()
        self.slowfast = SlowFastFastPathway()
        self.slowfast.set_norm(slowfast_norm)
        self._seeded: list[_SeededDropout] = [self.vqa_head.dropout]
        for layer in self.fragments_backbone.layers:
            for blk in layer.blocks:
                blk.drop_path = _SeededDropPath(blk.drop_path.p)
                self._seeded.append(blk.drop_path)
        for m in self._seeded:
            m.active = self.dropout
            m.generator = self.generator
        self.eval()

    # ------------------------------------------------------------------ sampling
    def frame_indices(self, num_frames: int, rng: torch.Generator | np.random.RandomState | None = None
                      ) -> np.ndarray:
        """Intra-branch frame indices, int64 ``(num_clips * 32,)``, clip-major (``FragmentSampleFrames``
        with ``fsize_t=32, fragments_t=num_clips``): clip k is ``k*L + r_k + interval * arange(32)``
        (mod N), ``L = N // num_clips``, ``r_k`` uniform in ``[0, L - 32 * interval)`` when positive."""
        return segment_frame_indices(num_frames, CLIP_LEN, self.num_clips, self.frame_interval, 1, rng)

    def views(self, video: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The normalised network inputs of a validated video ``(B, T, 3, H, W)``.

        Returns ``intra (B*clips, 3, 32, 224, 224)`` (clips of video b are rows ``b*clips ...``),
        ``inter (B, F, 3, 224, 224)`` (the resized frames the segments use, in order) and
        ``segments`` int64 ``(16, 32)``, the index of each segment frame into ``inter``'s F frames.
        The inter frames are the whole video (``inter_frames="all"``) or the intra branch's sampled
        frames in sampling order (``"sampled"``). Draws, per video: temporal offsets, fragment
        offsets, the intra then the inter guardian map.
        """
        gen = self.generator
        n_inter = video.shape[1] if self.inter_frames == "all" else self.num_clips * CLIP_LEN
        seg_frames = segment_indices(n_inter)                          # into the inter frame sequence
        used, segments = torch.unique(seg_frames, return_inverse=True)  # resize only the frames used
        intra, inter = [], []
        for b in range(video.shape[0]):
            idx = torch.from_numpy(self.frame_indices(video.shape[1], gen)).to(video.device)
            src, fidx = video[b], idx
            if min(src.shape[-2] / VIEW, src.shape[-1] / VIEW) < 1:
                src, fidx = upsample_for_fragments(src.index_select(0, idx), self.spec), None
            top, left = fragment_offsets(src.shape[-2], src.shape[-1], idx.numel(), self.spec, gen)
            mosaic = assemble_fragments(src, top, left, self.spec, frame_index=fidx)   # (clips*32, 3, 224, 224)
            g_intra, g_inter = draw_guardian(gen), draw_guardian(gen)
            if self.guardian == "applied":
                mosaic = apply_guardian(mosaic, g_intra)
            clips = normalise(mosaic).reshape(self.num_clips, CLIP_LEN, 3, VIEW, VIEW).transpose(1, 2)
            intra.append(clips)
            source = used.to(video.device) if self.inter_frames == "all" else idx[used.to(video.device)]
            frames = video[b].index_select(0, source)
            if self.inter_gradient:
                frames = pil_bilinear_resize(frames)
            else:
                frames = tensor_bilinear_resize(frames.detach(), truncate_input=True)
            if self.guardian in ("applied", "released"):
                frames = apply_guardian(frames, g_inter)
            inter.append(normalise(frames))
        return torch.cat(intra), torch.stack(inter), segments

    # ------------------------------------------------------------------ network
    def _run(self, fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
        if self.checkpointing and torch.is_grad_enabled():
            return _checkpoint(fn, x, use_reentrant=False)
        return fn(x)

    def intra_features(self, clips: Tensor) -> Tensor:
        """E_intra: normalised clips ``(N, 3, 32, 224, 224)`` -> Swin tokens pooled over space ``(N, 768, 16)``."""
        out = [self.fragments_backbone(clips[i:i + self.clip_batch]).mean(dim=(-2, -1))
               for i in range(0, clips.shape[0], self.clip_batch)]
        return torch.cat(out)

    def inter_embeddings(self, frames: Tensor, segments: Tensor) -> Tensor:
        """E_inter: normalised resized frames ``(B, T', 3, 224, 224)`` and segment indices ``(S, 32)``
        -> ``(B, S, 256)``, one SlowFast fast-pathway embedding per segment."""
        b, s = frames.shape[0], segments.shape[0]
        flat = segments.reshape(-1).to(frames.device)
        out = []
        for v in range(b):
            for i in range(0, s, self.segment_batch):
                seg = flat.view(s, -1)[i:i + self.segment_batch]
                x = frames[v].index_select(0, seg.reshape(-1)).reshape(*seg.shape, *frames.shape[2:])
                out.append(self._run(self.slowfast.embed, x.transpose(1, 2)))     # (k, 3, 32, 224, 224)
        return torch.cat(out).reshape(b, s, -1)

    def head(self, e_intra: Tensor, e_inter: Tensor) -> Tensor:
        """Score maps ``(B*clips, 1, 16, 1, 1)`` from E_intra ``(B*clips, 768, 16)`` and E_inter
        ``(B, 16, 256)`` (each video's E_inter is shared by its clips, ``repeat`` in the official test)."""
        clips = e_intra.shape[0] // e_inter.shape[0]
        inter = e_inter.transpose(1, 2).repeat_interleave(clips, dim=0)                # (B*clips, 256, 16)
        return self.vqa_head(e_intra[..., None, None], inter[..., None, None])

    def score_views(self, intra: Tensor, inter: Tensor, segments: Tensor) -> Tensor:
        """Score maps of normalised views (see :meth:`views`) -> ``(B*clips, 1, 16, 1, 1)``."""
        return self.head(self.intra_features(intra), self.inter_embeddings(inter, segments))

    def score(self, video: Tensor) -> Tensor:
        b = video.shape[0]
        return self.score_views(*self.views(video)).reshape(b, -1).mean(dim=1)

    def extra_repr(self) -> str:
        return (f"name={self.card.name!r}, num_clips={self.num_clips}, frame_interval={self.frame_interval}, "
                f"guardian={self.guardian!r}, dropout={self.dropout}, inter_gradient={self.inter_gradient}, "
                f"inter_frames={self.inter_frames!r}, slowfast_norm={self.slowfast_norm!r}")


# --------------------------------------------------------------------------- weights


def _read(path: Path, key: str | None) -> dict[str, Tensor]:
    from advqa.models import weights as W

    if key == "auto":
        for k in ("state_dict", "model_state"):
            try:
                return W.load_state_dict(path, key=k)
            except WeightsError:
                pass
        return W.load_state_dict(path)
    return W.load_state_dict(path, key=key)


def load_securevqa_weights(model: SecureVQA, weights: str | Path, slowfast_weights: str | Path | None = None,
                           checkpoint_key: str | None = "auto") -> SecureVQA:
    """Load weights strictly into ``model``.

    ``weights``: an official SecureVQA checkpoint (``{"state_dict": ...}``, 205 entries; then the
    SlowFast weights come from ``slowfast_weights``, default :data:`SLOWFAST_WEIGHTS`' URL) or a
    full advqa state dict (``model.state_dict()``, with ``slowfast.*`` entries; ``slowfast_weights``,
    if given, then replaces those). ``slowfast_weights``: the hub file ``SLOWFAST_8x8_R50.pyth``
    (``{"model_state": ...}``) or a plain state dict, see :func:`slowfast_state_dict`.
    ``checkpoint_key``: ``"auto"`` uses a ``"state_dict"`` / ``"model_state"`` entry when present.
    Raises :class:`WeightsError` naming missing, unexpected or mis-shaped entries.
    """
    from advqa.models import weights as W

    state = _read(W.resolve(weights, SECUREVQA_WEIGHTS), checkpoint_key)
    has_slowfast = any(k.startswith("slowfast.") for k in state)
    if not has_slowfast or slowfast_weights is not None:
        sf_path = W.resolve(slowfast_weights, SLOWFAST_WEIGHTS)
        sf = slowfast_state_dict(_read(sf_path, "auto"))
        state = {k: v for k, v in state.items() if not k.startswith("slowfast.")}
        state.update({f"slowfast.{k}": v for k, v in sf.items()})
    W.load_into(model, state, strict=True)
    return model


@register("securevqa", SECUREVQA_CARD)
@forwards_options(SecureVQA)
def create_securevqa(weights: str | Path | None = None, device: str | torch.device = "cpu",
                     slowfast_weights: str | Path | None = None, pretrained: bool = True,
                     checkpoint_key: str | None = "auto", **options: Any) -> SecureVQA:
    """Build SecureVQA. ``weights``: the local SecureVQA checkpoint (required: none is published);
    ``slowfast_weights``: the Kinetics SlowFast-R50 file (path or URL; ``None`` = pytorchvideo's URL).
    ``pretrained=False`` builds random weights (tests). Options: see :class:`SecureVQA`."""
    if weights is None and pretrained:
        raise WeightsError(
            "securevqa has no published checkpoint, so weights= is required: pass the path of a SecureVQA "
            "checkpoint trained with the official code (GZHU-DVL/SecureVQA main.py or Finetune.py; the "
            "{'state_dict': ...} file), e.g. create('securevqa', weights='SecureVQA_LSVQ.pth'), or "
            "--weights on the command line; slowfast_weights= takes SLOWFAST_8x8_R50.pyth (default: its "
            "pytorchvideo URL). pretrained=False builds random weights for tests.")
    if weights is not None:
        from advqa.models import weights as W

        path = W.resolve(weights, SECUREVQA_WEIGHTS)   # fail fast, before building the network
        model = SecureVQA(**options)
        load_securevqa_weights(model, path, slowfast_weights, checkpoint_key)
    else:
        model = SecureVQA(**options)
        log.warning("securevqa built without weights (pretrained=False): scores are meaningless")
    return model.to(device).eval()
