"""SPAQ (Fang, Zhu, Zeng, Ma, Wang, "Perceptual Quality Assessment of Smartphone Photography",
CVPR 2020): 11,125 photos from 66 smartphones, MOS on a 0-100 scale, with five image attributes.

Layout of the official release::

    root/
      TestImage/00001.jpg ... 11125.jpg
      Annotations/MOS and Image attribute scores.xlsx   (Image name, MOS, Brightness, Colorfulness,
                                                          Contrast, Noisiness, Sharpness)

Label files, in the order they are searched: the official ``.xlsx`` (read without extra
dependencies), a CSV export of it (``Annotations/MOS and Image attribute scores.csv``, what many
loaders read), then ``meta_info_SPAQDataset.csv`` (pyiqa's list: ``Image name, MOS``, the
attributes, scene fractions and EXIF). The five attributes (0-100) go to ``meta``; of a repeated
column name (pyiqa's file has two ``Brightness`` columns, the attribute and the EXIF value) the
first is taken.

Images are full-size phone photos (up to 4000 x 3000); the literature resizes them (short side 512)
before scoring, which is the model's business, not the loader's.

Split: SPAQ has no content groups, so ``train``/``test``/``all`` is a seeded 80/20 split of the
images (:func:`advqa.data.images.hashed_split`; ``seed=0``, ``test_fraction=0.2``).
"""
from __future__ import annotations

from pathlib import Path

from advqa.data.base import ImageDataset
from advqa.data.images import read_xlsx_table, select_split
from advqa.data.labels import Entry, build_dataset, check_root, find_label_file, parse_number, read_csv_table
from advqa.errors import DatasetError

NAME = "spaq"
MOS_RANGE = (0.0, 100.0)
_OFFICIAL = "Annotations/MOS and Image attribute scores"
LABEL_FILES = (f"{_OFFICIAL}.xlsx", f"{_OFFICIAL}.csv", "meta_info_SPAQDataset.csv")
ATTRIBUTES = ("brightness", "colorfulness", "contrast", "noisiness", "sharpness")
_HINT = ("download SPAQ (github.com/h4nwei/SPAQ: TestImage/ and Annotations/) and pass that folder")


def load_spaq(root: str | Path, split: str | None = None, *, labels: str | Path | None = None,
              seed: int = 0, test_fraction: float = 0.2, allow_missing: bool = False,
              check_files: bool = True) -> ImageDataset:
    """Load SPAQ from ``root`` (layouts and label files: module docstring).

    ``split``: None/"all", "train" or "test" (a seeded split of the images). MOS on 0-100.
    """
    root = check_root(root, NAME, _HINT)
    path = find_label_file(root, LABEL_FILES, NAME, labels)
    required = ["image name", "mos"]
    xlsx = path.suffix.lower() == ".xlsx"
    rows = read_xlsx_table(path, required) if xlsx else read_csv_table(path, required, first_wins=True)
    entries = []
    for line, row in rows:
        name = row["image name"].strip()
        if not name:
            raise DatasetError(f"{path}, line {line}: empty image name")
        if "." not in name:  # a spreadsheet may hold 00001 as a number
            name = f"{int(float(name)):05d}.jpg" if name.replace(".", "").isdigit() else name
        meta: dict[str, object] = {"image_name": name}
        for a in ATTRIBUTES:
            if row.get(a, "").strip():
                meta[a] = parse_number(row[a], path, line, a)
        entries.append(Entry(Path(name).stem, parse_number(row["mos"], path, line), (f"TestImage/{name}", name),
                             line, meta))
    entries, info = select_split(entries, split, NAME, key="image_name", seed=seed, test_fraction=test_fraction)
    return build_dataset(NAME, entries, root, path, mos_range=MOS_RANGE,
                         label_format="spaq-xlsx" if xlsx else "spaq-csv", layout="TestImage/00001.jpg",
                         allow_missing=allow_missing, check_files=check_files,
                         info={**info, "test_groups": len(info["test_groups"])}, kind="image")
