"""KADID-10k (Lin, Hosu, Saupe, "KADID-10k: A Large-scale Artificially Distorted IQA Database",
QoMEX 2019): 10,125 distorted images (81 references x 25 distortion types x 5 levels), 512x384,
DMOS on a 1-5 scale where **higher is better** (5: imperceptible), like a MOS.

Layout of the official release (``kadid10k.zip``)::

    root/                        (the zip's kadid10k/ folder, or its parent)
      images/I01.png, images/I01_01_01.png, ...   (references and distorted images together)
      dmos.csv                   (dist_img, ref_img, dmos, var)

Label files, in the order they are searched: ``dmos.csv`` (in ``root`` or ``root/kadid10k/``),
then ``meta_info_KADID10kDataset.csv`` (pyiqa's list: ``ref_name, dist_name, dmos, std``).
Distorted image names are ``I<ref>_<type>_<level>.png``; ``meta`` holds ``reference``,
``distortion`` (1-25) and ``level`` (1-5), and ``var`` or ``std`` of the ratings as the file gives.

Split by reference image, so no content is on both sides: ``train``/``test``/``all``, a seeded
split of the 81 references (:func:`advqa.data.images.hashed_split`; ``seed=0``,
``test_fraction=0.2``: 16 test references, 2,000 images).
"""
from __future__ import annotations

import re
from pathlib import Path

from advqa.data.base import ImageDataset
from advqa.data.images import select_split
from advqa.data.labels import Entry, build_dataset, check_root, find_label_file, parse_number, read_csv_table
from advqa.errors import DatasetError

NAME = "kadid-10k"
MOS_RANGE = (1.0, 5.0)
LABEL_FILES = ("dmos.csv", "kadid10k/dmos.csv", "meta_info_KADID10kDataset.csv")
_DIST = re.compile(r"^(I\d+)_(\d+)_(\d+)$", re.IGNORECASE)
_HINT = ("download KADID-10k from https://database.mmsp-kn.de/kadid-10k-database.html (images/ and dmos.csv) "
         "and pass that folder")


def _entries(path: Path) -> tuple[list[Entry], str]:
    rows = read_csv_table(path, [])
    cols = set(rows[0][1])
    if {"dist_img", "ref_img", "dmos"} <= cols:
        dist, ref, spread, fmt = "dist_img", "ref_img", "var", "kadid-dmos-csv"
    elif {"dist_name", "ref_name", "dmos"} <= cols:
        dist, ref, spread, fmt = "dist_name", "ref_name", "std", "pyiqa-csv"
    else:
        raise DatasetError(f"{path}: expected columns dist_img, ref_img, dmos (dmos.csv) or ref_name, dist_name, "
                           f"dmos (pyiqa); the header has {', '.join(sorted(cols))}")
    out = []
    for line, row in rows:
        name = row[dist].strip()
        stem = Path(name).stem
        m = _DIST.match(stem)
        if m is None:
            raise DatasetError(f"{path}, line {line}: {name!r} is not a KADID-10k name (I<ref>_<type>_<level>.png)")
        meta: dict[str, object] = {"image_name": name, "reference": Path(row[ref].strip()).stem.upper(),
                                   "reference_file": row[ref].strip(), "distortion": int(m.group(2)),
                                   "level": int(m.group(3))}
        if row.get(spread, "").strip():
            meta[spread] = parse_number(row[spread], path, line, spread)
        out.append(Entry(stem, parse_number(row["dmos"], path, line, "DMOS"),
                         (f"images/{name}", f"kadid10k/images/{name}", name), line, meta))
    return out, fmt


def load_kadid(root: str | Path, split: str | None = None, *, labels: str | Path | None = None,
               seed: int = 0, test_fraction: float = 0.2, allow_missing: bool = False,
               check_files: bool = True) -> ImageDataset:
    """Load KADID-10k from ``root`` (layouts and label files: module docstring).

    ``split``: None/"all", "train" or "test": split by reference image with ``seed`` and
    ``test_fraction``. DMOS on 1-5, higher is better.
    """
    root = check_root(root, NAME, _HINT)
    path = find_label_file(root, LABEL_FILES, NAME, labels)
    entries, fmt = _entries(path)
    entries, info = select_split(entries, split, NAME, key="reference", seed=seed, test_fraction=test_fraction)
    return build_dataset(NAME, entries, root, path, mos_range=MOS_RANGE, label_format=fmt,
                         layout="images/I01_01_01.png", allow_missing=allow_missing,
                         check_files=check_files, info=info, kind="image")
