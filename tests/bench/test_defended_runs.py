"""Defended models, attacker modes and fitted attacks in the runner, with test-double defences and a
test-double fitted attack on the tiny registered model."""
from __future__ import annotations

import csv
import json
import pickle

import numpy as np
import pytest
import torch
from scipy import stats
from torch import Tensor

from advqa.attacks import ATTACKS, FittedAttack
from advqa.attacks import create as create_attack
from advqa.attacks.base import fit_videos
from advqa.bench import protocol
from advqa.bench.aggregate import defense_costs, summarize
from advqa.bench.config import experiment_from_dict
from advqa.bench.jobs import WorkerCache, execute, plan, plan_clean
from advqa.bench.report import build_report
from advqa.bench.runner import load_clip, run_experiment
from advqa.bench.store import ResultStore
from advqa.defenses import DEFENSES, Defense
from advqa.errors import ConfigError, InputError


class NoiseDefense(Defense):
    """Randomised: adds uniform noise of +-amplitude drawn from the defence's generator."""

    name = "test-noise"
    summary = "uniform input noise (test double)"
    randomized_transform = True

    def __init__(self, model, *, amplitude: float = 3 / 255, generator=None, seed=None) -> None:
        super().__init__(model, generator=generator, seed=seed)
        self.amplitude = amplitude

    def transform(self, video: Tensor) -> Tensor:
        noise = torch.rand(video.shape, generator=self.generator) * 2 - 1
        return (video + self.amplitude * noise.to(video.device)).clamp(0, 1)


class QuantizeDefense(Defense):
    """Deterministic and not differentiable: rounds pixels to ``levels`` grey levels (BPDA gradient)."""

    name = "test-quantize"
    summary = "pixel quantisation (test double)"
    differentiable = False

    def __init__(self, model, *, levels: int = 32) -> None:
        super().__init__(model)
        self.levels = levels

    def transform(self, video: Tensor) -> Tensor:
        return torch.round(video * (self.levels - 1)) / (self.levels - 1)


class SignUAP(FittedAttack):
    """A universal sign perturbation: the sign of the model's input gradient summed over the fit
    videos; applied as ``video -/+ eps * sign``, whichever lowers the attack loss (2 queries)."""

    name = "test-sign-uap"
    summary = "universal gradient-sign perturbation (test double)"
    default_norm = "linf"
    default_eps = 4 / 255
    fits = 0
    loads = 0

    def __init__(self, threat=None, *, eot: int = 1, loss="srb", seed=0) -> None:
        super().__init__(threat, loss=loss, seed=seed)
        self.eot = eot

    def _fit(self, model, videos, generator, progress) -> dict[str, Tensor]:
        type(self).fits += 1
        total = None
        for v in fit_videos(videos):
            x = v.clone().requires_grad_(True)
            for _ in range(self.eot):
                model(x).sum().backward()
            g = x.grad.sum(dim=(0, 1))
            total = g if total is None else total + g
        return {"sign": torch.sign(total)}

    def _check_state(self, state: dict[str, Tensor]) -> None:
        if set(state) != {"sign"} or state["sign"].ndim != 3:
            raise InputError("test-sign-uap: the state is one (3, H, W) sign map")

    def load_state(self, path):
        type(self).loads += 1
        return super().load_state(path)

    def _run(self, model, video, ctx):
        delta = ctx.threat.eps * self.state["sign"]
        candidates = torch.cat([video - delta, video + delta]).clamp(0, 1)
        losses = ctx.loss(model(candidates))
        ctx.iterations = 1
        return candidates[int(losses.argmin())].unsqueeze(0)


BUILDS: list[int] = []
COUNTED = "tiny-counted-model"


