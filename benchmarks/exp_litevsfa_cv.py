"""Grouped cross-validation of the litevsfa head on the demo *train* split (model selection).

The default model's training settings and training data were chosen with this script, never by
looking at the demo test split: the train sources are split into ``--folds`` groups (by source,
so no content is on both sides), a head is trained on the other groups and scored on the held-out
one, and that is repeated over ``--repeats`` random partitions. It prints, per setting, the mean
and worst per-fold SRCC, the mean per-fold PLCC and the mean SRCC of the pooled out-of-fold
predictions.

``--only-v1`` keeps the held-out folds and the training data to demo-v1's 14 train sources;
``--extra-v2`` (with ``--only-v1``) still holds out only demo-v1 sources but adds demo-v2's nine
extra sources to every fold's training data, the comparison that decided to add them.

Backbone features are computed once and cached (``--cache``, ``{video name: (T, 2560)}``).

    python benchmarks/exp_litevsfa_cv.py --only-v1 --cache /tmp/litevsfa_feats.pt
    python benchmarks/exp_litevsfa_cv.py --only-v1 --extra-v2 --cache /tmp/litevsfa_feats.pt
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import pearsonr, spearmanr

from advqa.data.demo import load_demo
from advqa.models.blocks import VSFAHead
from advqa.models.litevsfa import LABEL_SCALE, LiteVSFA, load_backbone
from advqa.training.litevsfa import extract_features, train_litevsfa

#: demo-v2's added training sources.
V2_EXTRA = {"brick", "coins", "gravel", "clock", "cell", "page", "bbb-rocks", "bbb-bunny", "bbb-grass"}


def features(samples: list, cache: Path | None) -> dict[str, torch.Tensor]:
    """``{name: (T, 2560)}`` for every sample, from ``cache`` when it holds them."""
    feats: dict[str, torch.Tensor] = torch.load(cache) if cache and cache.exists() else {}
    todo = [s for s in samples if s.name not in feats]
    if todo:
        model = LiteVSFA()
        load_backbone(model.backbone)
        feats.update({s.name: f for s, f in zip(todo, extract_features(model, todo, progress=True))})
        if cache:
            torch.save(feats, cache)
    return feats


def cross_validate(samples: list, feats: dict[str, torch.Tensor], extra: list, *, folds: int,
                   repeats: int, **settings: object) -> dict[str, float]:
    """Repeated grouped k-fold over the sources of ``samples``; ``extra`` samples are always trained on."""
    sources = sorted({s.meta["source"] for s in samples})
    mos = np.array([s.mos for s in samples])
    fold_srcc, fold_plcc, pooled = [], [], []
    for r in range(repeats):
        perm = np.random.RandomState(100 + r).permutation(len(sources))
        pred = np.zeros(len(samples))
        for f in range(folds):
            held = {sources[j] for j in perm[f::folds]}
            te = [i for i, s in enumerate(samples) if s.meta["source"] in held]
            tr = [s for s in samples if s.meta["source"] not in held] + extra
            res = train_litevsfa(tr, train_features=[feats[s.name] for s in tr], **settings)  # type: ignore[arg-type]
            head = VSFAHead(input_size=LiteVSFA.feature_dim)
            head.load_state_dict(res.state_dict)
            head.eval()
            with torch.no_grad():
                p = LABEL_SCALE * head(torch.stack([feats[samples[i].name] for i in te])).numpy()
            pred[te] = p
            fold_srcc.append(spearmanr(p, mos[te])[0])
            fold_plcc.append(pearsonr(p, mos[te])[0])
        pooled.append(spearmanr(pred, mos)[0])
    return {"srcc": float(np.mean(fold_srcc)), "srcc_min": float(np.min(fold_srcc)),
            "plcc": float(np.mean(fold_plcc)), "pooled_srcc": float(np.mean(pooled))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--repeats", type=int, default=4)
    p.add_argument("--only-v1", action="store_true", help="hold out and train on demo-v1 sources only")
    p.add_argument("--extra-v2", action="store_true", help="with --only-v1: add demo-v2's extra sources to training")
    p.add_argument("--settings", default='[{}]',
                   help='JSON list of train_litevsfa keyword sets, e.g. \'[{}, {"epochs": 100, "weight_decay": 1e-3}]\'')
    p.add_argument("--cache", type=Path, help="feature cache file (.pt)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    train = list(load_demo("train"))
    feats = features(train, args.cache)
    extra = [s for s in train if s.meta["source"] in V2_EXTRA]
    held = [s for s in train if s.meta["source"] not in V2_EXTRA] if args.only_v1 else train
    extra = extra if (args.only_v1 and args.extra_v2) else []
    print(f"{len(held)} videos from {len({s.meta['source'] for s in held})} sources held out in turn; "
          f"{len(extra)} extra training videos")
    print("| settings | fold SRCC | worst fold SRCC | fold PLCC | pooled SRCC | seconds |")
    print("|---|---|---|---|---|---|")
    for kw in json.loads(args.settings):
        t0 = time.perf_counter()
        r = cross_validate(held, feats, extra, folds=args.folds, repeats=args.repeats, **kw)
        print(f"| {json.dumps(kw)} | {r['srcc']:.4f} | {r['srcc_min']:.4f} | {r['plcc']:.4f} | "
              f"{r['pooled_srcc']:.4f} | {time.perf_counter() - t0:.0f} |", flush=True)


if __name__ == "__main__":
    main()
