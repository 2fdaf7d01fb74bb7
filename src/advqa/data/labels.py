"""Shared parsing of the label files the VQA community passes around, and their mapping to videos.

Formats read here (each dataset loader picks the files and columns it needs):

* **CSV** with a header row (official releases: ``KoNViD_1k_mos.csv``, LSVQ's ``labels_*.csv``,
  ``YOUTUBE_UGC_metadata.csv``): column names are matched case-insensitively.
* **FAST-VQA label lists** (``labels.txt``): one video per line, ``path, duration, fps, MOS``
  (duration and fps are ``-1`` when unknown).
* **MATLAB files**: VSFA-style info files (``KoNViD-1kinfo.mat``: ``video_names`` cell, ``scores``,
  ``framerates``, ...; MATLAB v7.3, i.e. HDF5, read with h5py) and LIVE-VQC's ``data.mat``
  (``video_list``, ``mos``; MATLAB v5, read with scipy). Either version of either file works.

Every problem becomes a :class:`~advqa.errors.DatasetError` that names the file, the line (or
entry) and what to do.
"""
from __future__ import annotations

import csv
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from advqa.data.base import ImageDataset, Sample, VideoDataset
from advqa.errors import DatasetError

log = logging.getLogger(__name__)

__all__ = ["Entry", "VSFA_META", "build_dataset", "check_mos", "check_root", "find_label_file",
           "mat_numbers", "mat_strings", "parse_number", "read_csv_table", "read_fastvqa_list",
           "read_mat", "require_mat", "vsfa_meta"]

#: How many missing paths an error message lists.
SHOW_MISSING = 5


@dataclass(frozen=True)
class Entry:
    """One labelled video before it is matched to a file.

    ``candidates``: paths relative to the dataset root where the video may be, most likely
    first (the first one is reported when none exists). ``line``: the 1-based line of a text or
    CSV label file, or the 1-based entry of a MATLAB file, for error messages.
    """

    name: str
    mos: float
    candidates: tuple[str, ...]
    line: int
    meta: dict[str, Any] = field(default_factory=dict)


def require_no_split(split: str | None, dataset: str, size: str = "") -> None:
    """Raise unless ``split`` is None or ``"all"``: for datasets released without a train/test split.

    ``size`` (e.g. ``"all 1200 videos"``) is shown in the message.
    """
    if split not in (None, "all"):
        extra = f" ({size})" if size else ""
        raise DatasetError(f"{dataset} has no split {split!r}; it has no official train/test split, "
                           f"leave split unset{extra} and pick videos with --videos N")


def check_root(root: str | Path, dataset: str, download_hint: str) -> Path:
    """``root`` as a Path; a :class:`DatasetError` when it is not a folder."""
    p = Path(root).expanduser()
    if not p.is_dir():
        raise DatasetError(f"{dataset}: dataset folder {p} does not exist; {download_hint}")
    return p


def find_label_file(root: Path, names: Sequence[str], dataset: str,
                    labels: str | Path | None = None) -> Path:
    """The label file to read: ``labels`` when given (relative to ``root`` or absolute), else the
    first of ``names`` (paths relative to ``root``) that exists.

    Raises :class:`DatasetError` listing every name searched when none exists.
    """
    if labels is not None:
        p = Path(labels).expanduser()
        if not p.is_absolute():
            p = root / p
        if not p.is_file():
            raise DatasetError(f"{dataset}: label file {p} does not exist")
        return p
    for n in names:
        p = root / n
        if p.is_file():
            return p
    raise DatasetError(f"{dataset}: no label file in {root}; looked for {', '.join(names)}. "
                       "Put the dataset's label file there (or pass its path as labels=...)")


def parse_number(text: object, path: Path, line: int, what: str = "MOS") -> float:
    """``text`` as a finite float, else a :class:`DatasetError` naming the file and line."""
    try:
        value = float(str(text).strip())
    except (TypeError, ValueError):
        raise DatasetError(f"{path}, line {line}: {what} {text!r} is not a number; "
                           "fix or remove that line") from None
    if not math.isfinite(value):
        raise DatasetError(f"{path}, line {line}: {what} is {text!r}; give a finite number")
    return value


def read_csv_table(path: Path, required: Sequence[str], *,
                   first_wins: bool = False) -> list[tuple[int, dict[str, str]]]:
    """Rows of a CSV file with a header: ``(line number, {lower-cased column: value})``.

    Column names are matched case-insensitively (a UTF-8 byte-order mark is ignored); of repeated
    column names the last one wins, or the first with ``first_wins``. Raises
    :class:`DatasetError` for an empty file, a missing ``required`` column (listing the columns
    found) or a row with more or fewer fields than the header.
    """
    try:
        return _read_csv_table(path, required, first_wins)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{path}: not a UTF-8 CSV file ({exc}); save it as UTF-8 CSV") from None


