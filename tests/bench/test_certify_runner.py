"""Certified bounds in the runner: the ``certify:`` config is validated, a tiny certify experiment
on demo clips writes rows that match :mod:`advqa.defenses.smoothing` on the same seed, reruns
resume, older stores gain the table, and the report plots width against radius."""
from __future__ import annotations

import json
import math
import sqlite3

import pytest
import torch

from advqa.bench.aggregate import certified_summary
from advqa.bench.config import CertifySpec, experiment_from_dict
from advqa.bench.jobs import load_clip
from advqa.bench.report import build_report
from advqa.bench.runner import run_experiment
from advqa.bench.store import ResultStore
from advqa.defenses.smoothing import certify, certify_mean
from advqa.errors import ConfigError

BASE = {"models": ["litevsfa"], "datasets": ["demo"]}


def _cfg(certify_value, **kw):
    return {**BASE, "certify": certify_value, **kw}


@pytest.mark.parametrize("value, message", [
    ("0.12", "certify: expected a mapping"),
    ({"sigma": 0.12}, "certify.radii: missing"),
    ({"radii": []}, "certify.radii: expected a non-empty list"),
    ({"radii": [0.1, -0.05]}, "certify.radii: radii are whole-video L2 norms >= 0"),
    ({"radii": ["big"]}, "certify.radii: expected a number"),
    ({"radii": [0.1], "sigma": 0}, "certify.sigma: the noise standard deviation must be > 0"),
    ({"radii": [0.1], "sigma": "fast"}, "certify.sigma: expected a number"),
    ({"radii": [0.1], "alpha": 0.5}, "certify.alpha: the failure probability per side must be in (0, 0.5)"),
    ({"radii": [0.1], "alpha": 0}, "certify.alpha"),
    ({"radii": [0.1], "samples": 0}, "certify.samples: expected a positive whole number"),
    ({"radii": [0.1], "samples": 2.5}, "certify.samples: expected a positive whole number"),
    ({"radii": [0.1], "samples": None}, "certify.samples: expected a positive whole number"),
    ({"radii": [0.1], "batch": -1}, "certify.batch: expected a positive whole number"),
    ({"radii": [0.1], "bound": "max"}, "certify.bound: expected 'median' or 'mean'"),
    ({"radii": [0.1], "radius": 0.1}, "certify: unknown key 'radius'"),
])
def test_bad_certify_config_names_the_key(value, message):
    with pytest.raises(ConfigError) as err:
        experiment_from_dict(_cfg(value))
    assert message in str(err.value)


def test_certify_config_parsed_and_attacks_optional():
    exp = experiment_from_dict(_cfg({"sigma": "30/255", "radii": [0.2, 0, 0.05, 0.05], "samples": 200}))
    assert exp.certify == CertifySpec(radii=(0.0, 0.05, 0.2), sigma=30 / 255, samples=200, alpha=0.001,
                                      bound="median", batch=16)
    assert exp.attacks == ()
    with pytest.raises(ConfigError, match="'attacks' must be a non-empty list"):
        experiment_from_dict(BASE)  # no certify: attacks are required as before
    with pytest.raises(ConfigError, match=r"models\[0\].defense: certify the base model, not median-smoothing"):
        experiment_from_dict({**_cfg({"radii": [0.1]}), "models": [{"name": "litevsfa",
                                                                     "defense": "median-smoothing"}]})


