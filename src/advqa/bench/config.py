"""Experiment configuration: models x datasets x attacks, from YAML or code.

A YAML experiment looks like the shipped demo (``advqa/resources/demo.yaml``)::

    name: demo
    seed: 0
    device: cpu
    models:   [{name: litevsfa}]
    datasets: [{name: demo, split: test, videos: 12}]
    attacks:
      - {name: whitebox, norm: l2, eps: 1/255}
      - {name: patch, eps: 5/255}

Budgets may be written as fractions of 255 (``"3/255"``). Every value is checked here, before
any work starts, so a typo fails in a second with a message naming the key.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from advqa.errors import ConfigError


@dataclass(frozen=True)
class ModelSpec:
    name: str
    weights: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    root: str | None = None
    split: str | None = None
    videos: int | None = None  # the papers' protocol: 50, drawn with the experiment seed
    max_frames: int | None = None
    allow_missing: bool = False  # drop label entries whose video is not on disk


@dataclass(frozen=True)
class AttackSpec:
    name: str
    norm: str | None = None
    eps: float | None = None
    label: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def display(self) -> str:
        """A short label for tables (``whitebox-l2``)."""
        if self.label:
            return self.label
        return f"{self.name}-{self.norm}" if self.norm else self.name


@dataclass(frozen=True)
class Experiment:
    name: str
    models: tuple[ModelSpec, ...]
    datasets: tuple[DatasetSpec, ...]
    attacks: tuple[AttackSpec, ...]
    seed: int = 0
    device: str = "cpu"
    save_adversarial: bool = False
    examples: int = 1  # example frames per (model, dataset, attack) kept for the report

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_FRACTION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*/\s*([0-9]*\.?[0-9]+)\s*$")


def parse_number(value: Any, key: str) -> float:
    """A float from a number or a fraction string such as ``"3/255"``."""
    if isinstance(value, bool):
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        m = _FRACTION.match(value)
        if m:
            den = float(m.group(2))
            if den == 0:
                raise ConfigError(f"{key}: division by zero in {value!r}")
            return float(m.group(1)) / den
        try:
            return float(value)
        except ValueError:
            pass
    raise ConfigError(f"{key}: expected a number or a fraction like 3/255, got {value!r}")


def _check_keys(entry: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")


def _as_entry(item: Any, where: str) -> dict[str, Any]:
    if isinstance(item, str):
        return {"name": item}
    if not isinstance(item, dict) or "name" not in item:
        raise ConfigError(f"{where}: each entry needs a 'name' (got {item!r})")
    return dict(item)


def _positive_int(value: Any, key: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{key}: expected a positive whole number, got {value!r}")
    return value


def experiment_from_dict(data: dict[str, Any], *, source: str = "config") -> Experiment:
    """Validate a parsed configuration and build an :class:`Experiment`."""
    from advqa.attacks.registry import available as attack_names
    from advqa.errors import UnknownNameError

    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping with models, datasets and attacks")
    _check_keys(data, {"name", "models", "datasets", "attacks", "seed", "device", "save_adversarial",
                       "examples"}, source)
    for key in ("models", "datasets", "attacks"):
        if not isinstance(data.get(key), list) or not data[key]:
            raise ConfigError(f"{source}: '{key}' must be a non-empty list")

    models = []
    for i, item in enumerate(data["models"]):
        e = _as_entry(item, f"{source}: models[{i}]")
        _check_keys(e, {"name", "weights", "options"}, f"{source}: models[{i}]")
        models.append(ModelSpec(str(e["name"]), e.get("weights"), dict(e.get("options") or {})))

    datasets = []
    for i, item in enumerate(data["datasets"]):
        e = _as_entry(item, f"{source}: datasets[{i}]")
        where = f"{source}: datasets[{i}]"
        _check_keys(e, {"name", "root", "split", "videos", "max_frames", "allow_missing"}, where)
        datasets.append(DatasetSpec(str(e["name"]), e.get("root"), e.get("split"),
                                    _positive_int(e.get("videos"), f"{where}.videos"),
                                    _positive_int(e.get("max_frames"), f"{where}.max_frames"),
                                    bool(e.get("allow_missing", False))))

    attacks = []
    known = attack_names()
    for i, item in enumerate(data["attacks"]):
        e = _as_entry(item, f"{source}: attacks[{i}]")
        where = f"{source}: attacks[{i}]"
        name = str(e.pop("name"))
        if name not in known:
            raise UnknownNameError("attack", name, known)
        norm = e.pop("norm", None)
        if norm is not None and norm not in ("linf", "l2"):
            raise ConfigError(f"{where}.norm: expected 'linf' or 'l2', got {norm!r}")
        eps = e.pop("eps", None)
        eps = None if eps is None else parse_number(eps, f"{where}.eps")
        if eps is not None and not 0 < eps <= 1:
            raise ConfigError(f"{where}.eps: budgets are in [0, 1] pixel units (e.g. 3/255), got {eps}")
        label = e.pop("label", None)
        params = {k: (parse_number(v, f"{where}.{k}") if isinstance(v, str) and _FRACTION.match(v) else v)
                  for k, v in e.items()}
        attacks.append(AttackSpec(name, norm, eps, label, params))

    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"{source}: seed must be a whole number, got {seed!r}")
    examples = data.get("examples", 1)
    if isinstance(examples, bool) or not isinstance(examples, int) or examples < 0:
        raise ConfigError(f"{source}: examples must be a whole number >= 0, got {examples!r}")
    return Experiment(
        name=str(data.get("name", "experiment")),
        models=tuple(models), datasets=tuple(datasets), attacks=tuple(attacks),
        seed=seed, device=str(data.get("device", "cpu")),
        save_adversarial=bool(data.get("save_adversarial", False)), examples=examples,
    )


def load_experiment(path: str | Path) -> Experiment:
    """Read and validate a YAML experiment file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"experiment file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    return experiment_from_dict(data, source=str(path))


def demo_experiment() -> Experiment:
    """The experiment ``advqa run`` runs with no arguments (shipped as resources/demo.yaml)."""
    text = resources.files("advqa").joinpath("resources/demo.yaml").read_text()
    return experiment_from_dict(yaml.safe_load(text), source="advqa/resources/demo.yaml")
