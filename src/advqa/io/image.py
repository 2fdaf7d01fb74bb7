"""Image decoding and lossless saving: PNG, JPEG and BMP files <-> ``(1, 3, H, W)`` tensors.

At the I/O boundary an image is a uint8 RGB array ``(H, W, 3)``; models and attacks take float32
tensors ``(1, 3, H, W)`` in [0, 1] (``x / 255``). Conversion rules, applied by
:func:`read_image_array` (and so by :func:`read_image`):

* **Decoder.** 8-bit files are decoded by Pillow, the decoder the IQA community's dataset loaders
  use, so pixel values match theirs. 16-bit PNGs are decoded by PyAV (FFmpeg's PNG decoder),
  because Pillow truncates 16-bit colour PNGs to their high byte.
* **16 bits -> 8 bits** by rounding to the nearest 8-bit level: ``round(v / 257)`` (= ``v * 255 /
  65535`` rounded; there are no ties), so 0 -> 0, 65535 -> 255 and an 8-bit image stored as
  16 bits (``v = 257 k``) reads back as ``k`` exactly.
* **Grey -> RGB** by replicating the grey value into the three channels; bilevel images become 0
  or 255; palette images are looked up in their palette; CMYK and YCbCr JPEGs are converted by
  Pillow.
* **Alpha is dropped**, not composited: the stored colour channels are returned as they are, also
  under fully transparent pixels (no background colour is assumed).
* **Orientation.** Pixels are returned in stored order; the EXIF orientation tag of phone photos
  is applied only with ``autorotate=True`` (IQA datasets' labels and reference loaders use the
  stored order).

:func:`write_image` saves losslessly (PNG or BMP, 8-bit RGB), so an adversarial image saved and
read back has the same 8-bit values.
"""
from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch

from advqa.errors import ImageReadError, ImageWriteError, InputError

__all__ = ["IMAGE_SUFFIXES", "LOSSLESS_IMAGE_SUFFIXES", "is_image_file", "read_image", "read_image_array",
           "write_image"]

log = logging.getLogger(__name__)

#: File suffixes treated as images (compared case-insensitively).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
#: Suffixes :func:`write_image` accepts (lossless formats).
LOSSLESS_IMAGE_SUFFIXES = (".png", ".bmp")
#: Pillow format names read (MPO: the multi-picture JPEG many phones write; its first picture).
_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "MPO": "JPEG", "BMP": "BMP", "DIB": "BMP"}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Components per pixel of the 16-bit PNG colour types (0 grey, 2 RGB, 4 grey+alpha, 6 RGBA).
_PNG16_COMPONENTS = {0: 1, 2: 3, 4: 2, 6: 4}


