"""The golden-fixture weight recipe (tests/fixtures/*/README.md): weights from key names.

Every state_dict entry gets values that depend only on its key string and shape, drawn from
PyTorch's CPU generator seeded with the CRC-32 of the key, so a port that uses the official key
names gets the official fixture's weights:

- ``*num_batches_tracked`` -> 0 (own dtype);
- ``*running_mean`` -> 0.1 * randn; ``*running_var`` -> 1 + 0.1 * rand;
- >= 2-D -> randn / sqrt(fan_in) with fan_in = prod(shape[1:]);
- 1-D ``*weight`` -> 1 + 0.1 * randn; other 1-D and 0-D -> 0.1 * randn.
"""
from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn


def recipe_value(key: str, shape: tuple[int, ...] | torch.Size, dtype: torch.dtype = torch.float32) -> Tensor:
    """The recipe tensor of one state_dict entry (seeded by ``key``)."""
    shape = tuple(int(s) for s in shape)
    gen = torch.Generator().manual_seed(zlib.crc32(key.encode("utf-8")))

    def randn() -> Tensor:
        return torch.randn(shape, generator=gen, dtype=torch.float32)

    if key.endswith("num_batches_tracked"):
        return torch.zeros(shape, dtype=dtype)
    if not dtype.is_floating_point:
        raise TypeError(f"the recipe does not cover integer entry {key!r}")
    if key.endswith("running_mean"):
        return 0.1 * randn()
    if key.endswith("running_var"):
        return 1.0 + 0.1 * torch.rand(shape, generator=gen, dtype=torch.float32)
    if len(shape) >= 2:
        return randn() / math.sqrt(math.prod(shape[1:]))
    if len(shape) == 1 and key.endswith("weight"):
        return 1.0 + 0.1 * randn()
    return 0.1 * randn()


def recipe_for(reference: Mapping[str, Tensor], seed_prefix: str = "") -> dict[str, Tensor]:
    """Recipe values for each entry of ``reference``, seeded by ``seed_prefix + key``."""
    return {k: recipe_value(seed_prefix + k, v.shape, v.dtype) for k, v in reference.items()}


def recipe_from_manifest(manifest: Mapping[str, list]) -> dict[str, Tensor]:
    """A state_dict built from a ``keys.json`` manifest ``{key: [shape, dtype]}``."""
    return {k: recipe_value(k, shape, getattr(torch, dtype)) for k, (shape, dtype) in manifest.items()}


def apply_recipe(module: nn.Module, seed_prefix: str = "") -> nn.Module:
    """Fill ``module``'s state_dict with recipe values, strictly; integer buffers that the
    recipe does not cover (other than ``num_batches_tracked``) keep their computed values."""
    sd = module.state_dict()
    new = {k: (v if (not v.dtype.is_floating_point and not k.endswith("num_batches_tracked"))
               else recipe_value(seed_prefix + k, v.shape, v.dtype))
           for k, v in sd.items()}
    module.load_state_dict(new, strict=True)
    return module


def fixture_png(path: Path) -> Tensor:
    """A stored fixture image (an 8-bit PNG) as ``(1, 3, H, W)`` float in [0, 1]."""
    return torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1).float()[None] / 255


def frozen(module: nn.Module) -> nn.Module:
    """``module`` in eval mode with no parameter requiring gradients (fixture comparisons)."""
    for p in module.parameters():
        p.requires_grad_(False)
    return module.eval()


def load_expected(fix: Path) -> dict:
    """A fixture folder's ``expected.pt`` (tensors only)."""
    return torch.load(fix / "expected.pt", weights_only=True)


def assert_official_keys(state: Mapping[str, Tensor], manifest: Mapping[str, list], dtypes: bool = False) -> None:
    """``state`` has exactly the manifest's keys, in its order, with its shapes (and dtypes)."""
    assert list(state) == list(manifest)
    assert all(list(state[k].shape) == manifest[k][0] for k in manifest)
    if dtypes:
        assert all(str(state[k].dtype) == f"torch.{manifest[k][1]}" for k in manifest)
