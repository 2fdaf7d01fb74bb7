"""Aggregate metrics computed from the results database (never from in-memory state).

One summary row per (model, defence, dataset, attack label, attacker, config hash): SRCC / PLCC /
KROCC / RMSE of the (defended) model's scores against MOS before and after the attack and R
(Eq. 6) of Zhang et al., "Vulnerabilities in Video Quality Assessment Models: The Challenge of
Adversarial Attacks" (NeurIPS 2023, Tables 1-3), the scores of the MSU benchmark of Antsiferova
et al., "Comparing the Robustness of Modern No-Reference Image- and Video-Quality Metrics to
Adversarial Attacks" (AAAI 2024) on the group's scores min-max scaled with its clean scores
(absolute and relative gain and robustness score with 95% t-intervals, signed Wasserstein and
energy distances), the change of SRCC / PLCC with a seeded bootstrap interval, mean perturbation
norms, queries and time per video.

:func:`defense_costs` gives each defence's clean-accuracy cost: the clean SRCC / PLCC of the
defended model against those of its undefended inner model on the same videos.

:func:`certified_summary` gives, per (model, defence, dataset, certification settings, radius),
the median certified interval width over the videos (randomised smoothing; a video whose
certificate abstains on a side counts as an infinite width).
"""
from __future__ import annotations

import json
import math
from collections import defaultdict
from typing import Any

import numpy as np

from advqa.bench.store import ResultStore

SUMMARY_COLUMNS = ("model", "defense", "dataset", "attack", "attacker", "n", "skipped", "srcc_before", "srcc_after",
                   "plcc_before",
                   "plcc_after", "krocc_before", "krocc_after", "rmse_before", "rmse_after", "r",
                   "abs_gain", "abs_gain_lo", "abs_gain_hi", "rel_gain", "rel_gain_lo", "rel_gain_hi",
                   "robustness", "robustness_lo", "robustness_hi", "wasserstein", "energy",
                   "srcc_change", "srcc_change_lo", "srcc_change_hi", "plcc_change", "plcc_change_lo", "plcc_change_hi",
                   "l2", "linf", "psnr", "ssim", "flicker", "tpsnr", "tssim", "queries", "time_s", "config_hash")

#: the MSU benchmark's scores (see :func:`advqa.metrics.robustness.msu_scores`) among the summary columns
MSU_COLUMNS = ("abs_gain", "abs_gain_lo", "abs_gain_hi", "rel_gain", "rel_gain_lo", "rel_gain_hi",
               "robustness", "robustness_lo", "robustness_hi", "wasserstein", "energy")

#: bootstrap draws and seed of the SRCC / PLCC change intervals (fixed: a summary is reproducible)
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0


def _mean(values: list[Any]) -> float:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return float(np.mean(vals)) if vals else float("nan")


def _extras(row: dict[str, Any]) -> dict[str, Any]:
    """A result row's extras (stored as JSON text)."""
    value = row.get("extras")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


#: the order attacker modes are listed in (undefended first)
ATTACKER_ORDER = {"": 0, "naive": 1, "non-adaptive": 2, "adaptive": 3}

COST_COLUMNS = ("model", "defense", "dataset", "n", "srcc_undefended", "srcc_defended", "plcc_undefended",
                "plcc_defended", "srcc_cost", "plcc_cost")


def higher_is_better(model: str) -> bool:
    """The card's direction of a stored model key (``litevsfa``, ``litevsfa@head.pt``,
    ``mdtvsfa(output=K)``); True for a model this session does not know (e.g. registered only by
    the run that wrote the store)."""
    from advqa.bench.jobs import model_name
    from advqa.errors import AdvqaError
    from advqa.models import card

    try:
        return bool(card(model_name(model)).higher_is_better)
    except AdvqaError:
        return True


def _order(key: tuple[str, ...]) -> tuple[Any, ...]:
    model, defense, dataset, label, attacker, chash = key
    return (model, dataset, label, defense, ATTACKER_ORDER.get(attacker, 9), attacker, chash)


def summarize(store: ResultStore) -> list[dict[str, Any]]:
    """Summary rows (dicts with :data:`SUMMARY_COLUMNS`), ordered by model, dataset and attack,
    then defence and attacker (so one attack's rows on each defence and attacker sit together)."""
    from advqa.metrics.correlation import correlations
    from advqa.metrics.robustness import correlation_change, msu_scores, r_score

    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in store.rows():
        groups[(row["model"], row["defense"], row["dataset"], row["label"], row["attacker"],
                row["config_hash"])].append(row)
    clean_skipped: dict[tuple[str, str, str], int] = defaultdict(int)
    for c in store.clean_rows():
        if c["status"] != "ok":
            clean_skipped[(c["model"], c["defense"], c["dataset"])] += 1

    out = []
    for key in sorted(groups, key=_order):
        rows = groups[key]
        model, defense, dataset, label, attacker, chash = key
        ok = [r for r in rows if r["status"] == "ok"]
        skipped = len(rows) - len(ok) + clean_skipped[(model, defense, dataset)]
        summary: dict[str, Any] = dict.fromkeys(SUMMARY_COLUMNS, float("nan"))
        summary.update(model=model, defense=defense, dataset=dataset, attack=label, attacker=attacker, n=len(ok),
                       skipped=skipped, config_hash=chash)
        if ok:
            mos = np.array([np.nan if r["mos"] is None else r["mos"] for r in ok], dtype=float)
            before = np.array([r["clean_score"] for r in ok], dtype=float)
            after = np.array([r["adv_score"] for r in ok], dtype=float)
            if np.isfinite(mos).all():  # an unlabelled set has gains but no correlations
                cb, ca = correlations(before, mos), correlations(after, mos)
                summary.update(srcc_before=cb["srcc"], srcc_after=ca["srcc"], plcc_before=cb["plcc"],
                               plcc_after=ca["plcc"], krocc_before=cb["krocc"], krocc_after=ca["krocc"],
                               rmse_before=cb["rmse_fit"], rmse_after=ca["rmse_fit"])
                for metric in ("srcc", "plcc"):
                    iv = correlation_change(before, after, mos, metric=metric, resamples=BOOTSTRAP_RESAMPLES,
                                            seed=BOOTSTRAP_SEED)
                    summary.update({f"{metric}_change": iv.value, f"{metric}_change_lo": iv.lo,
                                    f"{metric}_change_hi": iv.hi})
            targets = np.array([np.nan if r["target"] is None else r["target"] for r in ok], dtype=float)
            msu = msu_scores(before, after, higher_is_better=higher_is_better(model))
            summary.update({k: msu[k] for k in MSU_COLUMNS})
            summary.update(
                r=float(r_score(before, after, targets)) if np.isfinite(targets).all() else float("nan"),
                l2=_mean([r["l2"] for r in ok]), linf=_mean([r["linf"] for r in ok]),
                psnr=_mean([r["psnr"] for r in ok]), ssim=_mean([r["ssim"] for r in ok]),
                # the perturbation's flicker (advqa.attacks.base.perturbation_stats), kept in extras
                **{k: _mean([_extras(r).get(k) for r in ok]) for k in ("flicker", "tpsnr", "tssim")},
                queries=_mean([r["queries"] for r in ok]), time_s=_mean([r["time_s"] for r in ok]),
            )
        out.append(summary)
    return out


