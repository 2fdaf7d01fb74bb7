"""Training loops: model heads fitted on cached features (the default model ``litevsfa``; the
fusion head of the ``temporal`` / ``secure`` defences, :mod:`advqa.training.secure`).

``python -m advqa.training --out head.pt`` retrains the shipped ``litevsfa`` head on the demo
set's train split (:func:`advqa.training.litevsfa.main`). Names are imported on first use, so
``import advqa.training`` stays cheap.
"""
from __future__ import annotations

import importlib
from typing import Any

__all__ = ["FusionResult", "TrainResult", "evaluate_head", "extract_features", "train_fusion", "train_litevsfa"]

_LAZY = {name: "advqa.training.litevsfa" for name in ("TrainResult", "evaluate_head", "extract_features",
                                                      "train_litevsfa")}
_LAZY.update({name: "advqa.training.secure" for name in ("FusionResult", "train_fusion")})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'advqa.training' has no attribute {name!r}")