def _read_csv_table(path: Path, required: Sequence[str], first_wins: bool) -> list[tuple[int, dict[str, str]]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header: list[str] | None = None
        for header in reader:
            if any(c.strip() for c in header):
                break
        else:
            header = None
        if header is None:
            raise DatasetError(f"{path}: the file is empty; expected a CSV header with columns "
                               f"{', '.join(required)}")
        cols = [c.strip().lower() for c in header]
        missing = [c for c in required if c.lower() not in cols]
        if missing:
            raise DatasetError(f"{path}, line {reader.line_num}: missing column(s) {', '.join(missing)}; "
                               f"the header has {', '.join(c for c in header if c.strip()) or 'nothing'}")
        rows: list[tuple[int, dict[str, str]]] = []
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(cols):
                raise DatasetError(f"{path}, line {reader.line_num}: {len(values)} fields but the header "
                                   f"has {len(cols)}; fix that line")
            pairs = zip(reversed(cols), reversed(values)) if first_wins else zip(cols, values)
            rows.append((reader.line_num, dict(pairs)))
    if not rows:
        raise DatasetError(f"{path}: no rows after the header")
    return rows


def read_fastvqa_list(path: Path) -> list[tuple[int, str, float, dict[str, Any]]]:
    """Entries of a FAST-VQA label list: ``(line, path, MOS, meta)`` from ``path, duration, fps, MOS``.

    ``meta`` holds ``duration`` (s) and ``fps`` when they are not ``-1``. Raises
    :class:`DatasetError` for an empty file, a line without four fields or a non-numeric value.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not a UTF-8 text file ({exc}); is this a label list?") from None
    out: list[tuple[int, str, float, dict[str, Any]]] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        parts = [p.strip() for p in raw.split(",")]
        if len(parts) != 4 or not parts[0]:
            raise DatasetError(f"{path}, line {lineno}: expected 'path, duration, fps, MOS', "
                               f"got {raw.strip()!r}")
        meta: dict[str, Any] = {}
        for key, field_text in (("duration", parts[1]), ("fps", parts[2])):
            v = parse_number(field_text, path, lineno, key)
            if v >= 0:
                meta[key] = v
        out.append((lineno, parts[0], parse_number(parts[3], path, lineno), meta))
    if not out:
        raise DatasetError(f"{path}: the file is empty; expected lines 'path, duration, fps, MOS'")
    return out


def _h5_value(f: Any, obj: Any) -> Any:
    """A MATLAB v7.3 (HDF5) variable as a str, a list (cell arrays) or a flat float array."""
    import h5py

    if obj.dtype == h5py.ref_dtype or obj.dtype.kind == "O":
        return [_h5_value(f, f[ref]) for ref in np.asarray(obj[()]).ravel(order="F")]
    data = np.asarray(obj[()])
    cls = obj.attrs.get("MATLAB_class", b"")
    cls = cls.decode() if isinstance(cls, bytes) else str(cls)
    if cls == "char":
        if obj.attrs.get("MATLAB_empty", 0):
            return ""
        # MATLAB stores a 1xL char row as an (L, 1) uint16 array of UTF-16 code units.
        return data.astype(np.uint16).ravel(order="F").tobytes().decode("utf-16-le")
    return data.astype(np.float64).ravel(order="F")


def _v5_value(v: Any) -> Any:
    """A scipy.io.loadmat value as a str, a list (cell arrays) or a flat float array."""
    a = np.asarray(v)
    if a.dtype.kind == "O":
        return [_v5_value(x) for x in a.ravel(order="F")]
    if a.dtype.kind == "U":  # a 1xL char row is one string; an NxL char matrix, N strings
        strings = [str(x).rstrip() for x in a.ravel(order="F")]
        return strings[0] if len(strings) == 1 else strings
    return a.astype(np.float64).ravel(order="F")


def read_mat(path: Path, keys: Sequence[str]) -> dict[str, Any]:
    """Variables ``keys`` of a MATLAB file, v7.3 (HDF5, via h5py) or older (via scipy).

    Char arrays become ``str``, cell arrays ``list``, numeric arrays flat float64 arrays (column
    order). Variables not in the file are left out of the result. Raises :class:`DatasetError`
    when the file is not a readable MATLAB file.
    """
    import h5py

    try:
        if h5py.is_hdf5(path):
            with h5py.File(path, "r") as f:
                return {k: _h5_value(f, f[k]) for k in keys if k in f}
        from scipy.io import loadmat

        m = loadmat(path, variable_names=list(keys))
    except DatasetError:
        raise
    except Exception as exc:  # h5py/scipy raise many types for corrupt files
        raise DatasetError(f"{path}: not a readable MATLAB file ({type(exc).__name__}: {exc}); "
                           "download it again") from None
    return {k: _v5_value(m[k]) for k in keys if k in m}


def mat_strings(value: Any, path: Path, key: str) -> list[str]:
    """A MATLAB cell array of strings as a list of str (a :class:`DatasetError` otherwise)."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    if isinstance(value, list):
        for i, v in enumerate(value, start=1):
            if not isinstance(v, str):
                raise DatasetError(f"{path}, entry {i} of '{key}': expected a file name, got {v!r}")
    raise DatasetError(f"{path}: '{key}' is not a cell array of file names")


def mat_numbers(value: Any, path: Path, key: str, n: int) -> np.ndarray:
    """A MATLAB numeric vector of length ``n`` as a float array (a :class:`DatasetError` otherwise)."""
    if not isinstance(value, np.ndarray):
        raise DatasetError(f"{path}: '{key}' is not a numeric array")
    if value.size != n:
        raise DatasetError(f"{path}: '{key}' has {value.size} values but there are {n} videos; "
                           "the file is inconsistent, download it again")
    bad = np.flatnonzero(~np.isfinite(value))
    if bad.size:
        raise DatasetError(f"{path}, entry {bad[0] + 1} of '{key}': {value[bad[0]]} is not a finite number")
    return value


#: VSFA info-file vectors kept as sample metadata: variable -> (meta key, type).
VSFA_META = {"framerates": ("fps", float), "framenums": ("frames", int),
             "widths": ("width", int), "heights": ("height", int)}


def vsfa_meta(data: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """Per-video metadata (fps, frames, width, height) from a VSFA info file's vectors of length ``n``."""
    cols = {key: (typ, data[var]) for var, (key, typ) in VSFA_META.items()
            if isinstance(data.get(var), np.ndarray) and data[var].size == n}
    return [{key: typ(v[i]) for key, (typ, v) in cols.items() if np.isfinite(v[i])} for i in range(n)]


def require_mat(data: dict[str, Any], path: Path, keys: Iterable[str], what: str) -> None:
    """A :class:`DatasetError` when one of ``keys`` is not in ``data`` (read from ``path``)."""
    missing = [k for k in keys if k not in data]
    if missing:
        raise DatasetError(f"{path}: missing variable(s) {', '.join(missing)}; expected {what}")


def check_mos(entries: Sequence[Entry], path: Path, dataset: str, mos_range: tuple[float, float],
              kind: str = "video") -> None:
    """A :class:`DatasetError` for an empty list, a MOS outside ``mos_range`` (the wrong file or
    scale) or a video (``kind``) listed twice."""
    if not entries:
        raise DatasetError(f"{path}: no {kind}s listed")
    lo, hi = mos_range
    where = "entry" if path.suffix.lower() == ".mat" else "line"
    seen: dict[str, int] = {}
    for e in entries:
        if not lo <= e.mos <= hi:
            raise DatasetError(f"{path}, {where} {e.line}: MOS {e.mos:g} of {e.name} is outside {dataset}'s "
                               f"scale [{lo:g}, {hi:g}]; is this {dataset}'s label file?")
        if e.name in seen:
            raise DatasetError(f"{path}, {where} {e.line}: {kind} {e.name} is listed twice (also {where} "
                               f"{seen[e.name]}); remove one")
        seen[e.name] = e.line


def build_dataset(name: str, entries: Sequence[Entry], root: Path, label_path: Path, *,
                  mos_range: tuple[float, float], label_format: str, layout: str,
                  allow_missing: bool = False, check_files: bool = True,
                  info: dict[str, Any] | None = None, kind: str = "video") -> VideoDataset:
    """Match ``entries`` to files under ``root`` and return the :class:`VideoDataset` (an
    :class:`ImageDataset` of image samples when ``kind`` is "image").

    Each entry takes the first of its candidate paths that is a file. Videos found nowhere raise a
    :class:`DatasetError` that counts them and lists the first few expected paths, unless
    ``allow_missing`` (then they are logged and dropped; ``info["missing"]`` lists their names).
    With ``check_files=False`` nothing is looked up on disk and each sample gets its first
    candidate path (to inspect the labels without the videos).
    """
    check_mos(entries, label_path, name, mos_range, kind)
    samples: list[Sample] = []
    missing: list[Entry] = []
    for e in entries:
        meta = {**e.meta, "label_line": e.line}
        if not check_files:
            samples.append(Sample(e.name, root / e.candidates[0], e.mos, meta, kind))
            continue
        found = next((root / c for c in e.candidates if (root / c).is_file()), None)
        if found is None:
            missing.append(e)
        else:
            samples.append(Sample(e.name, found, e.mos, meta, kind))
    if missing:
        shown = ", ".join(str(root / e.candidates[0]) for e in missing[:SHOW_MISSING])
        more = f" and {len(missing) - SHOW_MISSING} more" if len(missing) > SHOW_MISSING else ""
        msg = (f"{name}: {len(missing)} of {len(entries)} {kind}s listed in {label_path} are not under "
               f"{root}: {shown}{more}")
        if not allow_missing:
            raise DatasetError(f"{msg}. Download them into {root} in the release layout ({layout}), "
                               f"or pass allow_missing=True to run on the {kind}s that are there")
        if not samples:
            raise DatasetError(f"{msg}; none of the listed {kind}s is there. Expected layout: {layout}")
        log.warning("%s; dropping them (allow_missing=True)", msg)
    log.info("%s: %d %ss from %s", name, len(samples), kind, label_path)
    out_info: dict[str, Any] = {"labels": str(label_path), "label_format": label_format,
                                **(info or {})}
    if missing:
        out_info["missing"] = [e.name for e in missing]
    cls = ImageDataset if kind == "image" else VideoDataset
    return cls(name, samples, mos_range, root=root, info=out_info)
