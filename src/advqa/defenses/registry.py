"""Defence names for configs and the CLI: ``create(spec, model)`` wraps a model in defences.

A spec is a name (``"guardian"``), a mapping with a name and options
(``{"name": "jpeg", "quality": 75}``), or a list of those applied to the input in list order
(the first entry sees the raw video). Unknown names and options are rejected with suggestions.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from advqa.defenses.base import Defense
from advqa.errors import ConfigError
from advqa.models.base import QualityModel
from advqa.registry import Registry

DEFENSES: Registry[type[Defense]] = Registry("defense", skip=("model",))
DEFENSES.add("median-smoothing", "advqa.defenses.smoothing:MedianSmoothing")

for _name, _target in (
    ("grid", "advqa.defenses.grid:GridSampling"),
    ("guardian", "advqa.defenses.guardian:GuardianMap"),
    ("temporal", "advqa.defenses.temporal:TemporalFusion"),
    ("secure", "advqa.defenses.temporal:SecurePrinciples"),
    ("jpeg", "advqa.defenses.purification:JpegReencoding"),
    ("h264", "advqa.defenses.purification:H264Reencoding"),
    ("blur", "advqa.defenses.purification:GaussianBlur"),
    ("median", "advqa.defenses.purification:MedianFilter"),
    ("bitdepth", "advqa.defenses.purification:BitDepthReduction"),
    ("resize", "advqa.defenses.purification:DownUpResize"),
    ("random-resize-pad", "advqa.defenses.purification:RandomResizePad"),
):
    DEFENSES.add(_name, _target)

DefenseSpec = str | Mapping[str, Any] | Sequence[str | Mapping[str, Any]]


def available() -> list[str]:
    """Names of the registered defences."""
    return DEFENSES.names()


def summary(name: str) -> str:
    """A defence's one-line description."""
    cls = DEFENSES.get(name)
    return DEFENSES.summary(name) or cls.summary or (cls.__doc__ or "").strip().splitlines()[0]


def normalize(spec: DefenseSpec | None) -> list[dict[str, Any]]:
    """A spec as a list of ``{"name": ..., **options}`` dicts, names checked (``None`` -> ``[]``)."""
    if spec is None:
        return []
    items = [spec] if isinstance(spec, (str, Mapping)) else list(spec)
    out = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            entry: dict[str, Any] = {"name": item}
        elif isinstance(item, Mapping) and "name" in item:
            entry = dict(item)
        else:
            raise ConfigError(f"defense[{i}]: expected a name or a mapping with 'name', got {item!r}")
        entry["name"] = DEFENSES.resolve(str(entry["name"]))
        DEFENSES.check_options(entry["name"], {k: v for k, v in entry.items() if k != "name"})
        out.append(entry)
    return out


def label(spec: DefenseSpec | None) -> str:
    """The defence part of a model label: ``guardian+grid`` (``""`` for none)."""
    return "+".join(e["name"] for e in normalize(spec))


def create(spec: DefenseSpec | None, model: QualityModel) -> QualityModel:
    """``model`` wrapped in the defences of ``spec`` (the first applied to the input first)."""
    for entry in reversed(normalize(spec)):
        options = {k: v for k, v in entry.items() if k != "name"}
        model = DEFENSES.create(entry["name"], model, **options)
    return model


__all__ = ["DEFENSES", "DefenseSpec", "available", "create", "label", "normalize", "summary"]
