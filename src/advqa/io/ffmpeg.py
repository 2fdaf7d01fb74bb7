"""The ffmpeg command-line binary of ``imageio-ffmpeg``, for what PyAV does not do reproducibly.

Two jobs use it: the codec round trips of :mod:`advqa.transforms` (libx264, MPEG-2 and MJPEG
encodes that must give the same bitstream on every run, which PyAV's bundled libx264 was measured
not to do, even with one thread) and VMAF (libvmaf) for the demo set's labels.
"""
from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["ffmpeg_exe", "run_ffmpeg"]


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary shipped in the ``imageio-ffmpeg`` wheel."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def run_ffmpeg(args: Sequence[str], *, fail: Callable[[str], Exception], stdin: bytes | None = None,
               cwd: Path | None = None) -> None:
    """Run ``ffmpeg -hide_banner -y -loglevel error <args>``; ``stdin`` feeds raw input when given.

    On a non-zero exit, raises ``fail(message)`` where the message is the last three lines of
    ffmpeg's error output joined by `` | ``.
    """
    quiet = ["-nostdin"] if stdin is None else []
    cmd = [ffmpeg_exe(), "-hide_banner", *quiet, "-y", "-loglevel", "error", *args]
    proc = subprocess.run(cmd, input=stdin, cwd=cwd, capture_output=True, check=False)
    if proc.returncode != 0:
        lines = proc.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise fail(" | ".join(lines))
