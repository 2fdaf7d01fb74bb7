"""The HTML report: a static page plus its PNG images, built from the results database.

``build_report(db, out_dir)`` writes ``report.html`` with the summary table (paper 000's layout:
SRCC and PLCC before -> after, R, perturbation norms, queries, time), clean-vs-adversarial score
scatter plots and score-shift histograms per model and attack, example frames beside the
amplified perturbation, and perturbation statistics.
"""
from __future__ import annotations

import html
import logging
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from advqa.bench.aggregate import examples, summarize
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


def _plots(rows: list[dict[str, Any]], img_dir: Path) -> dict[tuple[str, str, str], dict[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["status"] == "ok":
            groups[(r["model"], r["dataset"], r["label"])].append(r)
    out: dict[tuple[str, str, str], dict[str, str]] = {}
    img_dir.mkdir(parents=True, exist_ok=True)
    for key, rs in sorted(groups.items()):
        clean = np.array([r["clean_score"] for r in rs], dtype=float)
        adv = np.array([r["adv_score"] for r in rs], dtype=float)
        mos = np.array([r["mos"] for r in rs], dtype=float)
        slug = file_slug(*key)
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


def build_report(database: str | Path, out_dir: str | Path | None = None, *, title: str = "advqa report") -> Path:
    """Write ``report.html`` (and ``img/``) next to the database or into ``out_dir``; return its path."""
    database = Path(database)
    out = Path(out_dir) if out_dir else database.parent
    out.mkdir(parents=True, exist_ok=True)
    with ResultStore(database) as store:
        summary = summarize(store)
        rows = store.rows()
        exs = examples(store)
        skipped = [c for c in store.clean_rows() if c["status"] != "ok"]
        skipped += [r for r in rows if r["status"] != "ok"]
    plots = _plots(rows, out / "img")

    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"]
    parts.append("<h2>Summary</h2><p class='note'>Correlations of the model's scores with MOS on the attacked "
                 "videos, before → after the attack (paper 000, Tables 1-3). R: paper 000 Eq. 6 (higher is more "
                 "robust). L2: pixel-level (mean per-frame RMS) and L∞ in 1/255 units; PSNR in dB.</p>")
    head = ["model", "dataset", "attack", "videos", "skipped", "SRCC", "PLCC", "KROCC", "RMSE", "R",
            "L2 ×255", "L∞ ×255", "PSNR", "SSIM", "queries", "s / video"]
    parts.append("<table id='summary'><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>")
    for s in summary:
        cells = [
            f"<td class='l'>{_fmt(s['model'])}</td>", f"<td class='l'>{_fmt(s['dataset'])}</td>",
            f"<td class='l'>{_fmt(s['attack'])}</td>", f"<td>{s['n']}</td>", f"<td>{s['skipped']}</td>",
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

    parts.append("<h2>Scores before and after the attack</h2>")
    for key, p in plots.items():
        parts.append(f"<figure><img src='{p['scatter']}' alt='scatter {html.escape(' '.join(key))}'>"
                     f"<figcaption>clean vs adversarial scores: {html.escape(' / '.join(key))}</figcaption></figure>")
        parts.append(f"<figure><img src='{p['hist']}' alt='histogram {html.escape(' '.join(key))}'>"
                     f"<figcaption>score shifts: {html.escape(' / '.join(key))}</figcaption></figure>")

    parts.append("<h2>Example frames</h2><p class='note'>Middle frame of the first attacked video(s): clean, "
                 "adversarial, and the perturbation amplified to the full range (grey = no change).</p>")
    for e in exs:
        cap = (f"{html.escape(e['model'])} / {html.escape(e['attack'])} / {html.escape(e['video'])}: "
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
            groups[(r["model"], r["label"])].append(r)
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
