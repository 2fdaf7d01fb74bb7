"""Inflated 3D ConvNeXt-T: the aesthetic backbone of DOVER (``conv_tiny`` in the official code).

Liu et al., *A ConvNet for the 2020s* (CVPR 2022), inflated to video by Wu et al., DOVER (ICCV 2023).
Parameter names and shapes follow the official ``ConvNeXt3D`` so that the ``aesthetic_backbone.*``
entries of ``DOVER.pth`` load with ``strict=True`` (there is no classifier in the checkpoint).

Architecture (input ``(B, 3, T, H, W)``, normalised RGB on the 0..255 scale):

* stem ``downsample_layers.0``: Conv3d(3 -> 96, kernel = stride = (2, 4, 4)) + channels-first LayerNorm;
* ``downsample_layers.1..3``: channels-first LayerNorm + Conv3d(kernel = stride = (1, 2, 2));
* stages of depth 3-3-9-3 and width 96-192-384-768; block ``j`` of a stage has a depthwise Conv3d with
  kernel ``(k, 7, 7)``, ``k = "131"[j % 3]``, then LayerNorm, Linear(4C), GELU (erf), Linear(C),
  layer scale ``gamma`` and the residual;
* final ``norm``: LayerNorm(768) applied per token, no pooling: ``(B, 768, T/2, H/32, W/32)``.

Every LayerNorm uses eps = 1e-6.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["ChannelsFirstLayerNorm", "ConvNeXtBlock3D", "ConvNeXt3D", "convnext3d_tiny"]

_EPS = 1e-6


class ChannelsFirstLayerNorm(nn.Module):
    """LayerNorm over the channel axis of ``(B, C, ...)`` tensors.

    Written out as in the official code: ``u = mean_c(x)``, ``s = mean_c((x - u)^2)``,
    ``y = weight * (x - u) / sqrt(s + eps) + bias`` (a fused ``F.layer_norm`` on a permuted tensor
    gives the same value up to float32 rounding).
    """

    def __init__(self, dim: int, eps: float = _EPS) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        shape = (1, -1) + (1,) * (x.ndim - 2)
        return self.weight.view(shape) * x + self.bias.view(shape)


class ConvNeXtBlock3D(nn.Module):
    """One inflated ConvNeXt block: ``x + gamma * MLP(LN(dwconv(x)))`` on ``(B, C, T, H, W)``."""

    def __init__(self, dim: int, inflate_len: int = 3) -> None:
        super().__init__()
        self.dwconv = nn.Conv3d(dim, dim, kernel_size=(inflate_len, 7, 7),
                                padding=(inflate_len // 2, 3, 3), groups=dim)
        self.norm = nn.LayerNorm(dim, eps=_EPS)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()  # exact (erf) GELU, as the official nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))

    def forward(self, x: Tensor) -> Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 4, 1)  # channels last for LayerNorm + Linear
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        return x + (self.gamma * y).permute(0, 4, 1, 2, 3)


class ConvNeXt3D(nn.Module):
    """Inflated ConvNeXt: ``(B, 3, T, H, W)`` -> per-token features ``(B, C_last, T/2, H/32, W/32)``."""

    def __init__(self, depths: Sequence[int] = (3, 3, 9, 3), dims: Sequence[int] = (96, 192, 384, 768),
                 inflate_strategy: str = "131", in_chans: int = 3) -> None:
        super().__init__()
        if len(depths) != 4 or len(dims) != 4:
            raise ValueError("ConvNeXt3D needs 4 stage depths and 4 widths")
        self.downsample_layers = nn.ModuleList()
        self.downsample_layers.append(nn.Sequential(
            nn.Conv3d(in_chans, dims[0], kernel_size=(2, 4, 4), stride=(2, 4, 4)),
            ChannelsFirstLayerNorm(dims[0]),
        ))
        for i in range(3):
            self.downsample_layers.append(nn.Sequential(
                ChannelsFirstLayerNorm(dims[i]),
                nn.Conv3d(dims[i], dims[i + 1], kernel_size=(1, 2, 2), stride=(1, 2, 2)),
            ))
        self.stages = nn.ModuleList(
            nn.Sequential(*[ConvNeXtBlock3D(dims[i], int(inflate_strategy[j % len(inflate_strategy)]))
                            for j in range(depths[i])])
            for i in range(4))
        self.norm = nn.LayerNorm(dims[-1], eps=_EPS)

    def forward(self, x: Tensor, return_intermediates: bool = False) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
        """Features of a normalised clip ``(B, 3, T, H, W)`` -> ``(B, 768, T//2, H//32, W//32)``.

        With ``return_intermediates`` also returns the outputs of every downsample layer and
        stage (keys ``downsample_layers.i`` / ``stages.i``), for locating a numerical mismatch.
        """
        inter: dict[str, Tensor] = {}
        for i in range(4):
            x = self.downsample_layers[i](x)
            if return_intermediates:
                inter[f"downsample_layers.{i}"] = x
            x = self.stages[i](x)
            if return_intermediates:
                inter[f"stages.{i}"] = x
        x = self.norm(x.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)
        return (x, inter) if return_intermediates else x


def convnext3d_tiny() -> ConvNeXt3D:
    """ConvNeXt-T (depths 3-3-9-3, widths 96-192-384-768) inflated with the ``"131"`` strategy."""
    return ConvNeXt3D(depths=(3, 3, 9, 3), dims=(96, 192, 384, 768), inflate_strategy="131")
