"""liteiqa vs liteiqa-nt on the demo test split: clean accuracy and one-step FGSM (paper's L_mid).

Clean: frame-level SRCC / PLCC on every frame of the 70 held-out test videos against their
per-frame VMAF pseudo-MOS (from the cached map statistics: NT changes only the head). Attacked:
frame 12 of each test video, one FGSM step of ``--eps`` (Linf, pixels) with the ``L_mid`` loss
of Liu et al. (CVPR 2024, Eq. S13: raise the score of frames predicted below the middle of the
1-5 scale, lower the others), rounded to 8 bits; SRCC / PLCC of the attacked scores against the
pseudo-MOS and the mean absolute score change.

    OMP_NUM_THREADS=1 python benchmarks/exp_liteiqa_nt.py --eps 2/255
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from advqa.metrics.correlation import plcc, srcc
from advqa.models import create
from advqa.training.liteiqa import ALL_FRAMES, cached_stats, demo_frames, features_from_stats


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--eps", default="2/255")
    args = p.parse_args()
    num, _, den = args.eps.partition("/")
    eps = float(num) / float(den or 1)
    from advqa.io import read_video, to_tensor

    items = demo_frames("test", ALL_FRAMES)
    mos = np.array([it.mos for it in items])
    picked = [i for i, it in enumerate(items) if it.frame == 12]
    frames = torch.cat([to_tensor(read_video(items[i].sample.path).frames)[0, 12:13] for i in picked])
    for name in ("liteiqa", "liteiqa-nt"):
        model = create(name)
        feats = features_from_stats(cached_stats(model, items), model.taps)
        with torch.no_grad():
            clean = model.head(feats).numpy()
        x = frames.clone().requires_grad_(True)
        s = model(x)
        sign = torch.where(s.detach() < 3.0, 1.0, -1.0)  # L_mid: towards the far end of the scale
        (grad,) = torch.autograd.grad((sign * s).sum(), x)
        adv = ((frames + eps * grad.sign()).clamp(0, 1) * 255).round() / 255
        with torch.no_grad():
            s0, s1 = model(frames).numpy(), model(adv).numpy()
        m = mos[picked]
        print(f"{name:11s} clean SRCC {srcc(clean, mos):.3f} PLCC {plcc(clean, mos):.3f} | 70 frames: "
              f"clean SRCC {srcc(s0, m):.3f} -> FGSM {srcc(s1, m):.3f}, PLCC {plcc(s0, m):.3f} -> "
              f"{plcc(s1, m):.3f}, mean |change| {np.abs(s1 - s0).mean():.3f}", flush=True)


if __name__ == "__main__":
    main()
