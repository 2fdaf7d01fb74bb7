"""Video decoding, probing and encoding with PyAV.

At the I/O boundary frames are uint8 RGB arrays shaped ``(T, H, W, 3)``; models and attacks take
float32 tensors shaped ``(1, T, 3, H, W)`` in [0, 1]. :func:`to_tensor` and :func:`to_uint8`
convert between the two.

* :func:`read_video` / :func:`iter_frames` decode sequentially (frame-exact ``start`` and
  ``stride``, no seeking) and stop as soon as ``max_frames`` frames are collected, so at most the
  requested frames are ever held in memory. YUV is converted to RGB by libswscale exactly as the
  ``ffmpeg -pix_fmt rgb24`` command line does (the official VSFA/MDTVSFA feature scripts read
  videos that way, through scikit-video), and the display rotation of phone videos is applied like
  ffmpeg's autorotate.
* Header frame counts are hints, never checked against: variable-frame-rate files, AVIs with
  dropped frames (empty "repeat the previous frame" chunks that the header counts) and streams
  without a count are normal. What is there is decoded; the frame rate and duration come from the
  frame timestamps. A file is reported truncated only on evidence: a demux or decode error, a
  packet cut off by the end of the file, or a frame-data element of the container that runs past
  the end of the file (:mod:`advqa.io.containers`).
* :func:`probe` reads container and stream metadata; it takes the frame count from an MP4/MOV
  sample table (an index of every coded frame) and otherwise counts packets by demuxing the file
  (no decoding), and says which in ``VideoInfo.frames_source``.
* :func:`write_video_lossless` stores RGB frames bit-exactly (FFV1, ``bgr0`` pixels, in Matroska),
  so an adversarial video saved and read back has the same 8-bit values.
* :func:`write_video` encodes lossily (H.264, HEVC, VP9, AV1, MPEG-2, MPEG-4, MJPEG) at a given CRF or
  quantiser. (The codec round trips of :mod:`advqa.transforms` use the ffmpeg binary instead,
  :mod:`advqa.io.ffmpeg`, for bitstreams that are the same on every run.)

Writers encode into a temporary file in the destination folder and rename it into place only
when encoding succeeded, so a failed or interrupted write never leaves a partial file behind.
"""
from __future__ import annotations

import logging
import math
import os
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from advqa.errors import AdvqaError, InputError, VideoReadError, VideoWriteError

__all__ = [
    "VideoClip",
    "VideoInfo",
    "read_video",
    "iter_frames",
    "probe",
    "to_tensor",
    "to_uint8",
    "write_video",
    "write_video_lossless",
    "LOSSLESS_SUFFIXES",
    "CODEC_ALIASES",
]

log = logging.getLogger(__name__)

#: File suffixes :func:`write_video_lossless` accepts (containers that carry FFV1).
LOSSLESS_SUFFIXES = (".mkv",)

#: Extra codec names accepted by :func:`write_video` (PyAV itself maps "h264" -> "libx264",
#: "hevc" -> "libx265", "vp9" -> "libvpx-vp9", "av1" -> the first AV1 encoder it has).
CODEC_ALIASES = {"h265": "hevc", "x264": "libx264", "x265": "libx265", "mpeg2": "mpeg2video",
                 "jpeg": "mjpeg", "motion-jpeg": "mjpeg"}

# Rate control per encoder: "crf" encoders take a constant rate factor, "qscale" encoders a fixed
# quantiser q (as `ffmpeg -q:v q`); the numbers are the valid ranges.
_RATE_CONTROL: dict[str, tuple[str, int, int]] = {
    "libx264": ("crf", 0, 51), "libx264rgb": ("crf", 0, 51), "libx265": ("crf", 0, 51),
    "libvpx-vp9": ("crf", 0, 63), "libvpx": ("crf", 4, 63), "libsvtav1": ("crf", 1, 63),
    "libaom-av1": ("crf", 0, 63),
    "mpeg2video": ("qscale", 1, 31), "mpeg1video": ("qscale", 1, 31), "mpeg4": ("qscale", 1, 31),
    "mjpeg": ("qscale", 1, 31), "h263": ("qscale", 1, 31), "msmpeg4v2": ("qscale", 1, 31),
}
# Defaults that keep encoding fast and quiet; the caller's ``options`` override them.
_DEFAULT_OPTIONS: dict[str, dict[str, str]] = {
    "libx265": {"x265-params": "log-level=error"},
    "libvpx-vp9": {"deadline": "good", "cpu-used": "4", "row-mt": "1"},
    "libsvtav1": {"preset": "8"},
    "libaom-av1": {"cpu-used": "6"},
}


