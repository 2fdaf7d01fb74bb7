"""Dataset names for configs and the CLI: ``load_dataset(name, root=..., split=...)``.

``demo`` is built from real footage on first use; the real datasets are read from the folder
the user downloaded them to (``root``, or ``$ADVQA_DATA/<name>``).
"""
from __future__ import annotations

import os
from pathlib import Path

from advqa.data.base import VideoDataset
from advqa.errors import DatasetError
from advqa.registry import Registry

DATASETS: Registry = Registry("dataset", skip=("root",))

for _name, _target, _summary in (
    ("demo", "advqa.data.demo:load_demo", "built-in: real footage x real codec distortions, VMAF pseudo-MOS"),
    ("folder", "advqa.data.folder:load_folder", "your own videos: a folder with labels.csv (name,mos)"),
    ("konvid-1k", "advqa.data.konvid:load_konvid", "KoNViD-1k: 1200 videos, MOS 1-5"),
    ("live-vqc", "advqa.data.livevqc:load_livevqc", "LIVE-VQC: 585 videos, MOS 0-100"),
    ("youtube-ugc", "advqa.data.youtube_ugc:load_youtube_ugc", "YouTube-UGC: 1380 videos, MOS 1-5"),
    ("lsvq", "advqa.data.lsvq:load_lsvq", "LSVQ: 39k videos, MOS 0-100 (splits train/test/test-1080p/all)"),
):
    DATASETS.add(_name, _target, summary=_summary)
DATASETS.add("koniq-10k", "advqa.data.koniq:load_koniq", aliases=("koniq10k", "koniq"),
             summary="KonIQ-10k: 10,073 images, MOS 0-100 (official split train/validation/test)")
DATASETS.add("clive", "advqa.data.clive:load_clive", aliases=("livec", "live-challenge"),
             summary="CLIVE (LIVE Challenge): 1,162 images, MOS 0-100 (NT's 80/20 split nt-train/nt-test)")
DATASETS.add("kadid-10k", "advqa.data.kadid:load_kadid", aliases=("kadid10k", "kadid"),
             summary="KADID-10k: 10,125 images of 81 references, DMOS 1-5 (split by reference)")
DATASETS.add("tid2013", "advqa.data.tid2013:load_tid2013",
             summary="TID2013: 3,000 images of 25 references, MOS 0-9 (split by reference)")
DATASETS.add("spaq", "advqa.data.spaq:load_spaq",
             summary="SPAQ: 11,125 smartphone photos, MOS 0-100 (seeded 80/20 split)")
DATASETS.add("image-folder", "advqa.data.image_folder:load_image_folder",
             summary="your own images: a folder with labels.csv (name,mos)")
DATASETS.add("unlabelled-images", "advqa.data.image_folder:load_unlabelled_images",
             summary="your own images without MOS (attacks and score gains only)")


def available() -> dict[str, str]:
    """Dataset names with a one-line description."""
    return dict(DATASETS.listing())


def load_dataset(name: str, *, root: str | Path | None = None, split: str | None = None,
                 allow_missing: bool = False) -> VideoDataset:
    """Load a dataset by name. ``root`` defaults to ``$ADVQA_DATA/<name>`` for the real datasets.

    ``allow_missing`` (real datasets only) drops, with a logged warning, label entries whose video
    file is not on disk instead of failing.
    """
    name = DATASETS.resolve(name)
    loader = DATASETS.get(name)
    kwargs: dict[str, object] = {}
    if split is not None:
        kwargs["split"] = split
    if name == "demo":
        if root is not None:
            kwargs["root"] = Path(root)
        return loader(**kwargs)
    if root is None and name == "folder":
        raise DatasetError("dataset 'folder' needs --root DIR (a folder with labels.csv: name,mos)")
    if root is None:
        base = os.environ.get("ADVQA_DATA")
        if not base:
            raise DatasetError(f"dataset {name!r} needs its folder: pass --root DIR (or 'root:' in the config), "
                               "or set $ADVQA_DATA to the folder holding it")
        root = Path(base) / name
    if allow_missing and name != "folder":
        kwargs["allow_missing"] = True
    return loader(Path(root), **kwargs)
