"""Image reading and lossless saving: PNG / JPEG / BMP, 16-bit rounding, grey, alpha, bad files."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from advqa.errors import ImageReadError, InputError
from advqa.io import is_image_file, read_image, read_image_array, write_image


def _png(path: Path, values: np.ndarray, colour_type: int, depth: int = 16) -> Path:
    """A PNG written by hand (big-endian samples, filter 0), independent of the decoders tested."""
    h, w = values.shape[:2]
    dtype = ">u2" if depth == 16 else "u1"
    rows = b"".join(b"\x00" + values[y].astype(dtype).tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, depth, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows))
                     + chunk(b"IEND", b""))
    return path


def _rgb8(seed: int = 0, h: int = 6, w: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_8bit_png_bmp_jpeg(tmp_path):
    rgb = _rgb8()
    Image.fromarray(rgb).save(tmp_path / "a.png")
    Image.fromarray(rgb).save(tmp_path / "a.bmp")
    Image.fromarray(rgb).save(tmp_path / "a.jpg", quality=90)
    for name in ("a.png", "a.bmp"):
        x = read_image(tmp_path / name)
        assert x.shape == (1, 3, 6, 7) and x.dtype == torch.float32
        assert torch.equal(x, torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255)
    # JPEG: exactly what Pillow (the IQA community's loader) decodes
    ref = np.asarray(Image.open(tmp_path / "a.jpg").convert("RGB"))
    assert np.array_equal(read_image_array(tmp_path / "a.jpg"), ref)
    assert is_image_file("x.JPEG") and is_image_file("y.Png") and not is_image_file("z.mp4")


def test_16bit_pngs_round_to_nearest_8bit_level(tmp_path):
    v = np.array([[0, 128, 129, 257 * 7, 65535, 257 * 200 + 128]], dtype=np.uint16)  # (1, 6)
    expect = np.array([[0, 0, 1, 7, 255, 200]], dtype=np.uint8)  # round(v / 257)
    assert np.array_equal(np.round(v / 257).astype(np.uint8), expect)
    grey = read_image_array(_png(tmp_path / "g16.png", v, 0))
    assert grey.shape == (1, 6, 3) and all(np.array_equal(grey[..., c], expect) for c in range(3))
    rgb16 = np.stack([v, v[:, ::-1], np.full_like(v, 257 * 3)], axis=-1)
    out = read_image_array(_png(tmp_path / "c16.png", rgb16, 2))
    assert np.array_equal(out[..., 0], expect) and np.array_equal(out[..., 1], expect[:, ::-1])
    assert (out[..., 2] == 3).all()
    # Pillow alone would truncate to the high byte (v >> 8): 257 * 200 + 128 -> 200 either way, 129 -> 0
    assert int(out[0, 2, 0]) == 1
    rgba16 = np.concatenate([rgb16, np.zeros_like(v)[..., None]], axis=-1)  # fully transparent
    assert np.array_equal(read_image_array(_png(tmp_path / "a16.png", rgba16, 6)), out)  # alpha dropped
    ya16 = np.stack([v, np.full_like(v, 65535)], axis=-1)
    assert np.array_equal(read_image_array(_png(tmp_path / "ya16.png", ya16, 4)), grey)


def test_grey_palette_alpha_and_bilevel(tmp_path):
    g = np.arange(42, dtype=np.uint8).reshape(6, 7) * 6
    Image.fromarray(g).save(tmp_path / "g.png")
    Image.fromarray(g).save(tmp_path / "g.jpg", quality=95)
    x = read_image_array(tmp_path / "g.png")
    assert np.array_equal(x, np.repeat(g[..., None], 3, axis=2))
    xj = read_image_array(tmp_path / "g.jpg")
    assert (xj[..., 0] == xj[..., 1]).all() and (xj[..., 1] == xj[..., 2]).all()
    rgba = np.concatenate([_rgb8(1), np.zeros((6, 7, 1), np.uint8)], axis=2)
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    assert np.array_equal(read_image_array(tmp_path / "rgba.png"), rgba[..., :3])  # not composited
    Image.fromarray(_rgb8(2)).quantize(colors=8).save(tmp_path / "p.png")
    pal = Image.open(tmp_path / "p.png")
    assert pal.mode == "P"
    assert np.array_equal(read_image_array(tmp_path / "p.png"), np.asarray(pal.convert("RGB")))
    Image.fromarray(g > 100).save(tmp_path / "bw.png")
    assert set(np.unique(read_image_array(tmp_path / "bw.png")).tolist()) == {0, 255}


def test_exif_orientation_only_when_asked(tmp_path):
    im = Image.fromarray(_rgb8(3, h=4, w=10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    im.save(tmp_path / "r.jpg", exif=exif.tobytes())
    assert read_image(tmp_path / "r.jpg").shape == (1, 3, 4, 10)
    assert read_image(tmp_path / "r.jpg", autorotate=True).shape == (1, 3, 10, 4)


def test_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(ImageReadError, match="no such file"):
        read_image(tmp_path / "missing.png")
    with pytest.raises(ImageReadError, match="folder"):
        read_image(tmp_path)
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageReadError, match="empty"):
        read_image(tmp_path / "empty.png")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(ImageReadError, match="identify"):
        read_image(tmp_path / "text.png")
    Image.fromarray(_rgb8()).save(tmp_path / "a.gif")
    with pytest.raises(ImageReadError, match="GIF image; advqa reads PNG, JPEG and BMP"):
        read_image(tmp_path / "a.gif")
    big = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    for name in ("t.png", "t.jpg"):
        Image.fromarray(big).save(tmp_path / name)
        data = (tmp_path / name).read_bytes()
        (tmp_path / name).write_bytes(data[: len(data) // 2])
        with pytest.raises(ImageReadError, match="truncated or corrupt"):
            read_image(tmp_path / name)
    v = np.zeros((2, 2), np.uint16)
    p16 = _png(tmp_path / "t16.png", v, 0)
    p16.write_bytes(p16.read_bytes()[:40])
    with pytest.raises(ImageReadError, match="corrupt"):
        read_image(p16)


def test_write_image_is_lossless_and_checked(tmp_path):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (1, 3, 5, 9), generator=g).float() / 255
    for suffix in (".png", ".bmp"):
        p = write_image(tmp_path / f"x{suffix}", x)
        assert torch.equal(read_image(p), x)
    assert torch.equal(read_image(write_image(tmp_path / "u.png", _rgb8())), read_image(tmp_path / "u.png"))
    with pytest.raises(InputError, match="lossless"):
        write_image(tmp_path / "x.jpg", x)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        write_image(tmp_path / "y.png", x * 255)
    with pytest.raises(InputError, match="batch"):
        write_image(tmp_path / "z.png", x.repeat(2, 1, 1, 1))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["u.png", "x.bmp", "x.png"]  # no temporary files