# --------------------------------------------------------------------------- data types


@dataclass
class VideoClip:
    """Decoded frames of one video.

    ``frames``: uint8 RGB ``(T, H, W, 3)``; ``fps``: the source's frame rate in frames per second
    (not divided by ``stride``): its nominal rate when the frame timestamps keep to it, otherwise
    (variable frame rate, dropped frames) the mean rate of the decoded frames;
    ``start``/``stride``: which decoded frames these are (``start + i * stride``); ``times``:
    presentation time of each returned frame in seconds after the first frame of the stream,
    shape ``(T,)`` (``None`` when built by hand).
    """

    frames: np.ndarray
    fps: float
    path: Path
    start: int = 0
    stride: int = 1
    times: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    @property
    def indices(self) -> np.ndarray:
        """Source frame index of each decoded frame, shape ``(T,)``."""
        return self.start + self.stride * np.arange(len(self))

    def to_tensor(self, device: str | torch.device = "cpu") -> torch.Tensor:
        """The frames as a float32 ``(1, T, 3, H, W)`` tensor in [0, 1] (see :func:`to_tensor`)."""
        return to_tensor(self.frames, device=device)


@dataclass(frozen=True)
class VideoInfo:
    """Metadata of a video file (first video stream).

    ``width``/``height`` are the displayed size in pixels (what :func:`read_video` returns, i.e.
    swapped for a 90/270 degree ``rotation``); ``fps`` in frames per second (the nominal rate
    when the timestamps keep to it, otherwise the mean rate ``frames / duration_s``);
    ``duration_s`` in seconds, from the timestamps; ``codec`` the decoder name (e.g. "h264");
    ``pix_fmt`` the stored pixel format. ``frames_source`` says where ``frames`` comes from:
    ``"header"`` (an MP4/MOV sample table, which indexes every coded frame) or ``"counted"``
    (video packets counted by demuxing). ``header_frames`` is the count the stream header declares
    (0 when it has none; an AVI header also counts empty "repeat the previous frame" chunks);
    ``nominal_fps`` the frame rate the stream declares.
    """

    path: Path
    frames: int
    width: int
    height: int
    fps: float
    codec: str
    duration_s: float
    pix_fmt: str
    rotation: int = 0
    frames_source: str = "header"
    header_frames: int = 0
    nominal_fps: float = 0.0


# --------------------------------------------------------------------------- reading


def _av() -> Any:
    import av  # imported lazily: importing advqa must stay cheap

    return av


def _check_readable(path: str | os.PathLike[str]) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise VideoReadError(p, "no such file; check the path")
    if p.is_dir():
        raise VideoReadError(p, "is a folder, not a video file; pass the path of a video file")
    if p.stat().st_size == 0:
        raise VideoReadError(p, "the file is empty (0 bytes); re-download or re-encode it")
    return p


def _open(p: Path) -> tuple[Any, Any]:
    """Open ``p`` and return (container, first video stream); errors become VideoReadError."""
    av = _av()
    try:
        container = av.open(str(p), mode="r")
    except av.error.FFmpegError as e:
        raise VideoReadError(
            p, f"not a video FFmpeg can read, or truncated/corrupt ({_reason(e)}); "
               "check that it is a complete video file (re-download or re-encode it)") from e
    except (OSError, ValueError) as e:
        raise VideoReadError(p, f"cannot open the file ({e})") from e
    if not container.streams.video:
        kinds = ", ".join(sorted({s.type for s in container.streams})) or "none"
        container.close()
        raise VideoReadError(p, f"the file has no video stream (streams: {kinds}); "
                                "pass a video file")
    return container, container.streams.video[0]


def _reason(e: BaseException) -> str:
    return getattr(e, "strerror", None) or str(e)


def _stream_fps(stream: Any) -> float:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return float(rate)
    log.warning("no frame rate stored in the video; assuming 25 fps")
    return 25.0


def _stream_duration_s(stream: Any) -> float:
    """The video stream's own duration in seconds (0.0 when the file does not store one)."""
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    tag = (stream.metadata or {}).get("DURATION")  # Matroska stores it as a tag "HH:MM:SS.nnn"
    if tag:
        try:
            h, m, sec = tag.split(":")
            return int(h) * 3600 + int(m) * 60 + float(sec)
        except ValueError:
            return 0.0
    return 0.0


def _duration_s(container: Any, stream: Any) -> float:
    dur = _stream_duration_s(stream)
    if dur > 0:
        return dur
    if container.duration is not None and container.duration > 0:
        return container.duration / 1_000_000  # AV_TIME_BASE is microseconds
    return 0.0


