"""The HTML report: a static page plus its PNG images, built from the results database.

``build_report(db, out_dir)`` writes ``report.html`` with the summary table (the layout of
Zhang et al., "Vulnerabilities in Video Quality Assessment Models: The Challenge of Adversarial
Attacks", NeurIPS 2023: SRCC and PLCC before -> after, R, perturbation norms, queries, time), for
defended models the attackers side by side and each defence's clean-accuracy cost,
clean-vs-adversarial score scatter plots and score-shift histograms per model and attack, example
frames beside the amplified perturbation, and perturbation statistics.
"""
from __future__ import annotations

import html
import logging
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from advqa.bench.aggregate import ATTACKER_ORDER, defense_costs, examples, summarize
from advqa.bench.store import ResultStore, file_slug

log = logging.getLogger(__name__)

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;font-size:13px;margin:1em 0}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f2f2f2} td.l{text-align:left}
figure{display:inline-block;margin:6px;text-align:center;font-size:12px}
img{max-width:360px;border:1px solid #ddd}
figure img.frame{width:320px;image-rendering:pixelated}
.note{color:#666;font-size:13px}
"""


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        if math.isnan(x):
            return "–"
        if math.isinf(x):
            return "∞"
        return f"{x:.{digits}f}"
    return html.escape(str(x))


def _model_name(model: str, defense: str) -> str:
    """``litevsfa`` or ``litevsfa+jpeg`` (the model with its defence)."""
    return f"{model}+{defense}" if defense else model


def _attack_name(label: str, attacker: str) -> str:
    """``pgd`` or ``pgd [adaptive]`` (the attack with its attacker mode)."""
    return f"{label} [{attacker}]" if attacker else label


def _plots(rows: list[dict[str, Any]], img_dir: Path) -> dict[tuple[str, str, str], dict[str, str]]:
    """Scatter and histogram per (model with defence, dataset, attack with attacker)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    slugs: dict[tuple[str, str, str], str] = {}
    for r in rows:
        if r["status"] == "ok":
            key = (_model_name(r["model"], r["defense"]), r["dataset"], _attack_name(r["label"], r["attacker"]))
            groups[key].append(r)
            slugs[key] = file_slug(*(p for p in (r["model"], r["defense"], r["attacker"], r["dataset"], r["label"]) if p))
    out: dict[tuple[str, str, str], dict[str, str]] = {}
    img_dir.mkdir(parents=True, exist_ok=True)
    for key, rs in sorted(groups.items()):
        clean = np.array([r["clean_score"] for r in rs], dtype=float)
        adv = np.array([r["adv_score"] for r in rs], dtype=float)
        mos = np.array([r["mos"] for r in rs], dtype=float)
        slug = slugs[key]
        paths = {}
        fig, ax = plt.subplots(figsize=(4, 3.4), dpi=100)
        ax.scatter(mos, clean, s=14, label="clean", color="#1f77b4")
        ax.scatter(mos, adv, s=14, label="adversarial", color="#d62728", marker="x")
        for m, c, a in zip(mos, clean, adv):
            ax.plot([m, m], [c, a], color="#bbb", lw=0.6, zorder=0)
        ax.set_xlabel("MOS")
        ax.set_ylabel("model score")
        ax.set_title(f"{key[0]} / {key[2]}", fontsize=9)
        ax.legend(fontsize=8)
        fig.tight_layout()
        paths["scatter"] = f"img/scatter_{slug}.png"
        fig.savefig(img_dir.parent / paths["scatter"])
        plt.close(fig)

        fig, ax = plt.subplots(figsize=(4, 3.4), dpi=100)
        ax.hist(adv - clean, bins=min(20, max(5, len(rs))), color="#9467bd")
        ax.axvline(0, color="k", lw=0.8)
        ax.set_xlabel("score shift (adversarial - clean)")
        ax.set_ylabel("videos")
        ax.set_title(f"{key[0]} / {key[2]}", fontsize=9)
        fig.tight_layout()
        paths["hist"] = f"img/shift_{slug}.png"
        fig.savefig(img_dir.parent / paths["hist"])
        plt.close(fig)
        out[key] = paths
    return out


def _defense_tables(summary: list[dict[str, Any]], costs: list[dict[str, Any]]) -> list[str]:
    """The attackers side by side per (model, defence, dataset, attack), and each defence's cost."""
    parts = ["<h2>Defences under each attacker</h2><p class='note'>SRCC with MOS after the attack and R, "
             "per attacker; clean SRCC is the defended model's before any attack. The undefended model's rows "
             "(defence –) are the baseline.</p>"]
    modes = sorted({s["attacker"] for s in summary}, key=lambda a: ATTACKER_ORDER.get(a, 9))
    groups: dict[tuple[str, str, str, str], dict[str, dict[str, Any]]] = defaultdict(dict)
    for s in summary:
        groups[(s["model"], s["defense"], s["dataset"], s["attack"])][s["attacker"]] = s
    head = ["model", "defence", "dataset", "attack", "clean SRCC"]
    for m in modes:
        head += [f"SRCC after ({html.escape(m or 'undefended')})", f"R ({html.escape(m or 'undefended')})"]
    parts.append("<table id='attackers'><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>")
    for (model, defense, dataset, attack), by in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][2], kv[0][3],
                                                                                        kv[0][1])):
        first = next(iter(by.values()))
        cells = [f"<td class='l'>{_fmt(model)}</td>", f"<td class='l'>{_fmt(defense or '–')}</td>",
                 f"<td class='l'>{_fmt(dataset)}</td>", f"<td class='l'>{_fmt(attack)}</td>",
                 f"<td>{_fmt(first['srcc_before'])}</td>"]
        for m in modes:
            s = by.get(m)
            cells += [f"<td>{_fmt(s['srcc_after']) if s else '–'}</td>", f"<td>{_fmt(s['r']) if s else '–'}</td>"]
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</table>")
    if costs:
        parts.append("<h2>Clean-accuracy cost of each defence</h2><p class='note'>SRCC and PLCC with MOS of the "
                     "clean scores, undefended → defended model, on the videos both scored; cost = undefended − "
                     "defended.</p>")
        parts.append("<table id='costs'><tr><th>model</th><th>defence</th><th>dataset</th><th>videos</th>"
                     "<th>SRCC</th><th>PLCC</th><th>SRCC cost</th><th>PLCC cost</th></tr>")
        for c in costs:
            parts.append(f"<tr><td class='l'>{_fmt(c['model'])}</td><td class='l'>{_fmt(c['defense'])}</td>"
                         f"<td class='l'>{_fmt(c['dataset'])}</td><td>{c['n']}</td>"
                         f"<td>{_fmt(c['srcc_undefended'])} → {_fmt(c['srcc_defended'])}</td>"
                         f"<td>{_fmt(c['plcc_undefended'])} → {_fmt(c['plcc_defended'])}</td>"
                         f"<td>{_fmt(c['srcc_cost'])}</td><td>{_fmt(c['plcc_cost'])}</td></tr>")
        parts.append("</table>")
    return parts


