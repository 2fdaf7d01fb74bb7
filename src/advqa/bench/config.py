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

Certified score bounds (randomised smoothing, :mod:`advqa.defenses.smoothing`) of every model on
every video, one row per radius, drawn as certified interval width against the radius in the
report; an experiment may certify without attacking (``attacks`` may then be left out)::

    certify: {sigma: 0.12, radii: [0, 0.05, 0.1, 0.2], samples: 1000, alpha: 0.001}
    # optional: bound: median | mean (default median), batch: 16 (noisy copies per model call)

Budgets may be written as fractions of 255 (``"3/255"``). Every value is checked here, before
any work starts, so a typo fails in a second with a message naming the key.
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from advqa.errors import ConfigError, UnknownNameError
from advqa.threat import NORMS


class UnknownModelError(ConfigError, UnknownNameError):
    """A configuration names a model that is not registered (a :class:`ConfigError` naming the
    entry, and an :class:`UnknownNameError` with close matches)."""

    def __init__(self, where: str, name: str, known: list[str]) -> None:
        UnknownNameError.__init__(self, "model", name, known)
        self.args = (f"{where}.name: {self.args[0]} A model that is not built in must be registered "
                     "(advqa.models.register) before the experiment is loaded.",)


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
class CertifySpec:
    """Certify every (model, video) of the experiment: ``samples`` noisy scores at noise level
    ``sigma`` ([0, 1] pixel units), one certificate of ``bound`` ("median": Chiang et al.,
    NeurIPS 2020; "mean": the bounded-score mean bound) per radius in ``radii`` (whole-video L2
    norms, [0, 1] units), each side failing with probability at most ``alpha``; ``batch`` noisy
    copies per model call. One set of draws serves every radius."""

    radii: tuple[float, ...]
    sigma: float = 0.12
    samples: int = 1000
    alpha: float = 0.001
    bound: str = "median"
    batch: int = 16


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
    certify: CertifySpec | None = None  # certified bounds of every (model, video) when set

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


#: the keys of an experiment's ``certify:`` mapping
CERTIFY_KEYS = {"sigma", "radii", "samples", "alpha", "bound", "batch"}


