"""The leaderboard: numbers from the store, exports (CSV / JSON / LaTeX), the page in Chromium,
the shipped benchmark config, and bad inputs."""
from __future__ import annotations

import csv
import json
import math
import re
import shutil
import subprocess

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from advqa.bench.aggregate import SUMMARY_COLUMNS, summarize
from advqa.bench.config import UnknownModelError, experiment_from_dict, load_experiment
from advqa.bench.leaderboard import build_leaderboard, export, latex_escape, leaderboard, matrix, render, to_latex
from advqa.bench.runner import run_experiment
from advqa.bench.store import ResultStore
from advqa.cli import cli
from advqa.errors import ConfigError, InputError, UnknownNameError
from advqa.metrics import correlation_change, msu_scores

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-quic"]

#: model -> how far each attack moves its scores (a larger shift: a less robust model)
SHIFTS = {"m_weak": 1.0, "m_mid": 0.3, "m_strong": 0.05}
ATTACKS = ("fgsm", "ifgsm_10%")


def _fill(db, models=SHIFTS, attacks=ATTACKS, videos=8):
    """A store with one clean and one attacked row per (model, attack, video)."""
    rng = np.random.default_rng(0)
    mos = rng.uniform(1, 5, videos)
    with ResultStore(db) as s:
        for model, shift in models.items():
            clean = mos + rng.normal(0, 0.3, videos)
            for i in range(videos):
                s.put_clean(model, "demo:test", f"v{i}", mos=float(mos[i]), score=float(clean[i]))
            for j, attack in enumerate(attacks):
                adv = clean + shift * (1 + j) * rng.uniform(0.5, 1.5, videos)
                for i in range(videos):
                    s.put(dict(model=model, dataset="demo:test", video=f"v{i}", attack=attack.split("_")[0],
                               config_hash=f"h{j}", label=attack, config="{}", status="ok", mos=float(mos[i]),
                               clean_score=float(clean[i]), adv_score=float(adv[i]), linf=10 / 255, l2=0.02,
                               psnr=35.0, queries=10, iterations=10, time_s=0.1))
    return db


@pytest.fixture
def store_path(tmp_path):
    return _fill(tmp_path / "results.sqlite")


def _same(a, b):
    if isinstance(b, float) and math.isnan(b):
        return a is None or a == "" or (isinstance(a, float) and math.isnan(a)) or a == "nan"
    if isinstance(b, float):
        return float(a) == b
    return str(a) == str(b)


def test_summary_carries_the_msu_scores_and_bootstrap_intervals(store_path):
    with ResultStore(store_path) as s:
        summary = summarize(s)
        rows = s.rows(model="m_mid", label="fgsm")
    row = next(x for x in summary if x["model"] == "m_mid" and x["attack"] == "fgsm")
    clean = [r["clean_score"] for r in rows]
    adv = [r["adv_score"] for r in rows]
    mos = [r["mos"] for r in rows]
    expected = msu_scores(clean, adv)
    for key in ("abs_gain", "abs_gain_lo", "abs_gain_hi", "rel_gain", "robustness", "robustness_hi",
                "wasserstein", "energy"):
        assert row[key] == pytest.approx(expected[key], abs=1e-12), key
    iv = correlation_change(clean, adv, mos, metric="srcc", resamples=1000, seed=0)
    assert (row["srcc_change"], row["srcc_change_lo"], row["srcc_change_hi"]) == pytest.approx(tuple(iv), abs=1e-12)
    assert row["srcc_change"] == pytest.approx(row["srcc_after"] - row["srcc_before"], abs=1e-12)
    assert row["abs_gain"] > 0 and row["abs_gain_lo"] < row["abs_gain"] < row["abs_gain_hi"]


