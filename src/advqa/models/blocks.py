"""Blocks shared by several model families: pooling, trunks, chunked checkpointing, weight loading.

* Pooling: :func:`mean_std_pool` (global mean + unbiased std of a feature map, VSFA's frame
  feature) and VSFA's subjectively-inspired temporal pooling :func:`subjective_pooling` /
  :func:`pool_scores` (Li, Jiang, Jiang, "Quality Assessment of In-the-Wild Videos", ACM MM 2019,
  Eq. 3-6).
* Heads: :class:`VSFAHead`, the official VSFA head (FC reduction, GRU, per-frame score, pooling),
  used by ``vsfa`` and by the default model ``litevsfa``.
* Trunks: torchvision's ResNet-50 (:func:`resnet50_trunk`, :func:`resnet50_layer4`, its weights
  :data:`RESNET50_WEIGHTS`) and ImageNet normalisation (:func:`imagenet_normalise`), the frame
  backbone of VSFA and MDTVSFA.
* :class:`CheckpointedChunks`: a frame-wise backbone run in chunks, under
  ``torch.utils.checkpoint`` when autograd records, so memory stays bounded for long videos.
* :func:`load_weights`: strict, checksummed loading of a state dict into a module.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from advqa.errors import InputError, WeightsError
from advqa.models.base import WeightsSpec

__all__ = [
    "IMAGENET_MEAN", "IMAGENET_STD", "RESNET50_WEIGHTS", "SHA256_PREFIXES", "CheckpointedChunks",
    "VSFAHead", "check_features", "imagenet_normalise", "load_weights", "mean_std_pool",
    "pool_scores", "resnet50_layer4", "resnet50_trunk", "subjective_pooling",
]

#: ImageNet channel mean and std of torchvision's models, on the [0, 1] scale.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: torchvision's ImageNet ResNet-50 (``ResNet50_Weights.IMAGENET1K_V1``, what ``pretrained=True``
#: maps to today). torchvision publishes only the first 8 hex digits of the file's SHA-256 (in the
#: file name, what ``torch.hub``'s ``check_hash`` verifies), so the card has no full digest and
#: :func:`load_weights` checks that prefix (:data:`SHA256_PREFIXES`) after the download.
RESNET50_WEIGHTS = WeightsSpec(
    url="https://download.pytorch.org/models/resnet50-0676ba61.pth",
    sha256=None,
    filename="resnet50-0676ba61.pth",
    licence="BSD-3-Clause (torchvision)",
    notes="backbone; torchvision IMAGENET1K_V1 (not V2); 97.8 MB. SHA-256 prefix 0676ba61 (torchvision's "
          "file-name convention; the full digest is not published). The official VSFA code "
          "(torchvision 0.3.0) downloaded resnet50-19c8e357.pth, reportedly the same weights "
          "serialised differently.",
)

#: SHA-256 prefixes checked for default downloads whose full digest is not published.
SHA256_PREFIXES = {RESNET50_WEIGHTS.url: "0676ba61"}


# ----------------------------------------------------------------------------------------------
# pooling


def mean_std_pool(x: Tensor) -> Tensor:
    """Global mean and unbiased std of a feature map: ``(N, C, h, w)`` -> ``(N, 2C)``, mean first.

    The std divides by ``h*w - 1`` like the official ``torch.std``; a 1 x 1 map gives NaN there,
    so it is taken as 0 instead.
    """
    n, c = x.shape[:2]
    flat = x.reshape(n, c, -1)
    mean = flat.mean(dim=2)
    if flat.shape[2] > 1:
        std = flat.std(dim=2, unbiased=True)
    else:
        std = torch.zeros_like(mean)
    return torch.cat([mean, std], dim=1)


def subjective_pooling(q: Tensor, tau: int = 12, beta: float = 0.5) -> Tensor:
    """VSFA's subjectively-inspired temporal pooling (Li et al., ACM MM 2019, Eq. 3-6), per frame.

    ``q (T,)`` per-frame scores -> ``q' (T,)`` with
    ``l_t = min(q_{t-tau+1..t})`` (memory: the worst recent frame),
    ``m_t = sum_k q_k e^{-q_k} / sum_k e^{-q_k}`` over ``k = t..t+tau-1`` (softmin-weighted
    current/future frames) and ``q'_t = beta * m_t + (1 - beta) * l_t``. Windows are cut at the
    clip's ends, as the official padding (-inf on the left, weight 0 on the right) does.
    The video score is ``q'.mean()``.
    """
    if q.ndim != 1 or q.shape[0] < 1:
        raise InputError(f"subjective_pooling expects per-frame scores shaped (T,), got {tuple(q.shape)}")
    x = q.reshape(1, 1, -1)
    left = F.pad(-x, (tau - 1, 0), value=-math.inf)
    low = -F.max_pool1d(left, tau, stride=1)
    w = torch.exp(-x)
    num = F.avg_pool1d(F.pad(x * w, (0, tau - 1)), tau, stride=1)
    den = F.avg_pool1d(F.pad(w, (0, tau - 1)), tau, stride=1)
    return (beta * (num / den) + (1 - beta) * low).reshape(-1)


def _lengths(lengths: Tensor | Sequence[int] | None, b: int, t: int) -> list[int]:
    """Validate per-video lengths (``(B,)``, ``(B, 1)`` or a list) -> ints in ``[1, T]``."""
    if lengths is None:
        return [t] * b
    vals = [int(v) for v in torch.as_tensor(lengths).reshape(-1).tolist()]
    if len(vals) != b:
        raise InputError(f"lengths must have one entry per video ({b}), got {len(vals)}")
    bad = [v for v in vals if not 1 <= v <= t]
    if bad:
        raise InputError(f"lengths must lie in [1, {t}] (the padded number of frames), got {bad}")
    return vals


def pool_scores(q: Tensor, lengths: Tensor | Sequence[int] | None = None, tau: int = 12,
                beta: float = 0.5) -> Tensor:
    """Per-frame scores ``(B, T)`` -> video scores ``(B,)``: mean of :func:`subjective_pooling`
    over the first ``lengths[i]`` frames of each video (padding is ignored)."""
    ls = _lengths(lengths, q.shape[0], q.shape[1])
    return torch.stack([subjective_pooling(q[i, :n], tau, beta).mean() for i, n in enumerate(ls)])


def check_features(features: Tensor, dim: int) -> None:
    """:class:`InputError` unless ``features`` is shaped ``(B, T, dim)`` with ``T >= 1``."""
    if features.ndim != 3 or features.shape[2] != dim or features.shape[1] < 1:
        raise InputError(f"features must be shaped (B, T, {dim}), got {tuple(features.shape)}")


# ----------------------------------------------------------------------------------------------
# heads


class VSFAHead(nn.Module):
    """The official VSFA head; state_dict keys ``ann.fc0.*``, ``ann.fc.*``, ``rnn.*``, ``q.*``.

    ``ann.fc0`` Linear(input_size, 128) (no activation; ``ann.fc`` is in the checkpoint but
    unused), GRU(128, 32), ``q`` Linear(32, 1) per frame, then :func:`pool_scores`.
    """

    def __init__(self, input_size: int = 4096, reduced_size: int = 128, hidden_size: int = 32,
                 tau: int = 12, beta: float = 0.5) -> None:
        super().__init__()
        self.ann = nn.Module()
        self.ann.fc0 = nn.Linear(input_size, reduced_size)
        self.ann.fc = nn.Linear(reduced_size, reduced_size)  # in the checkpoint, never used
        self.ann.dropout = nn.Dropout(0.5)
        self.rnn = nn.GRU(reduced_size, hidden_size, batch_first=True)
        self.q = nn.Linear(hidden_size, 1)
        self.hidden_size = hidden_size
        self.tau, self.beta = tau, beta

    def frame_scores(self, features: Tensor) -> Tensor:
        """``(B, T, D)`` features -> ``(B, T)`` per-frame scores (before temporal pooling)."""
        x = self.ann.fc0(features)
        h0 = features.new_zeros(1, features.shape[0], self.hidden_size)
        x, _ = self.rnn(x, h0)
        return self.q(x).squeeze(-1)

    def forward(self, features: Tensor, lengths: Tensor | Sequence[int] | None = None) -> Tensor:
        """``(B, T, D)`` -> ``(B,)``; frames past ``lengths[i]`` are padding (the GRU runs over
        them, as in the official code, but they are not pooled)."""
        return pool_scores(self.frame_scores(features), lengths, self.tau, self.beta)


# ----------------------------------------------------------------------------------------------
# chunked backbones


class CheckpointedChunks:
    """Mixin for :class:`~advqa.models.base.FrameWiseModel`: chunked backbone with bounded memory
    under autograd.

    In inference (no grad) frames go through the backbone ``chunk_size`` at a time, so only one
    chunk's activations exist at once. When autograd records, each chunk runs under
    ``torch.utils.checkpoint``: its activations are dropped after the forward and recomputed in
    the backward, so a backward pass through a long video needs one chunk's activations plus the
    features, not the whole video's activations. Results are identical to the plain forward.
    """

    chunk_size: int
    checkpoint_chunks: bool = True

    def video_features(self, video: Tensor) -> Tensor:
        """``(B, T, 3, H, W)`` -> ``(B, T, D)``, backbone in chunks of ``chunk_size`` frames."""
        b, t = video.shape[:2]
        frames = video.reshape(b * t, *video.shape[2:])
        use_ckpt = (self.checkpoint_chunks and torch.is_grad_enabled() and frames.requires_grad
                    and frames.shape[0] > self.chunk_size)
        parts = []
        for i in range(0, frames.shape[0], self.chunk_size):
            chunk = frames[i:i + self.chunk_size]
            if use_ckpt:
                parts.append(checkpoint(self.frame_features, chunk, use_reentrant=False))  # type: ignore[attr-defined]
            else:
                parts.append(self.frame_features(chunk))  # type: ignore[attr-defined]
        return torch.cat(parts, dim=0).reshape(b, t, -1)


# ----------------------------------------------------------------------------------------------
# trunks


def resnet50_trunk() -> nn.Module:
    """torchvision's ResNet-50 (v1.5) with torchvision key names, no weights loaded.

    ``avgpool`` and ``fc`` stay in the module (unused) so torchvision's checkpoint, whose 320
    entries include ``fc.*``, loads with ``strict=True``.
    """
    from torchvision.models import resnet50

    return resnet50(weights=None)


def resnet50_layer4(net: nn.Module, x: Tensor) -> Tensor:
    """Run a torchvision ResNet-50 from ``conv1`` to ``layer4`` (``children()[:-2]``):
    ``(N, 3, H, W)`` normalised images -> ``(N, 2048, H/32, W/32)``."""
    x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
    return net.layer4(net.layer3(net.layer2(net.layer1(x))))


def imagenet_normalise(frames: Tensor) -> Tensor:
    """``(N, 3, H, W)`` in [0, 1] -> ``(x - IMAGENET_MEAN) / IMAGENET_STD`` per channel."""
    mean = frames.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = frames.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (frames - mean) / std


# ----------------------------------------------------------------------------------------------
# weights


def load_weights(module: nn.Module, source: str | Path | None, spec: WeightsSpec) -> None:
    """Load ``source`` (local path, URL, or ``None`` for ``spec.url``) into ``module``, strictly.

    Uses :mod:`advqa.models.weights` (download into the cache, SHA-256 check, ``weights_only``
    load). Raises :class:`WeightsError` when the file is missing or does not fit.
    """
    from advqa.models import weights as W

    path = W.resolve(source, spec)
    prefix = SHA256_PREFIXES.get(str(spec.url)) if source is None or str(source) == spec.url else None
    if prefix and not W.sha256_file(path).startswith(prefix):
        raise WeightsError(f"{path} does not have the SHA-256 prefix {prefix} of {spec.url}; "
                           "delete it so it is downloaded again, or pass a local file")
    sd = W.load_state_dict(path)
    W.load_into(module, sd, strict=True)