@pytest.fixture(scope="module")
def doubles():
    """Register the test defences, the fitted attack and a tiny model whose builds are counted."""
    import dataclasses

    from doubles import TinyFrameModel

    from advqa.models import registry

    registry.available()
    DEFENSES.add(NoiseDefense.name, NoiseDefense)
    DEFENSES.add(QuantizeDefense.name, QuantizeDefense)
    ATTACKS.add(SignUAP.name, SignUAP)

    def factory(weights=None, device="cpu", **kw):
        BUILDS.append(1)
        return TinyFrameModel()

    registry.register(COUNTED, dataclasses.replace(TinyFrameModel.card, name=COUNTED))(factory)
    yield COUNTED
    registry.unregister(COUNTED)
    DEFENSES.remove(NoiseDefense.name)
    DEFENSES.remove(QuantizeDefense.name)
    ATTACKS.remove(SignUAP.name)


IFGSM = {"name": "ifgsm", "eps": "4/255", "iterations": 2, "step": "2/255", "label": "ifgsm"}


def _defended_exp(model: str, root, **kw):
    data = {"name": "def", "seed": 0, "eot": 3, "save_adversarial": True,
            "models": [model, {"name": model, "defense": "test-noise"},
                       {"name": model, "defense": {"name": "test-quantize", "levels": 16}}],
            "datasets": [{"name": "folder", "root": str(root)}], "attacks": [IFGSM]}
    data.update(kw)
    return experiment_from_dict(data)


def test_plan_attackers_eot_and_pickling(tmp_path, folder_dataset, doubles):
    exp = _defended_exp(doubles, folder_dataset, attacks=[IFGSM, {**IFGSM, "label": "ifgsm-adaptive",
                                                                 "attackers": ["adaptive"]}])
    sets = {k.key: k for k in [protocol.attacked_set(d, exp.seed) for d in exp.datasets]}
    clean_jobs = plan_clean(exp, sets)
    # the undefended model is scored once although two defended models wrap it
    assert len(clean_jobs) == 3 * 5 and {j.key[1] for j in clean_jobs} == {"", "test-noise", "test-quantize(levels=16)"}
    clean = {j.key: 0.1 * i for i, j in enumerate(clean_jobs)}
    jobs = plan(exp, sets, clean, tmp_path, randomized=lambda spec: spec.defense[0]["name"] == "test-noise")
    modes = {}
    for j in jobs:
        modes.setdefault((j.key[1], j.attack.display()), set()).add((j.attacker, j.eot))
    assert modes == {
        ("", "ifgsm"): {("", None)}, ("", "ifgsm-adaptive"): {("", None)},
        ("test-noise", "ifgsm"): {("naive", None), ("non-adaptive", 1), ("adaptive", 3)},
        ("test-noise", "ifgsm-adaptive"): {("adaptive", 3)},
        ("test-quantize(levels=16)", "ifgsm"): {("naive", None), ("adaptive", 1)},
        ("test-quantize(levels=16)", "ifgsm-adaptive"): {("adaptive", 1)},
    }
    assert all(j.config["attack"]["eot"] == (j.eot or 1) for j in jobs)
    assert len({j.key for j in jobs}) == len(jobs) == 5 * (2 + 4 + 3)
    again = pickle.loads(pickle.dumps(jobs))  # plain values only: jobs can go to other processes
    assert again == jobs
    # the experiment-level list applies where the attack has none
    exp2 = _defended_exp(doubles, folder_dataset, attackers=["non-adaptive"])
    jobs2 = plan(exp2, sets, clean, tmp_path, randomized=lambda spec: True)
    assert {j.attacker for j in jobs2} == {"", "non-adaptive"}
    # a job runs in another process from its fields alone
    row = execute(pickle.loads(pickle.dumps(clean_jobs[0])), WorkerCache())
    assert row.table == "clean" and row.values["status"] == "ok"


