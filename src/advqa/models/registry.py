"""The model registry: ``create(name, weights=..., device=...)``, ``available()`` and ``card()``.

One :class:`~advqa.registry.Registry` of lazy ``module:factory`` entries: built-in model modules
are imported on first use, so ``import advqa`` does no work. A factory takes ``weights`` and
``device`` plus its own keyword options, which are checked against its signature before it runs.
Plug-ins register with :func:`register` (a decorator that also attaches the card).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch

from advqa.models.base import ModelCard, QualityModel
from advqa.registry import Registry

log = logging.getLogger(__name__)

#: The model ``advqa run`` and ``advqa score`` use when none is named.
DEFAULT_MODEL = "litevsfa"
#: The model ``advqa score`` uses for image files when none is named.
DEFAULT_IMAGE_MODEL = "liteiqa"

Factory = Callable[..., QualityModel]
F = TypeVar("F", bound=Factory)

MODELS: Registry[Factory] = Registry("model", skip=("weights", "device"))

for _name, _target in (
    ("litevsfa", "advqa.models.litevsfa:create_litevsfa"),
    ("litevsfa-nt", "advqa.models.litevsfa_nt:create_litevsfa_nt"),
    ("litevsfa-secure", "advqa.models.litevsfa_secure:create_litevsfa_secure"),
    ("vsfa", "advqa.models.vsfa:create_vsfa"),
    ("mdtvsfa", "advqa.models.mdtvsfa:create_mdtvsfa"),
    ("fastvqa", "advqa.models.fastvqa:create_fastvqa"),
    ("fastervqa", "advqa.models.fastvqa:create_fastervqa"),
    ("dover", "advqa.models.dover:create_dover"),
    ("securevqa", "advqa.models.securevqa:create_securevqa"),
    ("hyperiqa", "advqa.models.hyperiqa:create_hyperiqa"),
    ("dbcnn", "advqa.models.dbcnn:create_dbcnn"),
    ("linearityiqa", "advqa.models.linearityiqa:create_linearityiqa"),
    ("maniqa", "advqa.models.maniqa:create_maniqa"),
    ("liteiqa", "advqa.models.liteiqa:create_liteiqa"),
    ("liteiqa-nt", "advqa.models.liteiqa_nt:create_liteiqa_nt"),
):
    MODELS.add(_name, _target)


def register(name: str, card: ModelCard, *, summary: str = "", aliases: tuple[str, ...] = ()) -> Callable[[F], F]:
    """Register ``factory(weights=None, device="cpu", **options) -> QualityModel`` under ``name``
    with its card (the decorator sets ``factory.card``)."""

    def deco(factory: F) -> F:
        factory.card = card  # type: ignore[attr-defined]
        MODELS.add(name, factory, summary=summary, aliases=aliases)
        return factory

    return deco


def unregister(name: str) -> None:
    """Remove a registered model (test models, plug-ins)."""
    MODELS.remove(name)


def available() -> list[str]:
    """Names of every registered model, sorted."""
    return MODELS.names()


def card(name: str) -> ModelCard:
    """The :class:`ModelCard` of a registered model."""
    return MODELS.get(name).card


def summary(name: str) -> str:
    """One line describing a model: its kind, paper and score range."""
    c = card(name)
    lo, hi = c.score_range
    direction = "higher is better" if c.higher_is_better else "lower is better"
    return MODELS.summary(name) or f"{c.kind}: {c.paper.split('.')[0]}; scores {lo:g}-{hi:g}, {direction}"


def options(name: str) -> set[str]:
    """The options a model's factory accepts (besides ``weights`` and ``device``)."""
    return MODELS.options(name)


def create(name: str, weights: str | Path | None = None, device: str | torch.device = "cpu",
           **options: Any) -> QualityModel:
    """Build a registered model in eval mode on ``device``, with frozen parameters.

    ``weights`` is a local file, an http(s) URL (downloaded into the cache and checked against
    the card's SHA-256) or ``None`` for the model's default weights. Unknown options raise
    :class:`~advqa.errors.UnknownNameError` before anything is built.
    """
    model = MODELS.create(name, weights=weights, device=device, **options)
    model.to(device)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
