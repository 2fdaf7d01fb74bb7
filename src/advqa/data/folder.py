"""A dataset from any folder of videos with a ``labels.csv`` (``name,mos`` columns).

The simplest way to run advqa on your own videos: put them in a folder with a CSV whose ``name``
column holds file names relative to the folder and whose ``mos`` column holds their scores
(any scale; give the scale with ``mos_min``/``mos_max`` columns or it is taken from the data).
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

from advqa.data.base import Sample, VideoDataset
from advqa.errors import DatasetError

LABEL_FILES = ("labels.csv", "mos.csv")


def load_folder(root: Path, split: str | None = None) -> VideoDataset:
    """Load ``root/labels.csv`` (or ``mos.csv``): columns ``name``, ``mos`` and optionally ``split``."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist")
    label = next((root / f for f in LABEL_FILES if (root / f).is_file()), None)
    if label is None:
        raise DatasetError(f"{root}: no label file; expected one of {', '.join(LABEL_FILES)} "
                           "with columns name,mos (file names relative to the folder)")
    samples: list[Sample] = []
    missing: list[str] = []
    with label.open(newline="") as fh:
        reader = csv.DictReader(line for line in fh if not line.startswith("#"))
        cols = set(reader.fieldnames or [])
        if not {"name", "mos"} <= cols:
            raise DatasetError(f"{label}: needs columns 'name' and 'mos', found {sorted(cols)}")
        for lineno, row in enumerate(reader, start=2):
            if split is not None and row.get("split") not in (None, "", split):
                continue
            try:
                mos = float(row["mos"])
            except (TypeError, ValueError):
                raise DatasetError(f"{label}, line {lineno}: MOS {row['mos']!r} is not a number") from None
            if not math.isfinite(mos):
                raise DatasetError(f"{label}, line {lineno}: MOS is {row['mos']!r}; give a finite number")
            path = root / row["name"]
            if not path.is_file():
                missing.append(row["name"])
                continue
            samples.append(Sample(Path(row["name"]).stem, path, mos,
                                  {k: v for k, v in row.items() if k not in ("name", "mos")}))
    if missing:
        raise DatasetError(f"{label}: {len(missing)} video(s) listed but not found under {root}, e.g. "
                           f"{', '.join(missing[:5])}; add the files or remove their lines")
    if not samples:
        raise DatasetError(f"{label}: no videos" + (f" in split {split!r}" if split else ""))
    mos_values = [s.mos for s in samples]
    lo, hi = min(mos_values), max(mos_values)
    if hi == lo:
        hi = lo + 1.0
    return VideoDataset("folder", samples, (lo, hi), root=root, info={"labels": str(label)})