def test_leaderboard_ranks_by_pooled_robustness(store_path):
    with ResultStore(store_path) as s:
        lb = leaderboard(s)
        ok = s.rows(model="m_weak")
    assert [e.model for e in lb.entries] == ["m_strong", "m_mid", "m_weak"]
    assert lb.attacks == sorted(ATTACKS)
    weak = lb.entries[-1]
    pooled = msu_scores([r["clean_score"] for r in ok], [r["adv_score"] for r in ok])
    assert weak.all["robustness"] == pytest.approx(pooled["robustness"], abs=1e-12)
    assert weak.clean["n"] == 8 and -1 <= weak.clean["srcc"] <= 1
    assert lb.cards == {"m_strong": None, "m_mid": None, "m_weak": None}  # not registered models


def test_results_csv_and_json_exports_equal_the_summary(store_path):
    with ResultStore(store_path) as s:
        summary = summarize(s)
    r = CliRunner().invoke(cli, ["results", str(store_path), "--export", "csv"])
    assert r.exit_code == 0, r.output
    lines = list(csv.DictReader(r.output.splitlines()))
    assert len(lines) == len(summary) and list(lines[0]) == list(SUMMARY_COLUMNS)
    for got, want in zip(lines, summary):
        for col in SUMMARY_COLUMNS:
            assert _same(got[col], want[col]), (col, got[col], want[col])
    r = CliRunner().invoke(cli, ["results", str(store_path), "--export", "json"])
    data = json.loads(r.output)  # standard JSON: undefined values are null
    assert "NaN" not in r.output
    for got, want in zip(data, summary):
        for col in SUMMARY_COLUMNS:
            assert _same(got[col], want[col]), col


def test_results_latex_export_rounds_the_summary_and_escapes(store_path, tmp_path):
    out = tmp_path / "t.tex"
    r = CliRunner().invoke(cli, ["results", str(store_path), "--export", "latex", "-o", str(out)])
    assert r.exit_code == 0, r.output
    tex = out.read_text()
    assert r"\begin{tabular}" in tex and r"\toprule" in tex and tex.rstrip().endswith(r"\end{table}")
    assert r"m\_weak" in tex and r"ifgsm\_10\%" in tex and "m_weak" not in tex.replace(r"m\_weak", "")
    with ResultStore(store_path) as s:
        summary = summarize(s)
    body = [ln for ln in tex.splitlines() if ln.endswith(r"\\") and not ln.startswith("model")]
    assert len(body) == len(summary)
    header = tex.splitlines()[tex.splitlines().index(r"\toprule") + 1]
    cols = [c.strip().replace(r"\_", "_") for c in header.rstrip("\\ ").split("&")]
    assert "defense" not in cols  # no defended rows: no defence / attacker columns
    for line, want in zip(body, summary):
        cells = dict(zip(cols, (c.strip() for c in line[:-2].split("&"))))
        assert cells["model"] == latex_escape(want["model"])
        for col in ("srcc_before", "srcc_after", "srcc_change", "abs_gain", "rel_gain", "robustness",
                    "wasserstein", "energy"):
            assert cells[col] == f"{want[col]:.3f}", col


def test_latex_escaping_and_cells():
    assert latex_escape("a_b&c%d$e#f{g}h~i^j\\k") == \
        r"a\_b\&c\%d\$e\#f\{g\}h\textasciitilde{}i\textasciicircum{}j\textbackslash{}k"
    tex = to_latex(["name", "x"], [{"name": "p_1", "x": 0.12345}, {"name": "q", "x": float("nan")}])
    assert r"\begin{tabular}{lr}" in tex and r"p\_1 & 0.123 \\" in tex and r"q & -- \\" in tex


