"""Shared pieces of the image-quality (IQA) dataset loaders: seeded group splits, case-insensitive
file lookup, and a small reader for the first sheet of an ``.xlsx`` label file (SPAQ's format).
"""
from __future__ import annotations

import hashlib
import re
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from xml.etree import ElementTree

from advqa.data.labels import Entry
from advqa.errors import DatasetError

__all__ = ["SPLITS", "CaseIndex", "hashed_split", "read_xlsx_table", "select_split"]

#: The split names of the datasets split by :func:`hashed_split`.
SPLITS = ("all", "train", "test")


def hashed_split(keys: Iterable[str], *, seed: int = 0, test_fraction: float = 0.2) -> set[str]:
    """The keys of the test part of a seeded random split of ``keys`` (reference images, images).

    The keys are ordered by ``sha256(f"{seed}:{key}")`` and the first
    ``round(test_fraction * n)`` (at least 1 when there are two or more keys) form the test part.
    The order depends only on the key strings and the seed, not on NumPy's or Python's random
    generators, so a split is the same on every machine and version.
    """
    if not 0.0 < float(test_fraction) < 1.0:
        raise DatasetError(f"test_fraction must be between 0 and 1 (exclusive), got {test_fraction}")
    unique = sorted(set(keys))
    if len(unique) < 2:
        return set()
    order = sorted(unique, key=lambda k: hashlib.sha256(f"{int(seed)}:{k}".encode()).hexdigest())
    n_test = min(len(order) - 1, max(1, round(float(test_fraction) * len(order))))
    return set(order[:n_test])


def select_split(entries: Sequence[Entry], split: str | None, dataset: str, *, key: str,
                 seed: int, test_fraction: float) -> tuple[list[Entry], dict[str, object]]:
    """The entries of ``split`` ("all"/None, "train" or "test") of a :func:`hashed_split` over the
    metadata field ``key`` of every entry (e.g. the reference image), and the split's description."""
    split = "all" if split is None else split
    if split not in SPLITS:
        raise DatasetError(f"{dataset} has no split {split!r}; use one of {', '.join(SPLITS)} "
                           f"(a seeded split by {key}: seed=..., test_fraction=...)")
    groups = [str(e.meta[key]) for e in entries]
    test = hashed_split(groups, seed=seed, test_fraction=test_fraction)
    info: dict[str, object] = {"split": split, "split_by": key, "seed": int(seed),
                               "test_fraction": float(test_fraction),
                               "test_groups": sorted(test)}
    if split == "all":
        return list(entries), info
    keep = [e for e, g in zip(entries, groups) if (g in test) == (split == "test")]
    return keep, info


class CaseIndex:
    """Finds files whose names differ in case from the label file's (TID2013 lists ``i01_01_2.bmp``
    for files some copies store as ``I01_01_2.BMP``): one directory listing per folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._dirs: dict[str, dict[str, str]] = {}

    def resolve(self, rel: str) -> str:
        """``rel`` (relative to the root) with its file name in the case found on disk, else ``rel``."""
        folder, _, name = rel.replace("\\", "/").rpartition("/")
        if folder not in self._dirs:
            d = self.root / folder if folder else self.root
            try:
                self._dirs[folder] = {p.name.lower(): p.name for p in d.iterdir()} if d.is_dir() else {}
            except OSError:
                self._dirs[folder] = {}
        actual = self._dirs[folder].get(name.lower(), name)
        return f"{folder}/{actual}" if folder else actual


# ---------------------------------------------------------------------------------------- xlsx

_NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
       "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
       "rel": "http://schemas.openxmlformats.org/package/2006/relationships"}
_CELL = re.compile(r"([A-Z]+)(\d+)")


def _column(ref: str) -> int:
    letters = _CELL.match(ref)
    if letters is None:
        raise ValueError(f"bad cell reference {ref!r}")
    n = 0
    for ch in letters.group(1):
        n = n * 26 + ord(ch) - 64
    return n - 1


def _first_sheet(z: zipfile.ZipFile) -> str:
    try:
        wb = ElementTree.fromstring(z.read("xl/workbook.xml"))
        sheet = wb.find("m:sheets/m:sheet", _NS)
        rid = sheet.get(f"{{{_NS['r']}}}id") if sheet is not None else None
        rels = ElementTree.fromstring(z.read("xl/_rels/workbook.xml.rels"))
        for rel in rels.findall("rel:Relationship", _NS):
            if rel.get("Id") == rid:
                target = rel.get("Target", "")
                return target.lstrip("/") if target.startswith("/") else f"xl/{target}"
    except KeyError:
        pass
    return "xl/worksheets/sheet1.xml"


def read_xlsx_table(path: Path, required: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
    """Rows of the first sheet of an ``.xlsx`` file with a header row, like
    :func:`advqa.data.labels.read_csv_table`: ``(row number, {lower-cased column: text})``.

    Reads the Office Open XML parts directly (shared strings, inline strings, numbers); formulas
    give their cached values. Raises :class:`DatasetError` for a file that is not an ``.xlsx``
    workbook, an empty sheet or a missing ``required`` column.
    """
    try:
        with zipfile.ZipFile(path) as z:
            strings: list[str] = []
            if "xl/sharedStrings.xml" in z.namelist():
                sst = ElementTree.fromstring(z.read("xl/sharedStrings.xml"))
                strings = ["".join(t.text or "" for t in si.iter(f"{{{_NS['m']}}}t"))
                           for si in sst.findall("m:si", _NS)]
            sheet = ElementTree.fromstring(z.read(_first_sheet(z)))
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError, OSError) as exc:
        raise DatasetError(f"{path}: not a readable .xlsx workbook ({exc}); re-download it, or export "
                           "the sheet as CSV next to it") from None
    table: list[tuple[int, dict[int, str]]] = []
    for row in sheet.iter(f"{{{_NS['m']}}}row"):
        cells: dict[int, str] = {}
        for i, c in enumerate(row.findall("m:c", _NS)):
            col = _column(c.get("r")) if c.get("r") else i
            kind = c.get("t")
            if kind == "inlineStr":
                text = "".join(t.text or "" for t in c.iter(f"{{{_NS['m']}}}t"))
            else:
                v = c.find("m:v", _NS)
                text = "" if v is None or v.text is None else v.text
                if kind == "s" and text:
                    text = strings[int(text)]
            cells[col] = text
        if any(t.strip() for t in cells.values()):
            table.append((int(row.get("r") or len(table) + 1), cells))
    if not table:
        raise DatasetError(f"{path}: the first sheet is empty; expected a header with {', '.join(required)}")
    header_line, header = table[0]
    cols = {i: name.strip().lower() for i, name in header.items() if name.strip()}
    missing = [c for c in required if c.lower() not in cols.values()]
    if missing:
        raise DatasetError(f"{path}, row {header_line}: missing column(s) {', '.join(missing)}; the header has "
                           f"{', '.join(cols.values()) or 'nothing'}")
    rows = []
    for line, cells in table[1:]:
        row_dict: dict[str, str] = {}
        for i, name in cols.items():
            row_dict.setdefault(name, cells.get(i, ""))  # first of duplicated column names wins
        rows.append((line, row_dict))
    if not rows:
        raise DatasetError(f"{path}: no rows after the header")
    return rows
