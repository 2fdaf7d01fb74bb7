"""Fitting the head of the default image model ``liteiqa`` on frames of the demo set.

Data: frames of the demo videos (real footage x real codec, scaling, blur and noise
distortions), each labelled with its own per-frame VMAF (libvmaf v0.6.1 against the pristine
frame, :func:`advqa.data.demo.demo_frame_vmaf`) mapped to the demo's pseudo-MOS scale
``1 + 4 * clip(VMAF, 0, 100) / 100``. :data:`TRAIN_FRAMES` of every *train*-split video are
used for fitting; the held-out *test* split (sources never used for fitting or for choosing
settings) is scored on :data:`TEST_FRAMES`.

Model: the backbone is frozen (ImageNet weights), so every frame's feature vector
(:meth:`advqa.models.liteiqa.LiteIQA.features`, 3168 values) is computed once; the head is a
ridge regression on the standardised features, solved in closed form (no random seed, the same
head on every machine up to floating-point rounding): with ``Z`` the standardised training
features and ``n`` their number, ``w = (Z^T Z + alpha n I)^-1 Z^T (y - mean(y))``, bias
``mean(y)``.

Model selection (``--cv``; ``benchmarks/exp_liteiqa_cv.py`` holds the comparison of feature sets
and heads): cross-validation grouped by source over the train split only (5 folds, 2 random
partitions), frame-level SRCC / PLCC on each held-out fold's :data:`TEST_FRAMES`.

Retraining the shipped head (src/advqa/resources/liteiqa_head.pt)::

    python -m advqa.training.liteiqa --out src/advqa/resources/liteiqa_head.pt

Features are cached in ``$ADVQA_HOME/liteiqa/`` (keyed by the demo build, the frames and the
feature definition), per-frame VMAF beside the demo build.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from advqa.data.base import Sample
from advqa.errors import InputError
from advqa.models.liteiqa import FEATURE_DIM, LiteIQA, LiteIQAHead

log = logging.getLogger(__name__)

__all__ = ["ALPHA", "DemoFrame", "TEST_FRAMES", "TRAIN_FRAMES", "TrainResult", "demo_frames",
           "evaluate", "extract_features", "fit_ridge", "grouped_cv", "train_liteiqa"]

#: Frames of each train-split video the head is fitted on (8 of 24, evenly spread).
TRAIN_FRAMES: tuple[int, ...] = (1, 4, 7, 10, 13, 16, 19, 22)
#: Frames of each video that are scored for evaluation (4 of 24).
TEST_FRAMES: tuple[int, ...] = (4, 10, 16, 22)
#: Ridge strength (relative to the number of training frames), chosen by grouped CV.
ALPHA = 10.0
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


def extract_features(model: LiteIQA, items: Sequence[DemoFrame], *, progress: bool = False) -> Tensor:
    """``(N, 3168)`` features of the frames ``items`` (each video decoded once, in item order)."""
    from advqa.io import read_video, to_tensor

    by_video: dict[Path, list[int]] = {}
    for i, it in enumerate(items):
        by_video.setdefault(Path(it.sample.path), []).append(i)
    out = torch.empty(len(items), FEATURE_DIM)
    for n, (path, idx) in enumerate(by_video.items()):
        video = to_tensor(read_video(path).frames)[0]
        frames = video[[items[i].frame for i in idx]]
        with torch.no_grad():
            out[idx] = torch.cat([model.features(frames[j:j + model.chunk_size])
                                  for j in range(0, len(idx), model.chunk_size)])
        if progress and (n % 25 == 0 or n == len(by_video) - 1):
            log.info("features: video %d/%d", n + 1, len(by_video))
    return out


def fit_ridge(features: Tensor, labels: Tensor, alpha: float = ALPHA) -> dict[str, Tensor]:
    """The ridge head (standardisation + linear map) as a :class:`LiteIQAHead` state_dict.

    ``features (N, D)``, ``labels (N,)`` on 1-5; solved in float64:
    ``w = (Z^T Z + alpha N I)^-1 Z^T (y - mean y)``.
    """
    if features.ndim != 2 or labels.shape != (features.shape[0],) or features.shape[0] < 2:
        raise InputError(f"need features (N, D) and labels (N,) with N >= 2, got {tuple(features.shape)} "
                         f"and {tuple(labels.shape)}")
    if not alpha > 0:
        raise InputError(f"alpha must be positive, got {alpha}")
    x = features.double()
    y = labels.double()
    mean = x.mean(dim=0)
    scale = x.std(dim=0).clamp_min(1e-6)
    z = (x - mean) / scale
    n, d = z.shape
    w = torch.linalg.solve(z.T @ z + alpha * n * torch.eye(d, dtype=torch.float64), z.T @ (y - y.mean()))
    return {"mean": mean.float(), "scale": scale.float(), "fc.weight": w.float()[None, :],
            "fc.bias": y.mean().float().reshape(1)}


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


def grouped_cv(features: Tensor, labels: Tensor, groups: Sequence[str], *, alpha: float = ALPHA,
               eval_mask: Sequence[bool] | None = None, folds: int = 5, repeats: int = 2) -> dict[str, float]:
    """Cross-validation grouped by ``groups`` (the sources): per fold, fit on the other groups'
    rows and score the held-out groups' rows where ``eval_mask`` (default: all). Returns the
    mean and the worst fold SRCC and the mean fold PLCC."""
    groups = list(groups)
    names = sorted(set(groups))
    if len(names) < folds:
        raise InputError(f"{folds}-fold grouped CV needs at least {folds} groups, got {len(names)}")
    mask = np.ones(len(groups), bool) if eval_mask is None else np.asarray(eval_mask, bool)
    g = np.array(groups)
    srccs, plccs = [], []
    for r in range(repeats):
        perm = np.random.RandomState(100 + r).permutation(len(names))
        for k in range(folds):
            held = np.isin(g, [names[i] for i in perm[k::folds]])
            state = fit_ridge(features[torch.from_numpy(~held)], labels[torch.from_numpy(~held)], alpha)
            test = held & mask
            m = evaluate(predict(state, features[torch.from_numpy(test)]), labels[torch.from_numpy(test)].numpy())
            srccs.append(m["srcc"])
            plccs.append(m["plcc"])
    return {"srcc": float(np.mean(srccs)), "srcc_worst": float(np.min(srccs)), "plcc": float(np.mean(plccs)),
            "folds": len(srccs), "alpha": float(alpha)}


def _feature_cache(items: Sequence[DemoFrame]) -> Path:
    from advqa.config import cache_dir
    from advqa.data.demo import VERSION

    root = Path(items[0].sample.path).parent.parent
    manifest = root / "manifest.json"
    key = hashlib.sha256()
    key.update(manifest.read_bytes() if manifest.is_file() else str(root).encode())
    key.update(json.dumps([FEATURES_REVISION, [(it.sample.name, it.frame) for it in items]]).encode())
    return cache_dir() / "liteiqa" / f"features-{VERSION}-{key.hexdigest()[:16]}.pt"


def cached_features(model: LiteIQA, items: Sequence[DemoFrame], *, cache: bool = True) -> Tensor:
    """:func:`extract_features`, stored in / read from ``$ADVQA_HOME/liteiqa/`` when ``cache``."""
    path = _feature_cache(items) if cache else None
    if path is not None and path.is_file():
        feats = torch.load(path, weights_only=True)
        if feats.shape == (len(items), FEATURE_DIM):
            return feats
    feats = extract_features(model, items, progress=True)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(feats, tmp)
        tmp.replace(path)
    return feats


def train_liteiqa(train: Sequence[DemoFrame], test: Sequence[DemoFrame] | None = None, *,
                  alpha: float = ALPHA, model: LiteIQA | None = None,
                  train_features: Tensor | None = None, test_features: Tensor | None = None,
                  cache: bool = False) -> TrainResult:
    """Fit the liteiqa head on the frames ``train``; report metrics on ``test`` too when given
    (frame level, and per video: the mean of a video's frame scores against its pseudo-MOS).
    ``train_features``/``test_features`` skip the backbone."""
    if model is None and (train_features is None or (test is not None and test_features is None)):
        from advqa.models.litevsfa import load_backbone

        model = LiteIQA()
        load_backbone(model.backbone)
    if train_features is None:
        train_features = cached_features(model, train, cache=cache)  # type: ignore[arg-type]
    y = torch.tensor([it.mos for it in train], dtype=torch.float64)
    state = fit_ridge(train_features, y, alpha)
    metrics: dict[str, Any] = {"alpha": alpha, "train_frames": len(train),
                               "train_sources": len({it.source for it in train}),
                               "train": evaluate(predict(state, train_features), y.numpy())}
    if test is not None:
        if test_features is None:
            test_features = cached_features(model, test, cache=cache)  # type: ignore[arg-type]
        pred = predict(state, test_features)
        metrics["test"] = evaluate(pred, [it.mos for it in test])
        videos: dict[str, list[float]] = {}
        for it, p in zip(test, pred):
            videos.setdefault(it.sample.name, []).append(float(p))
        by_name = {it.sample.name: it.sample for it in test}
        metrics["test_videos"] = evaluate([np.mean(v) for v in videos.values()],
                                          [by_name[n].mos for n in videos])
    return TrainResult(state_dict={k: v.contiguous() for k, v in state.items()}, metrics=metrics)


def main(argv: Sequence[str] | None = None) -> int:
    """Refit the liteiqa head on the demo train split and save it (see the module docstring)."""
    p = argparse.ArgumentParser(description="Fit advqa's default image model head on demo frames")
    p.add_argument("--out", type=Path, required=True, help="where to save the head state_dict (.pt)")
    p.add_argument("--alpha", type=float, default=ALPHA, help="ridge strength")
    p.add_argument("--cv", nargs="*", type=float, metavar="ALPHA",
                   help="only run the grouped cross-validation on the train split for these alphas")
    p.add_argument("--no-cache", action="store_true", help="compute features and VMAF afresh, store nothing")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from advqa.models.litevsfa import load_backbone

    cache = not args.no_cache
    model = LiteIQA()
    load_backbone(model.backbone)
    train = demo_frames("train", TRAIN_FRAMES, cache=cache)
    feats = cached_features(model, train, cache=cache)
    y = torch.tensor([it.mos for it in train], dtype=torch.float64)
    if args.cv is not None:
        mask = [it.frame in TEST_FRAMES for it in train]
        for alpha in args.cv or [1.0, 3.0, 10.0, 30.0, 100.0]:
            log.info("grouped CV %s", json.dumps(grouped_cv(feats, y, [it.source for it in train], alpha=alpha,
                                                            eval_mask=mask)))
        return 0
    test = demo_frames("test", TEST_FRAMES, cache=cache)
    result = train_liteiqa(train, test, alpha=args.alpha, model=model, train_features=feats, cache=cache)
    torch.save(result.state_dict, args.out)
    from advqa.models.weights import sha256_file

    log.info("saved %s (sha256 %s)", args.out, sha256_file(args.out))
    log.info("metrics %s", json.dumps(result.metrics))
    return 0 if math.isfinite(result.metrics["test"]["srcc"]) else 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
