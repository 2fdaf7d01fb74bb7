"""The common dataset types: a :class:`Sample` per video or image, and a :class:`VideoDataset` or
:class:`ImageDataset` of them."""
from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from advqa.errors import InputError


@dataclass(frozen=True)
class Sample:
    """One video or image of a dataset: its file, its MOS in the dataset's own scale (``None`` in
    an unlabelled set), metadata, and ``kind`` ("video" or "image": how to decode the file)."""

    name: str
    path: Path
    mos: float | None
    meta: dict[str, Any] = field(default_factory=dict)
    kind: str = "video"


@dataclass
class VideoDataset:
    """A named list of samples with the dataset's MOS scale.

    ``mos_range`` is the dataset's published scale (e.g. (1, 5) for KoNViD-1k, (0, 100) for
    LIVE-VQC); :meth:`normalised_mos` maps a MOS to [0, 1] with it.
    """

    #: What the samples are: "video" here, "image" in :class:`ImageDataset`.
    kind: ClassVar[str] = "video"

    name: str
    samples: list[Sample]
    mos_range: tuple[float, float]
    root: Path | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    def __getitem__(self, i: int) -> Sample:
        return self.samples[i]

    @property
    def labelled(self) -> bool:
        """Whether every sample has a MOS (an unlabelled set supports score gains, not correlations)."""
        return all(s.mos is not None for s in self.samples)

    def normalised_mos(self, mos: float) -> float:
        """MOS mapped linearly from ``mos_range`` to [0, 1]."""
        if mos is None or self.mos_range is None:
            raise InputError(f"{self.name} has no MOS (an unlabelled set): there is nothing to normalise")
        lo, hi = self.mos_range
        return (float(mos) - lo) / (hi - lo)

    def subset(self, n: int | None, seed: int = 0) -> VideoDataset:
        """A protocol subset: ``n`` samples drawn without replacement with ``seed`` (all of them,
        in order, when ``n`` is None or not smaller than the dataset). Zhang, Ran, Tang, Wang,
        "Vulnerabilities in Video Quality Assessment Models: The Challenge of Adversarial
        Attacks" (NeurIPS 2023) attack 50 videos per dataset."""
        if n is None or n >= len(self.samples):
            return self
        if n < 1:
            raise InputError(f"number of {self.kind}s must be at least 1, got {n}")
        picked = sorted(random.Random(seed).sample(range(len(self.samples)), n))
        return replace(self, samples=[self.samples[i] for i in picked],
                       info={**self.info, "subset": {"n": n, "seed": seed}})

    def select(self, names: Sequence[str]) -> VideoDataset:
        """The samples with the given names, in that order."""
        by_name = {s.name: s for s in self.samples}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise InputError(f"{self.name}: no {self.kind} named {', '.join(missing[:5])}")
        return replace(self, samples=[by_name[n] for n in names])


@dataclass
class ImageDataset(VideoDataset):
    """A dataset of images (IQA): the same API as :class:`VideoDataset`, samples of kind "image".

    ``mos_range`` is ``None`` for an unlabelled set (every ``mos`` is ``None``): attacks and score
    gains (the MSU benchmark's measures) need no MOS, correlations do.
    """

    kind: ClassVar[str] = "image"

    mos_range: tuple[float, float] | None  # type: ignore[assignment]
