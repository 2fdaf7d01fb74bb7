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
from advqa.threat import NORMS, TemporalStep, ThreatModel, make_threat

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
    ("stqa", "advqa.attacks.stqa:STQA"),
    ("stqa-targeted", "advqa.attacks.stqa:STQATargeted"),
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


#: budget options every attack accepts (they shape the threat model, not the attack)
THREAT_OPTIONS = ("jnd_scale", "temporal_step", "motion")


def create(name: str, *, norm: str | None = None, eps: float | None = None, threat: ThreatModel | None = None,
           **params: Any) -> Attack:
    """Build an attack by name with its paper defaults, overridden by ``norm`` (one of
    :data:`advqa.threat.NORMS`), ``eps`` (or a whole ``threat``) and ``params``.

    Every attack also takes the budget options ``jnd_scale`` (``norm="jnd"``: ``|delta| <= s * JND``),
    ``temporal_step`` (bound ``|delta_t - delta_{t-1}|`` per pixel, :class:`advqa.threat.TemporalStep`)
    and ``motion`` (that bound along block-matched motion).
    """
    cls = attack_class(name)
    topts = {k: params.pop(k) for k in THREAT_OPTIONS if k in params}
    if threat is not None and (norm is not None or eps is not None):
        raise InputError("give either threat= or norm=/eps=, not both")
    if norm is not None and norm not in NORMS:
        raise InputError(f"threat norm must be one of {', '.join(NORMS)}, got {norm!r}")
    if threat is not None:
        if "jnd_scale" in topts:
            raise InputError("jnd_scale shapes a norm='jnd' budget; with threat= build JND(scale) yourself")
        if topts.get("temporal_step") is not None:
            threat = TemporalStep(threat, topts["temporal_step"], motion=bool(topts.get("motion", False)))
    else:
        base = cls.default_threat()
        if norm is None and eps is None and not topts:
            threat = base
        else:
            n = norm or cls.default_norm
            if eps is None and n == "jnd":
                eps = cls.default_eps if cls.default_norm == "jnd" else None
            elif eps is None:
                eps = base.eps if base.norm in ("linf", "l2") else None
            threat = make_threat(n, eps, **topts)
    return ATTACKS.create(name, threat, **params)
