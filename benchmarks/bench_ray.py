"""Throughput of the Ray executor: videos per minute with 1 and 2 workers (1 torch thread each).

Runs the same small experiment (the default model on demo test videos under an attack) once per
worker count on an embedded local Ray, each into a fresh output folder, and prints videos per
minute and the speed-up. The serial executor with 1 thread is the reference row. The demo
dataset is built on first use.

    python benchmarks/bench_ray.py                              # 8 videos x 4 frames, I-FGSM
    python benchmarks/bench_ray.py --videos 16 --workers 1 2 --attack patch -P queries=60
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=8)
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--attack", default="ifgsm")
    ap.add_argument("-P", dest="params", action="append", default=[], metavar="KEY=VALUE",
                    help="attack parameter (numbers only), e.g. -P iterations=5")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()

    import torch

    from advqa.bench.config import experiment_from_dict
    from advqa.bench.executors import SerialExecutor
    from advqa.bench.ray_executor import RayExecutor
    from advqa.bench.runner import run_experiment

    params = {k: float(v) if "." in v or "/" in v else int(v) for k, v in (p.split("=", 1) for p in args.params)}
    if not params and args.attack == "ifgsm":
        params = {"iterations": 5}
    exp = experiment_from_dict({"name": "ray-bench", "models": ["litevsfa"], "examples": 0,
                                "datasets": [{"name": "demo", "split": "test", "videos": args.videos,
                                              "max_frames": args.frames}],
                                "attacks": [{"name": args.attack, **params}]})
    from advqa.data import load_dataset

    load_dataset("demo", split="test")  # build it before timing
    rows = []
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        rep = run_experiment(exp, Path(tmp) / "serial", executor=SerialExecutor())
        rows.append(("serial, 1 thread", rep.computed, time.perf_counter() - t0))
        for n in args.workers:
            with RayExecutor(workers=n, num_cpus=n) as ex:
                ex.actors(n)  # start the workers before timing
                t0 = time.perf_counter()
                rep = run_experiment(exp, Path(tmp) / f"ray{n}", executor=ex)
                rows.append((f"ray, {n} worker(s) x 1 thread", rep.computed, time.perf_counter() - t0))
    base = rows[1][1] / rows[1][2] if len(rows) > 1 else None
    print(f"{args.attack} on litevsfa, {args.videos} demo videos x {args.frames} frames (clean scores + attacks)")
    print(f"{'executor':32s} {'videos':>6s} {'wall s':>8s} {'videos/min':>10s} {'vs 1 worker':>11s}")
    for name, n, s in rows:
        rate = n / s * 60
        ratio = f"{(n / s) / base:.2f}x" if base and name.startswith("ray") else ""
        print(f"{name:32s} {n:6d} {s:8.1f} {rate:10.1f} {ratio:>11s}")


if __name__ == "__main__":
    main()
