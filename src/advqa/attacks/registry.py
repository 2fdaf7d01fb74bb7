"""Attack names for configs and the CLI: ``create(name, norm=..., eps=..., **params)``.

Attack modules are imported lazily, so listing names costs nothing.
"""
from __future__ import annotations

import importlib
import inspect
from typing import Any

from advqa.attacks.base import Attack, ThreatModel
from advqa.errors import ConfigError, UnknownNameError

#: name -> (module, class, default threat (norm, eps))
_ATTACKS: dict[str, tuple[str, str, tuple[str, float]]] = {
    "whitebox": ("advqa.attacks.whitebox", "WhiteBoxSRB", ("l2", 1 / 255)),
    "pgd": ("advqa.attacks.whitebox", "PGD", ("linf", 3 / 255)),
    "fgsm": ("advqa.attacks.fgsm", "FGSM", ("linf", 10 / 255)),
    "ifgsm": ("advqa.attacks.fgsm", "IFGSM", ("linf", 10 / 255)),
    "mifgsm": ("advqa.attacks.fgsm", "MIFGSM", ("linf", 10 / 255)),
    "amifgsm": ("advqa.attacks.fgsm", "AMIFGSM", ("linf", 10 / 255)),
    "patch": ("advqa.attacks.patch_search", "PatchSearch", ("linf", 5 / 255)),
    "simba": ("advqa.attacks.simba", "SimBA", ("linf", 5 / 255)),
}


def available() -> list[str]:
    """Names of the attacks advqa knows."""
    return sorted(_ATTACKS)


def attack_class(name: str) -> type[Attack]:
    """The class behind an attack name."""
    if name not in _ATTACKS:
        raise UnknownNameError("attack", name, _ATTACKS)
    module, cls, _ = _ATTACKS[name]
    return getattr(importlib.import_module(module), cls)


def default_threat(name: str) -> ThreatModel:
    """The paper-default budget of an attack."""
    if name not in _ATTACKS:
        raise UnknownNameError("attack", name, _ATTACKS)
    norm, eps = _ATTACKS[name][2]
    return ThreatModel(norm, eps)  # type: ignore[arg-type]


def create(name: str, *, norm: str | None = None, eps: float | None = None, **params: Any) -> Attack:
    """Build an attack by name with its paper defaults, overridden by ``norm``, ``eps`` and ``params``."""
    cls = attack_class(name)
    base = default_threat(name)
    threat = ThreatModel(norm or base.norm, base.eps if eps is None else eps)  # type: ignore[arg-type]
    accepted = _accepted_params(cls)
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise UnknownNameError(f"{name} option", unknown[0], accepted)
    try:
        return cls(threat, **params)
    except TypeError as exc:
        raise ConfigError(f"bad options for attack {name!r}: {exc}") from None


def _accepted_params(cls: type) -> set[str]:
    """Keyword parameters of ``cls``'s constructor (its parents' too, where it passes ``**kwargs`` on)."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters.values()
        names |= {p.name for p in params
                  if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in ("self", "threat")}
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    return names