def defense_costs(store: ResultStore) -> list[dict[str, Any]]:
    """Each defence's clean-accuracy cost (dicts with :data:`COST_COLUMNS`), one per (model,
    defence, dataset): SRCC and PLCC against MOS of the defended and of the undefended model's
    clean scores on the videos both scored, and the cost ``undefended - defended``."""
    from advqa.metrics.correlation import plcc, srcc

    scores: dict[tuple[str, str, str], dict[str, tuple[float, float]]] = defaultdict(dict)
    for c in store.clean_rows(status="ok"):
        scores[(c["model"], c["defense"], c["dataset"])][c["video"]] = (float(c["score"]), float(c["mos"]))
    out = []
    for (model, defense, dataset), defended in sorted(scores.items()):
        base = scores.get((model, "", dataset))
        if not defense or base is None:
            continue
        videos = sorted(set(defended) & set(base))
        row: dict[str, Any] = dict.fromkeys(COST_COLUMNS, float("nan"))
        row.update(model=model, defense=defense, dataset=dataset, n=len(videos))
        if len(videos) >= 2:
            mos = np.array([base[v][1] for v in videos])
            b = np.array([base[v][0] for v in videos])
            d = np.array([defended[v][0] for v in videos])
            row.update(srcc_undefended=srcc(b, mos), srcc_defended=srcc(d, mos),
                       plcc_undefended=plcc(b, mos), plcc_defended=plcc(d, mos))
            row.update(srcc_cost=row["srcc_undefended"] - row["srcc_defended"],
                       plcc_cost=row["plcc_undefended"] - row["plcc_defended"])
        out.append(row)
    return out


CERTIFIED_COLUMNS = ("model", "defense", "dataset", "bound", "sigma", "samples", "alpha", "radius", "n", "abstained",
                     "skipped", "width_median", "width_min", "width_max", "score_median", "rms_255", "config_hash")


def certified_summary(store: ResultStore) -> list[dict[str, Any]]:
    """One dict (:data:`CERTIFIED_COLUMNS`) per (model, defence, dataset, config hash, radius),
    ordered by model, dataset, defence, settings and radius: ``n`` certified videos, how many
    abstained on a side, the median / min / max interval width over the ``n`` videos (an
    abstaining video's width is infinite, so the median is infinite when half or more abstain),
    the median smoothed score and the median per-frame RMS x255 equivalent of the radius."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in store.certified_rows():
        groups[(row["model"], row["dataset"], row["defense"], row["config_hash"], float(row["radius"]))].append(row)
    out = []
    for (model, dataset, defense, chash, radius), rows in sorted(groups.items()):
        ok = [r for r in rows if r["status"] == "ok"]
        first = rows[0]
        summary: dict[str, Any] = dict.fromkeys(CERTIFIED_COLUMNS, float("nan"))
        summary.update(model=model, defense=defense, dataset=dataset, bound=first["bound"], sigma=first["sigma"],
                       samples=first["samples"], alpha=first["alpha"], radius=radius, n=len(ok),
                       abstained=sum(1 for r in ok if r["abstained"]), skipped=len(rows) - len(ok), config_hash=chash)
        if ok:
            widths = np.array([math.inf if r["width"] is None else float(r["width"]) for r in ok])
            summary.update(width_median=float(np.median(widths)), width_min=float(widths.min()),
                           width_max=float(widths.max()),
                           score_median=float(np.median([float(r["score"]) for r in ok])),
                           rms_255=float(np.median([float(r["rms_255"]) for r in ok])))
        out.append(summary)
    return out


def examples(store: ResultStore) -> list[dict[str, Any]]:
    """Example-frame records saved by the runner (for the report)."""
    out = []
    for row in store.rows(status="ok"):
        extras = json.loads(row["extras"] or "{}")
        if "example" in extras:
            out.append({"model": row["model"], "defense": row["defense"], "attacker": row["attacker"],
                        "dataset": row["dataset"], "attack": row["label"],
                        "video": row["video"], "clean_score": row["clean_score"], "adv_score": row["adv_score"],
                        **extras["example"]})
    return out
