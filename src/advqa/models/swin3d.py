"""Video Swin Transformer (Swin3D-T) with gated relative position bias (GRPB).

The fragment backbone of FAST-VQA / FasterVQA (Wu et al., ECCV 2022) and of DOVER's technical
branch (Wu et al., ICCV 2023). It is Video Swin-T (Liu et al., CVPR 2022: patch (2,4,4), window
(8,7,7), depths 2-2-6-2, heads 3-6-12-24) plus, in stages 0-2, a second bias table
``fragment_position_bias_table``. Module and parameter names follow the official code, so an
official checkpoint's ``*_backbone.*`` entries load with ``strict=True``.

Facts reproduced from the official ``fastvqa/models/swin_backbone.py`` (checked against the
golden fixture, see tests/models/test_fastvqa.py):

* Every token has a fragment coordinate: ``arange(w)`` for each spatial axis of the window size
  ``w`` (7 = the 7x7 fragment grid), nearest-neighbour interpolated to the padded feature size,
  cyclically shifted like the features. The "gate" is the L1 distance between the coordinates of
  query and key, ``g = |dh| + |dw|`` (not a 0/1 gate), and the bias is
  ``B_rel * g + B_frag * (1 - g)``; both tables are indexed by the same relative position index.
* A window side >= the feature size is clamped to it and its shift set to 0; the shifted-window
  mask uses -100.
* ``adaptive_window_size=True`` (FAST-VQA) rescales the window to ``window * input / (32,224,224)``
  and indexes the bias tables with the sub-window's index; ``False`` (DOVER) keeps the window and,
  when it is clamped, slices the index as ``index[:N, :N]`` (the official behaviour).
* PatchMerging concatenates x[0::2,0::2], x[1::2,0::2], x[0::2,1::2], x[1::2,1::2], then
  LayerNorm(4C) and a bias-free Linear(4C -> 2C). GELU is the exact (erf) form; LayerNorm eps 1e-5.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

__all__ = ["SwinTransformer3D", "swin3d_tiny_grpb", "window_partition", "window_reverse"]

Triple = tuple[int, int, int]


def window_partition(x: Tensor, window: Triple) -> Tensor:
    """``(B, D, H, W, C)`` -> ``(B * nW, wd * wh * ww, C)``; D, H, W must be multiples of the window."""
    b, d, h, w, c = x.shape
    x = x.view(b, d // window[0], window[0], h // window[1], window[1], w // window[2], window[2], c)
    return x.permute(0, 1, 3, 5, 2, 4, 6, 7).contiguous().view(-1, math.prod(window), c)


def window_reverse(windows: Tensor, window: Triple, b: int, d: int, h: int, w: int) -> Tensor:
    """Inverse of :func:`window_partition`: ``(B * nW, wd, wh, ww, C)`` -> ``(B, D, H, W, C)``."""
    x = windows.view(b, d // window[0], h // window[1], w // window[2], window[0], window[1], window[2], -1)
    return x.permute(0, 1, 4, 2, 5, 3, 6, 7).contiguous().view(b, d, h, w, -1)


def clamp_window(size: Sequence[int], window: Sequence[int], shift: Sequence[int]) -> tuple[Triple, Triple]:
    """Clamp each window side that is >= the feature size to that size and zero its shift."""
    win, sh = list(window), list(shift)
    for i in range(3):
        if size[i] <= window[i]:
            win[i] = size[i]
            sh[i] = 0
    return (win[0], win[1], win[2]), (sh[0], sh[1], sh[2])


def relative_position_index(window: Triple) -> Tensor:
    """Standard Swin3D relative position index, ``(N, N)`` int64 with N = wd*wh*ww."""
    coords = torch.stack(torch.meshgrid(*(torch.arange(s) for s in window), indexing="ij"))
    flat = coords.flatten(1)
    rel = (flat[:, :, None] - flat[:, None, :]).permute(1, 2, 0).contiguous()
    for i in range(3):
        rel[:, :, i] += window[i] - 1
    rel[:, :, 0] *= (2 * window[1] - 1) * (2 * window[2] - 1)
    rel[:, :, 1] *= 2 * window[2] - 1
    return rel.sum(-1)


@functools.lru_cache(maxsize=64)
def _shift_mask(dp: int, hp: int, wp: int, window: Triple, shift: Triple, device: str) -> Tensor:
    """Attention mask of shifted windows, ``(nW, N, N)``: 0 within a region, -100 across regions."""
    img = torch.zeros((1, dp, hp, wp, 1), device=device)
    cnt = 0
    def spans(i: int) -> tuple[slice, slice, slice]:
        return slice(-window[i]), slice(-window[i], -shift[i]), slice(-shift[i], None)
    for sd in spans(0):
        for sh in spans(1):
            for sw in spans(2):
                img[:, sd, sh, sw, :] = cnt
                cnt += 1
    win = window_partition(img, window).squeeze(-1)
    mask = win.unsqueeze(1) - win.unsqueeze(2)
    return mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)


@functools.lru_cache(maxsize=64)
def _fragment_gate(dp: int, hp: int, wp: int, window: Triple, shift: Triple, device: str) -> Tensor:
    """GRPB gate ``(nW, N, N)`` int64: L1 distance between the fragment coordinates of two tokens.

    The fragment grid has ``window[1] x window[2]`` cells (one temporal cell), nearest-neighbour
    interpolated to the padded feature size ``(dp, hp, wp)`` and rolled by the cyclic shift.
    """
    grid = torch.stack(torch.meshgrid(torch.arange(1), torch.arange(window[1]), torch.arange(window[2]),
                                      indexing="ij")).float()
    coords = F.interpolate(grid[None].to(device), size=(dp, hp, wp)).long().permute(0, 2, 3, 4, 1)
    coords = torch.roll(coords, shifts=(-shift[0], -shift[1], -shift[2]), dims=(1, 2, 3))
    win = window_partition(coords, window)
    return (win[:, None, :] - win[:, :, None]).abs().sum(-1)


class DropPath(nn.Module):
    """Stochastic depth (active only in training mode)."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class Mlp(nn.Module):
    """Linear -> GELU (erf) -> Linear, applied on the last axis."""

    def __init__(self, dim: int, hidden: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class WindowAttention3D(nn.Module):
    """Window multi-head self-attention with (gated) relative position bias.

    ``relative_position_bias_table`` and, when ``frag_bias``, ``fragment_position_bias_table`` are
    ``((2wd-1)(2wh-1)(2ww-1), heads)``; ``relative_position_index`` is an ``(N, N)`` buffer.
    """

    def __init__(self, dim: int, window: Triple, num_heads: int, qkv_bias: bool = True,
                 frag_bias: bool = False, attn_drop: float = 0.0, proj_drop: float = 0.0) -> None:
        super().__init__()
        self.dim, self.window, self.num_heads = dim, window, num_heads
        self.scale = (dim // num_heads) ** -0.5
        table = (2 * window[0] - 1) * (2 * window[1] - 1) * (2 * window[2] - 1)
        self.relative_position_bias_table = nn.Parameter(torch.zeros(table, num_heads))
        self.frag_bias = frag_bias
        if frag_bias:
            self.fragment_position_bias_table = nn.Parameter(torch.zeros(table, num_heads))
        self.register_buffer("relative_position_index", relative_position_index(window))
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def _index(self, n: int, sub_window: Triple | None) -> Tensor:
        if sub_window is None:  # official: plain slice (only exact when the window is not clamped)
            return self.relative_position_index[:n, :n]
        d, h, w = sub_window
        return self.relative_position_index.reshape(*self.window, *self.window)[:d, :h, :w, :d, :h, :w]

    def forward(self, x: Tensor, mask: Tensor | None, gate: Tensor | None,
                sub_window: Triple | None = None) -> Tensor:
        """``x`` ``(B*nW, N, C)``; ``mask`` / ``gate`` ``(nW, N, N)`` -> ``(B*nW, N, C)``."""
        bw, n, c = x.shape
        qkv = self.qkv(x).reshape(bw, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q * self.scale) @ k.transpose(-2, -1)
        idx = self._index(n, sub_window).reshape(-1)
        bias = self.relative_position_bias_table[idx].reshape(n, n, -1).permute(2, 0, 1).contiguous()
        # In-place additions on the fresh (nW*B, heads, N, N) score tensor save memory traffic;
        # the values and their order of evaluation are those of the official code.
        if gate is not None:
            nw = gate.shape[0]
            bias = bias.unsqueeze(0)
            if self.frag_bias:
                fbias = self.fragment_position_bias_table[idx].reshape(n, n, -1).permute(2, 0, 1).contiguous()
                g = gate.unsqueeze(1).to(bias.dtype)
                bias = (bias * g).add_(fbias * (1 - g))
            attn.view(bw // nw, nw, self.num_heads, n, n).add_(bias.unsqueeze(0))
        else:
            attn.add_(bias.unsqueeze(0))
        if mask is not None:
            nw = mask.shape[0]
            attn.view(bw // nw, nw, self.num_heads, n, n).add_(mask.unsqueeze(1).unsqueeze(0).to(attn.dtype))
        attn = self.attn_drop(attn.softmax(dim=-1))
        out = (attn @ v).transpose(1, 2).reshape(bw, n, c)
        return self.proj_drop(self.proj(out))


class SwinTransformerBlock3D(nn.Module):
    """One (shifted-)window block: ``x + Attn(LN(x))``, then ``x + MLP(LN(x))``; x ``(B, D, H, W, C)``."""

    def __init__(self, dim: int, num_heads: int, window: Triple, shift: Triple, mlp_ratio: float = 4.0,
                 qkv_bias: bool = True, drop_path: float = 0.0, frag_bias: bool = False) -> None:
        super().__init__()
        self.window, self.shift = window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention3D(dim, window, num_heads, qkv_bias=qkv_bias, frag_bias=frag_bias)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def _attention(self, x: Tensor, mask: Tensor | None, resized: Triple | None) -> Tensor:
        b, d, h, w, c = x.shape
        window, shift = clamp_window((d, h, w), resized or self.window, self.shift)
        x = self.norm1(x)
        pd = (window[0] - d % window[0]) % window[0]
        ph = (window[1] - h % window[1]) % window[1]
        pw = (window[2] - w % window[2]) % window[2]
        x = F.pad(x, (0, 0, 0, pw, 0, ph, 0, pd))
        _, dp, hp, wp, _ = x.shape
        shifted = any(s > 0 for s in shift)
        if shifted:
            x = torch.roll(x, shifts=(-shift[0], -shift[1], -shift[2]), dims=(1, 2, 3))
        gate = _fragment_gate(dp, hp, wp, window, shift, str(x.device))
        out = self.attn(window_partition(x, window), mask if shifted else None, gate,
                        window if resized is not None else None)
        x = window_reverse(out.view(-1, *window, c), window, b, dp, hp, wp)
        if shifted:
            x = torch.roll(x, shifts=shift, dims=(1, 2, 3))
        if pd or ph or pw:
            x = x[:, :d, :h, :w, :].contiguous()
        return x

    def forward(self, x: Tensor, mask: Tensor | None, resized: Triple | None = None) -> Tensor:
        x = x + self.drop_path(self._attention(x, mask, resized))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchMerging(nn.Module):
    """2x2 spatial merge: ``(B, D, H, W, C)`` -> ``(B, D, ceil(H/2), ceil(W/2), 2C)``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[2], x.shape[3]
        if h % 2 or w % 2:
            x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        x = torch.cat([x[:, :, 0::2, 0::2], x[:, :, 1::2, 0::2], x[:, :, 0::2, 1::2], x[:, :, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x))


class BasicLayer(nn.Module):
    """One stage: ``depth`` blocks alternating plain / shifted windows, then optional PatchMerging."""

    def __init__(self, dim: int, depth: int, num_heads: int, window: Triple, mlp_ratio: float = 4.0,
                 qkv_bias: bool = True, drop_path: Sequence[float] = (), downsample: bool = False,
                 frag_bias: bool = False) -> None:
        super().__init__()
        self.window = window
        self.shift: Triple = (window[0] // 2, window[1] // 2, window[2] // 2)
        dp = list(drop_path) or [0.0] * depth
        self.blocks = nn.ModuleList([
            SwinTransformerBlock3D(dim, num_heads, window, (0, 0, 0) if i % 2 == 0 else self.shift,
                                   mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, drop_path=dp[i], frag_bias=frag_bias)
            for i in range(depth)])
        self.downsample = PatchMerging(dim) if downsample else None
        self.use_checkpoint = False

    def forward(self, x: Tensor, resized: Triple | None = None) -> Tensor:
        """``(B, C, D, H, W)`` -> ``(B, C', D, H', W')``."""
        b, c, d, h, w = x.shape
        window, shift = clamp_window((d, h, w), resized or self.window, self.shift)
        x = x.permute(0, 2, 3, 4, 1)
        dp = math.ceil(d / window[0]) * window[0]
        hp = math.ceil(h / window[1]) * window[1]
        wp = math.ceil(w / window[2]) * window[2]
        mask = _shift_mask(dp, hp, wp, window, shift, str(x.device))
        for blk in self.blocks:
            if self.use_checkpoint and torch.is_grad_enabled():
                x = checkpoint(blk, x, mask, resized, use_reentrant=False)
            else:
                x = blk(x, mask, resized)
        x = x.reshape(b, d, h, w, -1)
        if self.downsample is not None:
            x = self.downsample(x)
        return x.permute(0, 4, 1, 2, 3)


class PatchEmbed3D(nn.Module):
    """Conv3d patchify (kernel = stride = patch) + LayerNorm: ``(B, 3, T, H, W)`` -> ``(B, C, T/2, H/4, W/4)``."""

    def __init__(self, patch: Triple = (2, 4, 4), in_chans: int = 3, embed_dim: int = 96,
                 norm: bool = True) -> None:
        super().__init__()
        self.patch, self.embed_dim = patch, embed_dim
        self.proj = nn.Conv3d(in_chans, embed_dim, kernel_size=patch, stride=patch)
        self.norm = nn.LayerNorm(embed_dim) if norm else None

    def forward(self, x: Tensor) -> Tensor:
        d, h, w = x.shape[2:]
        p = self.patch
        if w % p[2]:
            x = F.pad(x, (0, p[2] - w % p[2]))
        if h % p[1]:
            x = F.pad(x, (0, 0, 0, p[1] - h % p[1]))
        if d % p[0]:
            x = F.pad(x, (0, 0, 0, 0, 0, p[0] - d % p[0]))
        x = self.proj(x)
        if self.norm is not None:
            x = self.norm(x.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)
        return x


class SwinTransformer3D(nn.Module):
    """Video Swin Transformer with optional GRPB per stage.

    Args:
        patch_size: tokeniser kernel (T, H, W).
        embed_dim: channels of stage 0 (doubling per stage).
        depths, num_heads: blocks and heads per stage.
        window_size: attention window (T, H, W) in tokens.
        frag_biases: per stage, whether blocks have a ``fragment_position_bias_table`` (GRPB).
        adaptive_window_size: rescale the window with the input size relative to ``base_x_size``
            (FAST-VQA: True; DOVER's technical branch: False).
        drop_path_rate: stochastic depth (training only).
        use_checkpoint: recompute each block's activations in backward (``torch.utils.checkpoint``,
            the official default): much less memory when differentiating, same values.

    ``forward(x)``: ``(B, 3, T, H, W)`` normalised video -> ``(B, 8*embed_dim, T/2, H/32, W/32)``.
    """

    def __init__(self, patch_size: Triple = (2, 4, 4), in_chans: int = 3, embed_dim: int = 96,
                 depths: Sequence[int] = (2, 2, 6, 2), num_heads: Sequence[int] = (3, 6, 12, 24),
                 window_size: Triple = (8, 7, 7), mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 frag_biases: Sequence[bool] = (True, True, True, False), adaptive_window_size: bool = True,
                 base_x_size: Triple = (32, 224, 224), drop_path_rate: float = 0.1,
                 use_checkpoint: bool = False) -> None:
        super().__init__()
        self.window_size = tuple(window_size)
        self.base_x_size = tuple(base_x_size)
        self.adaptive_window_size = adaptive_window_size
        self.patch_embed = PatchEmbed3D(tuple(patch_size), in_chans, embed_dim)
        self.pos_drop = nn.Dropout(0.0)
        dpr = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        self.layers = nn.ModuleList()
        for i, depth in enumerate(depths):
            self.layers.append(BasicLayer(
                embed_dim * 2 ** i, depth, num_heads[i], self.window_size, mlp_ratio, qkv_bias,
                drop_path=dpr[sum(depths[:i]):sum(depths[:i + 1])], downsample=i < len(depths) - 1,
                frag_bias=bool(frag_biases[i])))
        self.num_features = embed_dim * 2 ** (len(depths) - 1)
        self.norm = nn.LayerNorm(self.num_features)
        self.apply(_init_weights)
        self.set_checkpointing(use_checkpoint)

    def set_checkpointing(self, enabled: bool) -> None:
        """Turn per-block activation checkpointing on or off (no effect on the outputs)."""
        for layer in self.layers:
            layer.use_checkpoint = bool(enabled)

    def resized_window(self, x_size: Sequence[int]) -> Triple | None:
        """The window used for an input of size (T, H, W): rescaled when adaptive, else None."""
        if not self.adaptive_window_size:
            return None
        w, b = self.window_size, self.base_x_size
        return (w[0] * x_size[0] // b[0], w[1] * x_size[1] // b[1], w[2] * x_size[2] // b[2])

    def forward(self, x: Tensor) -> Tensor:
        resized = self.resized_window(tuple(x.shape[2:]))
        x = self.pos_drop(self.patch_embed(x))
        for layer in self.layers:
            x = layer(x.contiguous(), resized)
        return self.norm(x.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)


def _init_weights(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


def swin3d_tiny_grpb(adaptive_window_size: bool = True, use_checkpoint: bool = False) -> SwinTransformer3D:
    """The ``swin_tiny_grpb`` backbone of FAST-VQA-B / FasterVQA (adaptive windows) and DOVER's
    technical branch (``adaptive_window_size=False``)."""
    return SwinTransformer3D(adaptive_window_size=adaptive_window_size, use_checkpoint=use_checkpoint)
