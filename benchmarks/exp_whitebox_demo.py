"""The white-box experiment: the SRB attack of Zhang, Ran, Tang, Wang (NeurIPS 2023) on the demo test split.

For the default model (``litevsfa``) and the demo set's test split: clean scores, Zhang et al.'s
boundary targets (Eq. 7, statistics over the attacked set, ``mos_max`` = the largest MOS of the
whole demo set, every split: the runner's protocol, :mod:`advqa.bench.protocol`),
then ``WhiteBoxSRB`` (T = 1, K = 30, Adam lr 3e-4) for every requested budget and context;
prints SRCC / PLCC against the (pseudo-)MOS before and after, R (Eq. 6), the mean pixel-level L2
and Linf, queries and time, and writes everything as JSON.

    python benchmarks/exp_whitebox_demo.py                          # L2 1/255 and Linf 3/255, context video
    python benchmarks/exp_whitebox_demo.py --contexts video,frame --out results.json
    python benchmarks/exp_whitebox_demo.py --n 10 --frames 8        # quicker, smaller
"""
from __future__ import annotations

import argparse
import json
import logging
import time

import numpy as np
import torch

log = logging.getLogger("exp_whitebox_demo")

BUDGETS = {"l2": 1 / 255, "linf": 3 / 255}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="litevsfa")
    ap.add_argument("--split", default="test")
    ap.add_argument("--n", type=int, default=0, help="attack a random subset of n videos (0: all)")
    ap.add_argument("--frames", type=int, default=0, help="use the first n frames of each video (0: all)")
    ap.add_argument("--norms", default="l2,linf", help="l2 (1/255) and/or linf (3/255)")
    ap.add_argument("--contexts", default="video", help="video and/or frame")
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="exp_whitebox_demo.json")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)

    from advqa.attacks.whitebox import WhiteBoxSRB
    from advqa.bench import protocol
    from advqa.bench.config import DatasetSpec
    from advqa.bench.jobs import load_clip
    from advqa.metrics.correlation import plcc, srcc
    from advqa.metrics.robustness import r_score
    from advqa.models import create
    from advqa.threat import lp_ball

    model = create(args.model)
    aset = protocol.attacked_set(DatasetSpec("demo", split=args.split, videos=args.n or None,
                                             max_frames=args.frames or None), seed=args.seed)
    samples = list(aset.dataset)
    videos, mos, clean = [], [], []
    for s in samples:
        v = load_clip(s.path, args.frames or None)
        with torch.no_grad():
            clean.append(float(model(v)[0]))
        videos.append(v)
        mos.append(s.mos)
    mos_a, clean_a = np.array(mos), np.array(clean)
    # None where Eq. 7 is undefined (one video, or all MOS equal): the attack falls back
    bounds = protocol.targets(mos_a, clean_a, aset.mos_max, higher_is_better=model.card.higher_is_better)
    targets = np.array([np.nan if t is None else t for t in bounds], dtype=float)
    summary = {"model": args.model, "split": args.split, "videos": len(samples),
               "frames": [int(v.shape[1]) for v in videos][:1], "iterations": args.iterations,
               "clean": {"srcc": srcc(clean_a, mos_a), "plcc": plcc(clean_a, mos_a)}, "runs": []}
    log.info("clean: %d videos, SRCC %.4f PLCC %.4f", len(samples), summary["clean"]["srcc"], summary["clean"]["plcc"])

    for context in [c.strip() for c in args.contexts.split(",") if c.strip()]:
        for norm in [n.strip() for n in args.norms.split(",") if n.strip()]:
            attack = WhiteBoxSRB(lp_ball(norm, BUDGETS[norm]), iterations=args.iterations, context=context,
                                 seed=args.seed)
            adv, l2, linf, queries, secs = [], [], [], 0, 0.0
            start = time.perf_counter()
            for i, (s, v) in enumerate(zip(samples, videos)):
                res = attack(model, v, mos=s.mos, target=bounds[i])
                adv.append(res.adv_score)
                l2.append(res.l2)
                linf.append(res.linf)
                queries += res.queries
                secs += res.time_s
                log.info("%s %s %d/%d %s: mos %.3f clean %.4f -> %.4f (target %.4f)", context, norm, i + 1,
                         len(samples), s.name, s.mos, res.clean_score, res.adv_score, targets[i])
                with open(args.out + ".partial", "w") as f:  # progress, in case the run is cut short
                    json.dump({"context": context, "norm": norm, "adv_scores": adv, "clean_scores": clean,
                               "targets": targets.tolist(), "mos": mos}, f)
            adv_a = np.array(adv)
            run = {"context": context, "norm": norm, "eps": BUDGETS[norm],
                   "srcc": srcc(adv_a, mos_a), "plcc": plcc(adv_a, mos_a),
                   "R": r_score(clean_a, adv_a, targets), "l2_255": 255 * float(np.mean(l2)),
                   "linf_255": 255 * float(np.max(linf)), "queries_per_video": queries / len(samples),
                   "seconds": time.perf_counter() - start, "attack_seconds": secs,
                   "adv_scores": adv, "clean_scores": clean, "targets": targets.tolist(), "mos": mos}
            summary["runs"].append(run)
            with open(args.out, "w") as f:
                json.dump(summary, f, indent=1)

    c = summary["clean"]
    print(f"\n{args.model} on demo/{args.split}: {len(samples)} videos, K={args.iterations}, T=1")
    print(f"{'context':<8} {'budget':<12} {'SRCC':>7} {'PLCC':>7} {'R':>7} {'L2*255':>7} {'Linf*255':>8} {'q/video':>8} {'s':>7}")
    print(f"{'clean':<8} {'-':<12} {c['srcc']:>7.4f} {c['plcc']:>7.4f}")
    for r in summary["runs"]:
        print(f"{r['context']:<8} {r['norm'] + ' ' + format(r['eps'] * 255, 'g') + '/255':<12} {r['srcc']:>7.4f} "
              f"{r['plcc']:>7.4f} {r['R']:>7.3f} {r['l2_255']:>7.3f} {r['linf_255']:>8.3f} "
              f"{r['queries_per_video']:>8.0f} {r['seconds']:>7.0f}")
    print(f"(written to {args.out})")


if __name__ == "__main__":
    main()
