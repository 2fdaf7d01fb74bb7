"""Aggregate metrics computed from the results database (never from in-memory state).

One summary row per (model, dataset, attack label, config hash): SRCC / PLCC / KROCC / RMSE of the
model's scores against MOS before and after the attack (paper 000 Tables 1-3), paper 000's R
(Eq. 6), the MSU gains and scores (paper 004), mean perturbation norms, queries and time per video.
"""
from __future__ import annotations

import json
import math
from collections import defaultdict
from typing import Any

import numpy as np

from advqa.bench.store import ResultStore

SUMMARY_COLUMNS = ("model", "dataset", "attack", "n", "skipped", "srcc_before", "srcc_after", "plcc_before",
                   "plcc_after", "krocc_before", "krocc_after", "rmse_before", "rmse_after", "r",
                   "abs_gain", "l2", "linf", "psnr", "ssim", "queries", "time_s", "config_hash")


def _mean(values: list[Any]) -> float:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return float(np.mean(vals)) if vals else float("nan")


def summarize(store: ResultStore) -> list[dict[str, Any]]:
    """Summary rows (dicts with :data:`SUMMARY_COLUMNS`), ordered by model, dataset and attack."""
    from advqa.metrics.correlation import correlations
    from advqa.metrics.robustness import absolute_gain, r_score

    groups: dict[tuple[str, str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in store.rows():
        groups[(row["model"], row["dataset"], row["label"], row["config_hash"])].append(row)
    clean_skipped: dict[tuple[str, str], int] = defaultdict(int)
    for c in store.clean_rows():
        if c["status"] != "ok":
            clean_skipped[(c["model"], c["dataset"])] += 1

    out = []
    for (model, dataset, label, chash), rows in sorted(groups.items()):
        ok = [r for r in rows if r["status"] == "ok"]
        skipped = len(rows) - len(ok) + clean_skipped[(model, dataset)]
        summary: dict[str, Any] = dict.fromkeys(SUMMARY_COLUMNS, float("nan"))
        summary.update(model=model, dataset=dataset, attack=label, n=len(ok), skipped=skipped, config_hash=chash)
        if ok:
            mos = np.array([r["mos"] for r in ok], dtype=float)
            before = np.array([r["clean_score"] for r in ok], dtype=float)
            after = np.array([r["adv_score"] for r in ok], dtype=float)
            cb, ca = correlations(before, mos), correlations(after, mos)
            targets = np.array([np.nan if r["target"] is None else r["target"] for r in ok], dtype=float)
            summary.update(
                srcc_before=cb["srcc"], srcc_after=ca["srcc"], plcc_before=cb["plcc"], plcc_after=ca["plcc"],
                krocc_before=cb["krocc"], krocc_after=ca["krocc"],
                rmse_before=cb["rmse_fit"], rmse_after=ca["rmse_fit"],
                r=float(r_score(before, after, targets)) if np.isfinite(targets).all() else float("nan"),
                abs_gain=float(absolute_gain(before, after)),
                l2=_mean([r["l2"] for r in ok]), linf=_mean([r["linf"] for r in ok]),
                psnr=_mean([r["psnr"] for r in ok]), ssim=_mean([r["ssim"] for r in ok]),
                queries=_mean([r["queries"] for r in ok]), time_s=_mean([r["time_s"] for r in ok]),
            )
        out.append(summary)
    return out


def examples(store: ResultStore) -> list[dict[str, Any]]:
    """Example-frame records saved by the runner (for the report)."""
    out = []
    for row in store.rows(status="ok"):
        extras = json.loads(row["extras"] or "{}")
        if "example" in extras:
            out.append({"model": row["model"], "dataset": row["dataset"], "attack": row["label"],
                        "video": row["video"], "clean_score": row["clean_score"], "adv_score": row["adv_score"],
                        **extras["example"]})
    return out
