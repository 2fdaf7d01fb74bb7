"""Attacks on quality models: the Attack / ThreatModel / AttackResult contract and its families.

``advqa.attacks.create("whitebox", norm="l2", eps=1/255)`` builds an attack by name.
"""
from __future__ import annotations

from advqa.attacks.base import Attack, AttackContext, AttackResult, QueryCounter, ThreatModel, per_frame_rms
from advqa.attacks.registry import attack_class, available, create, default_threat

__all__ = ["Attack", "AttackContext", "AttackResult", "QueryCounter", "ThreatModel", "attack_class",
           "available", "create", "default_threat", "per_frame_rms"]
