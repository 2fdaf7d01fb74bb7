"""Fitting the head of the default image model ``liteiqa`` on frames of the demo set.

Data: frames of the demo videos (real footage x real codec, scaling, blur and noise
distortions), each labelled with its own per-frame VMAF (libvmaf v0.6.1 against the pristine
frame, :func:`advqa.data.demo.demo_frame_vmaf`) mapped to the demo's pseudo-MOS scale
``1 + 4 * clip(VMAF, 0, 100) / 100``. :data:`TRAIN_FRAMES` (12 of 24) of every *train*-split
video are used for fitting; the held-out *test* split (5 sources never used for fitting or for
choosing settings) is scored on every frame (:data:`TEST_FRAMES`).

Model: the backbone is frozen (ImageNet weights), so every frame's map statistics
(:meth:`advqa.models.liteiqa.LiteIQA.stats`) are computed once and cached; the head is a ridge
regression on the standardised features, solved in closed form (no random seed, the same head on
every machine up to floating-point rounding): with ``Z`` the standardised training features and
``n`` their number, ``w = (Z^T Z + alpha n I)^-1 Z^T (y - mean(y))``, bias ``mean(y)``.

Model selection: ``benchmarks/exp_liteiqa_cv.py``, cross-validation grouped by source over the
train split only (5 folds), frame-level SRCC / PLCC on every frame of the held-out folds' videos.

Retraining the shipped head (src/advqa/resources/liteiqa_head.pt) and its test fixture::

    python -m advqa.training.liteiqa --out src/advqa/resources/liteiqa_head.pt \
        --fixtures tests/fixtures/liteiqa

Statistics are cached in ``$ADVQA_HOME/liteiqa/`` (keyed by the demo build, the frames and
:data:`FEATURES_REVISION`), per-frame VMAF beside the demo build.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from advqa.data.base import Sample
from advqa.errors import InputError
from advqa.models.liteiqa import STATS_DIM, TAPS, LiteIQA, LiteIQAHead, power_normalise, stats_columns

log = logging.getLogger(__name__)

__all__ = ["ALL_FRAMES", "ALPHA", "DemoFrame", "TEST_FRAMES", "TRAIN_FRAMES", "TrainResult", "cached_stats",
           "demo_frames", "evaluate", "extract_features", "extract_stats", "features_from_stats", "fit_ridge",
           "fit_ridge_path", "grouped_cv", "predict", "source_folds", "train_liteiqa", "write_fixtures"]

#: Every frame of a demo video.
ALL_FRAMES: tuple[int, ...] = tuple(range(24))
#: Frames of each train-split video the head is fitted on: every other one (chosen by grouped CV
#: among 4, 8 and 12 per video).
TRAIN_FRAMES: tuple[int, ...] = ALL_FRAMES[::2]
#: The held-out evaluation scores every frame of every test-split video.
TEST_FRAMES: tuple[int, ...] = ALL_FRAMES
#: The frame of each test video whose head input is stored in the test fixture.
FIXTURE_FRAME = 12
#: Test videos whose frame :data:`FIXTURE_FRAME` is stored as a PNG in the test fixture, to check
#: the whole model (backbone included) end to end.
FIXTURE_IMAGES: tuple[str, ...] = ("coffee__pristine", "bikes-s2__h264_crf42", "hubble__blur_s2")
#: Ridge strength (relative to the number of training frames), chosen by grouped CV.
ALPHA = 30.0
#: Bumped when :meth:`LiteIQA.features` changes, so cached features are recomputed.
FEATURES_REVISION = 1


@dataclass(frozen=True)
class DemoFrame:
    """Frame ``frame`` of the demo video ``sample``, with its per-frame VMAF and pseudo-MOS."""

    sample: Sample
    frame: int
    vmaf: float

    @property
    def mos(self) -> float:
        """``1 + 4 * clip(vmaf, 0, 100) / 100`` (the demo set's mapping)."""
        from advqa.data.demo import vmaf_to_mos

        return vmaf_to_mos(self.vmaf)

    @property
    def source(self) -> str:
        return str(self.sample.meta["source"])


@dataclass
class TrainResult:
    """What :func:`train_liteiqa` returns: the head's ``state_dict`` and metrics."""

    state_dict: dict[str, Tensor]
    metrics: dict[str, Any] = field(default_factory=dict)


def demo_frames(split: str, frames: Sequence[int] = TRAIN_FRAMES, *, root: str | Path | None = None,
                cache: bool = True) -> list[DemoFrame]:
    """The frames ``frames`` of every video of the demo ``split`` with their per-frame VMAF
    (``cache``: reuse / store the per-frame VMAF of the build, see
    :func:`advqa.data.demo.demo_frame_vmaf`)."""
    from advqa.data.demo import demo_frame_vmaf, load_demo

    ds = load_demo(split, root=root)
    vmaf = demo_frame_vmaf(split, root=root, cache=cache)
    out = []
    for s in ds:
        v = vmaf[s.name]
        for f in frames:
            if not 0 <= f < len(v):
                raise InputError(f"frame {f} is outside the demo video {s.name} ({len(v)} frames)")
            out.append(DemoFrame(s, int(f), float(v[f])))
    return out


def extract_stats(model: LiteIQA, items: Sequence[DemoFrame], *, progress: bool = False) -> Tensor:
    """``(N, STATS_DIM)`` raw map statistics (:meth:`LiteIQA.stats`) of the frames ``items``
    (each video decoded once)."""
    from advqa.io import read_video, to_tensor

    by_video: dict[Path, list[int]] = {}
    for i, it in enumerate(items):
        by_video.setdefault(Path(it.sample.path), []).append(i)
    out = torch.empty(len(items), STATS_DIM)
    for n, (path, idx) in enumerate(by_video.items()):
        video = to_tensor(read_video(path).frames)[0]
        frames = video[[items[i].frame for i in idx]]
        with torch.no_grad():
            out[idx] = torch.cat([model.stats(frames[j:j + model.chunk_size])
                                  for j in range(0, len(idx), model.chunk_size)])
        if progress and (n % 25 == 0 or n == len(by_video) - 1):
            log.info("features: video %d/%d", n + 1, len(by_video))
    return out


def features_from_stats(stats: Tensor, taps: tuple[str, ...] = TAPS, power: bool = True) -> Tensor:
    """The head's input from :meth:`LiteIQA.stats` rows: the ``taps`` columns, power-normalised
    (what :meth:`LiteIQA.features` computes)."""
    x = stats[:, stats_columns(taps)]
    return power_normalise(x) if power else x


def extract_features(model: LiteIQA, items: Sequence[DemoFrame], *, progress: bool = False) -> Tensor:
    """``(N, D)`` head inputs (:meth:`LiteIQA.features`) of the frames ``items``."""
    return features_from_stats(extract_stats(model, items, progress=progress), model.taps)


def fit_ridge(features: Tensor, labels: Tensor, alpha: float = ALPHA) -> dict[str, Tensor]:
    """The ridge head (standardisation + linear map) as a :class:`LiteIQAHead` state_dict.

    ``features (N, D)``, ``labels (N,)`` on 1-5; solved in float64:
    ``w = (Z^T Z + alpha N I)^-1 Z^T (y - mean y)`` (see :func:`fit_ridge_path`).
    """
    return fit_ridge_path(features, labels, (alpha,))[0]


def fit_ridge_path(features: Tensor, labels: Tensor, alphas: Sequence[float]) -> list[dict[str, Tensor]]:
    """:func:`fit_ridge` for several ridge strengths, sharing one Gram matrix.

    With ``Z`` the standardised features (training mean and std), ``N x D``, the solution is
    computed in the primal form when ``N >= D`` and otherwise in the dual form
    ``w = Z^T (Z Z^T + alpha N I)^-1 (y - mean y)``, the same vector (push-through identity)
    at a cost of ``N^2 D`` instead of ``N D^2``.
    """
    if features.ndim != 2 or labels.shape != (features.shape[0],) or features.shape[0] < 2:
        raise InputError(f"need features (N, D) and labels (N,) with N >= 2, got {tuple(features.shape)} "
                         f"and {tuple(labels.shape)}")
    if not alphas or not all(a > 0 for a in alphas):
        raise InputError(f"ridge strengths must be positive, got {list(alphas)}")
    x = features.double()
    y = labels.double()
    mean = x.mean(dim=0)
    scale = x.std(dim=0).clamp_min(1e-6)
    z = (x - mean) / scale
    n, d = z.shape
    yc = y - y.mean()
    primal = n >= d
    gram = z.T @ z if primal else z @ z.T
    eye = torch.eye(gram.shape[0], dtype=torch.float64)
    out = []
    for alpha in alphas:
        if primal:
            w = torch.linalg.solve(gram + alpha * n * eye, z.T @ yc)
        else:
            w = z.T @ torch.linalg.solve(gram + alpha * n * eye, yc)
        out.append({"mean": mean.float(), "scale": scale.float(), "fc.weight": w.float()[None, :],
                    "fc.bias": y.mean().float().reshape(1)})
    return out


def _head(state: dict[str, Tensor]) -> LiteIQAHead:
    head = LiteIQAHead(state["mean"].shape[0])
    head.load_state_dict(state, strict=True)
    return head.eval()


def evaluate(pred: Sequence[float] | np.ndarray | Tensor, labels: Sequence[float] | np.ndarray | Tensor) -> dict[str, float]:
    """SRCC, PLCC and RMSE of predictions against labels (1-5 scale)."""
    from advqa.metrics.correlation import plcc, srcc

    p = np.asarray(pred, dtype=np.float64)
    m = np.asarray(labels, dtype=np.float64)
    return {"srcc": float(srcc(p, m)), "plcc": float(plcc(p, m)),
            "rmse": float(np.sqrt(np.mean((p - m) ** 2))), "n": int(len(m))}


def predict(state: dict[str, Tensor], features: Tensor) -> np.ndarray:
    """Scores of the head ``state`` on cached features."""
    with torch.no_grad():
        return _head(state)(features).numpy().astype(np.float64)


def source_folds(groups: Sequence[str], folds: int = 5, repeats: int = 2) -> Iterator[np.ndarray]:
    """The held-out rows of each fold of grouped cross-validation: ``repeats`` seeded random
    partitions (seed ``100 + r``) of the distinct ``groups`` (the sources) into ``folds`` folds,
    one boolean mask ``(N,)`` per fold, so every experiment on the demo train split uses the same
    folds."""
    names = sorted(set(groups))
    if len(names) < folds:
        raise InputError(f"{folds}-fold grouped CV needs at least {folds} groups, got {len(names)}")
    g = np.array(list(groups))
    for r in range(repeats):
        perm = np.random.RandomState(100 + r).permutation(len(names))
        for k in range(folds):
            yield np.isin(g, [names[i] for i in perm[k::folds]])


def grouped_cv(features: Tensor, labels: Tensor, groups: Sequence[str], *,
               alphas: Sequence[float] = (ALPHA,), fit_mask: Sequence[bool] | None = None,
               eval_mask: Sequence[bool] | None = None, folds: int = 5,
               repeats: int = 2) -> list[dict[str, float]]:
    """Cross-validation grouped by ``groups`` (the sources), one result per ridge strength.

    Per fold, the head is fitted on the other groups' rows where ``fit_mask`` and scored on the
    held-out groups' rows where ``eval_mask`` (defaults: all rows); ``repeats`` random partitions
    of the groups into ``folds`` folds. Each result holds the mean and worst fold SRCC and the
    mean and worst fold PLCC (frame level).
    """
    fit = np.ones(len(groups), bool) if fit_mask is None else np.asarray(fit_mask, bool)
    ev = np.ones(len(groups), bool) if eval_mask is None else np.asarray(eval_mask, bool)
    scores: list[list[tuple[float, float]]] = [[] for _ in alphas]
    for held in source_folds(groups, folds, repeats):
        rows, test = torch.from_numpy(~held & fit), torch.from_numpy(held & ev)
        for j, state in enumerate(fit_ridge_path(features[rows], labels[rows], alphas)):
            m = evaluate(predict(state, features[test]), labels[test].numpy())
            scores[j].append((m["srcc"], m["plcc"]))
    out = []
    for alpha, sc in zip(alphas, scores):
        a = np.array(sc)
        out.append({"alpha": float(alpha), "srcc": float(a[:, 0].mean()), "srcc_worst": float(a[:, 0].min()),
                    "plcc": float(a[:, 1].mean()), "plcc_worst": float(a[:, 1].min()), "folds": len(a)})
    return out


def _feature_cache(items: Sequence[DemoFrame]) -> Path:
    from advqa.config import cache_dir
    from advqa.data.demo import VERSION

    root = Path(items[0].sample.path).parent.parent
    manifest = root / "manifest.json"
    key = hashlib.sha256()
    key.update(manifest.read_bytes() if manifest.is_file() else str(root).encode())
    key.update(json.dumps([FEATURES_REVISION, [(it.sample.name, it.frame) for it in items]]).encode())
    return cache_dir() / "liteiqa" / f"stats-{VERSION}-{key.hexdigest()[:16]}.pt"


def cached_stats(model: LiteIQA, items: Sequence[DemoFrame], *, cache: bool = True) -> Tensor:
    """:func:`extract_stats`, stored in / read from ``$ADVQA_HOME/liteiqa/`` when ``cache`` (keyed
    by the demo build's manifest, the frames and :data:`FEATURES_REVISION`)."""
    path = _feature_cache(items) if cache else None
    if path is not None and path.is_file():
        stats = torch.load(path, weights_only=True)
        if stats.shape == (len(items), STATS_DIM):
            return stats
    stats = extract_stats(model, items, progress=True)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(stats, tmp)
        tmp.replace(path)
    return stats


def train_liteiqa(train: Sequence[DemoFrame], train_features: Tensor, test: Sequence[DemoFrame] | None = None,
                  test_features: Tensor | None = None, *, alpha: float = ALPHA) -> TrainResult:
    """Fit the liteiqa head on the frames ``train`` (head inputs ``train_features``, rows in the
    same order); with ``test``, also report frame-level metrics on it and per-video metrics (the
    mean of a video's frame scores against the video's pseudo-MOS)."""
    y = torch.tensor([it.mos for it in train], dtype=torch.float64)
    state = fit_ridge(train_features, y, alpha)
    metrics: dict[str, Any] = {"alpha": alpha, "train_frames": len(train),
                               "train_sources": len({it.source for it in train}),
                               "train": evaluate(predict(state, train_features), y.numpy())}
    if test is not None:
        if test_features is None or len(test_features) != len(test):
            raise InputError("test needs test_features, one row per test frame")
        pred = predict(state, test_features)
        metrics["test_sources"] = len({it.source for it in test})
        metrics["test"] = evaluate(pred, [it.mos for it in test])
        videos: dict[str, list[float]] = {}
        for it, p in zip(test, pred):
            videos.setdefault(it.sample.name, []).append(float(p))
        by_name = {it.sample.name: it.sample for it in test}
        metrics["test_videos"] = evaluate([np.mean(v) for v in videos.values()],
                                          [by_name[n].mos for n in videos])
        metrics["predictions"] = pred.tolist()
    return TrainResult(state_dict={k: v.contiguous() for k, v in state.items()}, metrics=metrics)


def write_fixtures(out: Path, model: LiteIQA, test: Sequence[DemoFrame], test_features: Tensor,
                   pred: Sequence[float]) -> None:
    """The held-out test fixture: ``heldout.csv`` (every test frame: video, source, distortion,
    frame, VMAF, pseudo-MOS, the shipped model's score), ``features.pt`` (the head inputs of
    frame :data:`FIXTURE_FRAME` of every test video, float32, with their row numbers in the CSV)
    and :data:`FIXTURE_IMAGES` as PNGs with their end-to-end scores (``images.csv``)."""
    import csv

    from advqa.io import read_video, write_image

    out.mkdir(parents=True, exist_ok=True)
    with open(out / "heldout.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["video", "source", "distortion", "frame", "vmaf", "mos", "score"])
        for it, p in zip(test, pred):
            w.writerow([it.sample.name, it.source, it.sample.meta.get("distortion", ""), it.frame,
                        f"{it.vmaf:.4f}", f"{it.mos:.6f}", f"{p:.6f}"])
    rows = [i for i, it in enumerate(test) if it.frame == FIXTURE_FRAME]
    torch.save({"rows": torch.tensor(rows), "features": test_features[rows].float().contiguous()},
               out / "features.pt")
    with open(out / "images.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "video", "frame", "score"])
        for name in FIXTURE_IMAGES:
            it = next(t for t in test if t.sample.name == name and t.frame == FIXTURE_FRAME)
            frame = read_video(it.sample.path).frames[FIXTURE_FRAME]
            path = write_image(out / f"{name}_f{FIXTURE_FRAME}.png", frame)
            x = torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255
            with torch.no_grad():
                w.writerow([Path(path).name, name, FIXTURE_FRAME, f"{float(model(x)[0]):.6f}"])


def main(argv: Sequence[str] | None = None) -> int:
    """Refit the liteiqa head on the demo train split and save it (see the module docstring)."""
    p = argparse.ArgumentParser(description="Fit advqa's default image model head on demo frames")
    p.add_argument("--out", type=Path, required=True, help="where to save the head state_dict (.pt)")
    p.add_argument("--alpha", type=float, default=ALPHA, help="ridge strength")
    p.add_argument("--fixtures", type=Path, help="also write the held-out test fixture into this folder")
    p.add_argument("--no-cache", action="store_true", help="compute features and VMAF afresh, store nothing")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from advqa.models.litevsfa import load_backbone
    from advqa.models.weights import sha256_file

    cache = not args.no_cache
    model = LiteIQA()
    load_backbone(model.backbone)
    train = demo_frames("train", ALL_FRAMES, cache=cache)
    train_stats = cached_stats(model, train, cache=cache)
    rows = [i for i, it in enumerate(train) if it.frame in TRAIN_FRAMES]
    train = [train[i] for i in rows]
    train_features = features_from_stats(train_stats[rows], model.taps)
    test = demo_frames("test", TEST_FRAMES, cache=cache)
    test_features = features_from_stats(cached_stats(model, test, cache=cache), model.taps)
    result = train_liteiqa(train, train_features, test, test_features, alpha=args.alpha)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(result.state_dict, args.out)
    log.info("saved %s (sha256 %s)", args.out, sha256_file(args.out))
    pred = result.metrics.pop("predictions")
    log.info("metrics %s", json.dumps(result.metrics))
    if args.fixtures is not None:
        model.head.load_state_dict(result.state_dict, strict=True)
        write_fixtures(args.fixtures, model, test, test_features, pred)
        log.info("wrote the held-out fixture into %s", args.fixtures)
    return 0 if math.isfinite(result.metrics["test"]["srcc"]) else 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
