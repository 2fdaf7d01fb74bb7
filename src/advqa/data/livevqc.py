"""LIVE-VQC (Sinno & Bovik, 2018): 585 mobile-camera videos, ~10 s, MOS on a 0-100 scale.

Layout of the official release (LIVE Video Quality Challenge Database)::

    root/
      Video/A001.mp4 ... Video/R001.mp4
      data.mat                       (video_list: cell of file names, mos: MOS per video)

Label files, in the order they are searched (the first that exists is read):

1. ``data.mat`` (official, MATLAB v5 or v7.3: ``video_list``, ``mos``);
2. ``LIVE-VQC_labels.txt`` or ``labels.txt`` (FAST-VQA's list: ``Video/A001.mp4, duration, fps, MOS``);
3. ``LIVE-VQCinfo.mat``, ``LIVE-VQC.mat`` or ``data/LIVE-VQCinfo.mat`` (VSFA's info file:
   ``video_names``, ``scores``, ``framerates``, ...).

A video is looked for as ``Video/<file>``, then ``<file>`` in ``root``. Samples are named by
the file's stem (``A001``).
"""
from __future__ import annotations

from pathlib import Path

from advqa.data.base import VideoDataset
from advqa.data.labels import (
    VSFA_META,
    Entry,
    build_dataset,
    check_root,
    find_label_file,
    mat_numbers,
    mat_strings,
    read_fastvqa_list,
    read_mat,
    vsfa_meta,
    require_no_split,
)
from advqa.errors import DatasetError

NAME = "live-vqc"
MOS_RANGE = (0.0, 100.0)
VIDEO_DIR = "Video"
LAYOUT = f"{VIDEO_DIR}/<name>.mp4"
LABEL_FILES = ("data.mat", "LIVE-VQC_labels.txt", "labels.txt",
               "LIVE-VQCinfo.mat", "LIVE-VQC.mat", "data/LIVE-VQCinfo.mat")
_HINT = ("download LIVE-VQC from https://live.ece.utexas.edu/research/LIVEVQC/ "
         f"(videos in {VIDEO_DIR}/ plus data.mat) and pass that folder")


def _file_name(name: str, path: Path, line: int, where: str = "line") -> str:
    base = Path(name.strip().replace("\\", "/")).name
    if not base:
        raise DatasetError(f"{path}, {where} {line}: empty video name")
    return base if Path(base).suffix else f"{base}.mp4"


def _candidates(file_name: str) -> tuple[str, ...]:
    return (f"{VIDEO_DIR}/{file_name}", file_name)


def _from_mat(path: Path) -> tuple[list[Entry], str]:
    data = read_mat(path, ["video_list", "mos", "video_names", "scores", *VSFA_META])
    if "video_list" in data and "mos" in data:
        names_key, mos_key, fmt = "video_list", "mos", "livevqc-data-mat"
    elif "video_names" in data and "scores" in data:
        names_key, mos_key, fmt = "video_names", "scores", "vsfa-info-mat"
    else:
        raise DatasetError(f"{path}: expected LIVE-VQC's data.mat (video_list, mos) or a VSFA info "
                           f"file (video_names, scores); found {', '.join(sorted(data)) or 'neither'}")
    names = mat_strings(data[names_key], path, names_key)
    scores = mat_numbers(data[mos_key], path, mos_key, len(names))
    out = []
    for i, (name, mos, meta) in enumerate(zip(names, scores, vsfa_meta(data, len(names))), start=1):
        fn = _file_name(name, path, i, "entry")
        out.append(Entry(Path(fn).stem, float(mos), _candidates(fn), i, meta))
    return out, fmt


def _from_txt(path: Path) -> list[Entry]:
    out = []
    for line, rel, mos, meta in read_fastvqa_list(path):
        fn = _file_name(rel, path, line)
        cands = (rel, *(c for c in _candidates(fn) if c != rel))
        out.append(Entry(Path(fn).stem, mos, cands, line, meta))
    return out


def load_livevqc(root: str | Path, split: str | None = None, *, labels: str | Path | None = None,
                 allow_missing: bool = False, check_files: bool = True) -> VideoDataset:
    """Load LIVE-VQC from ``root`` (see the module docstring for layouts and label files).

    ``split``: None or ``"all"`` (LIVE-VQC has no official split). ``labels``: a label file to
    read instead of searching. ``allow_missing``: drop (and log) listed videos that are not on
    disk instead of raising. ``check_files=False``: parse the labels only. MOS stays on the
    0-100 scale.
    """
    require_no_split(split, NAME, "all 585 videos")
    root = check_root(root, NAME, _HINT)
    path = find_label_file(root, LABEL_FILES, NAME, labels)
    if path.suffix.lower() == ".mat":
        entries, fmt = _from_mat(path)
    else:
        entries, fmt = _from_txt(path), "fastvqa-list"
    return build_dataset(NAME, entries, root, path, mos_range=MOS_RANGE, label_format=fmt,
                         layout=LAYOUT, allow_missing=allow_missing, check_files=check_files,
                         info={"split": "all"})
