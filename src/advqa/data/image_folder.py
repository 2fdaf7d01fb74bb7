"""Your own images: a folder with a ``labels.csv`` (``image-folder``), or any folder of images
without labels (``unlabelled-images``).

``image-folder``: ``labels.csv`` (or ``mos.csv``) with columns ``name`` (file names relative to
the folder, PNG/JPEG/BMP), ``mos`` and optionally ``split`` (then ``split=...`` selects rows);
the MOS scale is taken from the columns ``mos_min``/``mos_max`` when given (the same on every
row), else from the data's range.

``unlabelled-images``: every PNG, JPEG and BMP file under the folder (sub-folders included,
sorted by path), with ``mos=None``. That is the MSU benchmark's setting (Antsiferova et al.,
"Comparing the Robustness of Modern No-Reference Image- and Video-Quality Metrics to Adversarial
Attacks", AAAI 2024): images are attacked without subjective scores and the measures are score
gains, which need no MOS.
"""
from __future__ import annotations

from pathlib import Path

from advqa.data.base import ImageDataset, Sample
from advqa.data.labels import Entry, build_dataset, check_root, find_label_file, parse_number, read_csv_table
from advqa.errors import DatasetError
from advqa.io.image import IMAGE_SUFFIXES, is_image_file

LABEL_FILES = ("labels.csv", "mos.csv")


def load_image_folder(root: str | Path, split: str | None = None, *, allow_missing: bool = False) -> ImageDataset:
    """Load ``root/labels.csv`` (or ``mos.csv``): columns ``name``, ``mos``, optionally ``split``,
    ``mos_min``, ``mos_max``. ``split``: keep the rows whose ``split`` column equals it."""
    root = check_root(root, "image-folder", "pass a folder holding your images and a labels.csv (name,mos)")
    path = find_label_file(root, LABEL_FILES, "image-folder")
    rows = read_csv_table(path, ["name", "mos"])
    if split is not None and split != "all" and "split" not in rows[0][1]:
        raise DatasetError(f"{path} has no 'split' column, so split {split!r} selects nothing; "
                           "add the column or leave split unset")
    entries: list[Entry] = []
    scale: set[tuple[float, float]] = set()
    for line, row in rows:
        if split not in (None, "all") and row.get("split", "").strip() != split:
            continue
        name = row["name"].strip()
        if not is_image_file(name):
            raise DatasetError(f"{path}, line {line}: {name!r} is not a PNG/JPEG/BMP file name; for videos "
                               "use the 'folder' dataset")
        if row.get("mos_min", "").strip() and row.get("mos_max", "").strip():
            scale.add((parse_number(row["mos_min"], path, line, "mos_min"),
                       parse_number(row["mos_max"], path, line, "mos_max")))
        meta = {k: v for k, v in row.items() if k not in ("name", "mos", "mos_min", "mos_max")}
        entries.append(Entry(Path(name).stem, parse_number(row["mos"], path, line), (name,), line, meta))
    if not entries:
        raise DatasetError(f"{path}: no images" + (f" in split {split!r}" if split else ""))
    if len(scale) > 1:
        raise DatasetError(f"{path}: mos_min/mos_max differ between rows ({sorted(scale)}); give one scale")
    if scale:
        lo, hi = scale.pop()
    else:
        lo, hi = min(e.mos for e in entries), max(e.mos for e in entries)
        hi = hi if hi > lo else lo + 1.0
    if not hi > lo:
        raise DatasetError(f"{path}: mos_max must be larger than mos_min, got {lo:g} and {hi:g}")
    return build_dataset("image-folder", entries, root, path, mos_range=(lo, hi), label_format="folder-csv",
                         layout="<name> as listed in labels.csv", allow_missing=allow_missing,
                         info={"split": split or "all"}, kind="image")


def load_unlabelled_images(root: str | Path, split: str | None = None, *, recursive: bool = True,
                           allow_missing: bool = False) -> ImageDataset:
    """Every PNG/JPEG/BMP file under ``root`` (``recursive``: sub-folders too), sorted by relative
    path, as samples with ``mos=None``; a sample's name is its relative path without the suffix.
    ``split``: only None/"all" (there are no labels to split by). ``allow_missing`` is accepted
    for the registry's sake and has no effect (nothing is listed that could be missing)."""
    if split not in (None, "all"):
        raise DatasetError(f"unlabelled-images has no split {split!r}; leave split unset")
    root = check_root(root, "unlabelled-images", "pass a folder holding PNG, JPEG or BMP images")
    files = sorted(p for p in (root.rglob("*") if recursive else root.iterdir())
                   if p.is_file() and is_image_file(p) and not p.name.startswith("."))
    if not files:
        raise DatasetError(f"unlabelled-images: no {'/'.join(s.lstrip('.') for s in IMAGE_SUFFIXES)} files in "
                           f"{root}{' or its sub-folders' if recursive else ''}")
    samples = []
    seen: dict[str, Path] = {}
    for p in files:
        rel = p.relative_to(root)
        name = rel.with_suffix("").as_posix()
        if name in seen:
            raise DatasetError(f"unlabelled-images: {seen[name].name} and {p.name} in {p.parent} share the name "
                               f"{name!r}; rename one")
        seen[name] = p
        samples.append(Sample(name, p, None, {"file": rel.as_posix()}, "image"))
    return ImageDataset("unlabelled-images", samples, None, root=root,
                        info={"labels": None, "split": "all", "recursive": recursive})
