"""Jobs: what one unit of an experiment is, how it is planned and how it is executed.

An experiment becomes three lists of jobs, run in order (:mod:`advqa.bench.runner` drives them):

1. :class:`CleanJob` — score one clean video with one (possibly defended) model. Every model of
   the experiment scores every video of every attacked set, and so does the undefended inner
   model of each defended one (the defence's clean-accuracy cost). The boundary targets of the
   attack jobs need these scores of the whole set, so this phase comes first.
2. :class:`FitJob` — fit a fitted attack (:class:`advqa.attacks.FittedAttack`) once per
   (attacked model, attack configuration, fit videos) and save its state as a file.
3. :class:`Job` — attack one video with one attack under one attacker mode, giving one results
   row.

With the experiment's ``certify:`` set, :class:`CertifyJob` certifies one video with one
(possibly defended) model: one set of noisy scores, one ``certified`` row per radius
(:mod:`advqa.defenses.smoothing`); its noise generator is seeded from the experiment seed, model,
defence, dataset and video, and stored in the row so the certificate can be recomputed.

A job is a frozen dataclass of plain values and paths (model, defence, dataset and attack specs,
the video's file and MOS, seeds, the target, the fitted state's path, the output folder): no
tensors and no models, so it pickles and can be shipped to another process or machine.
:func:`execute` ``(job, cache) -> Row`` is a pure function of its job, apart from the files it
writes under the job's output folder (example frames, adversarial videos, fitted states); the
:class:`WorkerCache` holds what is worth keeping between jobs in one process (each model is built
once per process and reused; fitted attacks are loaded once per state file).

Seeds: the model's own randomness (a stochastic model, a randomised defence) is seeded per video
from the experiment seed and the video's name, the same in the clean phase and in every attack
job of that video, so a defended model's clean score in the results row equals its clean-phase
score; the attack's generator is seeded from the experiment seed, model, dataset, video and attack
label, the same for every defence and attacker mode, so rows are paired.
"""
from __future__ import annotations

import json
import logging
import math
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch

from advqa.bench import protocol
from advqa.bench.config import ATTACKERS, AttackSpec, CertifySpec, DatasetSpec, Experiment, FitSpec, ModelSpec
from advqa.bench.store import config_hash, file_slug
from advqa.errors import AdvqaError, ConfigError

if TYPE_CHECKING:
    from advqa.attacks.base import Attack
    from advqa.models.base import QualityModel

log = logging.getLogger(__name__)

#: clean scores by (model key, defence key, dataset key, video); None for a skipped video
CleanScores = Mapping[tuple[str, str, str, str], "float | None"]


# --------------------------------------------------------------------------- names and seeds


def _with_options(name: str, options: Mapping[str, Any]) -> str:
    """``name(k1=v1,k2=v2)`` with the keys sorted; ``name`` alone without options."""
    return name + (f"({','.join(f'{k}={options[k]}' for k in sorted(options))})" if options else "")


def model_key(spec: ModelSpec) -> str:
    """The name a model's rows are stored under: the inner model's name, with its weights file if
    given and its factory options if any (``litevsfa@head.pt``, ``mdtvsfa(output=K)``), so two
    variants of one model never share clean scores or rows; the defence has its own column
    (:func:`defense_key`). :func:`model_name` recovers the registry name."""
    name = f"{spec.name}@{Path(str(spec.weights)).name}" if spec.weights else spec.name
    return _with_options(name, spec.options)


def split_model_key(key: str) -> tuple[str, str | None]:
    """``(registry name, weights file or None)`` of a :func:`model_key`
    (``mdtvsfa@a.pt(output=K)`` -> ``("mdtvsfa", "a.pt")``)."""
    name, _, weights = key.split("(", 1)[0].partition("@")
    return name, weights or None


def model_name(key: str) -> str:
    """The registry name in a :func:`model_key` (``mdtvsfa@a.pt(output=K)`` -> ``mdtvsfa``)."""
    return split_model_key(key)[0]


