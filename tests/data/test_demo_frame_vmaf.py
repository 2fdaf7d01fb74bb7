"""Per-frame VMAF of the demo videos (the labels of the image model liteiqa)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from advqa.data import demo


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reduced demo build: one source (carphone), 6 frames."""
    root = tmp_path_factory.mktemp("demo") / "demo-small"
    return demo.build_demo(root, sources=["carphone"], frames=6)


def test_frame_vmaf_means_are_the_pooled_labels(small: Path) -> None:
    ds = demo.load_demo("all", root=small, build=False)
    paths = [s.path for s in ds]
    ref = next(s.path for s in ds if s.meta["distortion"] == "pristine")
    frames = demo.compute_frame_vmaf(paths, ref)
    pooled = demo.compute_vmaf(paths, ref)
    assert len(frames) == len(ds) == 14 and all(f.shape == (6,) for f in frames)
    assert [f.mean() for f in frames] == pytest.approx(pooled, abs=1e-6)
    assert [s.meta["vmaf"] for s in ds] == pytest.approx(pooled, abs=1e-3)  # the CSV's labels
    by = {s.meta["distortion"]: f for s, f in zip(ds, frames)}
    assert (by["pristine"] > 90).all() and (by["h264_crf51"] < by["h264_crf28"]).all()


def test_frame_vmaf_cache_is_keyed_by_the_build(small: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = small.parent / f"{small.name}-frame-vmaf.json"
    fresh = demo.demo_frame_vmaf(root=small, cache=False)
    assert not cache.exists()  # cache=False stores nothing
    first = demo.demo_frame_vmaf(root=small)
    assert cache.is_file() and set(first) == set(fresh)
    assert all(np.allclose(first[k], fresh[k], atol=1e-6) for k in fresh)

    def boom(*args, **kwargs):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(demo, "compute_frame_vmaf", boom)
    again = demo.demo_frame_vmaf(root=small)
    assert all(np.array_equal(again[k], first[k]) for k in first)
    data = json.loads(cache.read_text())
    data["manifest_sha256"] = "0" * 64  # values of another build
    cache.write_text(json.dumps(data))
    with pytest.raises(AssertionError, match="recomputed"):
        demo.demo_frame_vmaf(root=small, build=False)
