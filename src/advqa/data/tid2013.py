"""TID2013 (Ponomarenko et al., "Image database TID2013: Peculiarities, results and perspectives",
Signal Processing: Image Communication 30, 2015): 3,000 distorted images (25 references x 24
distortion types x 5 levels), 512x384 BMP, MOS on a 0-9 scale (higher is better).

Layout of the official release (``tid2013.rar``)::

    root/
      distorted_images/i01_01_1.bmp ...   (names in mixed case, e.g. I01_01_1.bmp next to i01_01_2.bmp)
      reference_images/I01.BMP ...
      mos_with_names.txt    one "MOS name" pair per line (5.51429 I01_01_1.bmp)
      mos_std.txt           one standard deviation per line, same order (optional)

Label files, in the order they are searched: ``mos_with_names.txt``, then
``meta_info_TID2013Dataset.csv`` (pyiqa's list: ``ref_name, dist_name, mos, std``). File names are
matched case-insensitively, because the label files and the copies in circulation disagree on case.
``meta`` holds ``reference`` (I01-I25), ``distortion`` (1-24), ``level`` (1-5) and ``std`` when known.

Split by reference image: ``train``/``test``/``all``, a seeded split of the 25 references
(:func:`advqa.data.images.hashed_split`; ``seed=0``, ``test_fraction=0.2``: 5 test references,
600 images, the proportions of pyiqa's split).
"""
from __future__ import annotations

import re
from pathlib import Path

from advqa.data.base import ImageDataset
from advqa.data.images import CaseIndex, select_split
from advqa.data.labels import Entry, build_dataset, check_root, find_label_file, parse_number, read_csv_table
from advqa.errors import DatasetError

NAME = "tid2013"
MOS_RANGE = (0.0, 9.0)
LABEL_FILES = ("mos_with_names.txt", "meta_info_TID2013Dataset.csv")
_DIST = re.compile(r"^(i\d+)_(\d+)_(\d+)$", re.IGNORECASE)
_HINT = ("download TID2013 from https://www.ponomarenko.info/tid2013.htm (distorted_images/, reference_images/, "
         "mos_with_names.txt) and pass that folder")


def _entry(name: str, mos: float, line: int, path: Path, std: float | None = None) -> Entry:
    stem = Path(name).stem
    m = _DIST.match(stem)
    if m is None:
        raise DatasetError(f"{path}, line {line}: {name!r} is not a TID2013 name (i<ref>_<type>_<level>.bmp)")
    meta: dict[str, object] = {"image_name": name, "reference": m.group(1).upper(),
                               "distortion": int(m.group(2)), "level": int(m.group(3))}
    if std is not None:
        meta["std"] = std
    # sample names in one case, so "I01_01_1" and "i01_01_1" cannot both appear
    return Entry(stem.lower(), mos, (f"distorted_images/{name}", name), line, meta)


def _from_txt(path: Path) -> list[Entry]:
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not a text file ({exc}); expected lines 'MOS name'") from None
    stds: list[float] | None = None
    std_path = path.with_name("mos_std.txt")
    if std_path.is_file():
        values = [t for t in std_path.read_text().split() if t.strip()]
        stds = [parse_number(v, std_path, i, "std") for i, v in enumerate(values, start=1)]
    out = []
    for lineno, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        parts = raw.split()
        if len(parts) != 2:
            raise DatasetError(f"{path}, line {lineno}: expected 'MOS name', got {raw.strip()!r}")
        std = stds[len(out)] if stds is not None and len(out) < len(stds) else None
        out.append(_entry(parts[1], parse_number(parts[0], path, lineno), lineno, path, std))
    if stds is not None and len(stds) != len(out):
        raise DatasetError(f"{std_path} has {len(stds)} values but {path} lists {len(out)} images; "
                           "the files do not belong together")
    if not out:
        raise DatasetError(f"{path}: the file is empty; expected lines 'MOS name'")
    return out


def _from_csv(path: Path) -> list[Entry]:
    rows = read_csv_table(path, ["dist_name", "mos"])
    return [_entry(r["dist_name"].strip(), parse_number(r["mos"], path, line), line, path,
                   parse_number(r["std"], path, line, "std") if r.get("std", "").strip() else None)
            for line, r in rows]


def load_tid2013(root: str | Path, split: str | None = None, *, labels: str | Path | None = None,
                 seed: int = 0, test_fraction: float = 0.2, allow_missing: bool = False,
                 check_files: bool = True) -> ImageDataset:
    """Load TID2013 from ``root`` (layouts and label files: module docstring).

    ``split``: None/"all", "train" or "test": split by reference image with ``seed`` and
    ``test_fraction``. Sample names are lower case (``i01_01_1``). MOS on 0-9.
    """
    root = check_root(root, NAME, _HINT)
    path = find_label_file(root, LABEL_FILES, NAME, labels)
    entries = _from_csv(path) if path.suffix.lower() == ".csv" else _from_txt(path)
    fmt = "pyiqa-csv" if path.suffix.lower() == ".csv" else "tid-mos-with-names"
    entries, info = select_split(entries, split, NAME, key="reference", seed=seed, test_fraction=test_fraction)
    if check_files:
        index = CaseIndex(root)
        entries = [Entry(e.name, e.mos, tuple(dict.fromkeys(index.resolve(c) for c in e.candidates)), e.line, e.meta)
                   for e in entries]
    return build_dataset(NAME, entries, root, path, mos_range=MOS_RANGE, label_format=fmt,
                         layout="distorted_images/i01_01_1.bmp", allow_missing=allow_missing,
                         check_files=check_files, info=info, kind="image")
