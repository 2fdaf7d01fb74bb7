"""Attacks on quality models: the Attack / ThreatModel / AttackResult contract and its families."""
from __future__ import annotations

from advqa.attacks.base import Attack, AttackContext, AttackResult, QueryCounter, ThreatModel, per_frame_rms

__all__ = ["Attack", "AttackContext", "AttackResult", "QueryCounter", "ThreatModel", "per_frame_rms"]
