"""The runner end to end on a tiny folder dataset: rows, resume, aggregates, report, skipped videos."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from scipy import stats

from advqa.bench.aggregate import summarize
from advqa.bench.config import experiment_from_dict
from advqa.bench.report import build_report
from advqa.bench.runner import run_experiment
from advqa.bench.store import ResultStore


def _exp(model: str, root, **kw):
    data = {"name": "t", "models": [model], "datasets": [{"name": "folder", "root": str(root)}],
            "attacks": [{"name": "fgsm", "eps": "2/255", "label": "fgsm"},
                        {"name": "patch", "eps": "5/255", "queries": 20, "label": "patch"}], "seed": 0}
    data.update(kw)
    return experiment_from_dict(data)


def test_run_resume_aggregate_report(tmp_path, folder_dataset, tiny_registered):
    exp = _exp(tiny_registered, folder_dataset)
    out = tmp_path / "out"
    first = run_experiment(exp, out, max_rows=3)  # interrupted after 3 rows
    assert first.computed == 3
    with ResultStore(first.database) as s:
        before = {(r["video"], r["label"]): r["created"] for r in s.rows()}
    assert len(before) == 3
    second = run_experiment(exp, out)
    assert second.reused == 3 and second.computed == 7
    with ResultStore(second.database) as s:
        rows = s.rows()
        assert len(rows) == 10 and len({(r["video"], r["label"]) for r in rows}) == 10
        for r in rows:  # finished rows were not recomputed
            if (r["video"], r["label"]) in before:
                assert r["created"] == before[(r["video"], r["label"])]
        summary = {x["attack"]: x for x in summarize(s)}
        fgsm = [r for r in rows if r["label"] == "fgsm"]
    assert third_run_is_noop(exp, out)
    mos = np.array([r["mos"] for r in fgsm])
    after = np.array([r["adv_score"] for r in fgsm])
    assert summary["fgsm"]["n"] == 5
    assert summary["fgsm"]["srcc_after"] == pytest.approx(stats.spearmanr(after, mos)[0])
    assert summary["fgsm"]["linf"] <= 2 / 255 + 1e-6
    assert summary["patch"]["queries"] <= 20

    report = build_report(second.database)
    text = report.read_text()
    assert "<table id='summary'>" in text and text.count("<img") >= 4
    for src in [p.split("'")[0] for p in text.split("src='")[1:]]:
        assert (report.parent / src).is_file(), src


def third_run_is_noop(exp, out) -> bool:
    again = run_experiment(exp, out)
    return again.computed == 0 and again.reused == 10


def test_unreadable_video_is_skipped_and_counted(tmp_path, folder_dataset, tiny_registered):
    root = tmp_path / "ds"
    shutil.copytree(folder_dataset, root)
    (root / "v2.mkv").write_bytes(b"not a video at all")
    exp = _exp(tiny_registered, root, attacks=[{"name": "fgsm", "eps": "2/255"}])
    rep = run_experiment(exp, tmp_path / "out")
    assert [v for _, v, _ in rep.skipped] == ["v2"]
    with ResultStore(rep.database) as s:
        summary = summarize(s)
    assert summary[0]["n"] == 4 and summary[0]["skipped"] == 1


def test_two_options_of_one_model_keep_their_own_clean_scores_and_rows(tmp_path, folder_dataset):
    """Model factory options are part of the stored model name: two seeds of one registered model
    get separate clean rows (each its own model's score) and separate attack rows, and the card
    is still found from the key."""
    import dataclasses

    import torch
    from doubles import TinyFrameModel

    from advqa.bench.aggregate import higher_is_better
    from advqa.bench.jobs import model_key, model_name
    from advqa.bench.config import ModelSpec
    from advqa.io import read_video, to_tensor
    from advqa.models import registry

    name = "tiny-seeded"
    registry.available()
    registry.register(name, dataclasses.replace(TinyFrameModel.card, name=name))(
        lambda weights=None, device="cpu", seed=0: TinyFrameModel(seed))
    try:
        exp = _exp(name, folder_dataset, models=[{"name": name, "options": {"seed": 0}},
                                                 {"name": name, "options": {"seed": 3}}],
                   attacks=[{"name": "fgsm", "eps": "2/255"}])
        rep = run_experiment(exp, tmp_path / "out")
        with ResultStore(rep.database) as s:
            clean = {(c["model"], c["video"]): c["score"] for c in s.clean_rows()}
            rows = s.rows()
        assert {m for m, _ in clean} == {f"{name}(seed=0)", f"{name}(seed=3)"} and len(clean) == 10
        assert len(rows) == 10 and len({(r["model"], r["video"]) for r in rows}) == 10
        video_name = next(v for _, v in clean if v.startswith("v2"))
        video = to_tensor(read_video(folder_dataset / "v2.mkv").frames)
        with torch.no_grad():
            for seed in (0, 3):
                assert clean[(f"{name}(seed={seed})", video_name)] == pytest.approx(float(TinyFrameModel(seed)(video)[0]), abs=1e-6)
        assert clean[(f"{name}(seed=0)", video_name)] != pytest.approx(clean[(f"{name}(seed=3)", video_name)], abs=1e-3)
        assert model_name(model_key(ModelSpec("mdtvsfa", "/x/head.pt", {"output": "K"}))) == "mdtvsfa"
        assert model_key(ModelSpec("mdtvsfa", "/x/head.pt", {"output": "K"})) == "mdtvsfa@head.pt(output=K)"
        assert higher_is_better(f"{name}(seed=3)") is True
    finally:
        registry.unregister(name)