def test_defended_run_rows(tmp_path, folder_dataset, doubles):
    from advqa.io import read_video

    BUILDS.clear()
    exp = _defended_exp(doubles, folder_dataset)
    out = tmp_path / "out"
    rep = run_experiment(exp, out)
    assert len(BUILDS) == 1  # one process: the model is built once and every defence wraps it
    assert rep.computed == 5 * (1 + 3 + 2)
    with ResultStore(rep.database) as s:
        rows = s.rows()
        clean = {(c["defense"], c["video"]): c for c in s.clean_rows()}
        summary = summarize(s)
        costs = defense_costs(s)
    assert {r["model"] for r in rows} == {doubles}  # the model label stays the inner model's name
    by = {(r["defense"], r["attacker"], r["video"]): r for r in rows}
    assert {(d, a) for d, a, _ in by} == {("", ""), ("test-noise", "naive"), ("test-noise", "non-adaptive"),
                                          ("test-noise", "adaptive"), ("test-quantize(levels=16)", "naive"),
                                          ("test-quantize(levels=16)", "adaptive")}
    inner = WorkerCache().model(exp.models[0])
    for video in [f"v{i}" for i in range(5)]:
        # adaptive = EOT with K = 3 draws per gradient: 3x the queries of one draw per query
        assert by[("test-noise", "non-adaptive", video)]["queries"] == 2
        assert by[("test-noise", "adaptive", video)]["queries"] == 3 * 2
        # a deterministic defence: adaptive is eot 1 (BPDA is in the defence's gradient)
        assert by[("test-quantize(levels=16)", "adaptive", video)]["queries"] == 2
        for dkey, defense in (("test-noise", NoiseDefense(inner)),
                              ("test-quantize(levels=16)", QuantizeDefense(inner, levels=16))):
            r = by[(dkey, "naive", video)]
            extras = json.loads(r["extras"])
            clip = load_clip(folder_dataset / f"{video}.mkv", None)
            direct = create_attack("ifgsm", eps=4 / 255, iterations=2, step=2 / 255)(
                inner, clip, mos=r["mos"], target=r["target"], generator=torch.Generator().manual_seed(extras["seed"]))
            # the naive attacker's video is exactly the inner-model attack's
            saved = torch.from_numpy(read_video(r["adv_path"]).frames)
            assert torch.equal(saved, direct.frames_uint8())
            assert extras["inner_adv_score"] == pytest.approx(direct.adv_score, abs=1e-6)
            assert extras["inner_clean_score"] == pytest.approx(direct.clean_score, abs=1e-6)
            # ... and the defended model scored it, with one draw of its randomness for both videos
            defense.seed(extras["model_seed"])
            state = defense.rng_state()
            with torch.no_grad():
                assert r["clean_score"] == pytest.approx(float(defense(clip)[0]), abs=1e-6)
                defense.set_rng_state(state)
                assert r["adv_score"] == pytest.approx(float(defense(direct.adversarial)[0]), abs=1e-6)
            assert r["clean_score"] == pytest.approx(clean[(dkey, video)]["score"], abs=1e-6)
        for attacker in ("non-adaptive", "adaptive"):  # the attack's clean score is the clean phase's
            assert by[("test-noise", attacker, video)]["clean_score"] == pytest.approx(
                clean[("test-noise", video)]["score"], abs=1e-6)
        assert by[("test-noise", "adaptive", video)]["linf"] <= 4 / 255 + 1e-6
    # the summary groups by defence and attacker; the costs compare clean accuracy on the same videos
    groups = {(x["defense"], x["attacker"]): x for x in summary}
    assert len(summary) == 6 and all(x["n"] == 5 for x in summary)
    mos = np.array([clean[("", f"v{i}")]["mos"] for i in range(5)])
    naive = [by[("test-noise", "naive", f"v{i}")]["adv_score"] for i in range(5)]
    assert groups[("test-noise", "naive")]["srcc_after"] == pytest.approx(stats.spearmanr(naive, mos)[0])
    cost = {c["defense"]: c for c in costs}
    assert set(cost) == {"test-noise", "test-quantize(levels=16)"}
    for dkey in cost:
        d = np.array([clean[(dkey, f"v{i}")]["score"] for i in range(5)])
        b = np.array([clean[("", f"v{i}")]["score"] for i in range(5)])
        assert cost[dkey]["n"] == 5
        assert cost[dkey]["srcc_defended"] == pytest.approx(stats.spearmanr(d, mos)[0])
        assert cost[dkey]["plcc_undefended"] == pytest.approx(stats.pearsonr(b, mos)[0])
        assert cost[dkey]["srcc_cost"] == pytest.approx(stats.spearmanr(b, mos)[0] - stats.spearmanr(d, mos)[0])
    text = build_report(rep.database).read_text()
    assert "<table id='attackers'>" in text and "<table id='costs'>" in text and "test-quantize(levels=16)" in text
    again = run_experiment(exp, out)
    assert again.computed == 0 and again.reused == 30


