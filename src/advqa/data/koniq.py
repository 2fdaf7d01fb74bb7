"""KonIQ-10k (Hosu, Lin, Sziranyi, Saupe, IEEE TIP 2020): 10,073 in-the-wild images, 1024x768.

Layout of the official release (``koniq10k_1024x768.zip``, ``koniq10k_scores_and_distributions.zip``;
the split file from the authors' repository subpic/koniq, ``metadata/``)::

    root/
      1024x768/<image_name>.jpg          (or 512x384/ for the half-size release)
      koniq10k_distributions_sets.csv    (image_name, c1..c5, c_total, MOS, SD, set)
      koniq10k_scores_and_distributions.csv  (image_name, c1..c5, c_total, MOS, SD, MOS_zscore)

Label files, in the order they are searched: ``koniq10k_distributions_sets.csv`` (in ``root`` or
``root/metadata/``; it carries the official split), then ``koniq10k_scores_and_distributions.csv``.

Scale: the MOS of the samples is the 0-100 z-score MOS (the ``MOS`` column of the sets file, the
``MOS_zscore`` column of the scores file), the scale the IQA literature reports on; the 1-5 mean of
the votes is kept as ``meta["mos_1to5"]`` (the scores file's ``MOS``, or ``sum(k * c_k)`` from the
vote fractions of the sets file), the votes' standard deviation (1-5 scale) as ``meta["sd"]``.

Split: the official ``set`` column: ``train`` (7,058 images, "training"), ``validation`` (1,000),
``test`` (2,015), or ``all``. The scores file has no split; only ``all`` works with it.
"""
from __future__ import annotations

from pathlib import Path

from advqa.data.base import ImageDataset
from advqa.data.labels import Entry, build_dataset, check_root, find_label_file, parse_number, read_csv_table
from advqa.errors import DatasetError

NAME = "koniq-10k"
MOS_RANGE = (0.0, 100.0)
SIZES = ("1024x768", "512x384")
SETS_FILE = "koniq10k_distributions_sets.csv"
SCORES_FILE = "koniq10k_scores_and_distributions.csv"
LABEL_FILES = (SETS_FILE, f"metadata/{SETS_FILE}", SCORES_FILE, f"koniq10k_scores_and_distributions/{SCORES_FILE}")
#: split name -> value of the ``set`` column
SPLITS = {"train": "training", "validation": "validation", "test": "test"}
_HINT = ("download KonIQ-10k from https://database.mmsp-kn.de/koniq-10k-database.html (koniq10k_1024x768.zip "
         f"and {SCORES_FILE}; {SETS_FILE} with the official split is in github.com/subpic/koniq, metadata/) "
         "and pass that folder")


def _candidates(name: str, size: str) -> tuple[str, ...]:
    return (f"{size}/{name}", f"koniq10k_{size}/{size}/{name}", f"koniq10k_{size}/{name}", name)


def _entries(path: Path, size: str) -> tuple[list[Entry], bool]:
    """Entries of either label file, and whether it has the official ``set`` column."""
    rows = read_csv_table(path, ["image_name", "mos"])
    cols = set(rows[0][1])
    has_sets = "set" in cols
    zscore = "mos_zscore" in cols
    if not has_sets and not zscore:
        raise DatasetError(f"{path}: neither a 'set' column ({SETS_FILE}) nor a 'MOS_zscore' column "
                           f"({SCORES_FILE}); is this KonIQ-10k's label file?")
    votes = [f"c{k}" for k in range(1, 6)]
    out = []
    for line, row in rows:
        name = row["image_name"].strip()
        meta: dict[str, object] = {}
        if zscore:
            mos = parse_number(row["mos_zscore"], path, line, "MOS_zscore")
            meta["mos_1to5"] = parse_number(row["mos"], path, line)
        else:
            mos = parse_number(row["mos"], path, line)
            if all(v in row for v in votes):
                meta["mos_1to5"] = sum(k * parse_number(row[v], path, line, v) for k, v in enumerate(votes, start=1))
        if "sd" in row:
            meta["sd"] = parse_number(row["sd"], path, line, "SD")
        if "c_total" in row:
            meta["votes"] = int(parse_number(row["c_total"], path, line, "c_total"))
        if has_sets:
            value = row["set"].strip()
            if value not in SPLITS.values():
                raise DatasetError(f"{path}, line {line}: set {value!r} is not one of "
                                   f"{', '.join(SPLITS.values())}")
            meta["set"] = value
        out.append(Entry(Path(name).stem, mos, _candidates(name, size), line, {"image_name": name, **meta}))
    return out, has_sets


def load_koniq(root: str | Path, split: str | None = None, *, labels: str | Path | None = None,
               size: str = "1024x768", allow_missing: bool = False, check_files: bool = True) -> ImageDataset:
    """Load KonIQ-10k from ``root`` (layouts and label files: module docstring).

    ``split``: "train", "validation", "test" (the official ``set`` column) or None/"all".
    ``size``: which release's images to use, "1024x768" (default) or "512x384". ``labels``: a label
    file to read instead of searching. ``allow_missing``: drop (and log) listed images that are
    not on disk. ``check_files=False``: parse the labels only. MOS on the 0-100 z-score scale.
    """
    split = "all" if split is None else split
    if split != "all" and split not in SPLITS:
        raise DatasetError(f"{NAME} has no split {split!r}; use train, validation, test or all")
    if size not in SIZES:
        raise DatasetError(f"{NAME}: size must be one of {', '.join(SIZES)}, got {size!r}")
    root = check_root(root, NAME, _HINT)
    path = find_label_file(root, LABEL_FILES, NAME, labels)
    entries, has_sets = _entries(path, size)
    if split != "all":
        if not has_sets:
            raise DatasetError(f"{path} has no official split (no 'set' column); split {split!r} needs "
                               f"{SETS_FILE} (github.com/subpic/koniq, metadata/): put it in {root}")
        entries = [e for e in entries if e.meta["set"] == SPLITS[split]]
    return build_dataset(NAME, entries, root, path, mos_range=MOS_RANGE,
                         label_format="koniq-sets" if has_sets else "koniq-scores",
                         layout=f"{size}/<image_name>.jpg", allow_missing=allow_missing,
                         check_files=check_files, info={"split": split, "size": size}, kind="image")
