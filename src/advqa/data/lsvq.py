"""LSVQ (Ying et al., CVPR 2021, "Patch-VQ"): ~39k real-world videos, MOS on a 0-100 scale.

Layout (the videos as the release's download scripts store them, named by their ``name``)::

    root/
      yfcc-batch1/725.mp4, ia-batch24/youtube-EnnDuuheYvs.mp4, ...   (<name>.mp4)
      labels_train_test.csv          (name, mos, ..., is_test)
      labels_test_1080p.csv          (name, mos, p1..p3 patch boxes and MOS, ...)

Splits: ``train`` (28,056 videos), ``test`` (LSVQ_test, < 1080p) and ``test-1080p``
(LSVQ_1080p, 3,573 videos); ``all`` is every row of the train/test file.

Label files, in the order they are searched:

* ``test-1080p``: ``labels_test_1080p.csv``, ``LSVQ_labels_test_1080p.csv`` (all rows), then
  FAST-VQA's ``labels_1080p.txt``.
* ``train`` / ``test``: ``labels_train_test.csv`` or ``LSVQ_labels_train_test.csv`` when it has the
  official ``is_test`` column (rows filtered by it); otherwise FAST-VQA's list of the split
  (``train_labels.txt`` / ``labels_test.txt``: ``<name>.mp4, -1, -1, MOS``). The reduced CSV
  passed around with VSFA-style code (columns ``name, height, width, mos, frame_number``, no
  ``is_test``) does not say which rows are test rows: with it alone only ``all`` works, and
  ``train``/``test`` raise an error that says which file to add.
* ``all``: ``labels_train_test.csv`` or ``LSVQ_labels_train_test.csv``.

``labels=`` reads a given file instead: filtered by ``split`` when it has ``is_test``, else all
its rows are taken as the split. Samples are named by LSVQ's ``name`` (``yfcc-batch1/725``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from advqa.data.base import VideoDataset
from advqa.data.labels import (
    Entry,
    build_dataset,
    check_root,
    find_label_file,
    parse_number,
    read_csv_table,
    read_fastvqa_list,
)
from advqa.errors import DatasetError

NAME = "lsvq"
MOS_RANGE = (0.0, 100.0)
SPLITS = ("train", "test", "test-1080p", "all")
LAYOUT = "<name>.mp4, e.g. yfcc-batch1/725.mp4"
TRAIN_TEST_CSV = ("labels_train_test.csv", "LSVQ_labels_train_test.csv")
TEST_1080P_CSV = ("labels_test_1080p.csv", "LSVQ_labels_test_1080p.csv")
#: FAST-VQA's per-split lists (``examplar_data_labels``).
LISTS = {"train": ("train_labels.txt",), "test": ("labels_test.txt",), "test-1080p": ("labels_1080p.txt",)}
_HINT = ("download LSVQ (videos and label CSVs, see https://github.com/baidut/PatchVQ) and pass "
         "the folder holding labels_train_test.csv and the <batch>/<video>.mp4 folders")
_TRUE = {"true", "1", "yes", "t", "1.0"}
_FALSE = {"false", "0", "no", "f", "0.0"}


def _candidates(name: str) -> tuple[str, ...]:
    return (name if name.endswith(".mp4") else f"{name}.mp4",)


def _is_test(text: str, path: Path, line: int) -> bool:
    t = text.strip().lower()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    raise DatasetError(f"{path}, line {line}: is_test is {text!r}; expected True or False")


def _from_csv(path: Path, split: str) -> list[Entry]:
    rows = read_csv_table(path, ["name", "mos"])
    has_split = "is_test" in rows[0][1]
    out = []
    for line, row in rows:
        if has_split and split in ("train", "test"):
            if _is_test(row["is_test"], path, line) != (split == "test"):
                continue
        name = row["name"].strip().replace("\\", "/")
        if not name:
            raise DatasetError(f"{path}, line {line}: empty name")
        name = name.removesuffix(".mp4")
        meta: dict[str, Any] = {}
        for key, out_key in (("height", "height"), ("width", "width"), ("frame_number", "frames")):
            text = (row.get(key) or "").strip()
            try:
                meta[out_key] = int(float(text))
            except ValueError:
                pass
        if "is_valid" in row:
            meta["is_valid"] = row["is_valid"].strip().lower() in _TRUE
        out.append(Entry(name, parse_number(row["mos"], path, line), _candidates(name), line, meta))
    return out


def _from_txt(path: Path) -> list[Entry]:
    out = []
    for line, rel, mos, meta in read_fastvqa_list(path):
        name = rel.replace("\\", "/").removesuffix(".mp4")
        out.append(Entry(name, mos, (rel, *(c for c in _candidates(name) if c != rel)), line, meta))
    return out


def _has_is_test(path: Path) -> bool:
    with path.open(encoding="utf-8-sig") as fh:
        header = fh.readline()
    return "is_test" in [c.strip().strip('"').lower() for c in header.split(",")]


def _label_file(root: Path, split: str, labels: str | Path | None) -> Path:
    if labels is not None:
        return find_label_file(root, (), NAME, labels)
    if split == "test-1080p":
        return find_label_file(root, (*TEST_1080P_CSV, *LISTS[split]), NAME)
    csv_path = next((root / n for n in TRAIN_TEST_CSV if (root / n).is_file()), None)
    if split == "all":
        return find_label_file(root, TRAIN_TEST_CSV, NAME)
    if csv_path is not None and _has_is_test(csv_path):
        return csv_path
    list_path = next((root / n for n in LISTS[split] if (root / n).is_file()), None)
    if list_path is not None:
        return list_path
    if csv_path is not None:
        raise DatasetError(f"{csv_path} has no is_test column, so LSVQ's {split} rows are unknown. "
                           "Use the official labels_train_test.csv (with is_test) from the LSVQ "
                           f"release, put FAST-VQA's {LISTS[split][0]} in {root}, or use split='all'")
    return find_label_file(root, (*TRAIN_TEST_CSV, *LISTS[split]), NAME)


def load_lsvq(root: str | Path, split: str = "test", *, labels: str | Path | None = None,
              allow_missing: bool = False, check_files: bool = True) -> VideoDataset:
    """Load an LSVQ split from ``root`` (see the module docstring for layouts and label files).

    ``split``: ``"train"``, ``"test"`` (default), ``"test-1080p"`` or ``"all"``. ``labels``: a
    label file to read instead of searching. ``allow_missing``: drop (and log) listed videos
    that are not on disk instead of raising. ``check_files=False``: parse the labels only. MOS
    stays on the 0-100 scale.
    """
    if split is None:
        split = "test"
    if split not in SPLITS:
        raise DatasetError(f"{NAME} has no split {split!r}; choose one of {', '.join(SPLITS)}")
    root = check_root(root, NAME, _HINT)
    path = _label_file(root, split, labels)
    if path.suffix.lower() == ".csv":
        entries, fmt = _from_csv(path, split), "lsvq-csv"
    else:
        entries, fmt = _from_txt(path), "fastvqa-list"
    if not entries:
        raise DatasetError(f"{path}: no rows in split {split!r}")
    return build_dataset(NAME, entries, root, path, mos_range=MOS_RANGE, label_format=fmt,
                         layout=LAYOUT, allow_missing=allow_missing, check_files=check_files,
                         info={"split": split})
