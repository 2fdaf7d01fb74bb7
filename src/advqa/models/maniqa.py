"""MANIQA: Yang, Wu, Shi, Gong, Cao, Wang, Wang, Yang, "MANIQA: Multi-dimension Attention Network for
No-Reference Image Quality Assessment", CVPR Workshops (NTIRE) 2022.

Official code: github.com/IIGROUP/MANIQA (``models/maniqa.py``, ``models/swin.py``,
``predict_one_image.py``; the ViT is its vendored timm 0.5.5 ``vit_base_patch8_224``). The official
single-image inference, reproduced in :class:`MANIQA`:

1. the image as float RGB in [0, 1] (``cv2.imread``, BGR -> RGB, /255), no resize;
2. ``num_crops = 20`` crops of 224 x 224: ``top = np.random.randint(0, H - 224)``, then
   ``left = np.random.randint(0, W - 224)`` per crop, after ``setup_seed(20)`` (the upper bound is
   exclusive: the last row/column offset is never drawn; a 224-pixel side makes numpy raise);
3. ``(x - 0.5) / 0.5``;
4. ViT-B/8 (784 patch tokens + class token, 12 blocks); the outputs of blocks 6, 7, 8, 9 without the
   class token are concatenated -> 784 x 3072;
5. stage 1: two transposed attention blocks (TAB: attention across the 3072 channels, each channel a
   784-d vector), 1 x 1 conv 3072 -> 768, a scale Swin transformer (two layers of two Swin blocks,
   window 4, 4 heads, MLP 768, then a 3 x 3 conv + ReLU; ``x = 0.8 * layer(x) + x``); stage 2: two
   TABs, 1 x 1 conv 768 -> 384, the same Swin stage on 384 channels;
6. per token a score ``s = fc_score(x)`` (ReLU) and a weight ``w = fc_weight(x)`` (sigmoid); the crop
   score is ``sum(s w) / sum(w)`` (paper Eq. 9); the image score the mean over crops.

Scores: the training labels' scale (KonIQ-10k release: about 0-1), higher is better.

Crop corners come from ``self.generator``; ``deterministic=True`` draws them on every call from
``np.random.RandomState(seed)`` (default seed 20), which gives exactly the official corners.
``sampling="resize"`` instead resizes the whole image to 224 x 224 (one pass, no randomness), as the
MSU robustness benchmark runs MANIQA; it also serves images smaller than 224 pixels.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint as _checkpoint

from advqa.errors import InputError
from advqa.models.base import ImageQualityModel, ModelCard, WeightsSpec
from advqa.models.crops import crop_positions, normalise, resize_like_pil, take_crops
from advqa.models.registry import register

log = logging.getLogger(__name__)

__all__ = ["MANIQA", "MANIQA_CARD", "MANIQA_WEIGHTS", "create_maniqa"]

MANIQA_WEIGHTS = WeightsSpec(
    url="https://github.com/IIGROUP/MANIQA/releases/download/Koniq10k/ckpt_koniq10k.pt",
    sha256=None,
    filename="ckpt_koniq10k.pt",
    licence="Apache-2.0 (IIGROUP/MANIQA)",
    notes="KonIQ-10k model of the IIGROUP/MANIQA release 'Koniq10k' (also: PIPAL22-VALID-CKPT, Kadid10k); "
          "a state_dict of MANIQA(embed_dim=768, dim_mlp=768, ...), as predict_one_image.py builds it. "
          "The digest is not published; the official script loads it with strict=False.",
)

MANIQA_CARD = ModelCard(
    name="maniqa",
    paper="Yang, Wu, Shi, Gong, Cao, Wang, Wang, Yang. MANIQA: Multi-dimension Attention Network for "
          "No-Reference Image Quality Assessment. CVPR Workshops 2022",
    score_range=(0.0, 1.0),
    higher_is_better=True,
    input="at least 224 x 224 (sampling='random', official: mean of 20 random 224 crops, no resize) or any "
          "size (sampling='resize': whole image to 224 x 224); (x - 0.5) / 0.5 inside",
    weights=(MANIQA_WEIGHTS,),
    licence="Apache-2.0 (IIGROUP/MANIQA); ViT architecture as timm's vit_base_patch8_224 (Apache-2.0)",
    kind="image",
    notes="Scale of the training labels (KonIQ-10k checkpoint: about 0-1). Random crops from model.generator "
          "(model.seed(n)); deterministic=True reproduces the official crops of setup_seed(seed). Options: "
          "num_crops, sampling, deterministic, seed, crop_batch, checkpointing.",
)

# the configuration of predict_one_image.py / train_maniqa.py
_EMBED, _VIT_DIM, _TOKENS_SIDE, _WINDOW, _HEADS, _DIM_MLP, _SCALE = 768, 768, 28, 4, 4, 768, 0.8


# ------------------------------------------------------------------------------------------- ViT
class _ViTAttention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class _Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class _ViTBlock(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = _ViTAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = _Mlp(dim, 4 * dim)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class _PatchEmbed(nn.Module):
    def __init__(self, patch: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, patch, stride=patch)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class ViTB8(nn.Module):
    """timm's ``vit_base_patch8_224`` (key names of timm 0.5.5, as vendored by the official code):
    ``cls_token``, ``pos_embed``, ``patch_embed.proj``, ``blocks.0-11``, ``norm``, ``head``.

    :meth:`block_outputs` runs only the blocks MANIQA reads; ``norm`` and the 1000-class ``head``
    are kept for the checkpoint but never used.
    """

    def __init__(self, dim: int = _VIT_DIM, depth: int = 12, heads: int = 12, patch: int = 8, size: int = 224) -> None:
        super().__init__()
        tokens = (size // patch) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, tokens + 1, dim))
        self.patch_embed = _PatchEmbed(patch, dim)
        self.blocks = nn.ModuleList(_ViTBlock(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, 1000)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=1e-6)

    def block_outputs(self, x: Tensor, indices: tuple[int, ...]) -> list[Tensor]:
        """Outputs ``(N, 1 + tokens, dim)`` of the blocks in ``indices`` for normalised images ``x``."""
        x = self.patch_embed(x)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1) + self.pos_embed
        out = []
        for i, blk in enumerate(self.blocks[:max(indices) + 1]):
            x = blk(x)
            if i in indices:
                out.append(x)
        return out


# --------------------------------------------------------------------------- TAB and Swin stage
class TABlock(nn.Module):
    """Transposed attention block (paper Sec. 3.2): attention between channels ``(N, C, L)``, each
    channel a vector over the ``L`` token positions, with the official output reshape and residual."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.c_q = nn.Linear(dim, dim)
        self.c_k = nn.Linear(dim, dim)
        self.c_v = nn.Linear(dim, dim)
        self.norm_fact = dim ** -0.5

    def forward(self, x: Tensor) -> Tensor:
        b, c, n = x.shape
        attn = (self.c_q(x) @ self.c_k(x).transpose(-2, -1) * self.norm_fact).softmax(dim=-1)
        # (attn @ v) is (B, C, L); the official code transposes it and reads it back as (B, C, L)
        return (attn @ self.c_v(x)).transpose(1, 2).reshape(b, c, n) + x


