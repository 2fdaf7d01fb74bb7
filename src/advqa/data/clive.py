"""CLIVE, the LIVE In the Wild Image Quality Challenge database (Ghadiyaram & Bovik, "Massive
Online Crowdsourced Study of Subjective and Objective Picture Quality", IEEE TIP 2016): 1,162
photographs from mobile devices, 500x500, MOS on a 0-100 scale.

Layout of the official release (``ChallengeDB_release``)::

    root/
      Images/<name>                  (e.g. 3.bmp, 1000.JPG; the 7 trial images in Images/trainingImages/)
      Data/AllImages_release.mat     (key AllImages_release: 1169 x 1 cell of file names)
      Data/AllMOS_release.mat        (key AllMOS_release: 1 x 1169 MOS)
      Data/AllStdDev_release.mat     (key AllStdDev_release, optional)

Label sources, in the order they are searched: the official ``Data/*.mat`` pair; ``CLIVEinfo.mat``
(the LinearityIQA info file, MATLAB v7.3: ``im_names``, ``subjective_scores``,
``subjective_scoresSTD``; the 1,162 images only); ``meta_info_LIVEChallengeDataset.csv`` (pyiqa's
list: ``img_name, mos, std``). The official files and pyiqa's list start with the 7 trial images
``t1.bmp`` ... ``t7.bmp`` (the study's training examples, not part of the database); they are
dropped, leaving the 1,162 images in release order.

Splits: ``all`` (1,162) and the fixed 80/20 split of the NT defence (Liu, Yang, Li, Ding, Jiang,
"Defense Against Adversarial Attacks on No-Reference Image Quality Models with Gradient Norm
Regularization", CVPR 2024): ``nt-train`` (930 images) and ``nt-test`` (232), a permutation of the
1,162 release-order indices shipped in ``advqa/resources/clive_nt_split.json`` (from
github.com/YangiD/DefenseIQA-NT, ``CLIVE_traintest_index.pkl``, MIT).
"""
from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from advqa.data.base import ImageDataset
from advqa.data.images import CaseIndex
from advqa.data.labels import (
    Entry,
    build_dataset,
    check_root,
    mat_numbers,
    mat_strings,
    parse_number,
    read_csv_table,
    read_mat,
    require_mat,
)
from advqa.errors import DatasetError

NAME = "clive"
MOS_RANGE = (0.0, 100.0)
N_IMAGES = 1162
SPLITS = ("all", "nt-train", "nt-test")
OFFICIAL_NAMES, OFFICIAL_MOS, OFFICIAL_STD = ("Data/AllImages_release.mat", "Data/AllMOS_release.mat",
                                              "Data/AllStdDev_release.mat")
INFO_FILES = ("CLIVEinfo.mat", "data/CLIVEinfo.mat")
CSV_FILES = ("meta_info_LIVEChallengeDataset.csv",)
_TRIAL = re.compile(r"^(?:trainingImages/)?t[1-7]\.bmp$", re.IGNORECASE)
_HINT = ("download the LIVE In the Wild Image Quality Challenge database from "
         "https://live.ece.utexas.edu/research/ChallengeDB/ (Images/ and Data/) and pass that folder")


def nt_split() -> dict[str, Any]:
    """NT's fixed CLIVE split: ``{"permutation": [...1162 indices], "n_train": 930, ...}``."""
    text = resources.files("advqa").joinpath("resources/clive_nt_split.json").read_text()
    return json.loads(text)


def _entry(i: int, name: str, mos: float, std: float | None, line: int) -> Entry:
    name = name.replace("\\", "/").strip()
    base = name.rsplit("/", 1)[-1]
    meta: dict[str, Any] = {"image_name": base, "index": i}
    if std is not None and np.isfinite(std):
        meta["std"] = float(std)
    return Entry(Path(base).stem, float(mos), (f"Images/{base}", base), line, meta)


def _drop_trial(rows: list[tuple[str, float, float | None, int]], path: Path) -> list[Entry]:
    kept = [r for r in rows if not _TRIAL.match(r[0].replace("\\", "/").strip())]
    if len(rows) - len(kept) not in (0, 7):
        raise DatasetError(f"{path}: found {len(rows) - len(kept)} of CLIVE's 7 trial images t1-t7; "
                           "the label file is incomplete or not CLIVE's")
    return [_entry(i, name, mos, std, line) for i, (name, mos, std, line) in enumerate(kept)]