def parse_certify(value: Any, where: str) -> CertifySpec | None:
    """``certify:`` as a :class:`CertifySpec` (None when absent); every value checked, the error
    naming the key (``certify.radii``)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping such as {{sigma: 0.12, radii: [0.05, 0.1], samples: 1000, "
                          f"alpha: 0.001}}, got {value!r}")
    _check_keys(value, CERTIFY_KEYS, where)
    if "radii" not in value:
        raise ConfigError(f"{where}.radii: missing; give the certified L2 radii ([0, 1] pixel units, whole "
                          "video), e.g. radii: [0, 0.05, 0.1, 0.2]")
    radii = value["radii"]
    items = radii if isinstance(radii, (list, tuple)) else [radii]
    if not items:
        raise ConfigError(f"{where}.radii: expected a non-empty list of radii >= 0, got {radii!r}")
    parsed = []
    for r in items:
        x = parse_number(r, f"{where}.radii")
        if not math.isfinite(x) or x < 0:
            raise ConfigError(f"{where}.radii: radii are whole-video L2 norms >= 0 in [0, 1] pixel units, got {r!r}")
        parsed.append(x)
    sigma = parse_number(value.get("sigma", CertifySpec.sigma), f"{where}.sigma")
    if not math.isfinite(sigma) or sigma <= 0:
        raise ConfigError(f"{where}.sigma: the noise standard deviation must be > 0 ([0, 1] pixel units, "
                          f"e.g. 0.12), got {value.get('sigma')!r}")
    alpha = parse_number(value.get("alpha", CertifySpec.alpha), f"{where}.alpha")
    if not 0 < alpha < 0.5:
        raise ConfigError(f"{where}.alpha: the failure probability per side must be in (0, 0.5), e.g. 0.001; "
                          f"got {value.get('alpha')!r}")
    bound = value.get("bound", CertifySpec.bound)
    if bound not in ("median", "mean"):
        raise ConfigError(f"{where}.bound: expected 'median' or 'mean', got {bound!r}")
    samples, batch = (_positive_int(value[k], f"{where}.{k}") if k in value else getattr(CertifySpec, k)
                      for k in ("samples", "batch"))
    if samples is None or batch is None:
        raise ConfigError(f"{where}.{'samples' if samples is None else 'batch'}: expected a positive whole number, "
                          "got null")
    return CertifySpec(radii=tuple(sorted(set(parsed))), sigma=sigma, samples=samples, alpha=alpha,
                       bound=str(bound), batch=batch)


def experiment_from_dict(data: dict[str, Any], *, source: str = "config") -> Experiment:
    """Validate a parsed configuration and build an :class:`Experiment`."""
    from advqa.attacks.registry import attack_class
    from advqa.attacks.registry import available as attack_names
    from advqa.errors import UnknownNameError

    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping with models, datasets and attacks")
    _check_keys(data, {"name", "models", "datasets", "attacks", "seed", "device", "save_adversarial",
                       "examples", "attackers", "eot", "executor", "certify"}, source)
    certify = parse_certify(data.get("certify"), f"{source}: certify")
    for key in ("models", "datasets", "attacks"):
        if key == "attacks" and certify is not None and data.get(key) in (None, []):
            continue  # a certification-only experiment
        if not isinstance(data.get(key), list) or not data[key]:
            raise ConfigError(f"{source}: '{key}' must be a non-empty list"
                              + (" (or give 'certify' to certify without attacking)" if key == "attacks" else ""))

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

    if certify is not None:
        for i, m in enumerate(models):
            if any(e["name"] == "median-smoothing" for e in m.defense):
                raise ConfigError(f"{source}: models[{i}].defense: certify the base model, not median-smoothing: "
                                  "the certificate is already for the median-smoothed model (use certify.sigma)")

    attacks = []
    known = attack_names()
    for i, item in enumerate(data.get("attacks") or []):
        e = _as_entry(item, f"{source}: attacks[{i}]")
        where = f"{source}: attacks[{i}]"
        name = str(e.pop("name"))
        if name not in known:
            raise UnknownNameError("attack", name, known)
        norm = e.pop("norm", None)
        if norm is not None and norm not in NORMS:
            raise ConfigError(f"{where}.norm: expected 'linf' or 'l2' (Lp balls) or 'jnd' (JND map), got {norm!r}")
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
    attackers = parse_attackers(data.get("attackers"), f"{source}: attackers")
    executor = parse_executor(data.get("executor"), f"{source}: executor")
    return Experiment(
        name=str(data.get("name", "experiment")),
        models=tuple(models), datasets=tuple(datasets), attacks=tuple(attacks),
        seed=seed, device=str(data.get("device", "cpu")),
        save_adversarial=bool(data.get("save_adversarial", False)), examples=examples,
        attackers=attackers, eot=eot, executor=executor, certify=certify,
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


def check_models(exp: Experiment, source: str = "experiment") -> Experiment:
    """``exp`` unchanged when every model it names is registered (names or aliases; the built-ins
    are lazy entries, so nothing is imported); else :class:`UnknownModelError` naming the first
    unknown entry. Loading a YAML file checks this (:func:`load_experiment`), and so does the
    runner before any work starts."""
    from advqa.models import MODELS

    for i, m in enumerate(exp.models):
        if m.name not in MODELS:
            raise UnknownModelError(f"{source}: models[{i}]", m.name, MODELS.names())
    return exp


#: experiments shipped with advqa (``advqa/resources/<name>.yaml``), loadable by name: ``demo``,
#: ``benchmark``, ``certify``, ``defenses``
SHIPPED = tuple(sorted(p.name[:-5] for p in resources.files("advqa").joinpath("resources").iterdir()
                       if p.name.endswith(".yaml")))


def shipped_experiment(name: str) -> Experiment:
    """A shipped experiment by name: ``demo`` (what ``advqa run`` runs), ``benchmark`` (the MSU
    benchmark's attack families against the default models, scaled for a laptop), ``certify``
    (certified intervals of litevsfa and litevsfa-nt) or ``defenses`` (SecureVQA's principles under
    naive, non-adaptive and adaptive attackers)."""
    from advqa.errors import UnknownNameError

    if name not in SHIPPED:
        raise UnknownNameError("shipped experiment", name, SHIPPED)
    text = resources.files("advqa").joinpath(f"resources/{name}.yaml").read_text()
    source = f"advqa/resources/{name}.yaml"
    return check_models(experiment_from_dict(yaml.safe_load(text), source=source), source)


def load_experiment(path: str | Path) -> Experiment:
    """Read and validate a YAML experiment file, or a shipped experiment by name (:data:`SHIPPED`)
    when no file of that name exists."""
    path = Path(path)
    if not path.is_file():
        if str(path) in SHIPPED:
            return shipped_experiment(str(path))
        raise ConfigError(f"experiment file {path} does not exist (shipped experiments by name: "
                          f"{', '.join(SHIPPED)})")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    return check_models(experiment_from_dict(data, source=str(path)), str(path))


def demo_experiment() -> Experiment:
    """The experiment ``advqa run`` runs with no arguments (shipped as resources/demo.yaml)."""
    return shipped_experiment("demo")