def defense_key(defense: tuple[dict[str, Any], ...] | list[dict[str, Any]]) -> str:
    """The name a defence chain's rows are stored under: names joined by ``+`` in the order they
    apply (:func:`advqa.defenses.label`), each with its options when it has any
    (``jpeg(quality=50)+median``); ``""`` for no defence."""
    return "+".join(_with_options(entry["name"], {k: v for k, v in entry.items() if k != "name"})
                    for entry in defense)


def video_seed(seed: int, *parts: str) -> int:
    """A seed for one unit of work, derived from the experiment seed and names."""
    return (seed * 1_000_003 + zlib.crc32("\x1f".join(parts).encode())) % (2**63)


def _spec_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


# --------------------------------------------------------------------------- the jobs


@dataclass(frozen=True)
class VideoRef:
    """One video of a set: its name, file and MOS (and frame rate, for saving)."""

    name: str
    path: str
    mos: float
    fps: float = 25.0


@dataclass(frozen=True)
class CleanJob:
    """Score one clean video with one (possibly defended) model."""

    model: ModelSpec
    dataset: DatasetSpec
    video: VideoRef
    seed: int  # the model's randomness (stochastic model, randomised defence)
    device: str = "cpu"

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (model_key(self.model), defense_key(self.model.defense), protocol.dataset_key(self.dataset),
                self.video.name)

    def describe(self) -> str:
        m = model_key(self.model) + (f"+{defense_key(self.model.defense)}" if self.model.defense else "")
        return f"{m} clean scores on {protocol.dataset_key(self.dataset)}"


@dataclass(frozen=True)
class FitJob:
    """Fit one fitted attack on ``videos`` with ``model`` (the model the attacker attacks: the
    undefended inner model for the naive attacker) and save its state to ``state_path``."""

    model: ModelSpec
    attack: AttackSpec
    eot: int | None
    videos: tuple[VideoRef, ...]
    max_frames: int | None
    seed: int
    state_path: str
    device: str = "cpu"

    def describe(self) -> str:
        return f"fitting {self.attack.display()} on {model_key(self.model)}"


@dataclass(frozen=True)
class Job:
    """Attack one video: one results row.

    ``attacker`` is one of :data:`advqa.bench.config.ATTACKERS` for a defended model, ``""`` for
    an undefended one; ``eot`` is passed to the attack when not None. ``target`` is the video's
    Eq. 7 boundary (from the clean scores of the model with its defence); ``fit`` the fit job
    whose state the attack applies (``state_path``).
    """

    model: ModelSpec
    dataset: DatasetSpec
    video: VideoRef
    attack: AttackSpec
    attacker: str
    eot: int | None
    config: dict[str, Any]
    config_hash: str
    seed: int  # the attack's generator
    model_seed: int  # the model's and defence's randomness
    target: float | None
    out_dir: str
    example: bool = False
    save_adversarial: bool = False
    fit: FitJob | None = None
    device: str = "cpu"

    @property
    def state_path(self) -> str | None:
        """The fitted state this attack applies (None for attacks without a fit phase)."""
        return self.fit.state_path if self.fit else None

    @property
    def key(self) -> tuple[str, str, str, str, str, str, str]:
        """The row's primary key: (model, defence, dataset, video, attack, config hash, attacker)."""
        return (model_key(self.model), defense_key(self.model.defense), protocol.dataset_key(self.dataset),
                self.video.name, self.attack.name, self.config_hash, self.attacker)

    def describe(self) -> str:
        m = model_key(self.model) + (f"+{defense_key(self.model.defense)}" if self.model.defense else "")
        return (f"{self.attack.display()} on {m} / {protocol.dataset_key(self.dataset)}"
                + (f" [{self.attacker}]" if self.attacker else ""))


