"""The leaderboard: models x attacks, generated from the results database (never by hand).

The scores are those of the MSU benchmark of Antsiferova et al., "Comparing the Robustness of
Modern No-Reference Image- and Video-Quality Metrics to Adversarial Attacks" (AAAI 2024), as the
summary computes them (:func:`advqa.bench.aggregate.summarize`): scores min-max scaled with the
clean scores of each evaluated set, the robustness score (higher: more robust), absolute and
relative gain with 95% t-intervals, signed Wasserstein and energy distances; and the change of
SRCC with MOS with a bootstrap interval. Like RobustBench's, the leaderboard is generated from
stored results and carries one card per model.

One leaderboard *entry* is a (model, defence, dataset, attacker) with its rows for each attack;
its ``all`` scores pool the rows of every attack (the benchmark's "all attacks" evaluation: the
clean scores of the pooled rows set the scale). Entries are ranked by the pooled robustness
score.

``build_leaderboard(db, out_dir)`` writes ``leaderboard.html``: one self-contained page (inline
CSS and a few lines of JS for sortable columns; no network, no CDN). :func:`matrix` and
:func:`export` give the same table as CSV, JSON or LaTeX.
"""
from __future__ import annotations

import csv
import html
import io
import json
import logging
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from advqa.bench.aggregate import ATTACKER_ORDER, higher_is_better, summarize
from advqa.bench.store import ResultStore, file_slug
from advqa.errors import InputError

log = logging.getLogger(__name__)

#: scores a leaderboard matrix can show in its attack columns, with what they mean
SCORES = {
    "robustness": "MSU robustness score (log10; higher: more robust)",
    "abs_gain": "MSU absolute gain of the scaled score (higher: less robust)",
    "rel_gain": "MSU relative gain of the scaled score (higher: less robust)",
    "wasserstein": "signed Wasserstein distance of the scaled scores (higher: less robust)",
    "energy": "signed energy distance of the scaled scores (higher: less robust)",
    "srcc_after": "SRCC with MOS after the attack (higher: more robust)",
    "srcc_change": "change of SRCC with MOS (after - before; lower: less robust)",
}

#: export formats of :func:`export`
FORMATS = ("csv", "json", "latex")


