"""Quality models: the :class:`QualityModel` contract, model cards, the registry and :func:`wrap`
(any user ``nn.Module`` as an attack target)."""
from __future__ import annotations

from advqa.models.base import (FrameParts, FrameWiseModel, ImageQualityModel, ModelCard, QualityModel, WeightsSpec,
                               check_image, check_video)
from advqa.models.registry import (DEFAULT_MODEL, MODELS, available, card, create, options, register, summary,
                                   unregister)
from advqa.models.wrap import wrap

__all__ = [
    "DEFAULT_MODEL",
    "FrameParts",
    "FrameWiseModel",
    "ImageQualityModel",
    "MODELS",
    "ModelCard",
    "QualityModel",
    "WeightsSpec",
    "available",
    "card",
    "check_image",
    "check_video",
    "create",
    "options",
    "register",
    "summary",
    "unregister",
    "wrap",
]