@dataclass(frozen=True)
class CertifyJob:
    """Certify one video with one (possibly defended) model: ``spec.samples`` noisy scores drawn
    from a generator seeded with ``seed`` (the model's own randomness seeded with ``model_seed``),
    one certificate per radius of ``spec``."""

    model: ModelSpec
    dataset: DatasetSpec
    video: VideoRef
    spec: CertifySpec
    config: dict[str, Any]
    config_hash: str
    seed: int
    model_seed: int
    device: str = "cpu"

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        """(model, defence, dataset, video, config hash); each radius is a row under it."""
        return (model_key(self.model), defense_key(self.model.defense), protocol.dataset_key(self.dataset),
                self.video.name, self.config_hash)

    def describe(self) -> str:
        m = model_key(self.model) + (f"+{defense_key(self.model.defense)}" if self.model.defense else "")
        return f"certifying {m} on {protocol.dataset_key(self.dataset)} (sigma {self.spec.sigma:g})"


@dataclass(frozen=True)
class Row:
    """What executing a job gave: a row for the store's ``results`` or ``clean`` table, the
    ``certified`` rows of one video (``values["rows"]``, one per radius), or the record of a
    fitted ``state``."""

    table: Literal["results", "clean", "certified", "state"]
    values: dict[str, Any] = field(default_factory=dict)


AnyJob = CleanJob | FitJob | Job | CertifyJob


# --------------------------------------------------------------------------- attackers


def attackers_for(model: ModelSpec, attack: AttackSpec, exp: Experiment, randomized: bool) -> tuple[str, ...]:
    """The attacker modes of one (model, attack): ``("",)`` for an undefended model; else the
    attack's ``attackers``, the experiment's, or by default all three for a randomised defended
    model and ``naive`` + ``adaptive`` for a deterministic one."""
    if not model.defense:
        return ("",)
    if attack.attackers:
        return attack.attackers
    if exp.attackers:
        return exp.attackers
    return ATTACKERS if randomized else ("naive", "adaptive")


def eot_for(attacker: str, exp: Experiment, randomized: bool) -> int | None:
    """EOT samples for an attacker mode: 1 for ``non-adaptive``; the experiment's ``eot`` for
    ``adaptive`` on a randomised model (1 on a deterministic one: BPDA is inside the defence's
    gradient); None (the attack's own setting) for ``naive`` and undefended models."""
    if attacker == "non-adaptive":
        return 1
    if attacker == "adaptive":
        return exp.eot if randomized else 1
    return None


def build_attack(spec: AttackSpec, eot: int | None) -> Attack:
    """The attack of ``spec`` with ``eot`` EOT samples (when not None)."""
    from advqa import attacks as attack_registry

    params = dict(spec.params)
    if eot is not None:
        params["eot"] = eot
    return attack_registry.create(spec.name, norm=spec.norm, eps=spec.eps, **params)


# --------------------------------------------------------------------------- planning


def _refs(samples: Any) -> list[VideoRef]:
    return [VideoRef(s.name, str(s.path), float(s.mos), float(s.meta.get("fps", 25.0) or 25.0)) for s in samples]


def clean_models(exp: Experiment) -> list[ModelSpec]:
    """The models the clean phase scores: each experiment model, and the undefended inner model of
    each defended one (for the defence's clean-accuracy cost), once each."""
    out: list[ModelSpec] = []
    for m in exp.models:
        for spec in (m, m.undefended) if m.defense else (m,):
            if spec not in out:
                out.append(spec)
    return out


def plan_clean(exp: Experiment, sets: Mapping[str, protocol.AttackedSet]) -> list[CleanJob]:
    """Clean-scoring jobs: every model of :func:`clean_models` x every video of every set."""
    jobs = []
    for spec in clean_models(exp):
        for aset in sets.values():
            for ref in _refs(aset):
                jobs.append(CleanJob(spec, aset.spec, ref, video_seed(exp.seed, "model", ref.name), exp.device))
    return jobs