def _declared_frames(stream: Any) -> int:
    """Frame count the video stream's header declares (0 when unknown); no demuxing or decoding.

    A hint (to size buffers), never a check: see the module docstring. The container's duration
    is not used: it includes audio, which may outlast the video.
    """
    if stream.frames and stream.frames > 0:
        return int(stream.frames)
    dur = _stream_duration_s(stream)
    if dur > 0:
        return int(round(dur * _stream_fps(stream)))
    return 0


def _check_args(start: int, stride: int, max_frames: int | None) -> None:
    if not isinstance(start, (int, np.integer)) or isinstance(start, bool) or start < 0:
        raise InputError(f"start must be an integer >= 0 (a frame index), got {start!r}")
    if not isinstance(stride, (int, np.integer)) or isinstance(stride, bool) or stride < 1:
        raise InputError(f"stride must be an integer >= 1, got {stride!r}")
    if max_frames is not None and (not isinstance(max_frames, (int, np.integer))
                                   or isinstance(max_frames, bool) or max_frames < 1):
        raise InputError(f"max_frames must be None or an integer >= 1, got {max_frames!r}")


def _to_rgb(frame: Any, autorotate: bool) -> np.ndarray:
    kwargs: dict[str, Any] = {"format": "rgb24"}
    if frame.color_range:  # PyAV would otherwise treat full-range YUV as limited range
        kwargs["src_color_range"] = frame.color_range
    rgb = frame.to_ndarray(**kwargs)
    if autorotate:
        k = (int(round(frame.rotation / 90.0)) % 4) if frame.rotation else 0
        if k:
            rgb = np.ascontiguousarray(np.rot90(rgb, k=k))  # counter-clockwise, like ffmpeg
    return rgb


class _Timeline:
    """Presentation times (seconds) of the decoded frames of one stream, and what they imply."""

    def __init__(self, nominal_fps: float) -> None:
        self.nominal = nominal_fps
        self.times: list[float] = []
        self.last_duration = 0.0  # seconds the last frame lasts, when the file says

    def add(self, time: float | None, duration: float = 0.0) -> float:
        """Record one frame (``time`` None when it has no timestamp); return its time from the first."""
        if time is None:
            time = self.times[-1] + 1.0 / self.nominal if self.times else 0.0
        self.times.append(float(time))
        self.last_duration = max(float(duration), 0.0)
        return self.times[-1] - self.times[0]

    def summary(self) -> tuple[float, float, bool]:
        """``(fps, duration_s, constant)``: the nominal rate when every frame interval is within half
        a nominal interval of it (constant frame rate), otherwise the mean rate over the duration;
        the duration runs from the first frame to the end of the last one."""
        period = 1.0 / self.nominal
        t = np.sort(np.asarray(self.times, dtype=np.float64))
        if t.size < 2:
            return self.nominal, t.size * (self.last_duration or period), True
        steps = np.diff(t)
        constant = bool(np.all(np.abs(steps - period) <= 0.5 * period))
        last = self.last_duration or (period if constant else float(np.median(steps)))
        duration = float(t[-1] - t[0]) + last
        return (self.nominal if constant else t.size / duration), duration, constant


def _frame_time(obj: Any) -> tuple[float | None, float]:
    """(presentation time, duration) in seconds of a frame or packet; time None when unknown."""
    tb = obj.time_base
    if tb is None:
        return None, 0.0
    ts = obj.pts if obj.pts is not None else obj.dts
    return (None if ts is None else float(ts * tb)), float((obj.duration or 0) * tb)


def _cut_packet(packet: Any, file_size: int) -> bool:
    """A packet the demuxer read short at the end of the file (FFmpeg flags it corrupt)."""
    if not packet.size or not packet.is_corrupt:
        return False
    pos = packet.pos
    return pos is None or pos < 0 or pos + packet.size >= file_size


def _truncation(p: Path, container: Any, cut_at: int | None) -> str | None:
    """The evidence that ``p`` was cut short, once its packets are read; ``None`` when there is none."""
    from advqa.io.containers import missing_frame_data

    if cut_at is not None:
        return f"its last packet (at byte {cut_at}) is cut off by the end of the file"
    return missing_frame_data(p, str(container.format.name))


def _truncated(p: Path, evidence: str) -> VideoReadError:
    return VideoReadError(p, f"it is truncated: {evidence}; re-download or re-encode it")


