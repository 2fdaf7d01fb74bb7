"""Peak memory of a white-box attack against the video's length (540p, up to 240 frames).

Each length runs in a fresh subprocess: the default model (litevsfa, shipped weights) is attacked
by the white-box SRB attack (whole-video context with cached features; ``--iterations`` Adam
steps per frame, 1 by default since memory does not depend on the number of steps) on a random
8-bit 540p clip. The child reports its peak resident memory (``ru_maxrss``) before and after.

An attack must hold a few clip-sized buffers — the clean clip, the clip being optimised and the
enforced result — so the table subtracts ``buffers x clip size`` from the peak: the remainder,
the attack's working memory (model activations for one chunk, features, per-frame enforcement
and metrics), must be flat in the video's length after the first chunk. The base class enforces
the budget and computes the perturbation metrics frame by frame, which is what keeps it flat.

    python benchmarks/bench_attack_memory.py                       # 16 32 64 128 240 frames
    python benchmarks/bench_attack_memory.py --frames 16 240 --attack pgd
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

#: clip-sized buffers an attack needs: the clean clip, the working clip, the enforced result
BUFFERS = 3


def _child(frames: int, attack: str, iterations: int, height: int, width: int) -> None:
    import torch

    from advqa.attacks import create
    from advqa.models import create as create_model

    torch.set_num_threads(2)
    model = create_model("litevsfa")
    with torch.no_grad():  # warm up the allocator and kernels on one frame
        model(torch.zeros(1, 1, 3, height, width))
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    g = torch.Generator().manual_seed(0)
    video = torch.randint(0, 256, (1, frames, 3, height, width), generator=g, dtype=torch.uint8).float().div_(255)
    t0 = time.perf_counter()
    params = {"iterations": iterations}
    res = create(attack, **params)(model, video, target=1.0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_mib": peak / 1024, "before_mib": base / 1024, "video_mib": video.numel() * 4 / 2**20,
                      "seconds": time.perf_counter() - t0, "queries": res.queries,
                      "fast_path": bool(res.extras.get("feature_cache") or res.extras.get("chunked"))}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, nargs="+", default=[16, 32, 64, 128, 240])
    ap.add_argument("--attack", default="whitebox", choices=["whitebox", "pgd", "fgsm"])
    ap.add_argument("--iterations", type=int, default=1)
    ap.add_argument("--size", type=int, nargs=2, default=[540, 960], metavar=("H", "W"))
    ap.add_argument("--_child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child is not None:
        _child(args._child, args.attack, args.iterations, *args.size)
        return
    print(f"{args.attack} on litevsfa, {args.size[0]}x{args.size[1]}, {args.iterations} step(s) per round; "
          f"working memory = peak - before - {BUFFERS} x clip")
    print(f"{'frames':>6} {'clip MiB':>9} {'before MiB':>10} {'peak MiB':>9} {'working MiB':>11} "
          f"{'s':>7} {'queries':>7} fast-path")
    for t in args.frames:
        out = subprocess.run([sys.executable, __file__, "--_child", str(t), "--attack", args.attack,
                              "--iterations", str(args.iterations), "--size", *map(str, args.size)],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        working = r["peak_mib"] - r["before_mib"] - BUFFERS * r["video_mib"]
        print(f"{t:6d} {r['video_mib']:9.0f} {r['before_mib']:10.0f} {r['peak_mib']:9.0f} {working:11.0f} "
              f"{r['seconds']:7.1f} {r['queries']:7d} {r['fast_path']}")


if __name__ == "__main__":
    main()
