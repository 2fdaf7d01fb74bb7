"""Attack names for configs and the CLI: ``create(name, norm=..., eps=..., **params)``.

One :class:`~advqa.registry.Registry` of lazy ``module:Class`` entries, so listing names costs
nothing. Each attack's default budget is stated once, on its class (``default_norm``,
``default_eps``); unknown options are rejected from the class's constructor signature.
"""
from __future__ import annotations

from typing import Any

from advqa.attacks.base import Attack
from advqa.errors import InputError
from advqa.registry import Registry
from advqa.threat import ThreatModel, lp_ball

ATTACKS: Registry[type[Attack]] = Registry("attack", skip=("threat",))

for _name, _target in (
    ("whitebox", "advqa.attacks.whitebox:WhiteBoxSRB"),
    ("pgd", "advqa.attacks.whitebox:PGD"),
    ("fgsm", "advqa.attacks.fgsm:FGSM"),
    ("ifgsm", "advqa.attacks.fgsm:IFGSM"),
    ("mifgsm", "advqa.attacks.fgsm:MIFGSM"),
    ("amifgsm", "advqa.attacks.fgsm:AMIFGSM"),
    ("patch", "advqa.attacks.patch_search:PatchSearch"),
    ("simba", "advqa.attacks.simba:SimBA"),
    ("korhonen", "advqa.attacks.korhonen:Korhonen"),
    ("madc", "advqa.attacks.madc:MADC"),
    ("uap", "advqa.attacks.uap:UAP"),
    ("cumulative-uap", "advqa.attacks.uap:CumulativeUAP"),
    ("generative-uap", "advqa.attacks.uap:GenerativeUAP"),
):
    ATTACKS.add(_name, _target)


def available() -> list[str]:
    """Names of the attacks advqa knows."""
    return ATTACKS.names()


def attack_class(name: str) -> type[Attack]:
    """The class behind an attack name."""
    return ATTACKS.get(name)


def default_threat(name: str) -> ThreatModel:
    """The paper-default budget of an attack."""
    return attack_class(name).default_threat()


def summary(name: str) -> str:
    """The attack's one-line description (its class's ``summary``)."""
    cls = attack_class(name)
    return ATTACKS.summary(name) or cls.summary or (cls.__doc__ or "").strip().splitlines()[0]


def create(name: str, *, norm: str | None = None, eps: float | None = None, threat: ThreatModel | None = None,
           **params: Any) -> Attack:
    """Build an attack by name with its paper defaults, overridden by ``norm``, ``eps`` (or a
    whole ``threat``) and ``params``."""
    cls = attack_class(name)
    if threat is not None and (norm is not None or eps is not None):
        raise InputError("give either threat= or norm=/eps=, not both")
    if threat is None:
        base = cls.default_threat()
        if norm is not None or eps is not None:
            threat = lp_ball(norm or base.norm, base.eps if eps is None else eps)
        else:
            threat = base
    return ATTACKS.create(name, threat, **params)
