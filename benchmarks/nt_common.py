"""Shared pieces of the NT experiments (exp_nt_cv.py, exp_nt_demo.py): attack a model on a set of
videos and summarise clean / attacked agreement and robustness as in Liu et al. (CVPR 2024,
Tables S4-S6)."""
from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import torch

from advqa.attacks import create as create_attack
from advqa.metrics.correlation import krocc, plcc, srcc
from advqa.metrics.robustness import r_score_bounds
from advqa.training.finetune import load_sample

log = logging.getLogger("nt")

#: Liu et al.'s FGSM (Table S3): one step, eps 0.005 in [0, 1] pixels, loss L_mid (Eq. S13).
PAPER_EPS = 0.005


def paper_mid(scores: torch.Tensor, info: Any) -> torch.Tensor:
    """Liu et al.'s L_mid (Eq. S13) as their FGSM uses it, written as a loss to minimise.

    FGSM *ascends* L_mid (Eq. S11, ``x + eps sign(grad L)``): the score of a video whose clean
    prediction is at most the middle of the range is raised, otherwise lowered ("maximize the
    predicted score for a low-quality image ... minimize [it] for a high-quality image"). advqa's
    built-in ``loss="mid"`` is minimised as written, which moves scores the other way, toward
    the ends of the range, and leaves rankings mostly intact; hence this callable.
    """
    sign = 1.0 if info.clean_score <= info.middle else -1.0
    return -sign * scores / info.span


def attacks(names: list[str], eps: float = PAPER_EPS) -> dict[str, Any]:
    """The evaluation attacks, all with L_mid (:func:`paper_mid`) at Linf ``eps``: fgsm (one step
    of eps), ifgsm (5 sign steps of eps / 2.5, projected), pgd (random start, 5 steps of eps / 2)."""
    table = {
        "fgsm": lambda: create_attack("fgsm", eps=eps, loss=paper_mid),
        "ifgsm": lambda: create_attack("ifgsm", eps=eps, loss=paper_mid, iterations=5, step=eps / 2.5),
        "pgd": lambda: create_attack("pgd", eps=eps, loss=paper_mid, iterations=5, step=eps / 2),
        "fgsm_advqa_mid": lambda: create_attack("fgsm", eps=eps, loss="mid"),
    }
    return {n: table[n]() for n in names}


def attack_records(model: torch.nn.Module, samples: list, attack_set: dict[str, Any], frames: int) -> dict:
    """Clean and attacked scores of ``model`` on every sample (``frames`` frames, offset 0)."""
    out: dict[str, Any] = {"mos": [], "clean": [], "adv": {n: [] for n in attack_set}, "names": []}
    start = time.perf_counter()
    for i, s in enumerate(samples):
        x = load_sample(s, model, frames)
        with torch.no_grad():
            clean = float(model(x)[0])
        out["mos"].append(float(s.mos))
        out["clean"].append(clean)
        out["names"].append(s.name)
        for name, attack in attack_set.items():
            res = attack(model, x, mos=float(s.mos))
            out["adv"][name].append(float(res.adv_score))
        if (i + 1) % 10 == 0:
            log.info("%s: %d/%d videos, %.0f s", model.card.name, i + 1, len(samples), time.perf_counter() - start)
    return out


def summarise(rec: dict, beta: tuple[float, float]) -> dict[str, dict[str, float]]:
    """Per condition (clean, each attack): SRCC/PLCC/KROCC against MOS; for attacks also against
    the clean scores, R (Eq. S5, log10, ``beta`` = (lowest, highest) MOS) and mean |shift|."""
    mos, clean = np.array(rec["mos"]), np.array(rec["clean"])
    rows = {"clean": {"srcc": srcc(clean, mos), "plcc": plcc(clean, mos), "krocc": krocc(clean, mos)}}
    for name, adv in rec["adv"].items():
        a = np.array(adv)
        rows[name] = {"srcc": srcc(a, mos), "plcc": plcc(a, mos), "krocc": krocc(a, mos),
                      "srcc_c": srcc(a, clean), "plcc_c": plcc(a, clean), "krocc_c": krocc(a, clean),
                      "R": r_score_bounds(clean, a, beta1=beta[1], beta2=beta[0]),
                      "shift": float(np.mean(np.abs(a - clean)))}
    return rows