def _window_partition(x: Tensor, w: int) -> Tensor:
    b, h, wd, c = x.shape
    x = x.view(b, h // w, w, wd // w, w, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, w, w, c)


def _window_reverse(windows: Tensor, w: int, h: int, wd: int) -> Tensor:
    b = windows.shape[0] // ((h // w) * (wd // w))
    x = windows.view(b, h // w, wd // w, w, w, -1)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, h, wd, -1)


class _WindowAttention(nn.Module):
    def __init__(self, dim: int, window: int, heads: int) -> None:
        super().__init__()
        self.window, self.heads, self.scale = window, heads, (dim // heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
        self.register_buffer("relative_position_index", rel[..., 0] * (2 * window - 1) + rel[..., 1])
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        b_, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b_, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.reshape(-1)].view(n, n, -1)
        attn = attn + bias.permute(2, 0, 1).unsqueeze(0)
        if mask is not None:
            nw = mask.shape[0]
            attn = (attn.view(b_ // nw, nw, self.heads, n, n) + mask.unsqueeze(1).unsqueeze(0)).view(-1, self.heads, n, n)
        return self.proj((attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(b_, n, c))


class _SwinBlock(nn.Module):
    def __init__(self, dim: int, side: int, heads: int, window: int, shift: int, dim_mlp: int) -> None:
        super().__init__()
        if side <= window:
            window, shift = side, 0
        self.side, self.window, self.shift = side, window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = _WindowAttention(dim, window, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = _Mlp(dim, dim_mlp)
        if shift > 0:  # the official float buffer (part of its checkpoints): -100 between regions
            img = torch.zeros(1, side, side, 1)
            cuts = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
            for i, (hs, ws) in enumerate((hs, ws) for hs in cuts for ws in cuts):
                img[:, hs, ws, :] = i
            mw = _window_partition(img, window).view(-1, window * window)
            mask = mw.unsqueeze(1) - mw.unsqueeze(2)
            self.register_buffer("attn_mask", mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0))
        else:
            self.attn_mask = None

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        s, w = self.side, self.window
        shortcut = x
        x = self.norm1(x).view(b, s, s, c)
        if self.shift:
            x = torch.roll(x, shifts=(-self.shift, -self.shift), dims=(1, 2))
        win = self.attn(_window_partition(x, w).view(-1, w * w, c), self.attn_mask)
        x = _window_reverse(win.view(-1, w, w, c), w, s, s)
        if self.shift:
            x = torch.roll(x, shifts=(self.shift, self.shift), dims=(1, 2))
        x = shortcut + x.reshape(b, n, c)
        return x + self.mlp(self.norm2(x))


class _SwinLayer(nn.Module):
    def __init__(self, dim: int, side: int, depth: int, heads: int, window: int, dim_mlp: int) -> None:
        super().__init__()
        self.side = side
        self.conv = nn.Conv2d(dim, dim, 3, 1, 1)
        self.blocks = nn.ModuleList(_SwinBlock(dim, side, heads, window, 0 if i % 2 == 0 else window // 2, dim_mlp)
                                    for i in range(depth))

    def forward(self, x: Tensor) -> Tensor:
        for blk in self.blocks:
            x = blk(x)
        b, n, c = x.shape
        x = F.relu(self.conv(x.transpose(1, 2).reshape(b, c, self.side, self.side)))
        return x.flatten(2).transpose(1, 2)


class ScaleSwinStage(nn.Module):
    """The official ``SwinTransformer`` of ``models/swin.py`` (scale Swin transformer block, paper
    Sec. 3.3): maps ``(N, C, 28, 28)`` -> same, ``x = scale * layer(x) + x`` per layer. Its
    ``downsample`` conv is in the checkpoint but never used."""

    def __init__(self, dim: int, side: int = _TOKENS_SIDE, depths: tuple[int, ...] = (2, 2),
                 heads: tuple[int, ...] = (_HEADS, _HEADS), window: int = _WINDOW, dim_mlp: int = _DIM_MLP,
                 scale: float = _SCALE) -> None:
        super().__init__()
        self.scale, self.side = scale, side
        self.downsample = nn.Conv2d(dim, dim, kernel_size=3, stride=2, padding=1)
        self.layers = nn.ModuleList(_SwinLayer(dim, side, d, h, window, dim_mlp) for d, h in zip(depths, heads))

    def forward(self, x: Tensor) -> Tensor:
        b, c = x.shape[:2]
        x = x.flatten(2).transpose(1, 2)
        for layer in self.layers:
            x = self.scale * layer(x) + x
        return x.transpose(1, 2).reshape(b, c, self.side, self.side)


# ------------------------------------------------------------------------------------- MANIQA
class MANIQA(ImageQualityModel):
    """MANIQA on the image contract: ``(N, 3, H, W)`` in [0, 1] -> mean crop score ``(N,)``.

    State dict: the official ``MANIQA`` keys (``vit.*``, ``tablock1.*``, ``conv1.*``,
    ``swintransformer1.*``, ``tablock2.*``, ``conv2.*``, ``swintransformer2.*``, ``fc_score.*``,
    ``fc_weight.*``), including the computed buffers ``relative_position_index`` and ``attn_mask``.

    Args:
        num_crops: random 224 x 224 crops per image (official: 20).
        sampling: ``"random"`` (official crops) or ``"resize"`` (whole image resized to 224 x 224).
        deterministic, seed: draw the crops on every call from ``np.random.RandomState(seed)`` (per
            image), the official ``setup_seed(20)`` draws for ``seed=20``; otherwise from :attr:`generator`.
        crop_batch: crops per network call (memory bound; no effect on the result).
        checkpointing: recompute each crop batch's activations in backward (less memory for attacks).
    """

    card = MANIQA_CARD
    stochastic = True
    chunk_size = 1
    crop_size = 224
    #: ViT blocks whose outputs MANIQA reads
    vit_blocks = (6, 7, 8, 9)

    def __init__(self, *, num_crops: int = 20, sampling: Literal["random", "resize"] = "random",
                 deterministic: bool = False, seed: int = 20, crop_batch: int = 4, checkpointing: bool = False) -> None:
        super().__init__()
        if not isinstance(num_crops, int) or num_crops < 1:
            raise InputError(f"maniqa: num_crops must be a positive integer, got {num_crops!r}")
        if sampling not in ("random", "resize"):
            raise InputError(f"maniqa: sampling must be 'random' or 'resize', got {sampling!r}")
        if not isinstance(crop_batch, int) or crop_batch < 1:
            raise InputError(f"maniqa: crop_batch must be a positive integer, got {crop_batch!r}")
        self.num_crops, self.sampling = num_crops, sampling
        self.deterministic, self.seed_value = bool(deterministic), int(seed)
        self.crop_batch, self.checkpointing = crop_batch, bool(checkpointing)
        if self.deterministic or sampling == "resize":
            self.generator = None
        tokens = _TOKENS_SIDE ** 2
        self.vit = ViTB8()
        self.tablock1 = nn.ModuleList(TABlock(tokens) for _ in range(2))
        self.conv1 = nn.Conv2d(_VIT_DIM * 4, _EMBED, 1, 1, 0)
        self.swintransformer1 = ScaleSwinStage(_EMBED)
        self.tablock2 = nn.ModuleList(TABlock(tokens) for _ in range(2))
        self.conv2 = nn.Conv2d(_EMBED, _EMBED // 2, 1, 1, 0)
        self.swintransformer2 = ScaleSwinStage(_EMBED // 2)
        self.fc_score = nn.Sequential(nn.Linear(_EMBED // 2, _EMBED // 2), nn.ReLU(), nn.Dropout(0.1),
                                      nn.Linear(_EMBED // 2, 1), nn.ReLU())
        self.fc_weight = nn.Sequential(nn.Linear(_EMBED // 2, _EMBED // 2), nn.ReLU(), nn.Dropout(0.1),
                                       nn.Linear(_EMBED // 2, 1), nn.Sigmoid())
        self.eval()

    # ------------------------------------------------------------------ sampling
    def crop_positions(self, height: int, width: int) -> list[tuple[int, int]]:
        """``num_crops`` official ``(top, left)`` corners (upper bound exclusive) for an image."""
        gen = np.random.RandomState(self.seed_value) if self.deterministic else self.generator
        return crop_positions(height, width, self.crop_size, self.num_crops, gen, exclusive_end=True)

    # ------------------------------------------------------------------ network
    def vit_features(self, x: Tensor) -> Tensor:
        """Normalised crops ``(K, 3, 224, 224)`` -> blocks 6-9 without the class token ``(K, 784, 3072)``."""
        return torch.cat([o[:, 1:] for o in self.vit.block_outputs(x, self.vit_blocks)], dim=2)

    def crop_scores(self, crops: Tensor) -> Tensor:
        """Scores of 224 x 224 crops ``(K, 3, 224, 224)`` in [0, 1] -> ``(K,)`` (paper Eq. 9)."""
        if crops.shape[-2:] != (self.crop_size, self.crop_size):
            raise InputError(f"maniqa: crops must be 224 x 224, got {tuple(crops.shape[-2:])}")
        s = _TOKENS_SIDE
        x = self.vit_features(normalise(crops, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))).transpose(1, 2)  # (K, 3072, 784)
        for tab in self.tablock1:
            x = tab(x)
        x = self.swintransformer1(self.conv1(x.reshape(x.shape[0], -1, s, s)))
        x = x.flatten(2)
        for tab in self.tablock2:
            x = tab(x)
        x = self.swintransformer2(self.conv2(x.reshape(x.shape[0], -1, s, s)))
        x = x.flatten(2).transpose(1, 2)                                                           # (K, 784, 384)
        f, w = self.fc_score(x), self.fc_weight(x)
        return (f * w).sum(dim=(1, 2)) / w.sum(dim=(1, 2))

    def _batched_scores(self, crops: Tensor) -> Tensor:
        parts = []
        for i in range(0, crops.shape[0], self.crop_batch):
            chunk = crops[i:i + self.crop_batch]
            if self.checkpointing and torch.is_grad_enabled():
                parts.append(_checkpoint(self.crop_scores, chunk, use_reentrant=False))
            else:
                parts.append(self.crop_scores(chunk))
        return torch.cat(parts)

    def score_images(self, images: Tensor) -> Tensor:
        if self.sampling == "resize":
            return self._batched_scores(resize_like_pil(images, (self.crop_size, self.crop_size)))
        h, w = images.shape[-2:]
        if h < self.crop_size or w < self.crop_size:
            raise InputError(f"maniqa with sampling='random' needs images of at least 224 x 224 pixels, got "
                             f"{h} x {w}; use sampling='resize' for smaller images")
        return torch.stack([self._batched_scores(take_crops(img, self.crop_positions(h, w), self.crop_size)).mean()
                            for img in images])


@register("maniqa", MANIQA_CARD)
def create_maniqa(weights: str | Path | None = None, device: str | torch.device = "cpu", *, pretrained: bool = True,
                  num_crops: int = 20, sampling: Literal["random", "resize"] = "random", deterministic: bool = False,
                  seed: int = 20, crop_batch: int = 4, checkpointing: bool = False) -> MANIQA:
    """Build MANIQA. ``weights``: an official checkpoint (``ckpt_koniq10k.pt``, a ``MANIQA`` state_dict;
    path or URL, ``None`` = the KonIQ-10k release), loaded with ``strict=True``; ``pretrained=False``
    builds random weights (tests)."""
    model = MANIQA(num_crops=num_crops, sampling=sampling, deterministic=deterministic, seed=seed,
                   crop_batch=crop_batch, checkpointing=checkpointing)
    if weights is not None or pretrained:
        from advqa.models import weights as W
        from advqa.models.checkpoints import official_state_dict

        path = W.resolve(weights, MANIQA_WEIGHTS)
        W.load_into(model, official_state_dict(path, model), strict=True)
    else:
        log.warning("maniqa built without weights (pretrained=False): scores are meaningless")
    return model.to(device).eval()
