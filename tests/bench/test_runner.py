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