def test_leaderboard_exports_equal_the_leaderboard(store_path):
    with ResultStore(store_path) as s:
        lb = leaderboard(s)
    cols, rows = matrix(lb, "robustness")
    r = CliRunner().invoke(cli, ["leaderboard", str(store_path), "--export", "json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert [d["model"] for d in data] == ["m_strong", "m_mid", "m_weak"] and [d["rank"] for d in data] == [1, 2, 3]
    for d, e in zip(data, lb.entries):
        assert d["all_robustness"] == e.all["robustness"]
        for a in ATTACKS:
            assert d[a] == e.attacks[a]["robustness"]
    r = CliRunner().invoke(cli, ["leaderboard", str(store_path), "--export", "csv", "--score", "abs_gain"])
    lines = list(csv.DictReader(r.output.splitlines()))
    assert [float(x["fgsm"]) for x in lines] == [e.attacks["fgsm"]["abs_gain"] for e in lb.entries]
    r = CliRunner().invoke(cli, ["leaderboard", str(store_path), "--export", "latex"])
    assert r.exit_code == 0 and r"m\_strong" in r.output and f"{lb.entries[0].all['robustness']:.3f}" in r.output


def test_bad_inputs(tmp_path, store_path):
    runner = CliRunner()
    r = runner.invoke(cli, ["results", str(store_path), "--export", "xml"])
    assert r.exit_code == 2 and "xml" in r.output
    r = runner.invoke(cli, ["leaderboard", str(store_path), "--export", "pdf"])
    assert r.exit_code == 2 and "pdf" in r.output
    with pytest.raises(InputError, match="unknown export format 'xml'"):
        export(["a"], [{"a": 1}], "xml")
    with ResultStore(store_path) as s, pytest.raises(InputError, match="unknown leaderboard score"):
        matrix(leaderboard(s), "accuracy")
    r = runner.invoke(cli, ["results", str(store_path), "--rows", "--export", "latex"])
    assert r.exit_code == 2 and "csv or json" in r.output
    for args in (["leaderboard", str(tmp_path / "missing")], ["results", str(tmp_path / "missing.sqlite")]):
        r = runner.invoke(cli, args)
        assert r.exit_code == 2 and "no results database" in r.output, args
    with pytest.raises(InputError, match="no results database"):
        build_leaderboard(tmp_path / "missing.sqlite")
    assert not (tmp_path / "missing.sqlite").exists()  # looking did not create one
    empty = tmp_path / "empty" / "results.sqlite"
    ResultStore(empty).close()
    r = runner.invoke(cli, ["leaderboard", str(empty.parent)])
    assert r.exit_code == 2 and "no finished attack rows" in r.output
    with pytest.raises(InputError, match="no finished attack rows"):
        build_leaderboard(empty)
    r = runner.invoke(cli, ["leaderboard", str(store_path), "-o", str(tmp_path / "x.html")])
    assert r.exit_code == 2 and "--out" in r.output


def _dom(tmp_path, page, name="p"):
    profile = tmp_path / f"profile-{name}"
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom", page.as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout


# Clicks headers of the real page's tables (its own sort script) and records the orders it gets.
_PROBE = """<script>window.addEventListener('load',function(){
function col(id,i){return Array.prototype.map.call(document.querySelector(id).tBodies[0].rows,
 function(r){return r.cells[i].textContent.trim();});}
function th(id,key){return document.querySelector(id+" th[data-key='"+key+"']");}
var out={};var t=th('#leaderboard','all_robustness');t.click();out.asc=col('#leaderboard',1);
out.ascSort=t.getAttribute('aria-sort');t.click();out.desc=col('#leaderboard',1);
out.descSort=t.getAttribute('aria-sort');th('#leaderboard','model').click();out.byName=col('#leaderboard',1);
th('#scores','attack').click();out.attacks=col('#scores',2);
th('#scores','abs_gain').click();th('#scores','abs_gain').click();out.gains=col('#scores',0);
document.body.setAttribute('data-probe',JSON.stringify(out));});</script>"""


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_leaderboard_page_sorts_in_headless_chromium(tmp_path, store_path):
    page = build_leaderboard(store_path, tmp_path / "site")
    text = page.read_text()
    # self-contained: no external scripts, styles, images or fonts
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", text) and "<link" not in text and "@import" not in text
    probe = tmp_path / "site" / "probe.html"
    probe.write_text(text.replace("</body>", _PROBE + "</body>"))
    dom = _dom(tmp_path, probe)
    m = re.search(r'data-probe="([^"]*)"', dom)
    assert m, "the probe script did not run"
    got = json.loads(m.group(1).replace("&quot;", '"'))
    with ResultStore(store_path) as s:
        lb = leaderboard(s)
    by_rob = [e.model for e in sorted(lb.entries, key=lambda e: e.all["robustness"])]
    assert got["asc"] == by_rob and got["ascSort"] == "ascending"
    assert got["desc"] == by_rob[::-1] and got["descSort"] == "descending"
    assert got["byName"] == sorted(SHIFTS)
    assert got["attacks"] == sorted([a for a in ATTACKS for _ in SHIFTS])
    rows = [(e.model, e.attacks[a]["abs_gain"]) for e in lb.entries for a in lb.attacks]
    assert got["gains"] == [m for m, _ in sorted(rows, key=lambda x: -x[1])]
    # the page as written: both tables and one card per model
    dom = _dom(tmp_path, page, "page")
    assert 'id="leaderboard"' in dom and 'id="scores"' in dom
    assert len(re.findall(r'class="card"', dom)) == len(SHIFTS)


def test_cards_of_registered_models(tmp_path, folder_dataset, tiny_registered):
    """A run through the CLI writes the leaderboard; a registered model's card shows its paper and range."""
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(yaml.safe_dump({"models": [tiny_registered],
                                   "datasets": [{"name": "folder", "root": str(folder_dataset)}],
                                   "attacks": [{"name": "fgsm", "eps": "4/255", "label": "fgsm"},
                                               {"name": "ifgsm", "eps": "4/255", "iterations": 2,
                                                "label": "ifgsm"}]}))
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["run", "--config", str(cfg), "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    assert f"leaderboard: {out / 'leaderboard.html'}" in r.output
    assert "MSU benchmark scores" in r.output  # the run prints the MSU scores too
    with ResultStore(out / "results.sqlite") as s:
        lb = leaderboard(s)
    from advqa.models import card

    c = card(tiny_registered)
    info = lb.cards[tiny_registered]
    assert info["paper"] == c.paper and tuple(info["score_range"]) == tuple(c.score_range)
    page = render(lb)
    lo, hi = c.score_range
    assert f"scores {lo:g}–{hi:g}" in page and "clean SRCC" in page
    e = lb.entries[0]
    assert set(e.attacks) == {"fgsm", "ifgsm"} and e.clean["n"] == 5


def test_shipped_benchmark_config():
    exp = load_experiment("benchmark")  # a shipped experiment by name
    assert [m.name for m in exp.models] == ["litevsfa", "liteiqa"]
    assert [a.name for a in exp.attacks] == ["fgsm", "ifgsm", "mifgsm", "amifgsm", "korhonen", "madc", "uap", "uap",
                                             "uap", "cumulative-uap", "generative-uap"]
    assert all(a.eps == pytest.approx(10 / 255) for a in exp.attacks[:4])
    assert [a.params.get("amplitude") for a in exp.attacks[6:]] == [0.2, 0.4, 0.8, 0.8, 0.8]
    assert all(a.fit is not None for a in exp.attacks[6:]) and all(a.fit is None for a in exp.attacks[:6])
    ifgsm = exp.attacks[1]
    assert ifgsm.params == {"iterations": 10, "step": pytest.approx(1 / 255)}
    d = exp.datasets[0]
    assert (d.name, d.split, d.videos, d.max_frames) == ("demo", "test", 8, 2)


def test_benchmark_names_only_registered_models_and_attacks():
    """Every model and attack of the shipped benchmark is registered: liteiqa and litevsfa under the
    nine MSU attack families."""
    from advqa.attacks import available as attacks
    from advqa.models import available as models

    exp = load_experiment("benchmark")
    assert {m.name for m in exp.models} <= set(models())
    names = {a.name for a in exp.attacks}
    assert names <= set(attacks()) and len(names) == 9


def test_unknown_model_in_a_config_is_a_config_error(tmp_path):
    cfg = tmp_path / "exp.yaml"
    cfg.write_text("models: [litevsfa, litevsf]\ndatasets: [demo]\nattacks: [fgsm]\n")
    with pytest.raises(ConfigError, match=r"models\[1\].name: unknown model 'litevsf'.*Did you mean 'litevsfa'"):
        load_experiment(cfg)
    exp = experiment_from_dict({"models": [{"name": "nope"}], "datasets": ["demo"], "attacks": ["fgsm"]})
    with pytest.raises(UnknownModelError, match="unknown model 'nope'"):  # the runner checks before any work
        run_experiment(exp, tmp_path / "out")
    assert not (tmp_path / "out" / "results.sqlite").exists()
    r = CliRunner().invoke(cli, ["run", "--config", str(cfg), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "unknown model 'litevsf'" in r.output
    with pytest.raises(ConfigError, match="shipped experiments by name: benchmark, certify, defenses, demo"):
        load_experiment("benchmarks")


def test_every_shipped_experiment_loads_by_name():
    """SHIPPED lists every YAML file in advqa/resources, and each one loads by its name."""
    from importlib import resources

    from advqa.bench.config import SHIPPED

    files = sorted(p.name for p in resources.files("advqa").joinpath("resources").iterdir() if p.name.endswith(".yaml"))
    assert [f"{n}.yaml" for n in SHIPPED] == files and {"demo", "benchmark", "certify"} <= set(SHIPPED)
    for name in SHIPPED:
        assert load_experiment(name).models


def test_leaderboard_score_option_rejects_unknown_scores(store_path):
    r = CliRunner().invoke(cli, ["leaderboard", str(store_path), "--export", "csv", "--score", "accuracy"])
    assert r.exit_code == 2 and "accuracy" in r.output


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_shipped_benchmark_runs_and_its_leaderboard_renders(tmp_path):
    """The shipped benchmark's nine attack families on litevsfa, 3 demo videos of 1 frame (the UAPs
    fitted on 4 train videos): the iterative attacks raise the score, every row holds its family's
    budget, and the leaderboard page shows the numbers in Chromium."""
    import dataclasses

    exp = load_experiment("benchmark")
    attacks = tuple(dataclasses.replace(a, fit=dataclasses.replace(a.fit, videos=4)) if a.fit else a
                    for a in exp.attacks)
    exp = dataclasses.replace(exp, models=exp.models[:1], attacks=attacks,
                              datasets=(dataclasses.replace(exp.datasets[0], videos=3, max_frames=1),))
    assert [m.name for m in exp.models] == ["litevsfa"]
    rep = run_experiment(exp, tmp_path / "out")
    assert rep.computed == 3 * len(exp.attacks) and not rep.skipped
    assert rep.fitted == 3  # one fit per UAP family, shared by its amplitudes
    page = build_leaderboard(rep.database)
    with ResultStore(rep.database) as s:
        rows = s.rows()
        lb = leaderboard(s)
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(r["label"], []).append(r)
    for label in ("fgsm", "ifgsm", "mifgsm", "amifgsm", "korhonen", "madc"):
        assert all(r["adv_score"] > r["clean_score"] for r in by[label]), label  # quality pushed up
    assert all(r["linf"] <= 10 / 255 + 1e-6 for k in ("fgsm", "ifgsm", "mifgsm", "amifgsm") for r in by[k])
    assert all(r["l2"] <= 10 / 255 + 1e-6 for r in by["madc"])
    for label, amplitude in (("uap-0.2", 0.2), ("uap-0.4", 0.4), ("uap-0.8", 0.8), ("cumulative-uap-0.8", 0.8)):
        assert all(r["linf"] <= amplitude * 0.1 + 0.5 / 255 + 1e-6 and r["queries"] == 0 for r in by[label])
    assert all(r["linf"] <= 0.8 * 10 / 255 + 0.5 / 255 + 1e-6 for r in by["generative-uap-0.8"])
    (entry,) = lb.entries
    assert set(entry.attacks) == set(by) and len(by) == 11
    dom = _dom(tmp_path, page)
    for label, s in entry.attacks.items():
        assert f"data-key=\"attack:{label}\"" in dom
        if math.isfinite(s["robustness"]):
            assert f">{s['robustness']:.3f}<" in dom
    assert "EfficientNet-Lite0" in dom  # litevsfa's card


def test_cli_score_choices_are_the_leaderboard_scores():
    from advqa.bench.leaderboard import SCORES

    opt = next(p for p in cli.commands["leaderboard"].params if p.name == "score")
    assert list(opt.type.choices) == list(SCORES)