def _from_official(root: Path) -> tuple[list[Entry], Path]:
    names_p, mos_p = root / OFFICIAL_NAMES, root / OFFICIAL_MOS
    names = mat_strings(read_mat(names_p, ["AllImages_release"]).get("AllImages_release"), names_p,
                        "AllImages_release")
    data = read_mat(mos_p, ["AllMOS_release"])
    require_mat(data, mos_p, ["AllMOS_release"], "CLIVE's AllMOS_release")
    mos = mat_numbers(data["AllMOS_release"], mos_p, "AllMOS_release", len(names))
    std: Any = [None] * len(names)
    if (root / OFFICIAL_STD).is_file():
        sd = read_mat(root / OFFICIAL_STD, ["AllStdDev_release"]).get("AllStdDev_release")
        if isinstance(sd, np.ndarray) and sd.size == len(names):
            std = sd
    rows = [(n, float(m), None if s is None else float(s), i) for i, (n, m, s) in enumerate(zip(names, mos, std), 1)]
    return _drop_trial(rows, mos_p), mos_p


def _from_info(path: Path) -> list[Entry]:
    data = read_mat(path, ["im_names", "subjective_scores", "subjective_scoresSTD"])
    require_mat(data, path, ["im_names", "subjective_scores"], "a CLIVE info file (im_names, subjective_scores)")
    names = mat_strings(data["im_names"], path, "im_names")
    mos = mat_numbers(data["subjective_scores"], path, "subjective_scores", len(names))
    sd = data.get("subjective_scoresSTD")
    std = sd if isinstance(sd, np.ndarray) and sd.size == len(names) else [None] * len(names)
    rows = [(n, float(m), None if s is None else float(s), i) for i, (n, m, s) in enumerate(zip(names, mos, std), 1)]
    return _drop_trial(rows, path)


def _from_csv(path: Path) -> list[Entry]:
    rows = read_csv_table(path, ["img_name", "mos"])
    parsed = [(r["img_name"], parse_number(r["mos"], path, line),
               parse_number(r["std"], path, line, "std") if r.get("std", "").strip() else None, line)
              for line, r in rows]
    return _drop_trial(parsed, path)


def load_clive(root: str | Path, split: str | None = None, *, labels: str | Path | None = None,
               allow_missing: bool = False, check_files: bool = True) -> ImageDataset:
    """Load CLIVE from ``root`` (layouts and label files: module docstring), trial images dropped.

    ``split``: None/"all", "nt-train" or "nt-test" (NT's fixed 80/20 split; it indexes the 1,162
    images in release order, so it needs a complete label file). ``labels``: a ``.mat`` info file
    or pyiqa CSV to read instead of searching (the official pair is found in ``Data/``).
    ``allow_missing`` / ``check_files``: as for the video datasets. MOS on 0-100.
    """
    split = "all" if split is None else split
    if split not in SPLITS:
        raise DatasetError(f"{NAME} has no split {split!r}; use {', '.join(SPLITS)} "
                           "(nt-train/nt-test: the NT defence's fixed 80/20 split)")
    root = check_root(root, NAME, _HINT)
    if labels is not None:
        path = Path(labels).expanduser()
        path = path if path.is_absolute() else root / path
        if not path.is_file():
            raise DatasetError(f"{NAME}: label file {path} does not exist")
    elif (root / OFFICIAL_MOS).is_file() and (root / OFFICIAL_NAMES).is_file():
        path = root / OFFICIAL_MOS
    else:
        found = [root / n for n in (*INFO_FILES, *CSV_FILES) if (root / n).is_file()]
        if not found:
            raise DatasetError(f"{NAME}: no label file in {root}; looked for {OFFICIAL_NAMES} + {OFFICIAL_MOS}, "
                               f"{', '.join((*INFO_FILES, *CSV_FILES))}. {_HINT}")
        path = found[0]
    if path.name in (Path(OFFICIAL_MOS).name, Path(OFFICIAL_NAMES).name):
        entries, path = _from_official(path.parent.parent)
        fmt = "clive-official-mat"
    elif path.suffix.lower() == ".mat":
        entries, fmt = _from_info(path), "clive-info-mat"
    else:
        entries, fmt = _from_csv(path), "pyiqa-csv"
    if split != "all":
        if len(entries) != N_IMAGES:
            raise DatasetError(f"{path}: the NT split indexes CLIVE's {N_IMAGES} images in release order, "
                               f"but this file lists {len(entries)}; use the complete label file")
        nt = nt_split()
        part = nt["permutation"][:nt["n_train"]] if split == "nt-train" else nt["permutation"][nt["n_train"]:]
        entries = [entries[i] for i in part]
    index = CaseIndex(root)  # the release mixes .bmp and .JPG
    entries = [Entry(e.name, e.mos, tuple(dict.fromkeys((*e.candidates, *(index.resolve(c) for c in e.candidates)))),
                     e.line, e.meta) for e in entries] if check_files else entries
    return build_dataset(NAME, entries, root, path, mos_range=MOS_RANGE, label_format=fmt,
                         layout="Images/<name>", allow_missing=allow_missing, check_files=check_files,
                         info={"split": split, "trial_images_dropped": True}, kind="image")
