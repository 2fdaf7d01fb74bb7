"""LSVQ (Ying, Mandal, Ghadiyaram, Bovik, "Patch-VQ: 'Patching Up' the Video Quality Problem",
CVPR 2021): ~39k real-world videos, MOS on a 0-100 scale.

Layout (the videos as the release's download scripts store them, named by their ``name``)::

    root/
      yfcc-batch1/725.mp4, ia-batch24/youtube-EnnDuuheYvs.mp4, ...   (<name>.mp4)
      LSVQ_whole_train.csv           (the official split files: name, p1..p3 patch boxes, height,
      LSVQ_whole_test.csv             width, mos_p1..mos_p3, mos, frame_number, ..., is_test,
      LSVQ_whole_test_1080p.csv       is_valid; the 1080p file has no is_test)
      labels_train_test.csv          (or the combined file: name, mos, ..., is_test)
      labels_test_1080p.csv          (name, mos, p1..p3 patch boxes and MOS, ...)

Splits: ``train`` (28,056 videos), ``test`` (LSVQ_test, < 1080p) and ``test-1080p``
(LSVQ_1080p, 3,573 videos); ``all`` is ``train`` + ``test``.

Label files, in the order they are searched:

* ``train`` / ``test`` / ``test-1080p``: the release's split file ``LSVQ_whole_train.csv`` /
  ``LSVQ_whole_test.csv`` / ``LSVQ_whole_test_1080p.csv`` (all its rows; a row whose ``is_test``
  contradicts the file is an error).
* ``test-1080p``: then ``labels_test_1080p.csv``, ``LSVQ_labels_test_1080p.csv`` (all rows), then
  FAST-VQA's ``labels_1080p.txt``.
* ``train`` / ``test``: then ``labels_train_test.csv`` or ``LSVQ_labels_train_test.csv`` when it has
  the official ``is_test`` column (rows filtered by it); otherwise FAST-VQA's list of the split
  (``train_labels.txt`` / ``labels_test.txt``: ``<name>.mp4, -1, -1, MOS``). The reduced CSV
  passed around with VSFA-style code (columns ``name, height, width, mos, frame_number``, no
  ``is_test``) does not say which rows are test rows: with it alone only ``all`` works, and
  ``train``/``test`` raise an error that says which file to add.
* ``all``: ``labels_train_test.csv`` or ``LSVQ_labels_train_test.csv``; without either, the rows
  of ``LSVQ_whole_train.csv`` followed by those of ``LSVQ_whole_test.csv``.

``labels=`` reads a given file instead: one of the split files must be asked for with its own
split; another file is filtered by ``split`` when it has ``is_test``, else all its rows are taken
as the split. Samples are named by LSVQ's ``name`` (``yfcc-batch1/725``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from advqa.data.base import VideoDataset
from advqa.data.labels import (
    Entry,
    build_dataset,
    check_mos,
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
#: The release's per-split files (``LSVQ_whole_*.csv``), by split.
SPLIT_CSV = {"train": "LSVQ_whole_train.csv", "test": "LSVQ_whole_test.csv",
             "test-1080p": "LSVQ_whole_test_1080p.csv"}
#: FAST-VQA's per-split lists (``examplar_data_labels``).
LISTS = {"train": ("train_labels.txt",), "test": ("labels_test.txt",), "test-1080p": ("labels_1080p.txt",)}
_HINT = ("download LSVQ (videos and label CSVs, see https://github.com/baidut/PatchVQ) and pass "
         "the folder holding LSVQ_whole_train.csv / LSVQ_whole_test.csv (or labels_train_test.csv) "
         "and the <batch>/<video>.mp4 folders")
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


def _from_csv(path: Path, split: str, holds: str | None = None) -> list[Entry]:
    """Entries of an LSVQ CSV. ``holds``: the split the file is the release's file of (every row is
    taken, and an ``is_test`` that contradicts it is an error); ``None``: a combined file, whose
    rows are filtered by ``is_test`` for ``train`` / ``test`` when it has that column."""
    rows = read_csv_table(path, ["name", "mos"])
    has_split = "is_test" in rows[0][1]
    out = []
    for line, row in rows:
        if has_split and holds in ("train", "test"):
            if _is_test(row["is_test"], path, line) != (holds == "test"):
                raise DatasetError(f"{path}, line {line}: is_test is {row['is_test'].strip()!r} in the "
                                   f"release's {holds} split file; use the unmodified {path.name}")
        elif has_split and holds is None and split in ("train", "test"):
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


def _split_file_of(path: Path) -> str | None:
    """The split whose release file ``path`` is (by its name), else None."""
    return next((k for k, v in SPLIT_CSV.items() if v.lower() == path.name.lower()), None)


def _label_files(root: Path, split: str, labels: str | Path | None) -> list[Path]:
    """The label file(s) to read for ``split`` (two only for ``all`` from the split files)."""
    if labels is not None:
        path = find_label_file(root, (), NAME, labels)
        holds = _split_file_of(path)
        if holds is not None and holds != split:
            raise DatasetError(f"{path} is LSVQ's {holds} split file; load it with split={holds!r}, "
                               f"or pass the label file of split {split!r}")
        return [path]
    if split == "all":
        csv_path = next((root / n for n in TRAIN_TEST_CSV if (root / n).is_file()), None)
        if csv_path is not None:
            return [csv_path]
        parts = [root / SPLIT_CSV[k] for k in ("train", "test")]
        if all(p.is_file() for p in parts):
            return parts
        have = [p.name for p in parts if p.is_file()]
        raise DatasetError(f"{NAME}: no label file for split 'all' in {root}; looked for "
                           f"{', '.join(TRAIN_TEST_CSV)}, or both {' and '.join(p.name for p in parts)}"
                           + (f" (only {have[0]} is there)" if have else "")
                           + ". Put the dataset's label files there (or pass labels=...)")
    if (root / SPLIT_CSV[split]).is_file():
        return [root / SPLIT_CSV[split]]
    if split == "test-1080p":
        return [find_label_file(root, (SPLIT_CSV[split], *TEST_1080P_CSV, *LISTS[split]), NAME)]
    csv_path = next((root / n for n in TRAIN_TEST_CSV if (root / n).is_file()), None)
    if csv_path is not None and _has_is_test(csv_path):
        return [csv_path]
    list_path = next((root / n for n in LISTS[split] if (root / n).is_file()), None)
    if list_path is not None:
        return [list_path]
    if csv_path is not None:
        raise DatasetError(f"{csv_path} has no is_test column, so LSVQ's {split} rows are unknown. "
                           f"Put the release's split file {SPLIT_CSV[split]} (or the official "
                           f"labels_train_test.csv with is_test, or FAST-VQA's {LISTS[split][0]}) in "
                           f"{root}, or use split='all'")
    return [find_label_file(root, (SPLIT_CSV[split], *TRAIN_TEST_CSV, *LISTS[split]), NAME)]


def _entries(path: Path, split: str) -> tuple[list[Entry], str]:
    if path.suffix.lower() == ".csv":
        return _from_csv(path, split, _split_file_of(path)), "lsvq-csv"
    return _from_txt(path), "fastvqa-list"


def _no_overlap(parts: list[tuple[Path, list[Entry]]]) -> None:
    """A video listed in both the train and the test file is an error naming both lines."""
    seen: dict[str, tuple[Path, int]] = {}
    for path, entries in parts:
        for e in entries:
            if e.name in seen and seen[e.name][0] != path:
                first, line = seen[e.name]
                raise DatasetError(f"{path}, line {e.line}: video {e.name} is also in {first}, line "
                                   f"{line}; LSVQ's train and test splits share no video")
            seen.setdefault(e.name, (path, e.line))


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
    paths = _label_files(root, split, labels)
    parts = []
    for path in paths:
        entries, fmt = _entries(path, split)
        if not entries:
            raise DatasetError(f"{path}: no rows in split {split!r}")
        check_mos(entries, path, NAME, MOS_RANGE)  # per file, so an error names the right one
        parts.append((path, entries))
    _no_overlap(parts)
    info: dict[str, Any] = {"split": split}
    if len(paths) > 1:
        info["label_files"] = [str(p) for p in paths]
    return build_dataset(NAME, [e for _, entries in parts for e in entries], root, paths[0],
                         mos_range=MOS_RANGE, label_format=fmt, layout=LAYOUT,
                         allow_missing=allow_missing, check_files=check_files, info=info)