def test_fitted_attack_fits_once_and_resumes_from_its_state(tmp_path, with_split, doubles, tiny_registered):
    root = with_split("ds")
    data = {"name": "uap", "seed": 0, "models": [tiny_registered, {"name": tiny_registered, "defense": "test-quantize"}],
            "datasets": [{"name": "folder", "root": str(root), "split": "test"}],
            "attacks": [{"name": "test-sign-uap", "eps": "4/255", "fit": {"videos": 2, "max_frames": 3}}]}
    exp = experiment_from_dict(data)
    SignUAP.fits = SignUAP.loads = 0
    first = run_experiment(exp, tmp_path / "a", max_rows=2)  # interrupted after 2 rows
    # fitted once per attacked model: the undefended model (which the naive attacker also attacks)
    # and the defended one (adaptive attacker)
    assert SignUAP.fits == 2 and first.fitted == 2 and first.computed == 2
    states = sorted((tmp_path / "a" / "states").glob("*.pt"))
    assert len(states) == 2
    loaded = {p.name: torch.load(p, weights_only=True)["sign"] for p in states}
    assert all(t.shape == (3, 48, 64) and set(t.unique().tolist()) <= {-1.0, 0.0, 1.0} for t in loaded.values())

    loads_before = SignUAP.loads
    resumed = run_experiment(exp, tmp_path / "a")
    assert SignUAP.fits == 2 and resumed.fitted == 0 and resumed.states_reused == 2  # not refitted
    assert SignUAP.loads > loads_before  # the stored states were loaded
    assert resumed.reused == 2 and resumed.computed == 3 * 3 - 2

    fresh = run_experiment(exp, tmp_path / "b")  # the same experiment, uninterrupted, elsewhere
    assert SignUAP.fits == 4
    for p in states:
        assert torch.equal(torch.load(tmp_path / "b" / "states" / p.name, weights_only=True)["sign"], loaded[p.name])
    keys = ("model", "defense", "attacker", "video", "config_hash", "clean_score", "adv_score", "queries", "linf")
    with ResultStore(resumed.database) as a, ResultStore(fresh.database) as b:
        rows_a = [tuple(r[k] for k in keys) for r in a.rows()]
        rows_b = [tuple(r[k] for k in keys) for r in b.rows()]
    assert len(rows_a) == 9 and rows_a == rows_b  # identical rows
    assert {r[2] for r in rows_a} == {"", "naive", "adaptive"}
    assert all(r[7] == 2 for r in rows_a)


