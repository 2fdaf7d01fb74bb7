"""Attacks on quality models: the Attack / AttackResult contract and its families.

``advqa.attacks.create("whitebox", norm="l2", eps=1/255)`` builds an attack by name; budgets
are :mod:`advqa.threat` objects.
"""
from __future__ import annotations

from advqa.attacks.base import (Attack, AttackContext, AttackResult, FittedAttack, QueryCounter, perturbation_stats)
from advqa.attacks.registry import ATTACKS, attack_class, available, create, default_threat, summary
from advqa.threat import L2Ball, LinfBall, MaskBudget, ThreatModel, lp_ball, per_frame_rms

__all__ = ["ATTACKS", "Attack", "AttackContext", "AttackResult", "FittedAttack", "L2Ball", "LinfBall", "MaskBudget",
           "QueryCounter", "ThreatModel", "attack_class", "available", "create", "default_threat", "lp_ball",
           "per_frame_rms", "perturbation_stats", "summary"]