def _decode(p: Path, start: int, stride: int, max_frames: int | None, autorotate: bool,
            meta: dict[str, Any] | None = None) -> Iterator[np.ndarray]:
    """Yield the selected frames of ``p`` as uint8 (H, W, 3); close the file when done.

    ``meta`` (if given) receives ``declared`` (the header's frame count, a hint for buffer sizes)
    at once, and ``timeline`` (a :class:`_Timeline` of every decoded frame) and ``times`` (the
    times of the yielded frames) as decoding goes.
    """
    av = _av()
    container, stream = _open(p)
    try:
        stream.thread_type = "AUTO"
        size = p.stat().st_size
        timeline = _Timeline(_stream_fps(stream))
        times: list[float] = []
        if meta is not None:
            meta.update(declared=_declared_frames(stream), timeline=timeline, times=times)
        decoded = yielded = 0
        cut_at: int | None = None
        packets = container.demux(stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.error.FFmpegError as e:
                raise VideoReadError(
                    p, f"corrupt or truncated data after {decoded} decoded frames ({_reason(e)}); "
                       "re-download or re-encode the file") from e
            if _cut_packet(packet, size):
                cut_at = packet.pos if packet.pos is not None and packet.pos >= 0 else size
            try:
                frames = packet.decode()
            except av.error.FFmpegError as e:
                if cut_at is not None:
                    raise _truncated(p, _truncation(p, container, cut_at) or "") from e
                raise VideoReadError(
                    p, f"corrupt or truncated data after {decoded} decoded frames ({_reason(e)}); "
                       "re-download or re-encode the file") from e
            for frame in frames:
                t = timeline.add(*_frame_time(frame))
                i = decoded
                decoded += 1
                if i < start or (i - start) % stride:
                    continue
                times.append(t)
                yield _to_rgb(frame, autorotate)
                yielded += 1
                if max_frames is not None and yielded >= max_frames:
                    return
        # The end of the file: header frame counts are not evidence of anything (see the module
        # docstring); a cut packet or a frame-data element running past the end of the file is.
        evidence = _truncation(p, container, cut_at)
        if evidence:
            raise _truncated(p, evidence)
        if decoded == 0:
            raise VideoReadError(p, "the video stream has no frames; pass a non-empty video")
        if yielded == 0:
            raise VideoReadError(
                p, f"start={start} is past the last frame (the video has {decoded} frames); "
                   "pass a smaller start")
    finally:
        container.close()


def iter_frames(path: str | os.PathLike[str], start: int = 0, stride: int = 1,
                max_frames: int | None = None, *, autorotate: bool = True) -> Iterator[np.ndarray]:
    """Yield frames ``start, start + stride, ...`` of a video as uint8 RGB arrays ``(H, W, 3)``.

    Decoding is sequential and stops after ``max_frames`` frames; one frame is in memory at a
    time. The path is checked at once; decoding errors surface while iterating. Raises
    :class:`~advqa.errors.VideoReadError` for missing, unreadable, corrupt, truncated or empty
    files and :class:`~advqa.errors.InputError` for bad arguments.
    """
    _check_args(start, stride, max_frames)
    p = _check_readable(path)
    return _decode(p, int(start), int(stride), max_frames, autorotate)


def read_video(path: str | os.PathLike[str], *, max_frames: int | None = None, start: int = 0,
               stride: int = 1, autorotate: bool = True) -> VideoClip:
    """Decode frames ``start + i * stride`` (``i < max_frames``) of a video into a :class:`VideoClip`.

    Returns uint8 RGB frames ``(T, H, W, 3)``, the source fps and each frame's time. Frame
    indices count the frames the file codes (an AVI's empty "repeat the previous frame" chunks
    are not frames; the timestamps keep the gaps). Frames go straight into one array sized from
    the header's frame count (a hint), so memory holds only the requested frames; decoding
    stops once ``max_frames`` frames are collected. ``autorotate`` applies the stream's display
    rotation (multiples of 90 degrees), as ffmpeg does.

    Raises :class:`~advqa.errors.VideoReadError` (missing file, not a video, no video stream,
    truncated or corrupt data, zero frames, ``start`` past the end) and
    :class:`~advqa.errors.InputError` (bad ``start``/``stride``/``max_frames``).
    """
    _check_args(start, stride, max_frames)
    p = _check_readable(path)
    meta: dict[str, Any] = {}
    buf: np.ndarray | None = None
    n = 0
    for rgb in _decode(p, int(start), int(stride), max_frames, autorotate, meta):
        if buf is None:
            expected = max(1, math.ceil((meta["declared"] - start) / stride)) \
                if meta["declared"] > start else 16
            if max_frames is not None:
                expected = min(expected, max_frames)
            buf = np.empty((expected, *rgb.shape), dtype=np.uint8)
        elif n == buf.shape[0]:  # the header undercounted: grow geometrically
            cap = 2 * n if max_frames is None else min(2 * n, max_frames)
            grown = np.empty((cap, *buf.shape[1:]), dtype=np.uint8)
            grown[:n] = buf
            buf = grown
        if rgb.shape != buf.shape[1:]:
            raise VideoReadError(p, f"frame {start + n * stride} is {rgb.shape[1]}x{rgb.shape[0]} "
                                    f"but earlier frames are {buf.shape[2]}x{buf.shape[1]}; "
                                    "videos that change size are not supported, re-encode it")
        buf[n] = rgb
        n += 1
    assert buf is not None  # _decode raises when nothing was decoded
    frames = buf if n == buf.shape[0] else buf[:n].copy()
    fps, _, _ = meta["timeline"].summary()
    return VideoClip(frames=frames, fps=float(fps), path=p, start=int(start), stride=int(stride),
                     times=np.asarray(meta["times"], dtype=np.float64))


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Metadata of a video's first video stream without decoding it.

    The frame count is the MP4/MOV sample table's (an index of every coded frame,
    ``frames_source="header"``); for every other container (Matroska, WebM, AVI, ...) it is the
    number of video packets, found by demuxing (reading) the file without decoding
    (``frames_source="counted"``): an AVI header's count includes empty "repeat the previous
    frame" chunks and a Matroska header has none. Duration and fps come from the packet
    timestamps. The first frame is decoded only to read the display rotation. A video stream
    without frames gives ``frames == 0`` (:func:`read_video` raises for it). Raises
    :class:`~advqa.errors.VideoReadError` for missing, unreadable or corrupt files, and, where
    for truncated ones (the container-structure evidence of :func:`read_video`, and a cut packet
    where the packets are read).
    """
    av = _av()
    p = _check_readable(path)
    container, stream = _open(p)
    try:
        cc = stream.codec_context
        nominal = _stream_fps(stream)
        header = int(stream.frames or 0)
        fmt = str(container.format.name)
        rotation = 0
        try:
            for frame in container.decode(stream):
                rotation = int(frame.rotation or 0)
                break
            if header > 0 and ("mp4" in fmt or "mov" in fmt):
                evidence = _truncation(p, container, None)
                if evidence:
                    raise _truncated(p, evidence)
                frames, source = header, "header"
                duration = _duration_s(container, stream) or header / nominal
                fps = frames / duration if duration else nominal
                if abs(fps - nominal) <= 1e-3 * nominal:
                    fps = nominal  # constant rate: keep the exact declared value
            else:
                container.close()  # reopen rather than seek: not every demuxer can seek back
                container, stream = _open(p)
                size = p.stat().st_size
                timeline = _Timeline(nominal)
                frames, source, cut_at = 0, "counted", None
                for pkt in container.demux(stream):
                    if not pkt.size:
                        continue
                    frames += 1
                    timeline.add(*_frame_time(pkt))
                    if _cut_packet(pkt, size):
                        cut_at = pkt.pos if pkt.pos is not None and pkt.pos >= 0 else size
                evidence = _truncation(p, container, cut_at)
                if evidence:
                    raise _truncated(p, evidence)
                fps, duration, _ = timeline.summary() if frames else (nominal, 0.0, True)
        except av.error.FFmpegError as e:
            raise VideoReadError(p, f"corrupt data ({_reason(e)}); re-download or re-encode "
                                    "the file") from e
        width, height = int(cc.width), int(cc.height)
        if rotation % 180:
            width, height = height, width
        return VideoInfo(path=p, frames=frames, width=width, height=height, fps=float(fps),
                         codec=str(cc.codec.canonical_name), duration_s=float(duration),
                         pix_fmt=str(cc.pix_fmt or ""), rotation=rotation, frames_source=source,
                         header_frames=header, nominal_fps=float(nominal))
    finally:
        container.close()


# --------------------------------------------------------------------------- tensors


def to_tensor(frames: np.ndarray | torch.Tensor,
              device: str | torch.device = "cpu") -> torch.Tensor:
    """uint8 RGB frames ``(T, H, W, 3)`` -> float32 tensor ``(1, T, 3, H, W)`` in [0, 1] (x / 255).

    Accepts a numpy array or a torch tensor. Raises :class:`~advqa.errors.InputError` for another
    dtype or shape.
    """
    if isinstance(frames, np.ndarray):
        if frames.dtype != np.uint8:
            raise InputError(f"frames must be uint8, got dtype {frames.dtype}; "
                             "use to_uint8 to convert float videos")
        t = torch.from_numpy(np.ascontiguousarray(frames))
    elif isinstance(frames, torch.Tensor):
        if frames.dtype != torch.uint8:
            raise InputError(f"frames must be uint8, got dtype {frames.dtype}; "
                             "use to_uint8 to convert float videos")
        t = frames
    else:
        raise InputError(f"frames must be a numpy array or torch tensor, got {type(frames).__name__}")
    if t.ndim != 4 or t.shape[-1] != 3 or 0 in t.shape:
        raise InputError(f"frames must have shape (T, H, W, 3) with T, H, W >= 1, "
                         f"got {tuple(t.shape)}")
    return (t.to(device).permute(0, 3, 1, 2).to(torch.float32) / 255.0).unsqueeze(0).contiguous()


def to_uint8(video: torch.Tensor | np.ndarray) -> np.ndarray:
    """Float video ``(1, T, 3, H, W)`` or ``(T, 3, H, W)`` in [0, 1] -> uint8 ``(T, H, W, 3)``.

    Values are mapped with ``round(x * 255)`` (round half to even) and clamped to 0..255. Values
    that would round outside 0..255 (below -0.5/255 or above 1 + 0.5/255), NaN and inf raise
    :class:`~advqa.errors.InputError`: they mean the tensor is not a [0, 1] video (e.g. 0..255
    scale or normalised input).
    """
    if isinstance(video, np.ndarray):
        video = torch.from_numpy(video)
    if not isinstance(video, torch.Tensor):
        raise InputError(f"video must be a torch tensor or numpy array, got {type(video).__name__}")
    v = video.detach()
    if v.ndim == 5:
        if v.shape[0] != 1:
            raise InputError(f"to_uint8 converts one video; got a batch of {v.shape[0]} "
                             "(pass video[i:i+1] or video[i])")
        v = v[0]
    if v.ndim != 4 or v.shape[1] != 3 or 0 in v.shape:
        raise InputError(f"video must have shape (1, T, 3, H, W) or (T, 3, H, W), "
                         f"got {tuple(video.shape)}")
    if not v.is_floating_point():
        raise InputError(f"video must be a float tensor in [0, 1], got dtype {v.dtype}")
    v = v.to("cpu", torch.float64)
    if not torch.isfinite(v).all():
        raise InputError("video contains NaN or inf values; check the attack or model output")
    lo, hi = float(v.min()), float(v.max())
    if lo < -0.5 / 255 or hi > 1 + 0.5 / 255:
        raise InputError(f"video values must lie in [0, 1], got range [{lo:.4g}, {hi:.4g}] "
                         "(0..255 data? divide by 255; normalised input? undo the normalisation)")
    q = torch.round(v * 255.0).clamp_(0, 255).to(torch.uint8)
    return q.permute(0, 2, 3, 1).contiguous().numpy()


# --------------------------------------------------------------------------- writing


def _fps_fraction(fps: float | Fraction, path: Path) -> Fraction:
    try:
        f = Fraction(fps).limit_denominator(1001 * 1000) if not isinstance(fps, Fraction) else fps
        ok = math.isfinite(float(fps)) and f > 0
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise VideoWriteError(path, f"fps must be a positive finite number, got {fps!r}")
    return f


def _frame_source(frames: Any, path: Path) -> Iterator[np.ndarray]:
    """Validate ``frames`` (array ``(T, H, W, 3)`` or iterable of ``(H, W, 3)``) lazily."""
    if isinstance(frames, torch.Tensor):
        frames = frames.detach().cpu().numpy()
    if isinstance(frames, np.ndarray):
        if frames.dtype != np.uint8:
            raise VideoWriteError(path, f"frames must be uint8, got dtype {frames.dtype}; "
                                        "convert float videos with advqa.io.to_uint8")
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise VideoWriteError(path, f"frames must have shape (T, H, W, 3) (RGB), "
                                        f"got {frames.shape}")
        if 0 in frames.shape:
            raise VideoWriteError(path, f"no frames to write (shape {frames.shape}); "
                                        "pass at least one frame")
        return iter(frames)
    if isinstance(frames, (str, bytes)) or not isinstance(frames, Iterable):
        raise VideoWriteError(path, f"frames must be a uint8 array (T, H, W, 3) or an iterable "
                                    f"of (H, W, 3) frames, got {type(frames).__name__}")
    return iter(frames)


def _check_frame(a: Any, index: int, size: tuple[int, int] | None, path: Path) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    if not isinstance(a, np.ndarray) or a.dtype != np.uint8:
        kind = a.dtype if isinstance(a, np.ndarray) else type(a).__name__
        raise VideoWriteError(path, f"frame {index} must be a uint8 array, got {kind}; "
                                    "convert float videos with advqa.io.to_uint8")
    if a.ndim != 3 or a.shape[2] != 3 or 0 in a.shape:
        raise VideoWriteError(path, f"frame {index} must have shape (H, W, 3), got {a.shape}")
    if size is not None and a.shape[:2] != size:
        raise VideoWriteError(path, f"frame {index} is {a.shape[1]}x{a.shape[0]} but frame 0 is "
                                    f"{size[1]}x{size[0]}; all frames must have one size")
    return np.ascontiguousarray(a)


def _resolve_codec(codec: str, path: Path) -> str:
    av = _av()
    name = CODEC_ALIASES.get(codec.lower(), codec) if isinstance(codec, str) else codec
    try:
        c = av.codec.Codec(name, "w")
    except (av.codec.codec.UnknownCodecError, TypeError, ValueError) as e:
        known = ", ".join(["libx264", "libx265", "libvpx-vp9", "libsvtav1", "mpeg2video",
                           "mpeg4", "mjpeg", "ffv1"])
        raise VideoWriteError(path, f"unknown or unavailable video encoder {codec!r}; "
                                    f"use one PyAV provides, e.g. {known}") from e
    if c.type != "video":
        raise VideoWriteError(path, f"{codec!r} is a {c.type} encoder, not a video encoder")
    return str(c.name)


def _encode(path: Path, frames: Any, *, codec: str, pix_fmt: str, fps: Fraction,
            options: Mapping[str, str]) -> int:
    """Encode ``frames`` into ``path`` through a temporary file; return the number of frames."""
    av = _av()
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.partial{path.suffix}")
    source = _frame_source(frames, path)
    try:
        fmt = av.VideoFormat(pix_fmt)
    except (ValueError, TypeError) as e:
        raise VideoWriteError(path, f"unknown pixel format {pix_fmt!r}") from e
    sub_x, sub_y = 64 // fmt.chroma_width(64), 64 // fmt.chroma_height(64)
    n = 0
    container = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # bitexact: no random Matroska IDs or encoder version strings, so identical frames give identical files
            container = av.open(str(tmp), mode="w", options={"fflags": "+bitexact"})
        except ValueError as e:
            raise VideoWriteError(path, f"no container format for suffix {path.suffix!r} "
                                        "(use e.g. .mkv, .mp4, .webm, .avi)") from e
        stream = None
        size: tuple[int, int] | None = None
        for a in source:
            a = _check_frame(a, n, size, path)
            if stream is None:
                size = a.shape[:2]
                h, w = size
                if w % sub_x or h % sub_y:
                    raise VideoWriteError(
                        path, f"frames are {w}x{h} but pixel format {pix_fmt} subsamples chroma "
                              f"{sub_x}x{sub_y}, so width must be a multiple of {sub_x} and height "
                              f"of {sub_y}; crop or pad the frames (e.g. frames[:, :{h - h % sub_y},"
                              f" :{w - w % sub_x}]) or use pix_fmt='yuv444p'")
                stream = container.add_stream(codec, rate=fps, options=dict(options))
                stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
            frame = av.VideoFrame.from_ndarray(a, format="rgb24")
            if pix_fmt != "rgb24":
                frame = frame.reformat(format=pix_fmt)
            frame.pts = n
            for packet in stream.encode(frame):
                container.mux(packet)
            n += 1
        if stream is None:
            raise VideoWriteError(path, "no frames to write; pass at least one frame")
        for packet in stream.encode():
            container.mux(packet)
        container.close()
        container = None
        os.replace(tmp, path)
    except BaseException as e:
        if container is not None:
            try:
                container.close()
            except Exception:  # noqa: BLE001 - the original error matters, not the cleanup's
                pass
        tmp.unlink(missing_ok=True)
        if isinstance(e, AdvqaError):
            raise
        if isinstance(e, OSError):  # includes av.error.PermissionError and friends
            raise VideoWriteError(path, f"{_reason(e)}; check that the folder is writable and "
                                        "the disk not full") from e
        if isinstance(e, (av.error.FFmpegError, ValueError, TypeError)):
            raise VideoWriteError(path, f"encoding with {codec} ({pix_fmt}) failed: {_reason(e)}; "
                                        "check that the container suffix fits the codec "
                                        "(e.g. ffv1 -> .mkv, libvpx-vp9 -> .webm/.mkv)") from e
        raise
    log.debug("wrote %d frames to %s (%s, %s)", n, path, codec, pix_fmt)
    return n


def write_video_lossless(path: str | os.PathLike[str],
                         frames: np.ndarray | Iterable[np.ndarray],
                         fps: float | Fraction = 25.0) -> Path:
    """Write uint8 RGB frames bit-exactly: FFV1 (level 3, per-slice CRCs) with ``bgr0`` pixels in MKV.

    ``frames``: array ``(T, H, W, 3)`` or an iterable of ``(H, W, 3)`` arrays (streamed, any
    size including odd ones); ``fps`` in frames per second. ``read_video`` of the result returns
    the same bytes. Returns the path. Raises :class:`~advqa.errors.VideoWriteError` for a suffix
    other than ``.mkv``, bad frames (dtype, shape, empty) or an encoding failure; no partial
    file is left behind.
    """
    p = Path(path).expanduser()
    if p.suffix.lower() not in LOSSLESS_SUFFIXES:
        raise VideoWriteError(p, f"lossless videos are FFV1 in Matroska; use a .mkv path, "
                                 f"not {p.suffix or 'no suffix'!r}")
    _encode(p, frames, codec="ffv1", pix_fmt="bgr0", fps=_fps_fraction(fps, p),
            options={"level": "3", "slicecrc": "1", "g": "1"})
    return p


def write_video(path: str | os.PathLike[str], frames: np.ndarray | Iterable[np.ndarray],
                fps: float | Fraction = 25.0, codec: str = "libx264", crf: int | None = None,
                pix_fmt: str = "yuv420p", options: Mapping[str, str] | None = None) -> Path:
    """Encode uint8 RGB frames lossily, e.g. for a compression ladder.

    ``codec``: a PyAV encoder or alias ("libx264"/"h264", "libx265"/"hevc", "libvpx-vp9"/"vp9",
    "libsvtav1"/"av1", "mpeg2video", "mpeg4", "mjpeg"). ``crf``: the constant rate factor for
    x264/x265 (0-51), VP9/AV1 (0-63); for encoders without CRF (MPEG-2, MPEG-4, MJPEG) it is the
    fixed quantiser q (1-31, like ``ffmpeg -q:v``). ``None`` keeps the encoder's default.
    ``options``: extra encoder options (strings), overriding advqa's speed defaults.
    The container comes from the suffix (.mp4, .mkv, .webm, .avi, .mpg, ...).

    Odd sizes are not padded or cropped silently: with a chroma-subsampled ``pix_fmt`` (yuv420p
    needs even width and height) a :class:`~advqa.errors.VideoWriteError` tells how to crop, so
    the decoded video always has the size written. The RGB -> YUV conversion is libswscale's
    BT.601 limited range, which :func:`read_video` inverts. Returns the path; no partial file is
    left on failure.
    """
    p = Path(path).expanduser()
    name = _resolve_codec(codec, p)
    opts: dict[str, str] = dict(_DEFAULT_OPTIONS.get(name, {}))
    if crf is not None:
        if name not in _RATE_CONTROL:
            raise VideoWriteError(p, f"encoder {name} has no CRF/quantiser setting advqa knows; "
                                     "pass crf=None and set its rate control in options")
        kind, lo, hi = _RATE_CONTROL[name]
        if isinstance(crf, bool) or not isinstance(crf, (int, np.integer)) or not lo <= crf <= hi:
            raise VideoWriteError(p, f"crf for {name} must be an integer in [{lo}, {hi}], "
                                     f"got {crf!r}")
        if kind == "crf":
            opts["crf"] = str(int(crf))
            if name in ("libvpx-vp9", "libvpx", "libaom-av1"):
                opts["b"] = "0"  # constant quality: no bitrate target
        else:  # a fixed quantiser: pin the rate control's range to q (ffmpeg -qmin q -qmax q)
            opts["qmin"] = opts["qmax"] = str(int(crf))
    if options:
        opts.update({str(k): str(v) for k, v in options.items()})
    if name == "mjpeg" and pix_fmt in ("yuv420p", "yuv422p", "yuv444p"):
        pix_fmt = pix_fmt.replace("yuv", "yuvj")  # JPEG is full range; swscale converts to it
    if name == "libsvtav1":
        os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its config banner otherwise
    _encode(p, frames, codec=name, pix_fmt=pix_fmt, fps=_fps_fraction(fps, p), options=opts)
    return p
