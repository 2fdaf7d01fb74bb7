"""Experiment configuration: models (optionally defended) x datasets x attacks, from YAML or code.

A YAML experiment looks like the shipped demo (``advqa/resources/demo.yaml``)::

    name: demo
    seed: 0
    device: cpu
    models:   [{name: litevsfa}]
    datasets: [{name: demo, split: test, videos: 12}]
    attacks:
      - {name: whitebox, norm: l2, eps: 1/255}
      - {name: patch, eps: 5/255}

Defences and attackers::

    models:
      - litevsfa                                     # undefended: one row per video and attack
      - {name: litevsfa, defense: jpeg}              # a defence by name
      - {name: litevsfa, defense: {name: jpeg, quality: 50}}
      - {name: litevsfa, defense: [median, jpeg]}    # a chain, applied to the input in list order
    attackers: [naive, non-adaptive, adaptive]       # how attacks treat a defence (see ATTACKERS)
    eot: 8                                           # EOT samples of the adaptive attacker
    attacks:
      - {name: pgd, attackers: [adaptive]}           # per-attack override
      - {name: uap, fit: {split: train, videos: 20, max_frames: 8}}   # a fitted attack

Budgets may be written as fractions of 255 (``"3/255"``). Every value is checked here, before
any work starts, so a typo fails in a second with a message naming the key.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from advqa.errors import ConfigError


#: How an attack treats a defended model (Athalye, Carlini, Wagner, "Obfuscated Gradients Give a
#: False Sense of Security", ICML 2018):
#:
#: - ``naive``: the attack runs on the undefended inner model; the defended model then scores the
#:   clean and the adversarial video (the attacker ignores the defence);
#: - ``non-adaptive``: the attack runs on the defended model with one random draw per query
#:   (``eot=1``), through the defence's own gradient estimate;
#: - ``adaptive``: the attack runs on the defended model with expectation over transformation
#:   (``eot=K``, the experiment's ``eot``) when the defended model is randomised; a deterministic
#:   defence already carries its BPDA gradient, so there adaptive means ``eot=1``.
#:
#: Undefended models get one row per video and attack, with attacker ``""``.
ATTACKERS = ("naive", "non-adaptive", "adaptive")


@dataclass(frozen=True)
class ModelSpec:
    """A model by registry name; ``defense`` is a normalised defence chain
    (:func:`advqa.defenses.normalize`: ``({"name": ..., **options}, ...)``, empty for none)."""

    name: str
    weights: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    defense: tuple[dict[str, Any], ...] = ()

    @property
    def undefended(self) -> ModelSpec:
        """The same model without its defences."""
        return replace(self, defense=())


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    root: str | None = None
    split: str | None = None
    videos: int | None = None  # the papers' protocol: 50, drawn with the experiment seed
    max_frames: int | None = None
    allow_missing: bool = False  # drop label entries whose video is not on disk


@dataclass(frozen=True)
class FitSpec:
    """Where a fitted attack (:class:`advqa.attacks.FittedAttack`) is fitted: ``split`` of the
    attacked dataset (``train`` by default), or of another dataset (``dataset``, ``root``);
    ``videos`` drawn with the experiment seed (all when None), first ``max_frames`` frames."""

    split: str | None = "train"
    dataset: str | None = None
    root: str | None = None
    videos: int | None = None
    max_frames: int | None = None
    explicit: bool = False  # whether split or dataset was written in the config


@dataclass(frozen=True)
class AttackSpec:
    name: str
    norm: str | None = None
    eps: float | None = None
    label: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    fit: FitSpec | None = None  # fitted attacks only (default FitSpec() for them)
    attackers: tuple[str, ...] | None = None  # overrides the experiment's attackers

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
    attackers: tuple[str, ...] | None = None  # None: the defaults (see attackers_for)
    eot: int = 8  # EOT samples of the adaptive attacker on a randomised defended model
    #: where jobs run: {"name": "serial"} (default) or {"name": "ray", "address": ..., "workers": N, ...}
    executor: dict[str, Any] = field(default_factory=lambda: {"name": "serial"})

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


def parse_attackers(value: Any, where: str) -> tuple[str, ...] | None:
    """A validated, de-duplicated tuple of attacker modes (:data:`ATTACKERS`), or None."""
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not items:
        raise ConfigError(f"{where}: expected a non-empty list of attackers ({', '.join(ATTACKERS)}), got {value!r}")
    out: list[str] = []
    for item in items:
        if item not in ATTACKERS:
            raise ConfigError(f"{where}: unknown attacker {item!r}; choose from {', '.join(ATTACKERS)}")
        if item not in out:
            out.append(item)
    return tuple(out)


def parse_defense(value: Any, where: str) -> tuple[dict[str, Any], ...]:
    """A defence spec (name, mapping or list) normalised by :func:`advqa.defenses.normalize`."""
    from advqa.defenses import normalize

    if value is None or value == [] or value == "":
        return ()
    try:
        entries = normalize(value)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return tuple({k: (parse_number(v, f"{where}.{k}") if isinstance(v, str) and _FRACTION.match(v) else v)
                  for k, v in e.items()} for e in entries)


def _parse_fit(value: Any, where: str) -> FitSpec:
    if value is None:
        return FitSpec()
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping such as {{split: train, videos: 20}}, got {value!r}")
    _check_keys(value, {"split", "dataset", "root", "videos", "max_frames"}, where)
    # without a split: the train split of the attacked dataset, or another dataset's default split
    default_split = None if "dataset" in value else "train"
    return FitSpec(split=str(value["split"]) if value.get("split") is not None else default_split,
                   dataset=None if value.get("dataset") is None else str(value["dataset"]),
                   root=None if value.get("root") is None else str(value["root"]),
                   videos=_positive_int(value.get("videos"), f"{where}.videos"),
                   max_frames=_positive_int(value.get("max_frames"), f"{where}.max_frames"),
                   explicit="split" in value or "dataset" in value)


def experiment_from_dict(data: dict[str, Any], *, source: str = "config") -> Experiment:
    """Validate a parsed configuration and build an :class:`Experiment`."""
    from advqa.attacks.registry import attack_class
    from advqa.attacks.registry import available as attack_names
    from advqa.errors import UnknownNameError

    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping with models, datasets and attacks")
    _check_keys(data, {"name", "models", "datasets", "attacks", "seed", "device", "save_adversarial",
                       "examples", "attackers", "eot", "executor"}, source)
    for key in ("models", "datasets", "attacks"):
        if not isinstance(data.get(key), list) or not data[key]:
            raise ConfigError(f"{source}: '{key}' must be a non-empty list")

    models = []
    for i, item in enumerate(data["models"]):
        e = _as_entry(item, f"{source}: models[{i}]")
        _check_keys(e, {"name", "weights", "options", "defense"}, f"{source}: models[{i}]")
        models.append(ModelSpec(str(e["name"]), e.get("weights"), dict(e.get("options") or {}),
                                parse_defense(e.get("defense"), f"{source}: models[{i}].defense")))

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
        attackers = parse_attackers(e.pop("attackers", None), f"{where}.attackers")
        needs_fit = attack_class(name).needs_fit
        if "fit" in e and not needs_fit:
            raise ConfigError(f"{where}.fit: attack {name!r} is not fitted on a train split; remove 'fit'")
        fit = _parse_fit(e.pop("fit", None), f"{where}.fit") if needs_fit else None
        params = {k: (parse_number(v, f"{where}.{k}") if isinstance(v, str) and _FRACTION.match(v) else v)
                  for k, v in e.items()}
        attacks.append(AttackSpec(name, norm, eps, label, params, fit, attackers))

    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"{source}: seed must be a whole number, got {seed!r}")
    examples = data.get("examples", 1)
    if isinstance(examples, bool) or not isinstance(examples, int) or examples < 0:
        raise ConfigError(f"{source}: examples must be a whole number >= 0, got {examples!r}")
    eot = data.get("eot", 8)
    if isinstance(eot, bool) or not isinstance(eot, int) or eot < 1:
        raise ConfigError(f"{source}: eot (EOT samples of the adaptive attacker) must be a whole number >= 1, "
                          f"got {eot!r}")
    return Experiment(
        name=str(data.get("name", "experiment")),
        models=tuple(models), datasets=tuple(datasets), attacks=tuple(attacks),
        seed=seed, device=str(data.get("device", "cpu")),
        save_adversarial=bool(data.get("save_adversarial", False)), examples=examples,
        attackers=parse_attackers(data.get("attackers"), f"{source}: attackers"), eot=eot,
        executor=parse_executor(data.get("executor"), f"{source}: executor"),
    )


#: the options each executor takes (besides its name)
EXECUTORS = {"serial": set(), "ray": {"address", "workers", "cpus_per_job", "gpus_per_job", "max_retries",
                                      "num_cpus", "object_store_memory"}}


def parse_executor(value: Any, where: str) -> dict[str, Any]:
    """``executor:`` as ``{"name": ..., **options}``: ``serial`` (default) or ``ray`` with its options."""
    from advqa.errors import UnknownNameError

    if value is None:
        return {"name": "serial"}
    entry = _as_entry(value, where)
    name = str(entry["name"])
    if name not in EXECUTORS:
        raise UnknownNameError("executor", name, EXECUTORS)
    _check_keys(entry, {"name"} | EXECUTORS[name], where)
    return entry


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
