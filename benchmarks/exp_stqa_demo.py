"""STQA-Net vs the iterative SRB white-box attack on the demo test split, under the same JND budget.

STQA-Net (Hu, Liu, Sang, Wang, Knowledge-Based Systems 2024) with the shipped state trained
against ``litevsfa`` on the demo train split, against the white-box Score-Reversed Boundary
attack of Zhang, Ran, Tang, Wang (NeurIPS 2023), both inside ``|delta| <= JND`` (Yang et al.
2005 NAMM with Chou & Chen's temporal factor); SRB also with the temporal step bound
``|delta_t - delta_{t-1}| <= step`` (plain and along block motion). Boundary targets: Eq. 7 over
the attacked set (the runner's protocol). Per attack: SRCC/PLCC against the pseudo-MOS before
and after, R (Eq. 6), the mean score shift toward the boundary, ms per frame, PSNR/SSIM, the
fraction of pixel-channels at the JND limit (the largest 8-bit deviation it allows), flicker
(mean |delta_t - delta_{t-1}| x255, temporal PSNR, SSIM of frame differences); then the
adversarial videos made against litevsfa scored, without re-attacking, by the other models and
defended models that are registered (transfer).

    python benchmarks/exp_stqa_demo.py                       # 10 test videos, 3 frames each, SRB K=10
    python benchmarks/exp_stqa_demo.py --n 20 --frames 8 --out stqa.json
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import time

import numpy as np
import torch

log = logging.getLogger("exp_stqa_demo")


def at_limit_fraction(threat, clean: torch.Tensor, adv: torch.Tensor) -> float:  # noqa: ANN001
    """Fraction of pixel-channels whose deviation is the largest 8-bit value the JND budget allows (> 0)."""
    from advqa.threat import BUDGET_TOL, TemporalStep

    bound = threat.bind(clean)
    inner = bound.inner if isinstance(bound, TemporalStep) else bound
    top = torch.floor((inner.limit() + BUDGET_TOL) * 255.0) / 255.0
    d = (adv - clean).abs()
    hit = (d >= top.expand_as(d) - 1e-6) & (top.expand_as(d) > 0)
    return float(hit.float().mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="litevsfa")
    ap.add_argument("--n", type=int, default=10, help="test videos (a seeded subset; 0: all 70)")
    ap.add_argument("--frames", type=int, default=3, help="first frames of each video")
    ap.add_argument("--srb-lr", type=float, default=3e-3, help="SRB Adam step (Zhang et al. use 3e-4 for L2 1/255)")
    ap.add_argument("--iterations", type=int, default=10, help="SRB Adam steps per frame (Zhang et al.: 30)")
    ap.add_argument("--step", type=float, default=1.0, help="temporal step bound, 8-bit levels")
    ap.add_argument("--attacks", default="srb,srb+step,srb+step+motion,stqa-raw,stqa-targeted-raw,stqa,stqa-targeted")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="exp_stqa_demo.json")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    from advqa import defenses
    from advqa.attacks import create as create_attack
    from advqa.bench import protocol
    from advqa.bench.config import DatasetSpec
    from advqa.bench.jobs import load_clip
    from advqa.metrics.correlation import plcc, srcc
    from advqa.metrics.distortion import ssim
    from advqa.metrics.robustness import r_score
    from advqa.models import available, create

    model = create(args.model)
    aset = protocol.attacked_set(DatasetSpec("demo", split="test", videos=args.n or None,
                                             max_frames=args.frames or None), seed=args.seed)
    samples = list(aset.dataset)
    videos = [load_clip(s.path, args.frames or None) for s in samples]
    mos = np.array([s.mos for s in samples])
    with torch.no_grad():
        clean = np.array([float(model(v)[0]) for v in videos])
    bounds = protocol.targets(mos, clean, aset.mos_max, higher_is_better=model.card.higher_is_better)
    targets = np.array([np.nan if t is None else t for t in bounds], dtype=float)
    step = args.step / 255
    srb = dict(norm="jnd", lr=args.srb_lr, iterations=args.iterations, seed=args.seed)
    attacks = {  # built when their turn comes
        "srb": lambda: create_attack("whitebox", **srb),
        "srb+step": lambda: create_attack("whitebox", temporal_step=step, **srb),
        "srb+step+motion": lambda: create_attack("whitebox", temporal_step=step, motion=True, **srb),
        "stqa": lambda: create_attack("stqa"),
        "stqa-targeted": lambda: create_attack("stqa-targeted"),
        "stqa-raw": lambda: create_attack("stqa", verify=False),  # the network alone, no query
        "stqa-targeted-raw": lambda: create_attack("stqa-targeted", verify=False),
    }
    chosen = [a.strip() for a in args.attacks.split(",") if a.strip()]
    runs, advs = [], {}
    for name in chosen:
        attack = attacks[name]()
        rows, adv_videos = [], []
        for i, (s, v) in enumerate(zip(samples, videos)):
            res = attack(model, v, mos=s.mos, target=bounds[i])
            adv_videos.append(res.adversarial)
            rows.append(dict(adv=res.adv_score, ms_frame=1000 * res.time_s / v.shape[1], queries=res.queries,
                             psnr=res.psnr, ssim=float(ssim(v, res.adversarial)),
                             at_limit=at_limit_fraction(attack.threat, v, res.adversarial),
                             flicker=res.extras["flicker"], tpsnr=res.extras["tpsnr"], tssim=res.extras["tssim"],
                             linf=res.linf))
            log.info("%s %d/%d %s: %.4f -> %.4f (target %.4f), %.0f ms/frame", name, i + 1, len(samples), s.name,
                     res.clean_score, res.adv_score, targets[i], rows[-1]["ms_frame"])
        adv = np.array([r["adv"] for r in rows])
        toward = np.sign(targets - clean) * (adv - clean)
        mean = {k: float(np.mean([r[k] for r in rows if math.isfinite(r[k])] or [np.nan]))
                for k in ("ms_frame", "queries", "psnr", "ssim", "at_limit", "flicker", "tpsnr", "tssim")}
        runs.append(dict(attack=name, threat=attack.threat.describe(), srcc=srcc(adv, mos), plcc=plcc(adv, mos),
                         R=float(r_score(clean, adv, targets)), toward=float(np.mean(toward)),
                         moved_right_way=float(np.mean(toward > 0)), linf_255=255 * max(r["linf"] for r in rows),
                         adv_scores=adv.tolist(), **mean))
        advs[name] = adv_videos

    # transfer: the videos made against the target model, scored by other (defended) models
    targets_models = []
    names = available()
    for other in ("litevsfa-nt", "litevsfa-secure"):
        if other in names:
            targets_models.append((other, create(other)))
    for d in ("grid", "guardian"):
        if d in defenses.available():
            targets_models.append((f"{args.model}+{d}", defenses.create(d, create(args.model))))
    transfer = []
    for label, m in targets_models:
        m.seed(args.seed)
        state = m.rng_state()
        with torch.no_grad():
            c = []
            for v in videos:
                m.set_rng_state(state)
                c.append(float(m(v)[0]))
        c = np.array(c)
        tg = np.array([np.nan if t is None else t for t in
                       protocol.targets(mos, c, aset.mos_max, higher_is_better=m.card.higher_is_better)])
        for name in [n for n in ("stqa-raw", "stqa-targeted-raw", "stqa", "stqa-targeted", "srb") if n in advs]:
            with torch.no_grad():
                a = []
                for adv_v in advs[name]:
                    m.set_rng_state(state)
                    a.append(float(m(adv_v)[0]))
            a = np.array(a)
            toward = np.sign(tg - c) * (a - c)
            transfer.append(dict(model=label, attack=name, srcc_before=srcc(c, mos), srcc_after=srcc(a, mos),
                                 R=float(r_score(c, a, tg)), toward=float(np.mean(toward)),
                                 moved_right_way=float(np.mean(toward > 0))))
    missing = [m for m in ("litevsfa-nt", "litevsfa-secure") if m not in names]
    summary = dict(model=args.model, videos=len(samples), frames=args.frames, srb_lr=args.srb_lr,
                   iterations=args.iterations, step_255=args.step,
                   clean=dict(srcc=srcc(clean, mos), plcc=plcc(clean, mos)), runs=runs, transfer=transfer,
                   not_registered=missing, clean_scores=clean.tolist(), targets=targets.tolist(), mos=mos.tolist())
    with open(args.out, "w") as f:
        json.dump(summary, f, indent=1)

    c = summary["clean"]
    print(f"\n{args.model} on demo/test: {len(samples)} videos x {args.frames} frames; SRB: K={args.iterations}, "
          f"Adam lr {args.srb_lr:g}, T=1; budget |delta| <= JND; temporal step {args.step:g}/255")
    head = (f"{'attack':<18} {'SRCC':>6} {'PLCC':>6} {'R':>6} {'toward':>7} {'right':>5} {'ms/fr':>7} {'q/vid':>6} "
            f"{'PSNR':>6} {'SSIM':>6} {'@JND':>5} {'flick':>6} {'tPSNR':>6} {'tSSIM':>6}")
    print(head)
    print(f"{'clean':<18} {c['srcc']:>6.3f} {c['plcc']:>6.3f}")
    for r in runs:
        print(f"{r['attack']:<18} {r['srcc']:>6.3f} {r['plcc']:>6.3f} {r['R']:>6.2f} {r['toward']:>+7.4f} "
              f"{r['moved_right_way']:>5.2f} {r['ms_frame']:>7.1f} {r['queries']:>6.0f} {r['psnr']:>6.2f} "
              f"{r['ssim']:>6.4f} {r['at_limit']:>5.3f} {255 * r['flicker']:>6.3f} {r['tpsnr']:>6.2f} "
              f"{r['tssim']:>6.4f}")
    print("toward: mean score shift toward the Eq. 7 boundary (model units); right: fraction of videos moved "
          "toward it; @JND: fraction of pixel-channels at the JND limit; flick: mean |dd| x255")
    print(f"\ntransfer (adversarial videos made against {args.model}, scored by):")
    print(f"{'model':<22} {'attack':<18} {'SRCC before':>11} {'after':>6} {'R':>6} {'toward':>7} {'right':>5}")
    for t in transfer:
        print(f"{t['model']:<22} {t['attack']:<18} {t['srcc_before']:>11.3f} {t['srcc_after']:>6.3f} "
              f"{t['R']:>6.2f} {t['toward']:>+7.4f} {t['moved_right_way']:>5.2f}")
    if missing:
        print(f"not registered (skipped): {', '.join(missing)}")
    print(f"(written to {args.out})")


if __name__ == "__main__":
    main()
