"""The robustness runner: models x datasets x attacks, one stored row per attacked video.

For each model and dataset it scores every clean video first (stored, resumable), derives paper
000's boundary targets from the whole set (Eq. 7), then attacks each video and writes its row as
soon as it is done. Rows already in the store are skipped, so a killed run resumes where it
stopped without recomputing or duplicating anything. Unreadable videos are skipped with their
reason recorded, and the run goes on.
"""
from __future__ import annotations

import logging
import math
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from advqa.bench.config import AttackSpec, DatasetSpec, Experiment, ModelSpec
from advqa.bench.store import ResultStore, config_hash, file_slug
from advqa.errors import AdvqaError, InputError

log = logging.getLogger(__name__)

#: called as progress(stage, done, total, description)
Progress = Callable[[str, int, int, str], None]


@dataclass
class RunReport:
    """What a run did: rows computed now, rows found already done, videos skipped."""

    out_dir: Path
    database: Path
    computed: int = 0
    reused: int = 0
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (dataset, video, reason)


def model_key(spec: ModelSpec) -> str:
    """The name a model's rows are stored under (its weights file, if given, is part of it)."""
    if spec.weights:
        return f"{spec.name}@{Path(str(spec.weights)).name}"
    return spec.name


def dataset_key(spec: DatasetSpec) -> str:
    return f"{spec.name}:{spec.split}" if spec.split else spec.name


def _video_seed(seed: int, *parts: str) -> int:
    return (seed * 1_000_003 + zlib.crc32("\x1f".join(parts).encode())) % (2**63)


def load_clip(path: Path, max_frames: int | None) -> torch.Tensor:
    """Decode a video file to ``(1, T, 3, H, W)`` float in [0, 1]."""
    from advqa.io import read_video, to_tensor

    return to_tensor(read_video(path, max_frames=max_frames).frames)


def _save_example(out_dir: Path, name: str, clean: torch.Tensor, adv: torch.Tensor) -> dict[str, str]:
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


def run_experiment(exp: Experiment, out_dir: str | Path, *, progress: Progress | None = None,
                   max_rows: int | None = None) -> RunReport:
    """Run (or resume) an experiment; results go to ``out_dir/results.sqlite``.

    ``max_rows`` stops after computing that many new attack rows (used to test resuming).
    """
    from advqa import attacks as attack_registry
    from advqa import models as model_registry
    from advqa.data import load_dataset
    from advqa.metrics.distortion import ssim as ssim_fn
    from advqa.metrics.robustness import boundary_targets

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = RunReport(out_dir=out, database=out / "results.sqlite")
    torch.manual_seed(exp.seed)
    # Validate every name before any work starts.
    for a in exp.attacks:
        attack_registry.attack_class(a.name)
    for m in exp.models:
        model_registry.card(m.name)
    datasets = {dataset_key(d): (d, load_dataset(d.name, root=d.root, split=d.split,
                                               allow_missing=d.allow_missing).subset(d.videos, exp.seed))
                for d in exp.datasets}

    with ResultStore(report.database) as store:
        for mspec in exp.models:
            model = model_registry.create(mspec.name, weights=mspec.weights, device=exp.device, **mspec.options)
            if getattr(model, "stochastic", False):
                model.seed(exp.seed)
            mkey = model_key(mspec)
            for dkey, (dspec, ds) in datasets.items():
                clean = _clean_scores(store, model, mkey, dkey, dspec, ds, report, progress)
                ok = [s for s in ds if clean.get(s.name) is not None]
                if not ok:
                    log.warning("%s on %s: no readable videos, nothing to attack", mkey, dkey)
                    continue
                mos = np.array([s.mos for s in ok], dtype=float)
                scores = np.array([clean[s.name] for s in ok], dtype=float)
                try:
                    bounds = boundary_targets(mos, scores, mos_max=ds.mos_range[1],
                                              higher_is_better=model.card.higher_is_better).tolist()
                except InputError as exc:  # one video, or all MOS equal: Eq. 7 has no statistics
                    log.warning("no set-level boundary targets (%s); each attack uses its own fallback", exc)
                    bounds = [None] * len(ok)
                targets = dict(zip([s.name for s in ok], bounds))
                for aspec in exp.attacks:
                    done = _attack_set(store, model, mkey, dkey, dspec, ok, targets, aspec, exp, out,
                                       report, progress, ssim_fn, max_rows)
                    if done:
                        return report
    return report