def certify_config(exp: Experiment, model: ModelSpec, dataset: DatasetSpec) -> dict[str, Any]:
    """What a certified row depends on, besides its key and radius (hashed into its config hash)."""
    spec = exp.certify
    if spec is None:
        raise ConfigError("the experiment has no 'certify' settings")
    cfg: dict[str, Any] = {"certify": {"sigma": spec.sigma, "samples": spec.samples, "alpha": spec.alpha,
                                       "bound": spec.bound, "batch": spec.batch},
                           "max_frames": dataset.max_frames, "model": model_key(model), "seed": exp.seed,
                           "protocol": protocol.PROTOCOL_VERSION}
    if model.options:
        cfg["model_options"] = model.options
    return cfg


def plan_certify(exp: Experiment, sets: Mapping[str, protocol.AttackedSet],
                 clean: CleanScores | None = None) -> list[CertifyJob]:
    """Certification jobs (empty without ``exp.certify``): every experiment model x every video of
    every set (videos whose clean score failed, when ``clean`` is given, are left out)."""
    if exp.certify is None:
        return []
    jobs = []
    for mspec in exp.models:
        mkey, dkey = model_key(mspec), defense_key(mspec.defense)
        for aset in sets.values():
            cfg = certify_config(exp, mspec, aset.spec)
            chash = config_hash(cfg)
            for ref in _refs(aset):
                if clean is not None and clean.get((mkey, dkey, aset.key, ref.name)) is None:
                    continue
                jobs.append(CertifyJob(mspec, aset.spec, ref, exp.certify, cfg, chash,
                                       seed=video_seed(exp.seed, "certify", mkey, dkey, aset.key, ref.name),
                                       model_seed=video_seed(exp.seed, "model", ref.name), device=exp.device))
    return jobs


class _FitPlanner:
    """Builds (and remembers) the fit job of each (attacked model, attack, eot, set)."""

    def __init__(self, exp: Experiment, out_dir: Path) -> None:
        self.exp = exp
        self.out_dir = out_dir
        self.videos: dict[str, tuple[VideoRef, ...]] = {}

    def fit_videos(self, aset: protocol.AttackedSet, fit: FitSpec) -> tuple[str, tuple[VideoRef, ...]]:
        key = _spec_json([aset.key, fit])
        if key not in self.videos:
            ds = fit_set(aset, fit, self.exp.seed)
            self.videos[key] = tuple(_refs(ds))
        return key, self.videos[key]

    def job(self, model: ModelSpec, aspec: AttackSpec, eot: int | None, attack: Attack,
            aset: protocol.AttackedSet) -> FitJob:
        fit = aspec.fit or FitSpec()
        _, refs = self.fit_videos(aset, fit)
        max_frames = fit.max_frames if fit.max_frames is not None else aset.spec.max_frames
        ident = {"model": model_key(model), "model_options": model.options, "defense": defense_key(model.defense),
                 "attack": attack.fit_config(), "fit": {"dataset": fit.dataset or aset.spec.name,
                                                     "split": fit.split, "videos": [r.name for r in refs],
                                                     "max_frames": max_frames},
                 "seed": self.exp.seed, "protocol": protocol.PROTOCOL_VERSION}
        chash = config_hash(ident)
        return FitJob(model, aspec, eot, refs, max_frames, video_seed(self.exp.seed, "fit", chash),
                      str(self.out_dir / "states" / f"{chash}.pt"), self.exp.device)


