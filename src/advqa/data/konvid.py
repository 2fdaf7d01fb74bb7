"""KoNViD-1k (Hosu et al., QoMEX 2017): 1200 Flickr videos, 8 s, 960x540, MOS on a 1-5 scale.

Layout of the official release (``KoNViD_1k_videos.zip`` + ``KoNViD_1k_metadata.zip``)::

    root/
      KoNViD_1k_videos/<flickr_id>.mp4
      KoNViD_1k_mos.csv              (flickr_id, mos, ...; also found in KoNViD_1k_metadata/)

Label files, in the order they are searched (the first that exists is read):

1. ``KoNViD_1k_mos.csv`` (official: columns ``flickr_id``, ``mos``), in ``root``,
   ``root/KoNViD_1k_metadata/`` or ``root/KoNViD_1k_videos/``;
2. ``KoNViD_1k_attributes.csv`` (official metadata: ``flickr_id``, ``MOS``, ``file_name``), same folders;
3. ``KoNViD_labels.txt`` or ``labels.txt`` (FAST-VQA's list: ``KoNViD_1k_videos/<id>.mp4, duration, fps, MOS``);
4. ``KoNViD-1kinfo.mat`` or ``data/KoNViD-1kinfo.mat`` (VSFA's info file, MATLAB v7.3: ``video_names``
   such as ``<id>_original_centercrop_960x540_8s.mp4``, ``scores``, ``framerates``, ...).

A video is looked for as ``KoNViD_1k_videos/<id>.mp4``, then ``<id>.mp4``, then (for names with a
suffix, as in VSFA's info file) ``KoNViD_1k_videos/<name>`` and ``<name>``. Samples are named by
their Flickr id whatever the label file.
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
    parse_number,
    read_csv_table,
    read_fastvqa_list,
    read_mat,
    require_mat,
    vsfa_meta,
    require_no_split,
)
from advqa.errors import DatasetError

NAME = "konvid-1k"
MOS_RANGE = (1.0, 5.0)
VIDEO_DIR = "KoNViD_1k_videos"
LAYOUT = f"{VIDEO_DIR}/<flickr_id>.mp4"
_DIRS = ("", "KoNViD_1k_metadata/", f"{VIDEO_DIR}/")
LABEL_FILES = (
    *(f"{d}KoNViD_1k_mos.csv" for d in _DIRS),
    *(f"{d}KoNViD_1k_attributes.csv" for d in _DIRS),
    "KoNViD_labels.txt", "labels.txt",
    "KoNViD-1kinfo.mat", "data/KoNViD-1kinfo.mat",
)
_HINT = ("download KoNViD-1k from https://database.mmsp-kn.de/konvid-1k-database.html "
         f"(videos in {VIDEO_DIR}/ plus KoNViD_1k_mos.csv) and pass that folder")


def _candidates(flickr_id: str, file_name: str | None = None) -> tuple[str, ...]:
    c = [f"{VIDEO_DIR}/{flickr_id}.mp4", f"{flickr_id}.mp4"]
    if file_name and file_name != f"{flickr_id}.mp4":
        c += [f"{VIDEO_DIR}/{file_name}", file_name]
    return tuple(c)


def _flickr_id(file_name: str, path: Path, line: int, where: str = "line") -> str:
    """``8536919744`` from ``8536919744_original_centercrop_960x540_8s.mp4`` or ``.../8536919744.mp4``."""
    stem = Path(file_name.replace("\\", "/")).name.split(".")[0]
    fid = stem.split("_")[0]
    if not fid.isdigit():
        raise DatasetError(f"{path}, {where} {line}: {file_name!r} does not start with a Flickr id; "
                           "is this KoNViD-1k's label file?")
    return fid


def _from_csv(path: Path) -> list[Entry]:
    rows = read_csv_table(path, ["flickr_id", "mos"])
    out = []
    for line, row in rows:
        fid = row["flickr_id"].strip()
        if fid.endswith(".0"):  # ids written as floats by spreadsheet tools
            fid = fid[:-2]
        if not fid.isdigit():
            raise DatasetError(f"{path}, line {line}: flickr_id {row['flickr_id']!r} is not a number")
        file_name = (row.get("file_name") or "").strip() or None
        meta = {"flickr_id": fid, **({"file_name": file_name} if file_name else {})}
        out.append(Entry(fid, parse_number(row["mos"], path, line), _candidates(fid, file_name), line, meta))
    return out


def _from_txt(path: Path) -> list[Entry]:
    out = []
    for line, rel, mos, meta in read_fastvqa_list(path):
        fid = _flickr_id(rel, path, line)
        cands = (rel, *(c for c in _candidates(fid) if c != rel))
        out.append(Entry(fid, mos, cands, line, {"flickr_id": fid, **meta}))
    return out


def _from_mat(path: Path) -> list[Entry]:
    data = read_mat(path, ["video_names", "scores", *VSFA_META])
    require_mat(data, path, ["video_names", "scores"], "a VSFA info file (video_names, scores)")
    names = mat_strings(data["video_names"], path, "video_names")
    scores = mat_numbers(data["scores"], path, "scores", len(names))
    out = []
    for i, (name, mos, meta) in enumerate(zip(names, scores, vsfa_meta(data, len(names))), start=1):
        fid = _flickr_id(name, path, i, "entry")
        out.append(Entry(fid, float(mos), _candidates(fid, name), i,
                         {"flickr_id": fid, "file_name": name, **meta}))
    return out


def load_konvid(root: str | Path, split: str | None = None, *, labels: str | Path | None = None,
                allow_missing: bool = False, check_files: bool = True) -> VideoDataset:
    """Load KoNViD-1k from ``root`` (see the module docstring for layouts and label files).

    ``split``: None or ``"all"`` (KoNViD-1k has no official split; the attack protocol of
    Zhang et al., NeurIPS 2023, draws 50 videos, as ``VideoDataset.subset`` does). ``labels``: a label file to read instead of searching.
    ``allow_missing``: drop (and log) listed videos that are not on disk instead of raising.
    ``check_files=False``: parse the labels only. MOS stays on the 1-5 scale
    (``normalised_mos`` maps it to [0, 1]).
    """
    require_no_split(split, NAME, "all 1200 videos")
    root = check_root(root, NAME, _HINT)
    path = find_label_file(root, LABEL_FILES, NAME, labels)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        entries, fmt = _from_csv(path), "konvid-csv"
    elif suffix == ".mat":
        entries, fmt = _from_mat(path), "vsfa-info-mat"
    else:
        entries, fmt = _from_txt(path), "fastvqa-list"
    return build_dataset(NAME, entries, root, path, mos_range=MOS_RANGE, label_format=fmt,
                         layout=LAYOUT, allow_missing=allow_missing, check_files=check_files,
                         info={"split": "all"})
