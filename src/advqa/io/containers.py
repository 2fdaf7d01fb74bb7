"""Byte-level evidence that a video file was cut short: a frame-data element that runs past its end.

A container that was written to the end records the size of each of its top-level elements. When
the element that holds coded frames (a Matroska ``Cluster``, the ``movi`` list of an AVI, an MP4
``mdat`` box) declares more bytes than the file has, frames were lost. That is evidence; a frame
count in a header is not (variable-frame-rate files, AVIs with dropped frames and streams without
a count are all normal). Only the element headers are read (a few bytes per element, found by
seeking), never the frame data.

Elements of unknown size (live recordings that were never finalised) give no evidence, nor does a
cut inside a trailing index (Matroska ``Cues``, the AVI ``idx1``), which loses no frame: FFmpeg
rebuilds the index by scanning.
"""
from __future__ import annotations

import logging
import struct
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

__all__ = ["missing_frame_data"]

# Matroska (EBML) element IDs, with their length-marker bits (Matroska specification, RFC 9559).
_EBML = 0x1A45DFA3
_SEGMENT = 0x18538067
_CLUSTER = 0x1F43B675
_SEEK_HEAD = 0x114D9B74
_SEEK = 0x4DBB
_SEEK_ID = 0x53AB
_SEEK_POSITION = 0x53AC
_CUES = 0x1C53BB6B
#: The top-level children of a Segment; anything else means the walk lost its footing.
_SEGMENT_CHILDREN = {_SEEK_HEAD, 0x1549A966, 0x1654AE6B, _CLUSTER, _CUES, 0x1941A469, 0x1043A770,
                     0x1254C367, 0xEC, 0xBF}


def missing_frame_data(path: Path, format_name: str) -> str | None:
    """Why ``path`` lacks frame data its container declares, or ``None`` when there is no evidence.

    ``format_name`` is FFmpeg's demuxer name (``container.format.name`` in PyAV): Matroska/WebM,
    AVI and the MP4/MOV family are checked; other containers give ``None``.
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            if "matroska" in format_name or "webm" in format_name:
                return _matroska(f, size)
            if format_name == "avi":
                return _riff(f, size)
            if "mp4" in format_name or "mov" in format_name:
                return _iso_bmff(f, size)
    except (OSError, EOFError, struct.error, ValueError) as e:  # unreadable structure: no evidence
        log.debug("container walk of %s stopped: %s", path, e)
    return None


# ----------------------------------------------------------------------------- Matroska


def _vint(f: BinaryIO, keep_marker: bool) -> tuple[int | None, int]:
    """One EBML variable-length integer -> (value, bytes read); value None = "unknown size"."""
    b = f.read(1)
    if not b:
        raise EOFError("end of file inside an element header")
    first = b[0]
    if first == 0:
        raise ValueError("invalid EBML length marker")
    length = 9 - first.bit_length()
    rest = f.read(length - 1)
    if len(rest) < length - 1:
        raise EOFError("end of file inside an element header")
    value = first if keep_marker else first & ((1 << (8 - length)) - 1)
    for c in rest:
        value = (value << 8) | c
    if not keep_marker and value == (1 << (7 * length)) - 1:
        return None, length
    return value, length


def _element(f: BinaryIO) -> tuple[int, int | None, int]:
    """Read an element header at the current position -> (id, data size or None, data start)."""
    eid, _ = _vint(f, keep_marker=True)
    esize, _ = _vint(f, keep_marker=False)
    return int(eid or 0), esize, f.tell()


def _cues_position(f: BinaryIO, start: int, end: int, segment_start: int) -> int | None:
    """The absolute byte position of the Cues that a SeekHead spanning ``[start, end)`` points to."""
    f.seek(start)
    while f.tell() < end:
        eid, esize, data = _element(f)
        if esize is None:
            return None
        if eid == _SEEK:
            target, pos = None, None
            while f.tell() < data + esize:
                cid, csize, cdata = _element(f)
                raw = f.read(csize or 0)
                if cid == _SEEK_ID:
                    target = int.from_bytes(raw, "big")
                elif cid == _SEEK_POSITION:
                    pos = int.from_bytes(raw, "big")
                f.seek(cdata + (csize or 0))
            if target == _CUES and pos is not None:
                return segment_start + pos
        f.seek(data + esize)
    return None


def _matroska(f: BinaryIO, size: int) -> str | None:
    eid, esize, data = _element(f)
    if eid != _EBML or esize is None:
        return None
    f.seek(data + esize)
    eid, seg_size, seg_start = _element(f)
    if eid != _SEGMENT:
        return None
    pos, cues = seg_start, None
    seg_end = None if seg_size is None else seg_start + seg_size
    while pos < size and (seg_end is None or pos < seg_end):
        f.seek(pos)
        eid, esize, data = _element(f)
        if eid not in _SEGMENT_CHILDREN or esize is None:
            return None  # an unknown-size (live) element, or not a top-level element: no evidence
        end = data + esize
        if eid == _SEEK_HEAD and cues is None:
            cues = _cues_position(f, data, min(end, size), seg_start)
        if end > size:
            if eid == _CLUSTER:
                return (f"its Matroska cluster at byte {pos} declares {esize} bytes but the file "
                        f"ends {end - size} bytes short of it")
            log.info("%s: the file is cut inside a trailing element (id 0x%X): no frame is lost",
                     getattr(f, "name", "video"), eid)
            return None
        pos = end
    if seg_end is not None and seg_end > size:
        if cues is not None and cues <= size:
            return None  # only the index after the last cluster is missing
        return (f"its Matroska segment declares {seg_end} bytes but the file has {size}, and the "
                "missing part is not just the trailing index")
    return None


# ----------------------------------------------------------------------------- AVI (RIFF)


def _riff(f: BinaryIO, size: int) -> str | None:
    pos = 0
    while pos + 12 <= size:
        f.seek(pos)
        tag, riff_size, form = struct.unpack("<4sI4s", f.read(12))
        if tag != b"RIFF":
            return None
        riff_end = size if riff_size == 0 else pos + 8 + riff_size
        child = pos + 12
        while child + 8 <= min(riff_end, size):
            f.seek(child)
            ctag, csize = struct.unpack("<4sI", f.read(8))
            kind = f.read(4) if ctag == b"LIST" else b""
            end = child + 8 + csize
            if ctag == b"LIST" and kind == b"movi" and csize and end > size:
                return (f"its AVI 'movi' list (the frames) declares {csize} bytes but the file ends "
                        f"{end - size} bytes short of it")
            child = end + (csize & 1)
        pos = riff_end + (riff_size & 1)
        if form not in (b"AVI ", b"AVIX"):
            return None
    return None


# ----------------------------------------------------------------------------- MP4 / MOV


def _iso_bmff(f: BinaryIO, size: int) -> str | None:
    pos, frames_seen = 0, False
    while pos + 8 <= size:
        f.seek(pos)
        box_size, kind = struct.unpack(">I4s", f.read(8))
        if box_size == 1:
            (box_size,) = struct.unpack(">Q", f.read(8))
        elif box_size == 0:
            return None  # the last box runs to the end of the file, whatever its length
        if box_size < 8:
            return None
        end = pos + box_size
        if end > size and kind == b"mdat":
            return (f"its MP4 'mdat' box (the frames) declares {box_size} bytes but the file ends "
                    f"{end - size} bytes short of it")
        if end > size and not frames_seen:
            return (f"the file ends inside its MP4 {kind.decode('latin-1')!r} box, before any "
                    "frame data")
        frames_seen |= kind == b"mdat"
        pos = end
    return None
