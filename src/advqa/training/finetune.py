"""Fine-tuning any advqa quality model on a labelled dataset, with or without NT.

:func:`finetune` trains the parameters whose names start with the given prefixes (the rest stay
frozen, but the input gradient NT needs flows through them) of any
:class:`~advqa.models.QualityModel` (video) or :class:`~advqa.models.ImageQualityModel` (image)
on a dataset of Samples with ``.path`` and ``.mos`` (:func:`advqa.data.load_dataset`). The loss
is L1 to the MOS plus, when ``nt_lambda > 0``, the NT regulariser of Liu et al. (CVPR 2024, Eq. 6;
:func:`advqa.training.nt.nt_loss`).

What a step sees: ``frames`` frames per video, evenly spaced (stride ``n // frames``) from a
random offset drawn from the seeded generator, scored as a ``frames``-frame video (an image is
one frame), so a step's cost does not grow with the videos' length. Each video is scored on its
own and the gradients of a mini-batch of ``batch_size`` videos are averaged (videos of different
sizes mix freely). The model stays in eval mode: BatchNorm uses its running statistics (its
affine parameters can train) and dropout is off, so training is a deterministic function of the
seed. Labels: the MOS mapped linearly from the dataset's ``mos_range`` to the model card's score
range (reversed for a lower-is-better model) when the two differ.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from advqa.errors import InputError
from advqa.models.base import ImageQualityModel, QualityModel, check_image, check_video
from advqa.training.nt import DEFAULT_H, check_nt_options, nt_loss

log = logging.getLogger(__name__)

__all__ = ["FinetuneResult", "IMAGE_SUFFIXES", "evaluate_model", "finetune", "frame_positions", "label_map",
           "load_sample", "select_trainable"]

#: File suffixes read as still images (one frame).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


@dataclass
class FinetuneResult:
    """What :func:`finetune` returns: the trained parameters only (``state_dict``, names as in
    ``model.state_dict()``), metrics (settings, train/test correlations) and one dict per epoch
    (mean ``loss``, ``l1``, ``reg``, ``fd``: the mean finite-difference gradient-norm estimate)."""

    state_dict: dict[str, Tensor]
    metrics: dict[str, Any]
    history: list[dict[str, float]] = field(default_factory=list)


def select_trainable(model: torch.nn.Module, prefixes: Sequence[str]) -> list[str]:
    """Make exactly the parameters whose names start with one of ``prefixes`` trainable
    (``requires_grad``) and freeze the rest; return their names in model order.

    InputError for an empty list or a prefix that matches no parameter (the message lists the
    model's top-level parts).
    """
    if isinstance(prefixes, str):
        prefixes = [prefixes]
    prefixes = [str(p) for p in prefixes]
    if not prefixes:
        raise InputError("no trainable parameters chosen: give at least one parameter-name prefix, e.g. 'head.'")
    names = [n for n, _ in model.named_parameters()]
    unknown = [p for p in prefixes if not p or not any(n.startswith(p) for n in names)]
    if unknown:
        tops = sorted({n.split(".")[0] + "." for n in names})
        raise InputError(f"no parameter of {type(model).__name__} starts with {', '.join(map(repr, unknown))}; "
                         f"its parameters start with {', '.join(tops)} (e.g. {names[0]!r}, {names[-1]!r})")
    chosen = []
    for name, p in model.named_parameters():
        train = any(name.startswith(pre) for pre in prefixes)
        p.requires_grad_(train)
        if train:
            chosen.append(name)
    return chosen


def frame_positions(num_frames: int, frames: int | None, generator: torch.Generator | None = None) -> list[int]:
    """``frames`` evenly spaced frame indices of a ``num_frames``-frame video: stride
    ``num_frames // frames`` from offset 0, or from a random offset drawn from ``generator``
    (the last index stays inside the video). ``None`` (or ``frames >= num_frames``) keeps all."""
    if frames is None or frames >= num_frames:
        return list(range(num_frames))
    stride = max(1, num_frames // frames)
    room = num_frames - 1 - stride * (frames - 1)
    offset = int(torch.randint(0, room + 1, (1,), generator=generator)) if generator is not None and room > 0 else 0
    return [offset + i * stride for i in range(frames)]


def _read_image(path: Path) -> Tensor:
    from skimage import io as skio

    arr = np.asarray(skio.imread(str(path)))
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    arr = arr[..., :3]
    if arr.dtype != np.uint8:
        raise InputError(f"{path}: only 8-bit images are supported, got {arr.dtype}")
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div(255.0)


def load_sample(sample: Any, model: QualityModel, frames: int | None = None,
                generator: torch.Generator | None = None) -> Tensor:
    """A sample's frames as the model's input: ``(1, T, 3, H, W)`` for a video file (``T`` =
    ``frames`` sampled by :func:`frame_positions`), ``(1, 3, H, W)`` for an image file and an
    image model, ``(1, 1, 3, H, W)`` for an image file and a video model. Values in [0, 1]."""
    path = Path(sample.path)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        image = _read_image(path).unsqueeze(0)
        check_image(image)
        return image if isinstance(model, ImageQualityModel) else image.unsqueeze(1)
    from advqa.io import probe, read_video, to_tensor

    n = probe(path).frames
    if frames is not None and n > frames:
        pos = frame_positions(n, frames, generator)
        stride = pos[1] - pos[0] if len(pos) > 1 else 1
        clip = read_video(path, start=pos[0], stride=stride, max_frames=len(pos))
    else:
        clip = read_video(path)
    video = to_tensor(clip.frames)
    check_video(video)
    return video


def label_map(dataset: Any, model: QualityModel) -> tuple[float, float]:
    """``(a, b)`` such that ``a * mos + b`` is on the model's score scale: the identity when the
    dataset has no ``mos_range`` or it equals the card's ``score_range``, else the linear map
    between them (reversed for a lower-is-better model)."""
    mos_range = getattr(dataset, "mos_range", None)
    lo, hi = (float(v) for v in model.card.score_range)
    if mos_range is None:
        return 1.0, 0.0
    mlo, mhi = (float(v) for v in mos_range)
    if (mlo, mhi) == (lo, hi) and model.card.higher_is_better:
        return 1.0, 0.0
    if not mhi > mlo:
        raise InputError(f"dataset mos_range must be increasing, got {mos_range!r}")
    a = (hi - lo) / (mhi - mlo)
    if not model.card.higher_is_better:
        return -a, hi + a * mlo
    return a, lo - a * mlo


def evaluate_model(model: QualityModel, dataset: Iterable[Any], *, frames: int | None = None,
                   mapping: tuple[float, float] = (1.0, 0.0)) -> dict[str, Any]:
    """SRCC, KROCC, PLCC and RMSE (on the model's scale, labels mapped by ``mapping``) of the
    model on a dataset, each video scored on ``frames`` evenly spaced frames from offset 0
    (``None``: every frame). Adds ``scores`` (list, the model's scale)."""
    from advqa.metrics.correlation import krocc, plcc, srcc

    samples = list(dataset)
    a, b = mapping
    with torch.no_grad():
        pred = np.array([float(model(load_sample(s, model, frames))[0]) for s in samples])
    mos = np.array([a * float(s.mos) + b for s in samples])
    return {"srcc": srcc(pred, mos), "krocc": krocc(pred, mos), "plcc": plcc(pred, mos),
            "rmse": float(np.sqrt(np.mean((pred - mos) ** 2))), "n": len(samples), "scores": pred.tolist()}


def finetune(model: QualityModel, train_set: Any, *, trainable: Sequence[str] = ("head.",),
             nt_lambda: float = 0.0, nt_h: float = DEFAULT_H, h_space: str = "normalized",
             std: float | Sequence[float] | None = None, epochs: int = 1, frames: int | None = 4,
             batch_size: int = 8, lr: float = 1e-4, lr_for: Mapping[str, float] | None = None,
             weight_decay: float = 0.0, seed: int = 0,
             max_videos: int | None = None, test_set: Any | None = None, eval_frames: int | None = None,
             progress: bool = False) -> FinetuneResult:
    """Train ``model``'s parameters named by the ``trainable`` prefixes on ``train_set``, in place.

    Loss per video: ``|f(x) - y|`` + ``nt_lambda * 1/2 * ((f(x + h d) - f(x)) / h) ** 2``
    (:func:`advqa.training.nt.nt_loss`; ``nt_lambda = 0`` is plain L1 and takes no input
    gradient). ``nt_h`` in ``h_space`` ("normalized": the official space, via the model's
    ``input_std`` or ``std``; "pixels"). Adam (``lr``, ``weight_decay``; ``lr_for`` maps a
    parameter-name prefix to its own learning rate, the longest matching prefix winning, e.g.
    ``{"backbone.": 1e-5}`` for a slower backbone) over ``epochs`` passes
    of shuffled mini-batches of ``batch_size`` videos, ``frames`` frames per video (see the
    module docstring); ``max_videos`` draws a seeded subset of the train set. ``test_set``
    (optional) is evaluated at the end on ``eval_frames`` frames per video (default ``frames``).
    Returns the trained parameters, the metrics and the per-epoch losses; afterwards every
    parameter is frozen again and the model is in eval mode.
    """
    check_nt_options(nt_lambda, nt_h, h_space)
    for value, what in ((epochs, "epochs"), (batch_size, "batch_size")):
        if not isinstance(value, int) or value < 1:
            raise InputError(f"{what} must be a positive integer, got {value!r}")
    if frames is not None and (not isinstance(frames, int) or frames < 1):
        raise InputError(f"frames (per video and step) must be a positive integer or None, got {frames!r}")
    if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
        raise InputError(f"lr must be a positive number, got {lr!r}")
    if weight_decay < 0:
        raise InputError(f"weight_decay must be >= 0, got {weight_decay!r}")
    lr_for = dict(lr_for or {})
    bad = {k: v for k, v in lr_for.items() if not (isinstance(v, (int, float)) and v > 0 and math.isfinite(v))}
    if bad:
        raise InputError(f"lr_for learning rates must be positive numbers, got {bad}")
    names = select_trainable(model, trainable)
    params = [p for n, p in model.named_parameters() if p.requires_grad]
    unused = [k for k in lr_for if not any(n.startswith(k) for n in names)]
    if unused:
        raise InputError(f"lr_for prefixes {unused} match no trainable parameter (trainable: {list(trainable)})")
    groups: dict[float, list[torch.nn.Parameter]] = {}
    for n, p in model.named_parameters():
        if p.requires_grad:
            match = max((k for k in lr_for if n.startswith(k)), key=len, default=None)
            groups.setdefault(float(lr_for[match]) if match is not None else float(lr), []).append(p)
    samples = list(train_set)
    if max_videos is not None:
        if max_videos < 2:
            raise InputError(f"max_videos must be >= 2, got {max_videos!r}")
        pick = torch.randperm(len(samples), generator=torch.Generator().manual_seed(seed))[:max_videos]
        samples = [samples[i] for i in sorted(pick.tolist())]
    if len(samples) < 2:
        raise InputError(f"need at least 2 training videos, got {len(samples)}")
    if nt_lambda > 0 and h_space == "normalized" and std is None:
        from advqa.training.nt import h_step

        h_step(model, nt_h, h_space)  # fail before training when the model states no input_std
    a, b = label_map(train_set, model)
    targets = [a * float(s.mos) + b for s in samples]

    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam([{"params": ps, "lr": rate} for rate, ps in groups.items()], lr=lr,
                           weight_decay=weight_decay)
    model.eval()
    history: list[dict[str, float]] = []
    n = len(samples)
    for epoch in range(epochs):
        order = torch.randperm(n, generator=gen).tolist()
        sums = {"loss": 0.0, "l1": 0.0, "reg": 0.0, "fd": 0.0}
        for start in range(0, n, batch_size):
            batch = order[start:start + batch_size]
            opt.zero_grad(set_to_none=True)
            before = dict(sums)
            for j in batch:
                x = load_sample(samples[j], model, frames, gen)
                out = nt_loss(model, x, torch.tensor([targets[j]]), lam=nt_lambda, h=nt_h, h_space=h_space, std=std)
                (out.total / len(batch)).backward(inputs=params)
                sums["loss"] += float(out.total.detach())
                sums["l1"] += float(out.l1)
                sums["reg"] += float(out.reg)
                sums["fd"] += float(out.fd.abs().mean())
            opt.step()
            if progress:
                log.info("epoch %d, %d/%d videos: batch L1 %.4f, reg %.4g, |fd| %.4g", epoch + 1,
                         start + len(batch), n, *((sums[k] - before[k]) / len(batch) for k in ("l1", "reg", "fd")))
        history.append({k: v / n for k, v in sums.items()})
        log.info("epoch %d: loss %.4f, L1 %.4f, reg %.4g, |fd| %.4g", epoch + 1, *history[-1].values())
    for p in model.parameters():
        p.requires_grad_(False)
    model.eval()

    metrics: dict[str, Any] = {
        "model": model.card.name, "trainable": list(trainable), "parameters": int(sum(p.numel() for p in params)),
        "nt_lambda": nt_lambda, "nt_h": nt_h, "h_space": h_space, "epochs": epochs, "frames": frames,
        "batch_size": batch_size, "lr": lr, "lr_for": lr_for, "weight_decay": weight_decay, "seed": seed, "videos": n,
    }
    if test_set is not None:
        metrics["test"] = evaluate_model(model, test_set, frames=eval_frames if eval_frames is not None else frames,
                                         mapping=label_map(test_set, model))
    own = dict(model.named_parameters())
    sd = {k: own[k].detach().clone().contiguous() for k in names}
    return FinetuneResult(state_dict=sd, metrics=metrics, history=history)