def test_fitted_attack_without_a_train_split_is_a_clear_error(tmp_path, folder_dataset, with_split, doubles,
                                                             tiny_registered):
    exp = experiment_from_dict({"models": [tiny_registered],
                                "datasets": [{"name": "folder", "root": str(folder_dataset)}],
                                "attacks": [{"name": "test-sign-uap"}]})
    with pytest.raises(ConfigError, match=r"no train split separate from the attacked videos.*fit\.split.*fit\.dataset"):
        run_experiment(exp, tmp_path / "out")
    # fitting on another dataset works
    other = with_split("other")
    exp = experiment_from_dict({"models": [tiny_registered],
                                "datasets": [{"name": "folder", "root": str(folder_dataset), "videos": 2}],
                                "attacks": [{"name": "test-sign-uap",
                                             "fit": {"dataset": "folder", "root": str(other), "split": "train"}}]})
    rep = run_experiment(exp, tmp_path / "out2")
    assert rep.fitted == 1 and rep.computed == 2


def test_config_rejects_fit_for_unfitted_attacks_and_bad_attackers(doubles):
    with pytest.raises(ConfigError, match="not fitted on a train split"):
        experiment_from_dict({"models": ["x"], "datasets": ["demo"], "attacks": [{"name": "fgsm", "fit": {}}]})
    with pytest.raises(ConfigError, match="unknown attacker 'smart'"):
        experiment_from_dict({"models": ["x"], "datasets": ["demo"], "attacks": ["fgsm"], "attackers": ["smart"]})
    with pytest.raises(ConfigError, match="eot"):
        experiment_from_dict({"models": ["x"], "datasets": ["demo"], "attacks": ["fgsm"], "eot": 0})
    exp = experiment_from_dict({"models": [{"name": "x", "defense": ["test-noise", {"name": "test-quantize",
                                                                                       "levels": 8}]}],
                                "datasets": ["demo"], "attacks": ["fgsm"]})
    assert exp.models[0].defense == ({"name": "test-noise"}, {"name": "test-quantize", "levels": 8})


def test_cli_run_with_a_defence_and_results_export(tmp_path, folder_dataset, doubles, tiny_registered):
    from click.testing import CliRunner

    from advqa.cli import cli

    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["run", "--model", tiny_registered, "--dataset", "folder", "--root", str(folder_dataset),
                                 "--attack", "fgsm", "--eps", "2/255", "--defense", "test-quantize", "-D", "levels=8",
                                 "--attacker", "naive", "--attacker", "adaptive", "--out", str(out), "--quiet",
                                 "--no-report"])
    assert r.exit_code == 0, r.output
    assert "attacker" in r.output and "adaptive" in r.output and "clean-accuracy cost" in r.output
    with ResultStore(out / "results.sqlite") as s:
        rows = s.rows()
    assert {(x["defense"], x["attacker"]) for x in rows} == {("test-quantize(levels=8)", "naive"),
                                                             ("test-quantize(levels=8)", "adaptive")}
    assert len(rows) == 10
    r = CliRunner().invoke(cli, ["results", str(out), "--export", "csv"])
    assert r.exit_code == 0, r.output
    lines = list(csv.DictReader(r.output.splitlines()))
    assert {(x["defense"], x["attacker"], x["n"]) for x in lines} == {("test-quantize(levels=8)", "naive", "5"),
                                                                     ("test-quantize(levels=8)", "adaptive", "5")}
    r = CliRunner().invoke(cli, ["results", str(out), "--rows", "--export", "json"])
    assert {(x["defense"], x["attacker"]) for x in json.loads(r.output)} == {(x["defense"], x["attacker"]) for x in rows}
    r = CliRunner().invoke(cli, ["results", str(out), "--costs", "--export", "csv"])
    cost = list(csv.DictReader(r.output.splitlines()))
    assert len(cost) == 1 and cost[0]["defense"] == "test-quantize(levels=8)" and cost[0]["n"] == "5"
    # a chain needs NAME.KEY=VALUE options
    r = CliRunner().invoke(cli, ["run", "--model", tiny_registered, "--dataset", "folder", "--root", str(folder_dataset),
                                 "--defense", "test-noise", "--defense", "test-quantize", "-D", "levels=8",
                                 "--out", str(tmp_path / "o2")])
    assert r.exit_code != 0 and "NAME.levels=VALUE" in r.output
