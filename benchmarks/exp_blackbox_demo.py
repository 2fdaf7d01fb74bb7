"""The black-box experiment: the patch search of Zhang, Ran, Tang, Wang (NeurIPS 2023) vs SimBA on the demo test split.

Protocol (Zhang et al. §4, Table 3-4, scaled to a CPU), the runner's (:mod:`advqa.bench.protocol`):
the default model scores every test video (first ``--max-frames`` frames); the SRB boundary
targets come from Eq. 7 over the attacked set (``mos_max`` = the largest MOS of the whole demo
set, every split); each video is attacked by

- ``patch``: :class:`~advqa.attacks.patch_search.PatchSearch`, gamma = 5/255, p = 56, N = 300,
  T = 1, whole-video context (advqa's default) — and, with ``--official``, ``context="frame"``
  with ``border="official"`` too;
- ``simba``: :class:`~advqa.attacks.simba.SimBA` at the same number of queries: its
  ``iterations`` equals the patch search's steps per round, so with batched evaluation both use
  exactly ``1 + 2 * steps`` queries per frame.

It prints SRCC / PLCC against the MOS before and after, Zhang et al.'s R (Eq. 6), the queries per
frame and the mean Linf / pixel-level L2 of the perturbations.

    python benchmarks/exp_blackbox_demo.py                    # all test videos, 8 frames each
    python benchmarks/exp_blackbox_demo.py --videos 4 --max-frames 4 --official
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time

import numpy as np
import torch

from advqa.attacks.base import Attack
from advqa.attacks.patch_search import PatchSearch
from advqa.attacks.simba import SimBA
from advqa.bench import protocol
from advqa.bench.config import DatasetSpec
from advqa.bench.jobs import load_clip
from advqa.metrics.correlation import plcc, srcc
from advqa.metrics.robustness import r_score
from advqa.models import create
from advqa.threat import lp_ball


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="litevsfa")
    ap.add_argument("--videos", type=int, default=0, help="number of test videos (0: all)")
    ap.add_argument("--max-frames", type=int, default=8)
    ap.add_argument("--official", action="store_true", help="also run the official per-frame context")
    ap.add_argument("--json", default="", help="write the per-video rows to this file")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]

    aset = protocol.attacked_set(DatasetSpec("demo", split="test", videos=args.videos or None,
                                             max_frames=args.max_frames), seed=0)
    data = aset.dataset
    model = create(args.model)
    videos = [load_clip(s.path, args.max_frames) for s in data]
    mos = np.array([s.mos for s in data])
    with torch.no_grad():
        clean = np.array([float(model(v)[0]) for v in videos])
    # None where Eq. 7 is undefined (one video, or all MOS equal): the attack falls back
    bounds = protocol.targets(mos, clean, aset.mos_max, higher_is_better=model.card.higher_is_better)
    targets = np.array([np.nan if t is None else t for t in bounds], dtype=float)

    threat = lp_ball("linf", 5 / 255)
    h, w = videos[0].shape[-2:]
    patch = PatchSearch(threat)
    steps = patch.plan(h, w).steps
    attacks: dict[str, Attack] = {"patch": patch, "simba": SimBA(threat, iterations=steps)}
    if args.official:
        official = PatchSearch(threat, context="frame", border="official")
        attacks["patch-official"] = official
        attacks["simba-official"] = SimBA(threat, iterations=official.plan(h, w).steps, context="frame")

    print(f"model {args.model}; demo test split: {len(data)} videos, {videos[0].shape[1]} frames of {w}x{h}; "
          f"gamma 5/255; patch plan {patch.plan(h, w)}")
    print(f"clean: SRCC {srcc(clean, mos):.4f}  PLCC {plcc(clean, mos):.4f}")
    rows = []
    header = f"{'attack':<16}{'SRCC':>8}{'PLCC':>8}{'R':>8}{'q/frame':>9}{'q/frame seq':>12}{'Linf*255':>9}" \
             f"{'L2*255':>8}{'time s':>8}"
    print(header)
    print("-" * len(header))
    for label, attack in attacks.items():
        adv, queries, seq, linf, l2 = [], 0, 0, 0.0, 0.0
        frames = 0
        start = time.perf_counter()
        for i, v in enumerate(videos):
            res = attack(model, v, mos=float(mos[i]), target=bounds[i])
            adv.append(res.adv_score)
            queries += res.queries
            seq += res.extras["queries_sequential"]
            frames += v.shape[1]
            linf, l2 = max(linf, res.linf), l2 + res.l2 / len(videos)
            rows.append({"attack": label, "video": data[i].name, "mos": float(mos[i]), "clean": float(clean[i]),
                         "target": float(targets[i]), **res.summary()})
        adv_a = np.array(adv)
        print(f"{label:<16}{srcc(adv_a, mos):>8.4f}{plcc(adv_a, mos):>8.4f}{r_score(clean, adv_a, targets):>8.3f}"
              f"{queries / frames:>9.1f}{seq / frames:>12.1f}{linf * 255:>9.2f}{l2 * 255:>8.2f}"
              f"{time.perf_counter() - start:>8.0f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
