"""NT on the demo test split: litevsfa vs litevsfa fine-tuned with NT, clean and attacked.

Reproduces the comparison of Liu, Yang, Li, Ding, Jiang (CVPR 2024, supplement Tables S4-S6)
on advqa's default model: SRCC / PLCC / KROCC against the MOS, clean and under attack, KROCC
between clean and attacked scores, and R (Eq. S5, log10, beta = the demo's MOS range 1-5), with a
lambda sweep (clean accuracy vs robustness, their Fig. S5). Attack: FGSM with L_mid (Eq. S13),
one step of Linf 0.005 (Table S3), and as stronger checks I-FGSM (5 steps of 0.002, projected)
and PGD (random start, 5 steps of 0.0025) at the same budget. The attacks round to 8 bits, so
the 0.005 budget is one gray level (1/255) per pixel-channel.

Models: ``litevsfa`` (shipped), ``litevsfa-nt`` (shipped, lambda 1e-3), and for each other
``--lambdas`` value litevsfa fine-tuned exactly as litevsfa-nt was (its ``TRAIN_COMMAND``) with
that lambda (lambda 0: the same fine-tuning with L1 alone, the paper's "baseline" trained with the
same settings). Fine-tuned weights and per-model scores are cached in ``--cache``, so a rerun
only prints. Every video is scored on ``--frames`` frames (evenly spaced from frame 0)::

    python benchmarks/exp_nt_demo.py --cache /tmp/nt_demo                 # all 70 test videos
    python benchmarks/exp_nt_demo.py --cache /tmp/nt_demo --only litevsfa  # one model's rows

(``--only`` computes one model, so several processes can share the work; the table lists what
the cache holds.)
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nt_common import PAPER_EPS, attack_records, attacks, summarise  # noqa: E402

from advqa.data.demo import load_demo  # noqa: E402
from advqa.models import create  # noqa: E402
from advqa.models.litevsfa_nt import NT_LAMBDA, NT_TRAINABLE, load_partial  # noqa: E402
from advqa.training.finetune import finetune  # noqa: E402

log = logging.getLogger("nt")

#: How litevsfa-nt was fine-tuned (TRAIN_COMMAND), lambda aside.
RECIPE = {"trainable": list(NT_TRAINABLE), "frames": 2, "batch_size": 4, "epochs": 1, "lr": 1e-4, "seed": 0}


def model_for(label: str, lam: float | None, cache: Path, epochs: int = 1) -> torch.nn.Module:
    if label == "litevsfa":
        return create("litevsfa")
    if lam == NT_LAMBDA and epochs == RECIPE["epochs"]:
        return create("litevsfa-nt")
    path = cache / (f"litevsfa_nt_lambda{lam:g}" + ("" if epochs == 1 else f"_epochs{epochs}") + ".pt")
    model = create("litevsfa")
    if not path.is_file():
        t0 = time.perf_counter()
        res = finetune(model, load_demo("train"), nt_lambda=lam, progress=True, **{**RECIPE, "epochs": epochs})
        torch.save(res.state_dict, path)
        log.info("trained lambda %g in %.0f s: %s", lam, time.perf_counter() - t0, res.history)
    else:
        load_partial(model, torch.load(path, weights_only=True), NT_TRAINABLE, origin=str(path))
    return model


def labels(lambdas: list[float], epochs: int = 1) -> list[tuple[str, float | None]]:
    more = "" if epochs == 1 else f" epochs={epochs}"
    return [("litevsfa", None)] + [(f"nt lambda={lam:g}{more}" + (" (litevsfa-nt)" if lam == NT_LAMBDA and not more
                                                                 else ""), lam) for lam in lambdas]


def table(rows: list[tuple[str, dict]], attack_names: list[str]) -> str:
    head = f"{'model':28s} {'':6s} {'SRCC':>7s} {'PLCC':>7s} {'KROCC':>7s} {'KROCCc':>7s} {'R':>6s} {'|shift|':>7s}"
    lines = [head, "-" * len(head)]
    for label, s in rows:
        c = s["clean"]
        lines.append(f"{label:28s} {'clean':6s} {c['srcc']:7.3f} {c['plcc']:7.3f} {c['krocc']:7.3f}")
        for a in attack_names:
            if a in s:
                r = s[a]
                lines.append(f"{'':28s} {a:6s} {r['srcc']:7.3f} {r['plcc']:7.3f} {r['krocc']:7.3f} "
                             f"{r['krocc_c']:7.3f} {r['R']:6.3f} {r['shift']:7.3f}")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cache", type=Path, required=True, help="folder for fine-tuned weights and scores")
    p.add_argument("--lambdas", type=float, nargs="+", default=[0.0, 1e-4, NT_LAMBDA, 1e-2])
    p.add_argument("--epochs", type=int, default=1, help="fine-tuning epochs of the lambda variants (litevsfa-nt: 1)")
    p.add_argument("--attacks", nargs="+", default=["fgsm", "pgd"])
    p.add_argument("--eps", type=float, default=PAPER_EPS)
    p.add_argument("--frames", type=int, default=2)
    p.add_argument("--max-videos", type=int, help="a seeded subset of the 70 test videos")
    p.add_argument("--only", help="compute only this model label (e.g. litevsfa, 'nt lambda=0')")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    args.cache.mkdir(parents=True, exist_ok=True)
    test = load_demo("test")
    test = test.subset(args.max_videos) if args.max_videos else test
    samples = list(test)
    tag = f"f{args.frames}_n{len(samples)}_eps{args.eps:g}"
    rows = []
    for label, lam in labels(args.lambdas, args.epochs):
        path = args.cache / f"scores_{label.split(' (')[0].replace(' ', '_')}_{tag}.json"
        rec = json.loads(path.read_text()) if path.is_file() else None
        missing = [a for a in args.attacks if rec is None or a not in rec["adv"]]
        if missing and (args.only is None or args.only == label.split(" (")[0]):
            model = model_for(label, lam, args.cache, args.epochs)
            new = attack_records(model, samples, attacks(missing, args.eps), args.frames, label)
            if rec is None:
                rec = new
            else:
                rec["adv"].update(new["adv"])
            path.write_text(json.dumps(rec))
        if rec is not None:
            rows.append((label, summarise(rec, test.mos_range)))
    print(f"demo test split: {len(samples)} videos, {args.frames} frames each; Linf eps {args.eps:g} "
          f"(= {args.eps * 255:.3g}/255, 8-bit rounded); KROCCc: clean vs attacked scores; R: Eq. S5, log10")
    print(table(rows, args.attacks))


if __name__ == "__main__":
    main()
