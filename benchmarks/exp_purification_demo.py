"""Purification defences against the naive and the adaptive white-box attacker, on the demo set.

For the default model (``litevsfa``) and a small subset of the demo test split, every
purification defence of :mod:`advqa.defenses.purification` is evaluated twice with the same
gradient attack (PGD, Linf 3/255, by default 5 steps of 1.5/255, random start, the Score-Reversed
Boundary loss toward Eq. 7's boundary targets of Zhang, Ran, Tang, Wang, NeurIPS 2023):

- **naive**: the attacker ignores the defence. It attacks the undefended model (targets from the
  undefended model's clean scores over the evaluated set) and the defended model scores the
  result. One attack per video, shared by all defences.
- **adaptive**: the same attack run on the defended model (targets from the defended model's
  clean scores): gradients pass through the defence by its own estimate (BPDA identity, the
  blur's exact Jacobian, the unrounded resize; Athalye, Carlini, Wagner, "Obfuscated Gradients
  Give a False Sense of Security", ICML 2018), with EOT (``--eot`` gradient samples per step)
  for the randomised random-resize-pad.

A randomised defence's clean and attacked scores are the mean over ``--draws`` seeded draws (the
same seeds for clean and attacked), so success is measured on the expectation, not one draw.
Prints SRCC / PLCC against the (pseudo-)MOS, the mean absolute score shift |attacked - clean|
(in the model's units, MOS scale 1-5) and queries per video, and writes everything as JSON.

    python benchmarks/exp_purification_demo.py                      # 12 videos x 4 frames, all defences
                                                                    # (19 min on 2 cores shared with other jobs)
    python benchmarks/exp_purification_demo.py --defenses jpeg,blur --n 6 --frames 2
"""
from __future__ import annotations

import argparse
import json
import logging
import time

import numpy as np
import torch

log = logging.getLogger("exp_purification_demo")

