"""Quality models: the :class:`QualityModel` contract, model cards and the registry."""
from __future__ import annotations

from advqa.models.base import FrameWiseModel, ModelCard, QualityModel, WeightsSpec, check_video
from advqa.models.registry import DEFAULT_MODEL, available, card, create, register

__all__ = [
    "DEFAULT_MODEL",
    "FrameWiseModel",
    "ModelCard",
    "QualityModel",
    "WeightsSpec",
    "available",
    "card",
    "check_video",
    "create",
    "register",
]