def test_certify_two_demo_clips_matches_smoothing_on_the_same_seed(tmp_path):
    """litevsfa and litevsfa behind bit-depth reduction on 2 demo test clips (first frame, 40
    draws, alpha 0.05): every stored interval is the one ``advqa.defenses.smoothing.certify``
    gives on the same clip with a generator seeded as the row says."""
    radii = [0.0, 0.02, 0.05, 0.2]
    exp = experiment_from_dict({
        "name": "cert", "seed": 3,
        "models": ["litevsfa", {"name": "litevsfa", "defense": {"name": "bitdepth", "bits": 5}}],
        "datasets": [{"name": "demo", "split": "test", "videos": 2, "max_frames": 1}],
        "certify": {"sigma": 0.12, "radii": radii, "samples": 40, "alpha": 0.05, "batch": 8}})
    out = tmp_path / "out"
    rep = run_experiment(exp, out)
    assert rep.certified == 4 and rep.computed == 0
    with ResultStore(rep.database) as s:
        rows = s.certified_rows()
        summary = certified_summary(s)
    assert len(rows) == 2 * 2 * len(radii) and all(r["status"] == "ok" for r in rows)
    assert {r["defense"] for r in rows} == {"", "bitdepth(bits=5)"}

    from advqa import defenses
    from advqa import models as model_registry

    base = model_registry.create("litevsfa")
    defended = defenses.create({"name": "bitdepth", "bits": 5}, base)
    from advqa.data.demo import load_demo

    paths = {s.name: s.path for s in load_demo("test")}
    for r in rows:
        extras = json.loads(r["extras"])
        clip = load_clip(paths[r["video"]], 1)
        model = defended if r["defense"] else base
        model.seed(extras["model_seed"])
        cert = certify(model, clip, sigma=0.12, radius=r["radius"], samples=40, alpha=0.05, batch=8,
                       generator=torch.Generator().manual_seed(extras["seed"]))
        assert (r["k_lower"], r["k_upper"]) == (cert.k_lower, cert.k_upper)
        assert r["score"] == pytest.approx(cert.score, abs=1e-12)
        for got, want in ((r["lower_bound"], cert.lower), (r["upper_bound"], cert.upper)):
            assert (got is None and want is None) or got == pytest.approx(want, abs=1e-12)
        assert r["dims"] == 3 * 180 * 320 and r["rms_255"] == pytest.approx(255 * r["radius"] / math.sqrt(r["dims"]))
    # n = 40, alpha = 0.05 (scipy.stats.binom): (k_l, k_u) = (15, 26) at r = 0, (12, 29) at 0.02,
    # (9, 32) at 0.05, so the interval widens with the radius; at r = 0.2 (r / sigma = 1.67) both
    # sides abstain (no k in 1..40)
    want = {0.0: (15, 26), 0.02: (12, 29), 0.05: (9, 32), 0.2: (None, None)}
    assert all((r["k_lower"], r["k_upper"]) == want[r["radius"]] for r in rows)
    assert all(r["abstained"] == 1 and r["width"] is None for r in rows if r["radius"] == 0.2)
    lit = {c["radius"]: c for c in summary if c["defense"] == ""}
    widths = [lit[x]["width_median"] for x in radii]
    assert widths[0] <= widths[1] <= widths[2] < math.inf == widths[3]
    assert lit[0.2]["abstained"] == 2 and lit[0.0]["n"] == 2 and lit[0.0]["abstained"] == 0

    # a rerun computes nothing; the report holds the width-vs-radius plot and its table
    again = run_experiment(exp, out)
    assert again.certified == 0 and again.certified_reused == 4
    report = build_report(rep.database)
    text = report.read_text()
    assert "<h2>Certified score bounds</h2>" in text and "<table id='certified'>" in text
    assert "img/certified_demo_test.png" in text and (report.parent / "img/certified_demo_test.png").is_file()
    assert text.count("<tr><td class='l'>litevsfa") >= len(radii)


def test_mean_bound_on_folder_dataset(tmp_path, folder_dataset, tiny_registered):
    exp = experiment_from_dict({
        "models": [tiny_registered], "datasets": [{"name": "folder", "root": str(folder_dataset)}],
        "certify": {"sigma": 0.1, "radii": [0.05, 0.2], "samples": 64, "alpha": 0.01, "bound": "mean"}})
    rep = run_experiment(exp, tmp_path / "out")
    with ResultStore(rep.database) as s:
        rows = s.certified_rows()
    assert rep.certified == 5 and len(rows) == 10
    from advqa import models as model_registry

    model = model_registry.create(tiny_registered)
    for r in rows:
        extras = json.loads(r["extras"])
        cert = certify_mean(model, load_clip(folder_dataset / f"{r['video']}.mkv", None), sigma=0.1,
                            radius=r["radius"], samples=64, alpha=0.01,
                            generator=torch.Generator().manual_seed(extras["seed"]))
        assert r["lower_bound"] == pytest.approx(cert.lower, abs=1e-12)
        assert r["upper_bound"] == pytest.approx(cert.upper, abs=1e-12)
        assert 0.0 <= r["lower_bound"] <= r["score"] <= r["upper_bound"] <= 1.0


def test_adding_a_radius_recomputes_the_same_draws(tmp_path, folder_dataset, tiny_registered):
    cfg = {"models": [tiny_registered], "datasets": [{"name": "folder", "root": str(folder_dataset), "videos": 2}],
           "certify": {"sigma": 0.1, "radii": [0.05], "samples": 32, "alpha": 0.05}}
    out = tmp_path / "out"
    run_experiment(experiment_from_dict(cfg), out)
    with ResultStore(out / "results.sqlite") as s:
        first = {r["video"]: r for r in s.certified_rows()}
    cfg["certify"]["radii"] = [0.05, 0.1]
    rep = run_experiment(experiment_from_dict(cfg), out)
    assert rep.certified == 2 and rep.certified_reused == 0
    with ResultStore(out / "results.sqlite") as s:
        rows = s.certified_rows()
    assert len(rows) == 4
    for r in rows:
        if r["radius"] == 0.05:  # same seed, same draws: the same interval
            assert (r["lower_bound"], r["upper_bound"]) == (first[r["video"]]["lower_bound"],
                                                          first[r["video"]]["upper_bound"])