def _clean_scores(store: ResultStore, model: torch.nn.Module, mkey: str, dkey: str, dspec: DatasetSpec,
                  ds: Any, report: RunReport, progress: Progress | None) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for i, s in enumerate(ds):
        if progress:
            progress("clean", i, len(ds), f"{mkey} clean scores on {dkey}")
        row = store.clean_score(mkey, dkey, s.name)
        if row is None:
            start = time.perf_counter()
            try:
                video = load_clip(s.path, dspec.max_frames).to(model.device)
                with torch.no_grad():
                    score = float(model(video)[0])
                store.put_clean(mkey, dkey, s.name, mos=s.mos, score=score,
                                time_s=time.perf_counter() - start)
            except AdvqaError as exc:
                log.warning("skipping %s: %s", s.name, exc)
                store.put_clean(mkey, dkey, s.name, mos=s.mos, score=None, status="skipped", reason=str(exc))
            row = store.clean_score(mkey, dkey, s.name)
        if row["status"] != "ok":
            report.skipped.append((dkey, s.name, row["reason"]))
            out[s.name] = None
        else:
            out[s.name] = float(row["score"])
    if progress:
        progress("clean", len(ds), len(ds), f"{mkey} clean scores on {dkey}")
    return out


def _attack_set(store: ResultStore, model: torch.nn.Module, mkey: str, dkey: str, dspec: DatasetSpec,
                samples: list, targets: dict[str, float | None], aspec: AttackSpec, exp: Experiment, out: Path,
                report: RunReport, progress: Progress | None, ssim_fn: Callable, max_rows: int | None) -> bool:
    from advqa import attacks as attack_registry

    attack = attack_registry.create(aspec.name, norm=aspec.norm, eps=aspec.eps, **aspec.params)
    cfg = {"attack": attack.config(), "max_frames": dspec.max_frames, "model": mkey}
    chash = config_hash(cfg)
    label = aspec.display()
    for i, s in enumerate(samples):
        if progress:
            progress("attack", i, len(samples), f"{label} on {mkey} / {dkey}")
        if store.has(mkey, dkey, s.name, aspec.name, chash):
            report.reused += 1
            continue
        if max_rows is not None and report.computed >= max_rows:
            return True
        row: dict[str, Any] = dict(model=mkey, dataset=dkey, video=s.name, attack=aspec.name, config_hash=chash,
                                   label=label, config=cfg, mos=s.mos, target=targets[s.name])
        try:
            video = load_clip(s.path, dspec.max_frames).to(model.device)
        except AdvqaError as exc:  # became unreadable since its clean score
            store.put({**row, "status": "skipped", "reason": str(exc)})
            report.skipped.append((dkey, s.name, str(exc)))
            continue
        gen = torch.Generator().manual_seed(_video_seed(exp.seed, mkey, dkey, s.name, label))
        if getattr(model, "stochastic", False):
            model.seed(_video_seed(exp.seed, "model", s.name))
        res = attack(model, video, mos=s.mos, target=targets[s.name], generator=gen)
        extras = dict(res.extras)
        safe = file_slug(mkey, dkey, label, s.name)
        if i < exp.examples:
            extras["example"] = _save_example(out, safe, video.cpu(), res.adversarial)
        adv_path = None
        if exp.save_adversarial:
            from advqa.io import write_video_lossless

            adv_path = out / "adversarial" / f"{safe}.mkv"
            adv_path.parent.mkdir(parents=True, exist_ok=True)
            write_video_lossless(adv_path, res.frames_uint8().numpy(), fps=float(s.meta.get("fps", 25.0) or 25.0))
        store.put({**row, "status": "ok", "clean_score": res.clean_score, "adv_score": res.adv_score,
                   "queries": res.queries, "iterations": res.iterations, "time_s": res.time_s,
                   "linf": res.linf, "l2": res.l2, "psnr": res.psnr if math.isfinite(res.psnr) else None,
                   "ssim": float(ssim_fn(video.cpu(), res.adversarial)),
                   "adv_path": str(adv_path) if adv_path else None, "extras": extras})
        report.computed += 1
    if progress:
        progress("attack", len(samples), len(samples), f"{label} on {mkey} / {dkey}")
    return False