@dataclass
class Entry:
    """One leaderboard row: a (model, defence, dataset, attacker) with its summary row per attack
    label (``attacks``), the MSU scores pooled over all its attacks (``all``) and the model's
    clean SRCC / PLCC with MOS on the dataset (``clean``)."""

    model: str
    defense: str
    dataset: str
    attacker: str
    attacks: dict[str, dict[str, Any]] = field(default_factory=dict)
    all: dict[str, float] = field(default_factory=dict)
    clean: dict[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """``litevsfa``, ``litevsfa+jpeg`` or ``litevsfa+jpeg [adaptive]``."""
        base = f"{self.model}+{self.defense}" if self.defense else self.model
        return f"{base} [{self.attacker}]" if self.attacker else base


@dataclass
class Leaderboard:
    """Entries ranked by their pooled robustness score, the attack labels (columns), and a card
    per stored model key (``None`` for a model this session has not registered)."""

    entries: list[Entry]
    attacks: list[str]
    cards: dict[str, dict[str, Any] | None]


def _clean_correlations(store: ResultStore) -> dict[tuple[str, str, str], dict[str, float]]:
    """SRCC / PLCC with MOS of each (model, defence, dataset)'s clean scores, over its scored videos."""
    from advqa.metrics.correlation import plcc, srcc

    groups: dict[tuple[str, str, str], list[tuple[float, float]]] = defaultdict(list)
    for c in store.clean_rows(status="ok"):
        if c["score"] is not None and c["mos"] is not None:
            groups[(c["model"], c["defense"], c["dataset"])].append((float(c["score"]), float(c["mos"])))
    out = {}
    for key, pairs in groups.items():
        s, m = np.array(pairs).T
        out[key] = {"srcc": srcc(s, m), "plcc": plcc(s, m), "n": float(len(pairs))}
    return out


def _card(model: str) -> dict[str, Any] | None:
    from advqa.bench.jobs import split_model_key
    from advqa.errors import AdvqaError
    from advqa.models import card
    from advqa.models.base import describe

    name, weights = split_model_key(model)
    try:
        info = describe(card(name))
    except AdvqaError:
        return None
    info["weights_file"] = weights
    return info


def leaderboard(store: ResultStore) -> Leaderboard:
    """The leaderboard of a results store (from :func:`~advqa.bench.aggregate.summarize` and the
    stored rows). Raises InputError when the store has no finished attack rows."""
    from advqa.metrics.robustness import msu_scores

    summary = summarize(store)
    if not any(s["n"] for s in summary):
        raise InputError(f"{store.path} holds no finished attack rows; run 'advqa run --out DIR' first "
                         "(or point at the folder a run wrote)")
    rows: dict[tuple[str, str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in store.rows(status="ok"):
        rows[(r["model"], r["defense"], r["dataset"], r["attacker"])].append(r)
    clean = _clean_correlations(store)
    entries: dict[tuple[str, str, str, str], Entry] = {}
    attacks: list[str] = []
    for s in summary:
        if not s["n"]:
            continue
        key = (s["model"], s["defense"], s["dataset"], s["attacker"])
        entry = entries.setdefault(key, Entry(*key, clean=clean.get(key[:3], {})))
        label = s["attack"]
        if label in entry.attacks:  # the same label stored under two configurations (a changed rerun)
            label = f"{label} ({s['config_hash'][:6]})"
            log.warning("%s: attack %s is stored under more than one configuration; columns %r and %r",
                        entry.name, s["attack"], s["attack"], label)
        entry.attacks[label] = s
        if label not in attacks:
            attacks.append(label)
    for key, entry in entries.items():
        ok = rows[key]
        before = np.array([r["clean_score"] for r in ok], dtype=float)
        after = np.array([r["adv_score"] for r in ok], dtype=float)
        entry.all = msu_scores(before, after, higher_is_better=higher_is_better(entry.model))

    def rank(e: Entry) -> tuple[Any, ...]:
        r = e.all.get("robustness", float("nan"))
        return (math.isnan(r), -r if not math.isnan(r) else 0.0, e.model, e.dataset, e.defense,
                ATTACKER_ORDER.get(e.attacker, 9))

    ordered = sorted(entries.values(), key=rank)
    cards = {m: _card(m) for m in dict.fromkeys(e.model for e in ordered)}
    return Leaderboard(ordered, sorted(attacks), cards)


def matrix(lb: Leaderboard, score: str = "robustness") -> tuple[list[str], list[dict[str, Any]]]:
    """The leaderboard as one row per entry: ``(columns, rows)``.

    Columns: ``rank, model, defense, dataset, attacker, videos, clean_srcc``, then the pooled
    scores ``all_robustness, all_abs_gain``, then ``score`` (a key of :data:`SCORES`) per attack.
    """
    if score not in SCORES:
        raise InputError(f"unknown leaderboard score {score!r}; choose from {', '.join(SCORES)}")
    columns = ["rank", "model", "defense", "dataset", "attacker", "videos", "clean_srcc", "all_robustness",
               "all_abs_gain", *lb.attacks]
    out = []
    for i, e in enumerate(lb.entries, 1):
        row: dict[str, Any] = {"rank": i, "model": e.model, "defense": e.defense, "dataset": e.dataset,
                               "attacker": e.attacker, "videos": max(int(s["n"]) for s in e.attacks.values()),
                               "clean_srcc": e.clean.get("srcc", float("nan")),
                               "all_robustness": e.all["robustness"], "all_abs_gain": e.all["abs_gain"]}
        for a in lb.attacks:
            row[a] = e.attacks[a][score] if a in e.attacks else float("nan")
        out.append(row)
    return columns, out


# --------------------------------------------------------------------------- exports

_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "<": r"\textless{}", ">": r"\textgreater{}"}


def latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped (``_`` -> ``\\_``, ``&`` -> ``\\&``, ...)."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def _latex_cell(value: Any, digits: int) -> str:
    if value is None:
        return "--"
    if isinstance(value, float):
        if math.isnan(value):
            return "--"
        if math.isinf(value):
            return r"$\infty$" if value > 0 else r"$-\infty$"
        return f"{value:.{digits}f}"
    return latex_escape(str(value))


def to_latex(columns: Sequence[str], rows: Sequence[dict[str, Any]], *, digits: int = 3,
             caption: str | None = None) -> str:
    """A booktabs ``tabular`` of ``rows`` (dicts) with ``columns``: text left, numbers right,
    floats to ``digits`` decimals, NaN as ``--``, every string escaped (:func:`latex_escape`)."""
    def numeric(col: str) -> bool:
        vals = [r.get(col) for r in rows if r.get(col) is not None]
        return bool(vals) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals)

    align = "".join("r" if numeric(c) else "l" for c in columns)
    lines = [r"% requires \usepackage{booktabs}"]
    if caption:
        lines += [r"\begin{table}", r"\centering", rf"\caption{{{latex_escape(caption)}}}"]
    lines += [rf"\begin{{tabular}}{{{align}}}", r"\toprule",
              " & ".join(latex_escape(c) for c in columns) + r" \\", r"\midrule"]
    for r in rows:
        lines.append(" & ".join(_latex_cell(r.get(c), digits) for c in columns) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def export(columns: Sequence[str], rows: Sequence[dict[str, Any]], fmt: str, *, digits: int = 3,
           caption: str | None = None) -> str:
    """``rows`` as CSV (every column, full precision), JSON (a list of objects, full precision;
    NaN as null) or LaTeX (:func:`to_latex`)."""
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
        return buf.getvalue()
    if fmt == "json":
        def clean(v: Any) -> Any:
            return None if isinstance(v, float) and math.isnan(v) else v

        return json.dumps([{c: clean(r.get(c)) for c in columns} for r in rows], indent=2, default=str) + "\n"
    if fmt == "latex":
        return to_latex(columns, rows, digits=digits, caption=caption)
    raise InputError(f"unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")


# --------------------------------------------------------------------------- the page

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1300px;color:#222}
table{border-collapse:collapse;font-size:13px;margin:1em 0}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f2f2f2;cursor:pointer;user-select:none;white-space:nowrap}
th[aria-sort=ascending]::after{content:" \\25B2"} th[aria-sort=descending]::after{content:" \\25BC"}
td.l{text-align:left} td{white-space:nowrap} .ci{display:block;color:#777;font-size:11px}
.wide{overflow-x:auto}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid #ccc;border-radius:6px;padding:10px 14px;min-width:380px;max-width:600px;font-size:13px}
.card h3{margin:0 0 6px 0} .card table{font-size:12px;margin:6px 0}
.note{color:#666;font-size:13px}
"""

# Sort a table's body by a clicked header: numbers by their data-v value (empty = undefined,
# always last), text by its content; a second click reverses. window.advqaSort is for tests.
_JS = """
(function(){
function key(td){var v=td.getAttribute('data-v');if(v===null){return td.textContent.trim().toLowerCase();}
return v===''?null:parseFloat(v);}
function sortBy(th){var row=th.parentNode,table=th.closest('table'),body=table.tBodies[0];
var idx=Array.prototype.indexOf.call(row.children,th),asc=th.getAttribute('aria-sort')!=='ascending';
Array.prototype.forEach.call(row.children,function(h){h.removeAttribute('aria-sort');});
th.setAttribute('aria-sort',asc?'ascending':'descending');
var rows=Array.prototype.slice.call(body.rows);
rows.sort(function(a,b){var x=key(a.cells[idx]),y=key(b.cells[idx]);if(x===y){return 0;}
if(x===null){return 1;}if(y===null){return -1;}var c=x<y?-1:1;return asc?c:-c;});
rows.forEach(function(r){body.appendChild(r);});}
var hs=document.querySelectorAll('table.sortable thead th');
for(var i=0;i<hs.length;i++){(function(th){th.tabIndex=0;th.addEventListener('click',function(){sortBy(th);});
th.addEventListener('keydown',function(ev){if(ev.key==='Enter'){sortBy(th);}});})(hs[i]);}
window.advqaSort=sortBy;
})();
"""


def _num(x: Any, digits: int = 3) -> str:
    """A numeric cell: the value shown to ``digits`` decimals, the full value in data-v."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "<td data-v=''>–</td>"
    if isinstance(x, float) and math.isinf(x):
        return f"<td data-v='{'1e308' if x > 0 else '-1e308'}'>{'∞' if x > 0 else '−∞'}</td>"
    return f"<td data-v='{float(x)!r}'>{float(x):.{digits}f}</td>" if isinstance(x, float) \
        else f"<td data-v='{x}'>{x}</td>"


def _num_ci(x: float, lo: float, hi: float, digits: int = 3) -> str:
    cell = _num(x, digits)
    if any(isinstance(v, float) and math.isnan(v) for v in (x, lo, hi)):
        return cell
    return cell.replace("</td>", f" <span class='ci'>[{lo:.{digits}f}, {hi:.{digits}f}]</span></td>")


def _text(s: Any) -> str:
    return f"<td class='l'>{html.escape(str(s) if s else '–')}</td>"


def _head(cols: Sequence[tuple[str, str]]) -> str:
    return "<thead><tr>" + "".join(f"<th data-key='{html.escape(k)}'>{html.escape(label)}</th>" for k, label in cols) \
        + "</tr></thead>"


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}f}" if isinstance(x, float) else html.escape(str(x))


def _card_html(model: str, card: dict[str, Any] | None, entries: list[Entry], attacks: list[str]) -> str:
    slug = file_slug(model)
    parts = [f"<div class='card' id='card-{html.escape(slug)}'><h3>{html.escape(model)}</h3>"]
    if card is None:
        parts.append("<p class='note'>This model is not registered in the session that wrote this page; "
                     "its card is unavailable.</p>")
    else:
        lo, hi = card["score_range"]
        parts.append(f"<p>{html.escape(card['paper'])}</p><p class='note'>{html.escape(card['kind'])} model; "
                     f"scores {lo:g}–{hi:g}, {'higher' if card['higher_is_better'] else 'lower'} is better; "
                     f"licence: {html.escape(card['licence'])}"
                     + (f"; weights: {html.escape(card['weights_file'])}" if card.get("weights_file") else "")
                     + "</p>")
    for e in entries:
        label = e.name if e.name != model else "undefended" if any(x.defense for x in entries) else model
        parts.append(f"<p><b>{html.escape(label)}</b> on {html.escape(e.dataset)}: clean SRCC "
                     f"{_fmt(e.clean.get('srcc'))}, PLCC {_fmt(e.clean.get('plcc'))} "
                     f"({int(e.clean.get('n', 0))} videos)</p>")
        parts.append("<table><tr><th>attack</th><th>robustness</th><th>abs. gain</th><th>SRCC after</th></tr>")
        for a in attacks:
            s = e.attacks.get(a)
            if s is None:
                continue
            parts.append(f"<tr><td class='l'>{html.escape(a)}</td>{_num_ci(s['robustness'], s['robustness_lo'], s['robustness_hi'])}"
                         f"{_num(s['abs_gain'])}{_num(s['srcc_after'])}</tr>")
        parts.append(f"<tr><td class='l'><b>all attacks</b></td>{_num_ci(e.all['robustness'], e.all['robustness_lo'], e.all['robustness_hi'])}"
                     f"{_num(e.all['abs_gain'])}<td>–</td></tr></table>")
    parts.append("</div>")
    return "".join(parts)


def render(lb: Leaderboard, *, title: str = "advqa leaderboard") -> str:
    """The leaderboard page as one HTML string (no external resources)."""
    defended = any(e.defense or e.attacker for e in lb.entries)
    p = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
         f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"]
    p.append("<p class='note'>Generated from the results database. Scores of the MSU benchmark (Antsiferova et al., "
             "\"Comparing the Robustness of Modern No-Reference Image- and Video-Quality Metrics to Adversarial "
             "Attacks\", AAAI 2024): each model's clean and attacked scores are min-max scaled with the clean scores "
             "of the evaluated set; robustness score = mean log10(max(1 − c, c) / (|c − a| + 10⁻⁶)) (higher: more "
             "robust); absolute gain = mean(a − c) (positive: the attack raised the predicted quality). "
             "“All attacks” pools every attack's rows. Brackets: 95% t-intervals. Click a column header to sort; "
             "click again to reverse.</p>")
    cols = [("rank", "#"), ("model", "model"), *([("defense", "defence")] if defended else []),
            ("dataset", "dataset"), *([("attacker", "attacker")] if defended else []), ("videos", "videos"),
            ("clean_srcc", "clean SRCC"), ("all_robustness", "robustness (all attacks)"),
            ("all_abs_gain", "abs. gain (all attacks)"), *[(f"attack:{a}", a) for a in lb.attacks]]
    p.append("<h2>Robustness score per attack</h2>")
    p.append("<div class='wide'><table id='leaderboard' class='sortable'>" + _head(cols) + "<tbody>")
    for i, e in enumerate(lb.entries, 1):
        cells = [_num(i), f"<td class='l'><a href='#card-{html.escape(file_slug(e.model))}'>{html.escape(e.model)}</a></td>",
                 *([_text(e.defense)] if defended else []), _text(e.dataset), *([_text(e.attacker)] if defended else []),
                 _num(max(int(s["n"]) for s in e.attacks.values())), _num(e.clean.get("srcc", float("nan"))),
                 _num_ci(e.all["robustness"], e.all["robustness_lo"], e.all["robustness_hi"]),
                 _num(e.all["abs_gain"])]
        cells += [_num(e.attacks[a]["robustness"]) if a in e.attacks else _num(None) for a in lb.attacks]
        p.append("<tr>" + "".join(cells) + "</tr>")
    p.append("</tbody></table></div>")

    p.append("<h2>All scores</h2><p class='note'>One row per model and attack. ΔSRCC / ΔPLCC: change of the "
             "correlation with MOS (after − before) with a 95% paired-bootstrap interval. Wasserstein and energy: "
             "scipy's distances between the scaled clean and attacked score distributions, signed by the mean "
             "shift.</p>")
    cols2 = [("model", "model"), *([("defense", "defence")] if defended else []), ("dataset", "dataset"),
             ("attack", "attack"), *([("attacker", "attacker")] if defended else []), ("n", "videos"),
             ("srcc_before", "SRCC before"), ("srcc_after", "SRCC after"), ("srcc_change", "ΔSRCC"),
             ("plcc_change", "ΔPLCC"), ("abs_gain", "abs. gain"), ("rel_gain", "rel. gain"),
             ("robustness", "robustness"), ("wasserstein", "Wasserstein"), ("energy", "energy"),
             ("linf", "L∞ ×255"), ("psnr", "PSNR dB")]
    p.append("<div class='wide'><table id='scores' class='sortable'>" + _head(cols2) + "<tbody>")
    for e in lb.entries:
        for a in lb.attacks:
            s = e.attacks.get(a)
            if s is None:
                continue
            cells = [_text(e.model), *([_text(e.defense)] if defended else []), _text(e.dataset), _text(a),
                     *([_text(e.attacker)] if defended else []), _num(int(s["n"])), _num(s["srcc_before"]),
                     _num(s["srcc_after"]), _num_ci(s["srcc_change"], s["srcc_change_lo"], s["srcc_change_hi"]),
                     _num_ci(s["plcc_change"], s["plcc_change_lo"], s["plcc_change_hi"]),
                     _num_ci(s["abs_gain"], s["abs_gain_lo"], s["abs_gain_hi"]),
                     _num_ci(s["rel_gain"], s["rel_gain_lo"], s["rel_gain_hi"]),
                     _num_ci(s["robustness"], s["robustness_lo"], s["robustness_hi"]),
                     _num(s["wasserstein"]), _num(s["energy"]), _num(s["linf"] * 255, 2), _num(s["psnr"], 2)]
            p.append("<tr>" + "".join(cells) + "</tr>")
    p.append("</tbody></table></div>")

    p.append("<h2>Model cards</h2><div class='cards'>")
    by_model: dict[str, list[Entry]] = defaultdict(list)
    for e in lb.entries:
        by_model[e.model].append(e)
    for model, card in lb.cards.items():
        p.append(_card_html(model, card, by_model[model], lb.attacks))
    p.append("</div>")
    p.append(f"<script>{_JS}</script></body></html>")
    return "\n".join(p)


def build_leaderboard(database: str | Path, out_dir: str | Path | None = None, *,
                      title: str = "advqa leaderboard") -> Path:
    """Write ``leaderboard.html`` next to the database or into ``out_dir``; return its path.

    Raises InputError when ``database`` does not exist or holds no finished attack rows."""
    database = Path(database)
    if not database.is_file():
        raise InputError(f"no results database at {database}: run 'advqa run --out DIR' first")
    out = Path(out_dir) if out_dir else database.parent
    with ResultStore(database) as store:
        lb = leaderboard(store)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "leaderboard.html"
    path.write_text(render(lb, title=title), encoding="utf-8")
    log.info("leaderboard written to %s", path)
    return path


__all__ = ["FORMATS", "SCORES", "Entry", "Leaderboard", "build_leaderboard", "export", "latex_escape",
           "leaderboard", "matrix", "render", "to_latex"]
