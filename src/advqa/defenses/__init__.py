"""Defences: quality models that wrap quality models (:class:`Defense`), and their registry.

``advqa.defenses.create("guardian", model)`` or ``create([{"name": "jpeg", "quality": 75}], model)``
wraps a model; :func:`unwrap` returns the undefended inner model.
"""
from __future__ import annotations

from advqa.defenses.base import Defense, unwrap
from advqa.defenses.registry import DEFENSES, available, create, label, normalize, summary

__all__ = ["DEFENSES", "Defense", "available", "create", "label", "normalize", "summary", "unwrap"]