def fit_set(aset: protocol.AttackedSet, fit: FitSpec, seed: int) -> Any:
    """The videos a fitted attack is fitted on: ``fit.split`` of the attacked dataset (or of
    ``fit.dataset``), ``fit.videos`` of them drawn with ``seed``.

    Raises ConfigError when that split does not exist or, for the default train split, when it
    shares videos with the attacked set (a dataset without a separate train split).
    """
    from dataclasses import replace

    spec = aset.spec
    target = replace(spec, split=fit.split) if fit.dataset is None else DatasetSpec(
        fit.dataset, fit.root, fit.split, allow_missing=spec.allow_missing)
    hint = ("set fit.split to a split of it that holds other videos, or fit.dataset (and fit.root) to a dataset "
            "to fit on, in the attack's entry")
    try:
        ds = protocol.load(target)
    except AdvqaError as exc:
        raise ConfigError(f"cannot fit on {protocol.dataset_key(target)}: {exc}; {hint}") from None
    shared = {str(s.path) for s in ds} & {str(s.path) for s in aset}
    if shared:
        what = f"{len(shared)} of the {len(aset)} attacked videos"
        if not fit.explicit:
            raise ConfigError(f"dataset {spec.name!r} has no train split separate from the attacked videos "
                              f"(its split {fit.split!r} holds {what}); {hint}")
        log.warning("the fit videos (%s) include %s", protocol.dataset_key(target), what)
    return ds.subset(fit.videos, seed)


def plan(exp: Experiment, sets: Mapping[str, protocol.AttackedSet], clean: CleanScores, out_dir: str | Path,
         *, randomized: Callable[[ModelSpec], bool]) -> list[Job]:
    """The attack jobs of an experiment, in order: model, dataset, attack, attacker, video.

    ``sets``: the attacked sets (:func:`advqa.bench.protocol.attacked_set`) by dataset key;
    ``clean``: the clean-phase scores (videos without one are not attacked); ``randomized(spec)``
    says whether a defended model draws random numbers (it decides the default attackers and the
    adaptive attacker's EOT).
    """
    from advqa import models as model_registry

    out = Path(out_dir)
    fits = _FitPlanner(exp, out)
    jobs: list[Job] = []
    for mspec in exp.models:
        mkey, dkey = model_key(mspec), defense_key(mspec.defense)
        rnd = bool(mspec.defense) and randomized(mspec)
        higher = model_registry.card(mspec.name).higher_is_better
        for aset in sets.values():
            ok = [r for r in _refs(aset) if clean.get((mkey, dkey, aset.key, r.name)) is not None]
            if not ok:
                log.warning("%s%s on %s: no readable videos, nothing to attack", mkey, f"+{dkey}" if dkey else "",
                            aset.key)
                continue
            scores = [clean[(mkey, dkey, aset.key, r.name)] for r in ok]
            tg = protocol.targets([r.mos for r in ok], scores, aset.mos_max, higher_is_better=higher)
            for aspec in exp.attacks:
                label = aspec.display()
                for attacker in attackers_for(mspec, aspec, exp, rnd):
                    eot = eot_for(attacker, exp, rnd)
                    attack = build_attack(aspec, eot)
                    fit = None
                    # the label is hashed: it seeds the attack, so two labels are two computations
                    cfg: dict[str, Any] = {"attack": attack.config(), "max_frames": aset.spec.max_frames,
                                           "model": mkey, "label": label, "protocol": protocol.PROTOCOL_VERSION}
                    if mspec.options:
                        cfg["model_options"] = mspec.options
                    if attack.needs_fit:
                        fit = fits.job(mspec.undefended if attacker == "naive" else mspec, aspec, eot, attack, aset)
                        cfg["fit_state"] = Path(fit.state_path).stem
                    chash = config_hash(cfg)
                    for i, (ref, target) in enumerate(zip(ok, tg)):
                        jobs.append(Job(
                            model=mspec, dataset=aset.spec, video=ref, attack=aspec, attacker=attacker, eot=eot,
                            config=cfg, config_hash=chash,
                            seed=video_seed(exp.seed, mkey, aset.key, ref.name, label),
                            model_seed=video_seed(exp.seed, "model", ref.name), target=target, out_dir=str(out),
                            example=i < exp.examples, save_adversarial=exp.save_adversarial, fit=fit,
                            device=exp.device))
    return jobs