def test_version_2_store_without_the_table_gains_it_and_keeps_its_rows(tmp_path):
    db = tmp_path / "r.sqlite"
    with ResultStore(db) as s:
        s.put({"model": "m", "dataset": "d", "video": "v", "attack": "fgsm", "config_hash": "h", "label": "fgsm",
               "config": {}, "status": "ok", "mos": 3.0, "clean_score": 0.5, "adv_score": 0.1})
        s.put_clean("m", "d", "v", mos=3.0, score=0.5)
    con = sqlite3.connect(db)
    con.execute("DROP TABLE certified")  # a version-2 database written before the table existed
    con.commit()
    con.close()
    with ResultStore(db) as s:
        assert s.schema_version() == 2 and s.count() == 1 and len(s.clean_rows()) == 1
        assert s.certified_rows() == []
        s.put_certified([{"model": "m", "dataset": "d", "video": "v", "config_hash": "c", "radius": 0.1, "config": {},
                          "bound": "median", "sigma": 0.12, "samples": 10, "alpha": 0.01, "status": "ok",
                          "lower_bound": 0.4, "upper_bound": 0.6, "width": 0.2}])
        assert s.has_certified("m", "d", "v", "c", [0.1]) and not s.has_certified("m", "d", "v", "c", [0.1, 0.2])
        with pytest.raises(KeyError):
            s.put_certified([{"model": "m", "bogus": 1}])


def test_cli_run_certifies_from_yaml(tmp_path, folder_dataset, tiny_registered):
    from click.testing import CliRunner

    from advqa.cli import cli

    cfg = tmp_path / "cert.yaml"
    cfg.write_text(f"name: cert\nmodels: [{tiny_registered}]\n"
                   f"datasets: [{{name: folder, root: '{folder_dataset}', videos: 3}}]\n"
                   "certify: {sigma: 0.1, radii: [0, 0.05], samples: 32, alpha: 0.05}\n")
    r = CliRunner().invoke(cli, ["run", "--config", str(cfg), "--out", str(tmp_path / "o"), "--quiet"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "videos certified: 3, reused: 0" in r.output and "certified score bounds" in r.output
    assert "<table id='certified'>" in (tmp_path / "o" / "report.html").read_text()
    r = CliRunner().invoke(cli, ["results", str(tmp_path / "o"), "--certified", "--export", "json"],
                           catch_exceptions=False)
    summary = json.loads(r.output)
    assert [(c["radius"], c["n"]) for c in summary] == [(0.0, 3), (0.05, 3)]
    r = CliRunner().invoke(cli, ["results", str(tmp_path / "o"), "--certified", "--rows", "--export", "json"],
                           catch_exceptions=False)
    assert len(json.loads(r.output)) == 6
    bad = tmp_path / "bad.yaml"
    bad.write_text(cfg.read_text().replace("alpha: 0.05", "alpha: 2"))
    r = CliRunner().invoke(cli, ["run", "--config", str(bad), "--out", str(tmp_path / "o2"), "--quiet"])
    lines = [ln for ln in r.output.strip().splitlines() if ln]
    assert r.exit_code == 2 and len(lines) == 1 and "certify.alpha" in lines[0], r.output


def test_shipped_certify_config_is_valid():
    from importlib import resources

    from advqa.bench.config import load_experiment

    with resources.as_file(resources.files("advqa").joinpath("resources/certify.yaml")) as path:
        exp = load_experiment(path)
    assert exp.attacks == () and exp.certify.samples == 500 and exp.certify.radii[-1] == 0.3
    assert [m.name for m in exp.models] == ["litevsfa", "litevsfa-nt"]


def test_failed_certify_rows_are_retried(tmp_path, folder_dataset, tiny_registered):
    """A video whose worker died (status ``failed`` for each radius) is certified on the next run."""
    from advqa.bench import protocol
    from advqa.bench.jobs import failed_row, plan_certify

    exp = experiment_from_dict({"models": [tiny_registered],
                                "datasets": [{"name": "folder", "root": str(folder_dataset), "videos": 2}],
                                "certify": {"sigma": 0.1, "radii": [0.0, 0.05], "samples": 16, "alpha": 0.1}})
    sets = {protocol.dataset_key(d): protocol.attacked_set(d, exp.seed) for d in exp.datasets}
    jobs = plan_certify(exp, sets)
    assert len(jobs) == 2 and len({j.seed for j in jobs}) == 2
    out = tmp_path / "out"
    with ResultStore(out / "results.sqlite") as s:
        s.put_certified(failed_row(jobs[0], "worker died 3 times").values["rows"])
        mkey, dkey, dataset, video, chash = jobs[0].key
        assert not s.has_certified(mkey, dataset, video, chash, [0.0, 0.05], defense=dkey)
        assert [r["status"] for r in s.certified_rows()] == ["failed", "failed"]
    rep = run_experiment(exp, out)
    assert rep.certified == 2 and rep.certified_reused == 0
    with ResultStore(rep.database) as s:
        assert [r["status"] for r in s.certified_rows()] == ["ok"] * 4
