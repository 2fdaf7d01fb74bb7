"""The evaluation protocol, stated once: which videos are attacked, the MOS maximum, the clean-score
statistics and the boundary targets. The runner and the ``benchmarks/`` scripts both use it.

The protocol of Zhang, Ran, Tang, Wang, "Vulnerabilities in Video Quality Assessment Models:
The Challenge of Adversarial Attacks" (NeurIPS 2023):

- **the attacked set**: ``videos`` videos of a dataset split drawn without replacement with the
  experiment seed (the paper uses 50), all of them when ``videos`` is unset
  (:func:`attacked_set`, through :meth:`advqa.data.base.VideoDataset.subset`);
- **the MOS maximum**: MOS are normalised as ``q = MOS / mos_max`` with ``mos_max`` the largest
  MOS of the *whole* dataset, every split included, as observed in its labels (the official
  AttackVQA code divides by the maximum of the dataset's score list), not the top of the
  published scale (:func:`mos_max`);
- **the clean scores**: the model scores every video of the attacked set before any attack;
  their correlations with MOS are the "before" numbers (:func:`clean_statistics`);
- **the boundary targets** of Eq. 7, with statistics over the attacked set
  (:func:`targets`, :func:`advqa.metrics.robustness.boundary_targets`): where they are
  undefined (one video, or every MOS equal) each attack falls back to its own target.

:data:`PROTOCOL_VERSION` is hashed into every stored attack row's configuration, so a change of
protocol never mixes old and new rows in one summary.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from advqa.errors import AdvqaError, InputError

if TYPE_CHECKING:
    from advqa.bench.config import DatasetSpec
    from advqa.data.base import VideoDataset

log = logging.getLogger(__name__)

#: 1: mos_max was the top of the published MOS scale; 2: the largest MOS of the whole dataset.
PROTOCOL_VERSION = 2

#: the split name that loads a dataset whole; the folder loader has no such name (None loads all)
_WHOLE = {"folder": None}


def dataset_key(spec: DatasetSpec) -> str:
    """The name a dataset's rows are stored under (``demo:test``)."""
    return f"{spec.name}:{spec.split}" if spec.split else spec.name


def load(spec: DatasetSpec) -> VideoDataset:
    """Load the split of ``spec``, all of it (not subsampled)."""
    from advqa.data import load_dataset

    return load_dataset(spec.name, root=spec.root, split=spec.split, allow_missing=spec.allow_missing)


def mos_max(spec: DatasetSpec, loaded: VideoDataset | None = None) -> float:
    """The largest MOS of the whole dataset of ``spec`` (every split), the ``mos_max`` of Eq. 7.

    ``loaded`` (the split being evaluated) is used when the dataset cannot be loaded whole, with a
    warning: then the maximum is the split's.
    """
    from advqa.data.registry import DATASETS

    name = DATASETS.resolve(spec.name)
    try:
        whole = load(replace(spec, split=_WHOLE.get(name, "all")))
    except AdvqaError as exc:
        if loaded is None:
            raise
        log.warning("%s: cannot load the whole dataset for the MOS maximum (%s); using the largest MOS of "
                    "split %s", spec.name, exc, spec.split)
        whole = loaded
    return float(max(s.mos for s in whole))


@dataclass
class AttackedSet:
    """The videos a dataset entry contributes to an experiment, with the MOS maximum of Eq. 7."""

    spec: DatasetSpec
    key: str
    dataset: VideoDataset
    mos_max: float

    def __len__(self) -> int:
        return len(self.dataset)

    def __iter__(self):  # noqa: ANN204 - iterates the samples
        return iter(self.dataset)


def attacked_set(spec: DatasetSpec, seed: int) -> AttackedSet:
    """Load ``spec``, draw its ``videos`` with ``seed`` and find its MOS maximum."""
    ds = load(spec)
    return AttackedSet(spec=spec, key=dataset_key(spec), dataset=ds.subset(spec.videos, seed),
                       mos_max=mos_max(spec, ds))


def clean_statistics(mos: ArrayLike, scores: ArrayLike) -> dict[str, Any]:
    """The "before" numbers of a set: SRCC, KROCC, PLCC (and fitted PLCC / RMSE) of the clean
    scores ``(N,)`` against MOS ``(N,)``, plus the mean and population std of the scores (the
    ``EST`` statistics of Eq. 7)."""
    from advqa.metrics.correlation import correlations

    s = np.asarray(scores, dtype=float)
    out = dict(correlations(s, mos))
    out.update(mean=float(s.mean()) if s.size else float("nan"), std=float(s.std()) if s.size else float("nan"))
    return out


def targets(mos: ArrayLike, scores: ArrayLike, mos_max: float, *, higher_is_better: bool = True) -> list[float | None]:
    """Eq. 7 boundary targets ``(N,)`` of a set from its MOS and clean scores (model units), or
    ``None`` for each video when the set has no statistics (one video, or all MOS equal); each
    attack then uses its own fallback target."""
    from advqa.metrics.robustness import boundary_targets

    n = len(np.asarray(scores))
    try:
        return [float(t) for t in boundary_targets(mos, scores, mos_max=mos_max, higher_is_better=higher_is_better)]
    except InputError as exc:
        log.warning("no set-level boundary targets (%s); each attack uses its own fallback", exc)
        return [None] * n


__all__ = ["PROTOCOL_VERSION", "AttackedSet", "attacked_set", "clean_statistics", "dataset_key", "load", "mos_max",
           "targets"]
