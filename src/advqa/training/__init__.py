"""Training loops: the default models' heads on cached features (``litevsfa``, ``liteiqa``),
fine-tuning any model's chosen parameters with or without NT gradient-norm regularisation (Liu et
al., CVPR 2024), and the fusion head of the ``temporal`` / ``secure`` defences
(:mod:`advqa.training.secure`).

``python -m advqa.training --out head.pt`` retrains the shipped ``litevsfa`` head on the demo
set's train split (:func:`advqa.training.litevsfa.main`); ``python -m advqa.training.liteiqa
--out head.pt`` refits the ``liteiqa`` head on the demo train frames
(:func:`advqa.training.liteiqa.main`); :func:`finetune` (``advqa train --model ... --trainable
... --nt-lambda ...``) trains any model. Names are imported on first use, so ``import
advqa.training`` stays cheap.
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    **{name: "advqa.training.litevsfa" for name in ("TrainResult", "evaluate_head", "extract_features",
                                                       "train_litevsfa")},
    **{name: "advqa.training.finetune" for name in ("FinetuneResult", "evaluate_model", "finetune",
                                                       "select_trainable")},
    **{name: "advqa.training.nt" for name in ("NTLoss", "nt_loss")},
    "train_liteiqa": "advqa.training.liteiqa",
    **{name: "advqa.training.secure" for name in ("FusionResult", "train_fusion")},
}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'advqa.training' has no attribute {name!r}")
