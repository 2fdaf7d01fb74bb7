"""The model registry: ``create(name, weights=..., device=...)`` and ``available()``.

Model files register a factory with :func:`register`; built-in model modules are imported
lazily on first use, so ``import advqa`` does no work.
"""
from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch

from advqa.errors import UnknownNameError
from advqa.models.base import ModelCard, QualityModel

log = logging.getLogger(__name__)

#: The model ``advqa run`` and ``advqa score`` use when none is named.
DEFAULT_MODEL = "litevsfa"

_BUILTIN_MODULES = (
    "advqa.models.litevsfa",
    "advqa.models.vsfa",
    "advqa.models.mdtvsfa",
    "advqa.models.fastvqa",
    "advqa.models.dover",
)

Factory = Callable[..., QualityModel]
F = TypeVar("F", bound=Factory)

_FACTORIES: dict[str, Factory] = {}
_CARDS: dict[str, ModelCard] = {}
_loaded = False


def register(name: str, card: ModelCard) -> Callable[[F], F]:
    """Register ``factory(weights=None, device="cpu", **options) -> QualityModel`` under ``name``."""

    def deco(factory: F) -> F:
        if name in _FACTORIES and _FACTORIES[name] is not factory:
            raise ValueError(f"model name {name!r} is registered twice")
        _FACTORIES[name] = factory
        _CARDS[name] = card
        return factory

    return deco


def _load_builtins() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in _BUILTIN_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:  # a model family not installed in this build
            if exc.name != module:
                raise
            log.debug("built-in model module %s is not present", module)


def available() -> list[str]:
    """Names of every registered model, sorted."""
    _load_builtins()
    return sorted(_FACTORIES)


def card(name: str) -> ModelCard:
    """The :class:`ModelCard` of a registered model."""
    _load_builtins()
    if name not in _CARDS:
        raise UnknownNameError("model", name, _CARDS)
    return _CARDS[name]


def create(name: str, weights: str | Path | None = None, device: str | torch.device = "cpu",
           **options: Any) -> QualityModel:
    """Build a registered model in eval mode on ``device``.

    ``weights`` is a local file, an http(s) URL (downloaded into the cache and checked against
    the card's SHA-256) or ``None`` for the model's default weights.
    """
    _load_builtins()
    if name not in _FACTORIES:
        raise UnknownNameError("model", name, _FACTORIES)
    model = _FACTORIES[name](weights=weights, device=device, **options)
    model.to(device)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
