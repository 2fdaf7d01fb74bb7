"""Peak memory of frame-wise models against video length (flat in the length beyond the clip itself).

Each (model, length) runs in a fresh subprocess that scores one random 540p video (960 x 540,
weights left random: memory does not depend on their values, and nothing is downloaded) and
reports its peak resident memory (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) and time.
With ``--grad`` it also back-propagates to the pixels (chunks run under activation
checkpointing), the memory an attack needs.

    python benchmarks/bench_framewise_memory.py                      # vsfa, 4 8 16 frames, no_grad
    python benchmarks/bench_framewise_memory.py --frames 8 32 240 --model litevsfa --grad

Expect: the peak grows by the video itself (T x 6.2 MB at 540p float32) plus the features, not by
T x the backbone's activations (hundreds of MB per 540p frame for ResNet-50).
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def _child(model_name: str, frames: int, grad: bool, height: int, width: int) -> None:
    import torch

    torch.set_num_threads(2)
    if model_name == "vsfa":
        from advqa.models.vsfa import VSFA as cls
    elif model_name == "mdtvsfa":
        from advqa.models.mdtvsfa import MDTVSFA as cls
    else:
        from advqa.models.litevsfa import LiteVSFA as cls
    model = cls().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    video = torch.rand(1, frames, 3, height, width)
    t0 = time.perf_counter()
    if grad:
        video.requires_grad_(True)
        model(video).sum().backward()
    else:
        with torch.no_grad():
            model(video)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_mib": peak / 1024, "before_mib": base / 1024,
                      "video_mib": video.numel() * 4 / 2**20, "seconds": time.perf_counter() - t0}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, nargs="+", default=[4, 8, 16])
    ap.add_argument("--model", choices=["vsfa", "mdtvsfa", "litevsfa"], default="vsfa")
    ap.add_argument("--grad", action="store_true", help="also backpropagate to the pixels")
    ap.add_argument("--size", type=int, nargs=2, default=[540, 960], metavar=("H", "W"))
    ap.add_argument("--_child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child is not None:
        _child(args.model, args._child, args.grad, *args.size)
        return
    mode = "grad" if args.grad else "no_grad"
    print(f"{args.model}, {args.size[0]}x{args.size[1]}, {mode}")
    print(f"{'frames':>7} {'video MiB':>10} {'peak RSS MiB':>13} {'baseline MiB':>15} {'seconds':>8}")
    for n in args.frames:
        cmd = [sys.executable, __file__, "--_child", str(n), "--model", args.model,
               "--size", str(args.size[0]), str(args.size[1])] + (["--grad"] if args.grad else [])
        r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()
                       .splitlines()[-1])
        print(f"{n:>7} {r['video_mib']:>10.1f} {r['peak_mib']:>13.1f} {r['before_mib']:>15.1f} "
              f"{r['seconds']:>8.1f}")


if __name__ == "__main__":
    main()
