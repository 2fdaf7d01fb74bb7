"""YouTube-UGC (Wang et al., MMSP 2019): 1380 20-s YouTube clips in 15 categories, MOS on a 1-5 scale.

The release (https://media.withyoutube.com/, bucket ``gs://ugc-dataset``) offers the videos as::

    root/
      original_videos/<Category>/<Res>P/<vid>.mkv         (originals, e.g. Animation/1080P/Animation_1080P-01b3.mkv)
      original_videos_h264/<vid>_crf_10_ss_00_t_20.0.mp4  (H.264 transcodes, flat; FAST-VQA's names)

or those folders' contents straight in ``root`` (``<Category>/<Res>P/<vid>.mkv`` or the flat
``<vid>_crf_10_ss_00_t_20.0.mp4``); ``<vid>.mkv`` / ``<vid>.mp4`` in ``root`` also work. For each
video the originals are tried first, then the transcodes.

Label files, in the order they are searched (the first that exists is read):

1. ``YOUTUBE_UGC_metadata.csv`` or ``original_videos/YOUTUBE_UGC_metadata.csv`` (columns ``vid``,
   ``MOSFull``, optionally ``category``, ``resolution``, ``width``, ``height``, ``framerate``;
   all 1380 videos);
2. ``YouTubeUGC_labels.txt`` or ``labels.txt`` (FAST-VQA's list of the 1147 videos it uses:
   ``<vid>_crf_10_ss_00_t_20.0.mp4, -1, -1, MOS``).

(The official MOS spreadsheet, ``original_videos_MOS_for_YouTube_UGC_dataset.xlsx``, is not read:
save its sheet as ``YOUTUBE_UGC_metadata.csv`` with columns ``vid`` and ``MOSFull``.)
Samples are named by ``vid`` (``Animation_1080P-01b3``).
"""
from __future__ import annotations

import re
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
    require_no_split,
)
from advqa.errors import DatasetError

NAME = "youtube-ugc"
MOS_RANGE = (1.0, 5.0)
H264_DIR = "original_videos_h264"
ORIGINAL_DIR = "original_videos"
H264_SUFFIX = "_crf_10_ss_00_t_20.0.mp4"
LAYOUT = f"{ORIGINAL_DIR}/<Category>/<Res>P/<vid>.mkv or {H264_DIR}/<vid>{H264_SUFFIX}"
LABEL_FILES = ("YOUTUBE_UGC_metadata.csv", f"{ORIGINAL_DIR}/YOUTUBE_UGC_metadata.csv",
               "YouTubeUGC_labels.txt", "labels.txt")
_HINT = ("download YouTube-UGC from https://media.withyoutube.com/ "
         f"({ORIGINAL_DIR}/ or {H264_DIR}/ plus YOUTUBE_UGC_metadata.csv) and pass that folder")
#: ``Animation_1080P-01b3`` -> category ``Animation``, resolution ``1080``.
_VID = re.compile(r"(?P<category>[A-Za-z]+)_(?P<res>\d+)P-[0-9A-Za-z]+")


def _parse_vid(vid: str) -> tuple[str, str] | None:
    m = _VID.fullmatch(vid)
    return (m["category"], m["res"]) if m else None


def _candidates(vid: str, category: str | None = None, res: str | None = None) -> tuple[str, ...]:
    parsed = _parse_vid(vid)
    category = category or (parsed[0] if parsed else None)
    res = res or (parsed[1] if parsed else None)
    c: list[str] = []
    if category and res:
        c += [f"{ORIGINAL_DIR}/{category}/{res}P/{vid}.mkv", f"{category}/{res}P/{vid}.mkv"]
    c += [f"{ORIGINAL_DIR}/{vid}.mkv", f"{vid}.mkv",
          f"{H264_DIR}/{vid}{H264_SUFFIX}", f"{vid}{H264_SUFFIX}", f"{vid}.mp4"]
    return tuple(c)


def _from_csv(path: Path) -> list[Entry]:
    rows = read_csv_table(path, ["vid", "mosfull"])
    out = []
    for line, row in rows:
        vid = row["vid"].strip()
        if not vid:
            raise DatasetError(f"{path}, line {line}: empty vid")
        category = (row.get("category") or "").strip() or None
        res = (row.get("resolution") or "").strip().upper().removesuffix("P") or None
        if res is not None and res.endswith(".0"):
            res = res[:-2]
        meta: dict[str, Any] = {}
        if category:
            meta["category"] = category
        if res:
            meta["resolution"] = res
        for key, typ in (("width", int), ("height", int), ("framerate", float)):
            text = (row.get(key) or "").strip()
            try:
                value = float(text)
            except ValueError:
                continue
            if value == value and value > 0:  # NaN and placeholders are left out
                meta["fps" if key == "framerate" else key] = typ(value)
        out.append(Entry(vid, parse_number(row["mosfull"], path, line, "MOSFull"),
                         _candidates(vid, category, res), line, meta))
    return out


def _from_txt(path: Path) -> list[Entry]:
    out = []
    for line, rel, mos, meta in read_fastvqa_list(path):
        base = Path(rel.replace("\\", "/")).name
        vid = base[: -len(H264_SUFFIX)] if base.endswith(H264_SUFFIX) else Path(base).stem
        cands = [rel, f"{H264_DIR}/{base}"]
        cands += [c for c in _candidates(vid) if c not in cands]
        parsed = _parse_vid(vid)
        if parsed:
            meta = {"category": parsed[0], "resolution": parsed[1], **meta}
        out.append(Entry(vid, mos, tuple(cands), line, meta))
    return out


def load_youtube_ugc(root: str | Path, split: str | None = None, *, labels: str | Path | None = None,
                     allow_missing: bool = False, check_files: bool = True) -> VideoDataset:
    """Load YouTube-UGC from ``root`` (see the module docstring for layouts and label files).

    ``split``: None or ``"all"`` (no official split). ``labels``: a label file to read instead
    of searching. ``allow_missing``: drop (and log) listed videos that are not on disk instead
    of raising. ``check_files=False``: parse the labels only. MOS (``MOSFull``) stays on the
    1-5 scale.
    """
    require_no_split(split, NAME)
    root = check_root(root, NAME, _HINT)
    path = find_label_file(root, LABEL_FILES, NAME, labels)
    if path.suffix.lower() == ".csv":
        entries, fmt = _from_csv(path), "youtube-ugc-metadata-csv"
    else:
        entries, fmt = _from_txt(path), "fastvqa-list"
    return build_dataset(NAME, entries, root, path, mos_range=MOS_RANGE, label_format=fmt,
                         layout=LAYOUT, allow_missing=allow_missing, check_files=check_files,
                         info={"split": "all"})
