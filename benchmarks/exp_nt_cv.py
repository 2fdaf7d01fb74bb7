"""Which litevsfa layers NT should fine-tune: grouped cross-validation on the demo *train* split.

The choice of trainable layers for the shipped ``litevsfa-nt`` was made with this script, never by
looking at the demo test split. The train sources are split into ``--folds`` groups (by source,
so no content is on both sides). For each fold: a litevsfa head is trained from scratch on the
other groups (:func:`advqa.training.litevsfa.train_litevsfa` on cached features of ``--frames``
frames per video, so the held-out sources are never seen), then each candidate layer set is
fine-tuned from it with NT (:func:`advqa.training.finetune.finetune`) on the same videos, and the
held-out videos are scored clean and under Liu et al.'s FGSM (Linf 0.005, L_mid; CVPR 2024
Table S3). Everything runs on ``--frames``-frame clips (offset 0 for features and evaluation).

One process per candidate (they can run side by side), then ``--report`` prints the table::

    python benchmarks/exp_nt_cv.py --cache /tmp/nt_cv/feats.pt --out /tmp/nt_cv --candidate base
    python benchmarks/exp_nt_cv.py --cache /tmp/nt_cv/feats.pt --out /tmp/nt_cv --candidate head
    python benchmarks/exp_nt_cv.py --cache /tmp/nt_cv/feats.pt --out /tmp/nt_cv --candidate last
    python benchmarks/exp_nt_cv.py --out /tmp/nt_cv --report

Candidates: ``base`` (the fold head, no fine-tuning), ``head`` (head only), ``last`` (head +
the last MBConv block + the 1x1 head conv and its BatchNorm).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nt_common import attack_records, attacks, summarise  # noqa: E402

from advqa.data.demo import load_demo  # noqa: E402
from advqa.models.litevsfa import LiteVSFA, load_backbone  # noqa: E402
from advqa.training.finetune import finetune, load_sample  # noqa: E402
from advqa.training.litevsfa import train_litevsfa  # noqa: E402

log = logging.getLogger("nt")

CANDIDATES = {
    "base": None,
    "head": ["head."],
    "last": ["head.", "backbone._blocks.15.", "backbone._conv_head.", "backbone._bn1."],
    "last-slow": ["head.", "backbone._blocks.15.", "backbone._conv_head.", "backbone._bn1."],
}
#: Per-prefix learning rates of a candidate (the others use --lr).
LR_FOR = {"last-slow": {"backbone.": 1e-5}}


def folds_of(samples: list, k: int, seed: int) -> list[list[str]]:
    sources = sorted({s.meta["source"] for s in samples})
    order = np.random.default_rng(seed).permutation(len(sources))
    return [sorted(sources[i] for i in order[f::k]) for f in range(k)]


def features(model: LiteVSFA, samples: list, frames: int, cache: Path) -> dict[str, torch.Tensor]:
    feats: dict[str, torch.Tensor] = torch.load(cache, weights_only=True) if cache.is_file() else {}
    todo = [s for s in samples if s.name not in feats]
    for i, s in enumerate(todo):
        with torch.no_grad():
            feats[s.name] = model.video_features(load_sample(s, model, frames))[0]
        if (i + 1) % 20 == 0 or i + 1 == len(todo):
            log.info("features %d/%d", i + 1, len(todo))
            cache.parent.mkdir(parents=True, exist_ok=True)
            torch.save(feats, cache)
    return feats


def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    train = list(load_demo("train"))
    folds = folds_of(train, args.folds, args.seed)
    model = LiteVSFA()
    load_backbone(model.backbone)
    model.eval()
    feats = features(model, train, args.frames, args.cache)
    for k, held in enumerate(folds):
        if args.fold is not None and k != args.fold:
            continue
        out = args.out / f"{args.candidate}_fold{k}.json"
        if out.is_file():
            continue
        fit = [s for s in train if s.meta["source"] not in held]
        test = [s for s in train if s.meta["source"] in held]
        test = [test[i] for i in sorted(np.random.default_rng(args.seed).permutation(len(test))[:args.max_eval])]
        head = train_litevsfa(fit, train_features=[feats[s.name] for s in fit], seed=args.seed)
        m = LiteVSFA()
        m.backbone.load_state_dict(model.backbone.state_dict())
        m.head.load_state_dict(head.state_dict)
        for p in m.parameters():
            p.requires_grad_(False)
        m.eval()
        t0 = time.perf_counter()
        info: dict = {"candidate": args.candidate, "fold": k, "held_out": held, "fit_videos": len(fit)}
        if CANDIDATES[args.candidate] is not None:
            res = finetune(m, fit, trainable=CANDIDATES[args.candidate], nt_lambda=args.nt_lambda, frames=args.frames,
                           batch_size=args.batch_size, lr=args.lr, lr_for=LR_FOR.get(args.candidate), epochs=args.epochs, seed=args.seed,
                           max_videos=args.max_train, progress=True)
            info.update(history=res.history, settings={k2: res.metrics[k2] for k2 in
                                                       ("nt_lambda", "lr", "epochs", "frames", "videos")})
        info["train_s"] = time.perf_counter() - t0
        rec = attack_records(m, test, attacks(["fgsm"]), args.frames)
        info["records"] = rec
        info["summary"] = summarise(rec, (1.0, 5.0))
        args.out.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(info))
        log.info("%s fold %d: %s", args.candidate, k, json.dumps(info["summary"]))


def report(out: Path) -> None:
    rows = {}
    for f in sorted(out.glob("*_fold*.json")):
        info = json.loads(f.read_text())
        rows.setdefault(info["candidate"], []).append(info["summary"])
    cols = [("clean", "srcc"), ("clean", "plcc"), ("fgsm", "srcc"), ("fgsm", "plcc"), ("fgsm", "srcc_c"),
            ("fgsm", "R"), ("fgsm", "shift")]
    print(f"{'candidate':10s} folds " + " ".join(f"{a + '.' + b:>12s}" for a, b in cols))
    for name, sums in rows.items():
        vals = [np.mean([s[a][b] for s in sums]) for a, b in cols]
        print(f"{name:10s} {len(sums):5d} " + " ".join(f"{v:12.3f}" for v in vals))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--cache", type=Path)
    p.add_argument("--candidate", choices=sorted(CANDIDATES))
    p.add_argument("--report", action="store_true")
    p.add_argument("--folds", type=int, default=2)
    p.add_argument("--fold", type=int, help="run only this fold (folds can run side by side)")
    p.add_argument("--frames", type=int, default=2)
    p.add_argument("--nt-lambda", type=float, default=1e-3)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--max-train", type=int, help="fine-tune on a seeded subset of each fold's videos")
    p.add_argument("--max-eval", type=int, default=40, help="held-out videos scored per fold")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.report:
        report(args.out)
        return
    if args.candidate is None or args.cache is None:
        p.error("--candidate and --cache are needed unless --report")
    run(args)


if __name__ == "__main__":
    main()