DEFENCES = ("jpeg", "h264", "blur", "median", "bitdepth", "resize", "random-resize-pad")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="litevsfa")
    ap.add_argument("--split", default="test")
    ap.add_argument("--n", type=int, default=12, help="videos, a seeded random subset of the split (0: all)")
    ap.add_argument("--frames", type=int, default=4, help="first n frames of each video (0: all 24)")
    ap.add_argument("--defenses", default=",".join(DEFENCES))
    ap.add_argument("--attack", default="pgd", help="a gradient attack name (pgd, whitebox, ifgsm, ...)")
    ap.add_argument("--iterations", type=int, default=5, help="attack steps (5 keeps the run short)")
    ap.add_argument("--eot", type=int, default=2, help="EOT gradient samples per step on randomised defences")
    ap.add_argument("--draws", type=int, default=4, help="seeded draws averaged when scoring a randomised defence")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="exp_purification_demo.json")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)

    from advqa import attacks, defenses
    from advqa.data import load_dataset
    from advqa.io.video import read_video, to_tensor
    from advqa.metrics.correlation import plcc, srcc
    from advqa.metrics.robustness import boundary_targets
    from advqa.models import create

    model = create(args.model)
    for p in model.parameters():
        p.requires_grad_(False)
    ds = load_dataset("demo", split=args.split)
    mos_max = ds.mos_range[1]
    if args.n:
        ds = ds.subset(args.n, seed=args.seed)
    samples = list(ds)
    videos = [to_tensor(read_video(s.path, max_frames=args.frames or None).frames) for s in samples]
    mos = np.array([s.mos for s in samples])
    hib = model.card.higher_is_better

    def score(m, v: torch.Tensor) -> float:
        """The (expected) score: the mean of ``--draws`` seeded draws for a randomised model."""
        with torch.no_grad():
            if not m.randomized:
                return float(m(v)[0])
            out = []
            for k in range(args.draws):
                m.seed(args.seed + k)
                out.append(float(m(v)[0]))
            return float(np.mean(out))

    def attack_all(m, clean: np.ndarray, eot: int) -> tuple[list[torch.Tensor], float, float]:
        """Attack every video on ``m`` toward Eq. 7's targets from ``clean``; adversarial videos,
        queries per video, seconds."""
        targets = boundary_targets(mos, clean, mos_max=mos_max, higher_is_better=hib)
        atk = attacks.create(args.attack, iterations=args.iterations, eot=eot, seed=args.seed)
        adv, queries, start = [], 0, time.perf_counter()
        for i, (s, v) in enumerate(zip(samples, videos)):
            res = atk(m, v, mos=s.mos, target=float(targets[i]))
            adv.append(res.adversarial)
            queries += res.queries
            log.info("%s %d/%d %s: clean %.3f -> %.3f (target %.3f)", m.card.name, i + 1, len(samples), s.name,
                     res.clean_score, res.adv_score, targets[i])
        return adv, queries / len(samples), time.perf_counter() - start

    def stats(clean: np.ndarray, adv: np.ndarray) -> dict[str, float]:
        return {"srcc": srcc(adv, mos), "plcc": plcc(adv, mos), "shift": float(np.mean(np.abs(adv - clean)))}

    clean_inner = np.array([score(model, v) for v in videos])
    naive_adv, naive_q, naive_s = attack_all(model, clean_inner, 1)
    undefended = np.array([score(model, v) for v in naive_adv])
    rows = [{"defense": "none", "clean": {"srcc": srcc(clean_inner, mos), "plcc": plcc(clean_inner, mos)},
             "naive": stats(clean_inner, undefended), "adaptive": stats(clean_inner, undefended),
             "queries_naive": naive_q, "queries_adaptive": naive_q, "seconds": naive_s,
             "clean_scores": clean_inner.tolist(), "naive_scores": undefended.tolist(),
             "adaptive_scores": undefended.tolist()}]
    summary = {"model": args.model, "split": args.split, "videos": [s.name for s in samples],
               "frames": int(videos[0].shape[1]), "attack": args.attack, "iterations": args.iterations,
               "eot": args.eot, "draws": args.draws, "mos": mos.tolist(), "rows": rows}

    for name in [d.strip() for d in args.defenses.split(",") if d.strip()]:
        spec = {"name": name}
        if defenses.DEFENSES.get(name).randomized_transform:
            spec["seed"] = args.seed
        d = defenses.create(spec, model)
        clean = np.array([score(d, v) for v in videos])
        naive = np.array([score(d, v) for v in naive_adv])
        adv, q, secs = attack_all(d, clean, args.eot if d.randomized else 1)
        adaptive = np.array([score(d, v) for v in adv])
        rows.append({"defense": name, "clean": {"srcc": srcc(clean, mos), "plcc": plcc(clean, mos)},
                     "naive": stats(clean, naive), "adaptive": stats(clean, adaptive),
                     "queries_naive": naive_q, "queries_adaptive": q, "seconds": secs,
                     "clean_scores": clean.tolist(), "naive_scores": naive.tolist(),
                     "adaptive_scores": adaptive.tolist()})
        with open(args.out, "w") as f:
            json.dump(summary, f, indent=1)
    with open(args.out, "w") as f:
        json.dump(summary, f, indent=1)

    print(f"\n{args.model} on demo/{args.split}: {len(samples)} videos x {summary['frames']} frames; "
          f"{args.attack} ({args.iterations} steps, its default budget), EOT {args.eot} on randomised defences, "
          f"{args.draws} draws per randomised score; |shift| = mean |attacked - clean| of the defended model")
    head = (f"{'defence':<18} {'clean SRCC':>10} {'PLCC':>6} | {'naive SRCC':>10} {'PLCC':>6} {'|shift|':>7} | "
            f"{'adapt SRCC':>10} {'PLCC':>6} {'|shift|':>7} | {'q naive':>7} {'q adapt':>7} {'s':>5}")
    print(head)
    print("-" * len(head))
    for r in rows:
        c, n, a = r["clean"], r["naive"], r["adaptive"]
        print(f"{r['defense']:<18} {c['srcc']:>10.4f} {c['plcc']:>6.3f} | {n['srcc']:>10.4f} {n['plcc']:>6.3f} "
              f"{n['shift']:>7.3f} | {a['srcc']:>10.4f} {a['plcc']:>6.3f} {a['shift']:>7.3f} | "
              f"{r['queries_naive']:>7.0f} {r['queries_adaptive']:>7.0f} {r['seconds']:>5.0f}")
    print("(row 'none': the undefended model; its naive and adaptive attacks are the same attack)")
    print(f"(written to {args.out})")


if __name__ == "__main__":
    main()