def plan_fits(jobs: list[Job]) -> list[FitJob]:
    """The distinct fit jobs the attack jobs need, in order of first use."""
    seen: dict[str, FitJob] = {}
    for j in jobs:
        if j.fit is not None and j.fit.state_path not in seen:
            seen[j.fit.state_path] = j.fit
    return list(seen.values())


# --------------------------------------------------------------------------- execution


class WorkerCache:
    """What one worker process keeps between jobs: built models (each once per process, keyed by
    name, weights, options and device; a defended model wraps the cached inner model) and fitted
    attacks (loaded once per state file). ``builds`` counts model constructions."""

    def __init__(self) -> None:
        self.models: dict[str, QualityModel] = {}
        self.attacks: dict[str, Attack] = {}
        self.builds = 0

    def model(self, spec: ModelSpec, device: str = "cpu") -> QualityModel:
        from advqa import defenses
        from advqa import models as model_registry

        inner_key = _spec_json([spec.name, spec.weights, spec.options, device])
        inner = self.models.get(inner_key)
        if inner is None:
            inner = self.models[inner_key] = model_registry.create(spec.name, weights=spec.weights, device=device,
                                                                   **spec.options)
            self.builds += 1
        if not spec.defense:
            return inner
        key = _spec_json([inner_key, list(spec.defense)])
        if key not in self.models:
            self.models[key] = defenses.create([dict(e) for e in spec.defense], inner)
        return self.models[key]

    def attack(self, spec: AttackSpec, eot: int | None, state_path: str | None = None) -> Attack:
        key = _spec_json([spec, eot, state_path])
        if key not in self.attacks:
            attack = build_attack(spec, eot)
            if state_path is not None:
                attack.load_state(state_path)  # type: ignore[attr-defined]
            self.attacks[key] = attack
        return self.attacks[key]


def load_clip(path: str | Path, max_frames: int | None) -> torch.Tensor:
    """Decode a video file to ``(1, T, 3, H, W)`` float in [0, 1]."""
    from advqa.io import read_video, to_tensor

    return to_tensor(read_video(Path(path), max_frames=max_frames).frames)