def is_image_file(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` has an image suffix (:data:`IMAGE_SUFFIXES`); the content is not read."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def _check_readable(path: str | os.PathLike[str]) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise ImageReadError(p, "no such file; check the path")
    if p.is_dir():
        raise ImageReadError(p, "is a folder, not an image file; pass the path of a PNG, JPEG or BMP file")
    if p.stat().st_size == 0:
        raise ImageReadError(p, "the file is empty (0 bytes); re-download or re-save it")
    return p


def _png_depth(p: Path) -> tuple[int, int] | None:
    """(bit depth, colour type) from a PNG's IHDR chunk; None when ``p`` is not a PNG."""
    with open(p, "rb") as f:
        head = f.read(26)
    if len(head) < 26 or not head.startswith(_PNG_SIGNATURE) or head[12:16] != b"IHDR":
        return None
    return head[24], head[25]


def _to_8bit(v: np.ndarray) -> np.ndarray:
    """uint16 values -> uint8 with ``round(v / 257)`` (computed exactly as ``(v + 128) // 257``)."""
    return ((v.astype(np.uint32) + 128) // 257).astype(np.uint8)


def _rgb(values: np.ndarray) -> np.ndarray:
    """(H, W) grey or (H, W, C) grey+alpha / RGB / RGBA uint8 -> (H, W, 3): grey replicated, alpha dropped."""
    if values.ndim == 2:
        values = values[:, :, None]
    c = values.shape[2]
    if c in (1, 2):
        return np.repeat(values[:, :, :1], 3, axis=2)
    return np.array(values[:, :, :3], order="C")  # a writable copy (Pillow's arrays are read-only)


def _read_png16(p: Path, colour_type: int) -> np.ndarray:
    """A 16-bit PNG decoded exactly by FFmpeg's PNG decoder -> (H, W, 3) uint8."""
    import av

    comps = _PNG16_COMPONENTS.get(colour_type)
    if comps is None:
        raise ImageReadError(p, f"16-bit PNG with an invalid colour type {colour_type}; re-save it")
    try:
        with av.open(str(p), mode="r") as container:
            frame = next(container.decode(video=0))
    except (av.error.FFmpegError, StopIteration, OSError, ValueError) as e:
        raise ImageReadError(p, f"truncated or corrupt 16-bit PNG ({e}); re-download or re-save it") from e
    plane = frame.planes[0]
    w, h = frame.width, frame.height
    # FFmpeg's 16-bit PNG output formats (gray16be, ya16be, rgb48be, rgba64be) are packed big-endian
    data = np.frombuffer(memoryview(plane), dtype=">u2").reshape(h, plane.line_size // 2)
    values = data[:, :w * comps].reshape(h, w, comps)
    return _rgb(_to_8bit(values))


def _from_pillow(p: Path, im: Any) -> np.ndarray:
    """A loaded Pillow image -> (H, W, 3) uint8 by the module's rules."""
    mode = im.mode
    if mode in ("RGB", "RGBA", "RGBX", "RGBa", "L", "LA", "La"):
        return _rgb(np.asarray(im))
    if mode == "1":
        return _rgb(np.asarray(im.convert("L")))
    if mode in ("P", "PA"):
        return _rgb(np.asarray(im.convert("RGB")))
    if mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        return _rgb(np.asarray(im.convert("RGB")))
    if mode.startswith("I;16") or mode == "I":  # 16-bit grey (PNG) as Pillow holds it
        values = np.asarray(im).astype(np.int64)
        if values.min() < 0 or values.max() > 65535:
            raise ImageReadError(p, f"grey values outside 0..65535 (mode {mode}); save it as an 8- or 16-bit image")
        return _rgb(_to_8bit(values.astype(np.uint16)))
    raise ImageReadError(p, f"unsupported pixel mode {mode!r}; save it as an 8-bit RGB or grey PNG")


def read_image_array(path: str | os.PathLike[str], *, autorotate: bool = False) -> np.ndarray:
    """Decode a PNG, JPEG or BMP file into uint8 RGB ``(H, W, 3)`` (rules: module docstring).

    Raises :class:`~advqa.errors.ImageReadError` for a missing, empty, truncated or corrupt file and
    for a file whose content is not PNG, JPEG or BMP (whatever its suffix).
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    p = _check_readable(path)
    png = _png_depth(p)
    if png is not None and png[0] == 16:
        rgb = _read_png16(p, png[1])
        if autorotate:
            with Image.open(p) as im:  # a PNG may carry an eXIf chunk
                rgb = _apply_orientation(rgb, im.getexif().get(0x0112, 1))
        return rgb
    try:
        with Image.open(p) as im:
            fmt = im.format or "unknown"
            if fmt not in _FORMATS:
                raise ImageReadError(p, f"the file holds a {fmt} image; advqa reads PNG, JPEG and BMP "
                                        "(convert it, e.g. to PNG)")
            im.load()  # decodes now, so truncated data fails here
            if autorotate:
                im = ImageOps.exif_transpose(im)
            return _from_pillow(p, im)
    except ImageReadError:
        raise
    except UnidentifiedImageError as e:
        raise ImageReadError(p, "not an image Pillow can identify (not PNG, JPEG or BMP, or corrupt); "
                                "check that it is a complete image file") from e
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise ImageReadError(p, f"truncated or corrupt image data ({e}); re-download or re-save it") from e


def _apply_orientation(rgb: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to an (H, W, 3) array, as ``ImageOps.exif_transpose`` does."""
    ops = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1), 7: lambda a: np.rot90(a, 1)[::-1],
           8: lambda a: np.rot90(a, 1)}
    op = ops.get(int(orientation))
    return rgb if op is None else np.ascontiguousarray(op(rgb))


def read_image(path: str | os.PathLike[str], *, autorotate: bool = False,
               device: str | torch.device = "cpu") -> torch.Tensor:
    """Decode an image file into a float32 tensor ``(1, 3, H, W)`` in [0, 1] (uint8 / 255).

    PNG, JPEG or BMP; 16-bit PNGs are rounded to 8 bits (``round(v / 257)``), grey is replicated
    to RGB, alpha is dropped (see the module docstring). Raises
    :class:`~advqa.errors.ImageReadError` for missing, corrupt or unsupported files.
    """
    rgb = read_image_array(path, autorotate=autorotate)
    return (torch.from_numpy(rgb).to(device).permute(2, 0, 1).to(torch.float32) / 255.0).unsqueeze(0).contiguous()


def _image_uint8(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """``(1, 3, H, W)`` / ``(3, H, W)`` float in [0, 1] or ``(H, W, 3)`` uint8 -> ``(H, W, 3)`` uint8."""
    if isinstance(image, np.ndarray) and image.dtype == np.uint8:
        if image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape:
            raise InputError(f"uint8 images must be shaped (H, W, 3), got {image.shape}")
        return np.ascontiguousarray(image)
    if isinstance(image, np.ndarray):
        image = torch.from_numpy(image)
    if not isinstance(image, torch.Tensor):
        raise InputError(f"image must be a torch tensor or numpy array, got {type(image).__name__}")
    if image.ndim == 4:
        if image.shape[0] != 1:
            raise InputError(f"write_image saves one image; got a batch of {image.shape[0]} (pass image[i:i+1])")
        image = image[0]
    if image.ndim != 3 or image.shape[0] != 3 or 0 in image.shape:
        raise InputError(f"image must be shaped (1, 3, H, W) or (3, H, W), got {tuple(image.shape)}")
    from advqa.io.video import to_uint8  # the same rounding and range checks as for videos

    return to_uint8(image.unsqueeze(0))[0]


def write_image(path: str | os.PathLike[str], image: torch.Tensor | np.ndarray) -> Path:
    """Save an image losslessly as 8-bit RGB PNG or BMP (chosen by the suffix); returns the path.

    ``image``: float ``(1, 3, H, W)`` or ``(3, H, W)`` in [0, 1] (rounded with ``round(x * 255)``,
    like :func:`advqa.io.to_uint8`) or uint8 ``(H, W, 3)``. The file is written to a temporary
    name in the destination folder and renamed into place, so a failed write leaves nothing.
    """
    from PIL import Image

    p = Path(path).expanduser()
    suffix = p.suffix.lower()
    if suffix not in LOSSLESS_IMAGE_SUFFIXES:
        raise InputError(f"{p}: write_image saves lossless {', '.join(LOSSLESS_IMAGE_SUFFIXES)} files, "
                         f"not {suffix or 'files without a suffix'} (a lossy format would change the pixels)")
    rgb = _image_uint8(image)
    if not p.parent.is_dir():
        raise ImageWriteError(p, f"the folder {p.parent} does not exist")
    tmp = p.with_name(f".{p.name}.{uuid.uuid4().hex[:8]}.tmp{suffix}")
    try:
        Image.fromarray(rgb).save(tmp, format="PNG" if suffix == ".png" else "BMP")
        os.replace(tmp, p)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise ImageWriteError(p, str(e)) from e
    return p