def build_report(database: str | Path, out_dir: str | Path | None = None, *, title: str = "advqa report") -> Path:
    """Write ``report.html`` (and ``img/``) next to the database or into ``out_dir``; return its path."""
    database = Path(database)
    out = Path(out_dir) if out_dir else database.parent
    out.mkdir(parents=True, exist_ok=True)
    with ResultStore(database) as store:
        summary = summarize(store)
        costs = defense_costs(store)
        rows = store.rows()
        exs = examples(store)
        skipped = [c for c in store.clean_rows() if c["status"] != "ok"]
        skipped += [r for r in rows if r["status"] != "ok"]
    plots = _plots(rows, out / "img")

    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"]
    defended = any(s["defense"] or s["attacker"] for s in summary)
    parts.append("<h2>Summary</h2><p class='note'>Correlations of the model's scores with MOS on the attacked "
                 "videos, before → after the attack (Zhang et al., NeurIPS 2023, Tables 1-3). R: their Eq. 6 "
                 "(higher is more robust). L2: pixel-level (mean per-frame RMS) and L∞ in 1/255 units; PSNR in dB."
                 + (" A defended model's scores are the defended model's; the attacker says how the attack "
                    "treated the defence: naive (attacked the undefended model), non-adaptive (attacked the "
                    "defended model, one random draw per query), adaptive (attacked the defended model with "
                    "expectation over transformation where it is randomised)." if defended else "") + "</p>")
    head = ["model", *(["defence"] if defended else []), "dataset", "attack", *(["attacker"] if defended else []),
            "videos", "skipped", "SRCC", "PLCC", "KROCC", "RMSE", "R",
            "L2 ×255", "L∞ ×255", "PSNR", "SSIM", "queries", "s / video"]
    parts.append("<table id='summary'><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>")
    for s in summary:
        cells = [
            f"<td class='l'>{_fmt(s['model'])}</td>",
            *([f"<td class='l'>{_fmt(s['defense'] or '–')}</td>"] if defended else []),
            f"<td class='l'>{_fmt(s['dataset'])}</td>", f"<td class='l'>{_fmt(s['attack'])}</td>",
            *([f"<td class='l'>{_fmt(s['attacker'] or '–')}</td>"] if defended else []),
            f"<td>{s['n']}</td>", f"<td>{s['skipped']}</td>",
            f"<td>{_fmt(s['srcc_before'])} → {_fmt(s['srcc_after'])}</td>",
            f"<td>{_fmt(s['plcc_before'])} → {_fmt(s['plcc_after'])}</td>",
            f"<td>{_fmt(s['krocc_before'])} → {_fmt(s['krocc_after'])}</td>",
            f"<td>{_fmt(s['rmse_before'])} → {_fmt(s['rmse_after'])}</td>",
            f"<td>{_fmt(s['r'])}</td>", f"<td>{_fmt(s['l2'] * 255, 3)}</td>",
            f"<td>{_fmt(s['linf'] * 255, 2)}</td>", f"<td>{_fmt(s['psnr'], 2)}</td>",
            f"<td>{_fmt(s['ssim'])}</td>", f"<td>{_fmt(s['queries'], 0)}</td>", f"<td>{_fmt(s['time_s'], 2)}</td>",
        ]
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</table>")
    if defended:
        parts.extend(_defense_tables(summary, costs))

    parts.append("<h2>Scores before and after the attack</h2>")
    for key, p in plots.items():
        parts.append(f"<figure><img src='{p['scatter']}' alt='scatter {html.escape(' '.join(key))}'>"
                     f"<figcaption>clean vs adversarial scores: {html.escape(' / '.join(key))}</figcaption></figure>")
        parts.append(f"<figure><img src='{p['hist']}' alt='histogram {html.escape(' '.join(key))}'>"
                     f"<figcaption>score shifts: {html.escape(' / '.join(key))}</figcaption></figure>")

    parts.append("<h2>Example frames</h2><p class='note'>Middle frame of the first attacked video(s): clean, "
                 "adversarial, and the perturbation amplified to the full range (grey = no change).</p>")
    for e in exs:
        cap = (f"{html.escape(_model_name(e['model'], e['defense']))} / "
               f"{html.escape(_attack_name(e['attack'], e['attacker']))} / {html.escape(e['video'])}: "
               f"{_fmt(e['clean_score'])} → {_fmt(e['adv_score'])}")
        parts.append("<div>" + "".join(
            f"<figure><img class='frame' src='{html.escape(e[k])}' alt='{k}'><figcaption>{k}"
            f"{' (' + html.escape(e.get('amplification', '')) + ')' if k == 'perturbation' else ''}</figcaption></figure>"
            for k in ("clean", "adversarial", "perturbation") if k in e) + f"<p class='note'>{cap}</p></div>")

    parts.append("<h2>Perturbation statistics</h2><table id='perturbation'><tr><th>model</th><th>attack</th>"
                 "<th>L2 ×255 (min / median / max)</th><th>L∞ ×255 (max)</th><th>PSNR dB (min / median)</th>"
                 "<th>SSIM (min / median)</th></tr>")
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["status"] == "ok":
            groups[(_model_name(r["model"], r["defense"]), _attack_name(r["label"], r["attacker"]))].append(r)
    for (model, label), rs in sorted(groups.items()):
        l2 = np.array([r["l2"] for r in rs], dtype=float) * 255
        linf = np.array([r["linf"] for r in rs], dtype=float) * 255
        psnr = np.array([np.inf if r["psnr"] is None else r["psnr"] for r in rs], dtype=float)
        ssim = np.array([r["ssim"] for r in rs], dtype=float)
        parts.append(f"<tr><td class='l'>{html.escape(model)}</td><td class='l'>{html.escape(label)}</td>"
                     f"<td>{l2.min():.3f} / {np.median(l2):.3f} / {l2.max():.3f}</td><td>{linf.max():.2f}</td>"
                     f"<td>{psnr.min():.2f} / {np.median(psnr):.2f}</td>"
                     f"<td>{ssim.min():.4f} / {np.median(ssim):.4f}</td></tr>")
    parts.append("</table>")
    if skipped:
        parts.append(f"<h2>Skipped videos ({len(skipped)})</h2><ul>" + "".join(
            f"<li>{html.escape(str(r['video']))}: {html.escape(str(r['reason']))}</li>" for r in skipped) + "</ul>")
    # Lets a headless browser (and the tests) confirm that every image decoded.
    parts.append("<script>window.addEventListener('load',function(){var im=document.images,n=0;"
                 "for(var i=0;i<im.length;i++){if(im[i].complete&&im[i].naturalWidth>0){n++;}}"
                 "document.body.setAttribute('data-images-loaded',n+'/'+im.length);});</script>")
    parts.append("</body></html>")
    path = out / "report.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    log.info("report written to %s", path)
    return path
