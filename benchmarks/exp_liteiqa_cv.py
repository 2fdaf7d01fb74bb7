"""Grouped cross-validation of the liteiqa head on the demo *train* split (model selection).

The default image model's settings were chosen with this script, never by looking at the demo
test split: the train sources are split into 5 groups (by source, so no content is on both
sides), a ridge head is fitted on the frames of the other groups (:data:`TRAIN_FRAMES` of each
video) and scored on the held-out group's :data:`TEST_FRAMES` against their per-frame VMAF
pseudo-MOS; repeated over 2 random partitions. It prints, per feature set and ridge strength,
the mean and worst per-fold SRCC and the mean per-fold PLCC (frame level).

Feature sets compared (all from :meth:`LiteIQA.features` at upscale 1 or 2; the raw statistics
are recovered from the power-normalised ones exactly):

* ``head``: mean+std of the 1280-channel head map (the litevsfa features), raw;
* ``s5+s6+head``: plus the stage-5 and stage-6 maps, raw;
* ``s5+s6+head sqrt``: power-normalised (signed square root);
* each at the demo's native size (``x1``) and upsampled twice (``x2``, the shipped setting).

Backbone features are cached (``--cache DIR``).

    python benchmarks/exp_liteiqa_cv.py --cache /tmp/liteiqa_cv
"""
from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path

import torch

from advqa.models.litevsfa import load_backbone
from advqa.models.liteiqa import POWER_EPS, TAP_CHANNELS, LiteIQA
from advqa.training.liteiqa import TEST_FRAMES, TRAIN_FRAMES, demo_frames, extract_features, grouped_cv


def columns(names: tuple[str, ...]) -> torch.Tensor:
    """Indices of the [mean, std] blocks of the named maps in the feature vector."""
    starts, pos = {}, 0
    for name, c in zip(("s5", "s6", "head"), TAP_CHANNELS):
        starts[name] = (pos, 2 * c)
        pos += 2 * c
    return torch.cat([torch.arange(starts[n][0], starts[n][0] + starts[n][1]) for n in names])


def unpower(g: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`advqa.models.liteiqa.power_normalise`."""
    return torch.sign(g) * ((g.abs() + math.sqrt(POWER_EPS)) ** 2 - POWER_EPS)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cache", type=Path, default=None, help="folder for cached features")
    p.add_argument("--alphas", type=float, nargs="+", default=[1.0, 3.0, 10.0, 30.0, 100.0])
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    items = demo_frames("train", TRAIN_FRAMES)
    y = torch.tensor([it.mos for it in items], dtype=torch.float64)
    groups = [it.source for it in items]
    mask = [it.frame in TEST_FRAMES for it in items]
    for upscale in (1.0, 2.0):
        path = args.cache / f"features_x{upscale:g}.pt" if args.cache else None
        if path is not None and path.is_file():
            feats = torch.load(path, weights_only=True)
        else:
            model = LiteIQA()
            model.upscale = upscale
            load_backbone(model.backbone)
            feats = extract_features(model, items, progress=True)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                torch.save(feats, path)
        for label, names, power in (("head", ("head",), False), ("s5+s6+head", ("s5", "s6", "head"), False),
                                    ("s5+s6+head sqrt", ("s5", "s6", "head"), True)):
            x = feats[:, columns(names)]
            x = x if power else unpower(x)
            for alpha in args.alphas:
                m = grouped_cv(x, y, groups, alpha=alpha, eval_mask=mask)
                print(f"x{upscale:g} {label:16s} alpha {alpha:6g}: SRCC {m['srcc']:.3f} (worst {m['srcc_worst']:.3f}) "
                      f"PLCC {m['plcc']:.3f}", flush=True)


if __name__ == "__main__":
    main()