def save_example(out_dir: Path, name: str, clean: torch.Tensor, adv: torch.Tensor) -> dict[str, str]:
    """Save the middle frame clean / adversarial / amplified perturbation as PNGs for the report."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image as mpimg

    t = clean.shape[1] // 2
    ex = out_dir / "examples"
    ex.mkdir(parents=True, exist_ok=True)
    c = clean[0, t].permute(1, 2, 0).cpu().numpy()
    a = adv[0, t].permute(1, 2, 0).cpu().numpy()
    d = a - c
    span = max(float(np.abs(d).max()), 1e-12)
    amp = np.clip(0.5 + 0.5 * d / span, 0, 1)  # perturbation amplified to the full range
    paths = {}
    for kind, img in (("clean", c), ("adversarial", a), ("perturbation", amp)):
        p = ex / f"{name}_{kind}.png"
        mpimg.imsave(p, np.clip(img, 0, 1))
        paths[kind] = str(p.relative_to(out_dir))
    paths["amplification"] = f"{0.5 / span:.0f}x"
    return paths


def execute(job: AnyJob, cache: WorkerCache) -> Row:
    """Run one job in this process and return its row (the caller's writer stores it)."""
    if isinstance(job, CleanJob):
        return _execute_clean(job, cache)
    if isinstance(job, FitJob):
        return _execute_fit(job, cache)
    if isinstance(job, Job):
        return _execute_attack(job, cache)
    if isinstance(job, CertifyJob):
        return _execute_certify(job, cache)
    raise TypeError(f"not an advqa job: {type(job).__name__}")


def _execute_clean(job: CleanJob, cache: WorkerCache) -> Row:
    mkey, dkey, dataset, video = job.key
    base = {"model": mkey, "defense": dkey, "dataset": dataset, "video": video, "mos": job.video.mos}
    model = cache.model(job.model, job.device)
    start = time.perf_counter()
    try:
        clip = load_clip(job.video.path, job.dataset.max_frames).to(model.device)
    except AdvqaError as exc:
        log.warning("skipping %s: %s", video, exc)
        return Row("clean", {**base, "score": None, "status": "skipped", "reason": str(exc)})
    model.seed(job.seed)
    with torch.no_grad():
        score = float(model(clip)[0])
    return Row("clean", {**base, "score": score, "status": "ok", "time_s": time.perf_counter() - start})


def _execute_fit(job: FitJob, cache: WorkerCache) -> Row:
    model = cache.model(job.model, job.device)
    attack = build_attack(job.attack, job.eot)

    def videos() -> Any:  # a fresh pass over the fit videos, decoded one at a time
        for ref in job.videos:
            try:
                yield load_clip(ref.path, job.max_frames).to(model.device)
            except AdvqaError as exc:
                log.warning("fit: skipping %s: %s", ref.name, exc)

    model.seed(job.seed)
    start = time.perf_counter()
    attack.fit(model, videos, generator=torch.Generator().manual_seed(job.seed))  # type: ignore[attr-defined]
    attack.save_state(job.state_path)  # type: ignore[attr-defined]
    elapsed = time.perf_counter() - start
    log.info("fitted %s on %d videos in %.1f s -> %s", job.attack.display(), len(job.videos), elapsed, job.state_path)
    return Row("state", {"path": job.state_path, "videos": len(job.videos), "time_s": elapsed})


def _certified_rows(job: CertifyJob, **values: Any) -> list[dict[str, Any]]:
    mkey, dkey, dataset, video, chash = job.key
    s = job.spec
    return [dict(model=mkey, defense=dkey, dataset=dataset, video=video, config_hash=chash, radius=r,
                 config=job.config, bound=s.bound, sigma=s.sigma, samples=s.samples, alpha=s.alpha,
                 mos=job.video.mos, **values) for r in s.radii]


def _execute_certify(job: CertifyJob, cache: WorkerCache) -> Row:
    from advqa.defenses.smoothing import certificate_from_scores, noisy_scores

    model = cache.model(job.model, job.device)
    try:
        clip = load_clip(job.video.path, job.dataset.max_frames).to(model.device)
    except AdvqaError as exc:
        log.warning("skipping %s: %s", job.video.name, exc)
        return Row("certified", {"rows": _certified_rows(job, status="skipped", reason=str(exc))})
    s = job.spec
    model.seed(job.model_seed)
    start = time.perf_counter()
    scores = noisy_scores(model, clip, s.sigma, s.samples, batch=s.batch,
                          generator=torch.Generator().manual_seed(job.seed))
    elapsed = time.perf_counter() - start
    score_range = tuple(float(v) for v in model.card.score_range) if s.bound == "mean" else None
    rows = []
    for r, base in zip(s.radii, _certified_rows(job, status="ok")):
        cert = certificate_from_scores(scores, sigma=s.sigma, radius=r, alpha=s.alpha, dims=int(clip[0].numel()),
                                       bound=s.bound, score_range=score_range)  # type: ignore[arg-type]
        rows.append({**base, "score": cert.score, "lower_bound": cert.lower, "upper_bound": cert.upper,
                     "width": None if cert.abstained else cert.width, "abstained": int(cert.abstained),
                     "k_lower": cert.k_lower, "k_upper": cert.k_upper, "dims": cert.dims, "rms_255": cert.rms_255,
                     "time_s": elapsed, "extras": {"seed": job.seed, "model_seed": job.model_seed,
                                                   "frames": int(clip.shape[1]), "confidence": cert.confidence}})
    return Row("certified", {"rows": rows})


def _result_keys(job: Job) -> dict[str, Any]:
    mkey, dkey, dataset, video_name, _, _, _ = job.key
    return dict(model=mkey, defense=dkey, dataset=dataset, video=video_name, attack=job.attack.name,
                config_hash=job.config_hash, attacker=job.attacker, label=job.attack.display(), config=job.config,
                mos=job.video.mos, target=job.target)


def failed_row(job: AnyJob, reason: str) -> Row:
    """The row recorded for a job that could not be run (its worker died too often): status
    ``failed`` with the reason; the next run retries it. A fit job cannot fail quietly: the
    attacks need its state, so it raises."""
    if isinstance(job, Job):
        return Row("results", {**_result_keys(job), "status": "failed", "reason": reason})
    if isinstance(job, CleanJob):
        mkey, dkey, dataset, video = job.key
        return Row("clean", {"model": mkey, "defense": dkey, "dataset": dataset, "video": video,
                             "mos": job.video.mos, "score": None, "status": "failed", "reason": reason})
    if isinstance(job, CertifyJob):
        return Row("certified", {"rows": _certified_rows(job, status="failed", reason=reason)})
    raise RuntimeError(f"{job.describe()} failed: {reason}")


def _execute_attack(job: Job, cache: WorkerCache) -> Row:
    from advqa.defenses import unwrap
    from advqa.metrics.distortion import ssim

    mkey, dkey, dataset, video_name, _, _, _ = job.key
    label = job.attack.display()
    row = _result_keys(job)
    model = cache.model(job.model, job.device)
    attacked = unwrap(model) if job.attacker == "naive" else model
    try:
        video = load_clip(job.video.path, job.dataset.max_frames).to(model.device)
    except AdvqaError as exc:  # became unreadable since its clean score
        return Row("results", {**row, "status": "skipped", "reason": str(exc)})
    attack = cache.attack(job.attack, job.eot, job.state_path)
    attacked.seed(job.model_seed)
    res = attack(attacked, video, mos=job.video.mos, target=job.target,
                 generator=torch.Generator().manual_seed(job.seed))
    extras: dict[str, Any] = dict(res.extras, seed=job.seed, model_seed=job.model_seed)
    clean_score, adv_score = res.clean_score, res.adv_score
    if job.attacker == "naive":
        # the attacker ignored the defence; the defended model scores both videos, with one
        # draw of its randomness for the two (as the attack base class does)
        model.seed(job.model_seed)
        state = model.rng_state()
        with torch.no_grad():
            clean_score = float(model(video)[0])
            model.set_rng_state(state)
            adv_score = float(model(res.adversarial.to(model.device))[0])
        extras.update(inner_clean_score=res.clean_score, inner_adv_score=res.adv_score)
    out = Path(job.out_dir)
    safe = file_slug(*(p for p in (mkey, dkey, job.attacker, dataset, label, video_name) if p))
    if job.example:
        extras["example"] = save_example(out, safe, video.cpu(), res.adversarial)
    adv_path = None
    if job.save_adversarial:
        from advqa.io import write_video_lossless

        adv_path = out / "adversarial" / f"{safe}.mkv"
        adv_path.parent.mkdir(parents=True, exist_ok=True)
        write_video_lossless(adv_path, res.frames_uint8().numpy(), fps=job.video.fps)
    return Row("results", {
        **row, "status": "ok", "clean_score": clean_score, "adv_score": adv_score, "queries": res.queries,
        "iterations": res.iterations, "time_s": res.time_s, "linf": res.linf, "l2": res.l2,
        "psnr": res.psnr if math.isfinite(res.psnr) else None, "ssim": float(ssim(video.cpu(), res.adversarial)),
        "adv_path": str(adv_path) if adv_path else None, "extras": extras})


__all__ = ["AnyJob", "CertifyJob", "CleanJob", "CleanScores", "FitJob", "Job", "Row", "VideoRef", "WorkerCache", "attackers_for",
           "build_attack", "certify_config", "clean_models", "defense_key", "eot_for", "execute", "failed_row", "fit_set", "load_clip", "model_key", "model_name",
           "plan", "plan_certify", "plan_clean", "plan_fits", "save_example", "split_model_key", "video_seed"]
