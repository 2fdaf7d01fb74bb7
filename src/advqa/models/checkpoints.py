"""Reading official checkpoints of the image quality models into their ports.

The released files come from several PyTorch generations: some were saved from ``nn.DataParallel``
(every key prefixed ``module.``), some by PyTorch 0.4.0, before BatchNorm had a
``num_batches_tracked`` counter, and some wrap the weights in a training checkpoint
(``{"model": state_dict, "k": [...], ...}``). :func:`official_state_dict` turns such a file into
the port's state dict; loading stays ``strict=True`` (every other key must match exactly).
"""
from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from advqa.errors import WeightsError

__all__ = ["fill_batchnorm_counters", "load_checkpoint", "official_state_dict", "strip_prefix"]


def load_checkpoint(path: str | Path) -> Any:
    """``torch.load(path, weights_only=True)`` with a :class:`WeightsError` for unreadable files."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise WeightsError(f"cannot load weights from {path} with weights_only=True (a pickled model or "
                           f"other Python objects?): {str(exc).strip()[:200]}") from None
    except Exception as exc:  # noqa: BLE001 - torch raises many types for bad files
        raise WeightsError(f"cannot load weights from {path}: not a PyTorch weights file or corrupt "
                           f"({type(exc).__name__})") from None


def strip_prefix(state: Mapping[str, Tensor], prefix: str = "module.") -> dict[str, Tensor]:
    """Drop ``prefix`` when every key has it (weights saved from ``nn.DataParallel``)."""
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix):]: v for k, v in state.items()}
    return dict(state)


def fill_batchnorm_counters(state: Mapping[str, Tensor], model: nn.Module) -> dict[str, Tensor]:
    """Add ``num_batches_tracked = 0`` for BatchNorm layers whose other buffers are in ``state`` but whose
    counter is not (files saved before PyTorch 0.4.1); the counter does not affect eval-mode outputs."""
    out = dict(state)
    for name, mod in model.named_modules():
        if isinstance(mod, nn.modules.batchnorm._BatchNorm) and mod.track_running_stats:
            key = f"{name}.num_batches_tracked" if name else "num_batches_tracked"
            if key not in out and (key[: -len("num_batches_tracked")] + "running_mean") in out:
                out[key] = torch.zeros((), dtype=torch.long)
    return out


def official_state_dict(source: Mapping[str, Any] | str | Path, model: nn.Module, *,
                        key: str | None = None) -> dict[str, Tensor]:
    """The state dict in ``source`` (a file or a loaded mapping) made ready for ``model``: entry
    ``key`` of a training checkpoint if given, ``module.`` prefixes stripped, missing BatchNorm
    counters filled. Raises :class:`WeightsError` when it is not a mapping of tensors."""
    obj = load_checkpoint(source) if isinstance(source, (str, Path)) else source
    if key is not None:
        if not isinstance(obj, Mapping) or key not in obj:
            found = sorted(map(str, obj)) if isinstance(obj, Mapping) else type(obj).__name__
            raise WeightsError(f"the checkpoint has no entry {key!r} (found: {found})")
        obj = obj[key]
    if not isinstance(obj, Mapping) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise WeightsError(f"expected a state dict (parameter names -> tensors), got {type(obj).__name__}"
                           + (f" with entries {sorted(map(str, obj))[:5]}" if isinstance(obj, Mapping) else ""))
    return fill_batchnorm_counters(strip_prefix({str(k): v for k, v in obj.items()}), model)
