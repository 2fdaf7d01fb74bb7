"""The MSU attacks through the runner: a fitted UAP (one fit job), a pretrained .npy UAP (none),
Korhonen and MADC, each row within its budget."""
from __future__ import annotations

from pathlib import Path

from advqa.bench.config import experiment_from_dict
from advqa.bench.runner import run_experiment
from advqa.bench.store import ResultStore

UAP_NPY = Path(__file__).resolve().parents[1] / "fixtures" / "msu_uaps" / "uap_maniqa_COCO.npy"


def test_msu_attacks_run_in_the_runner(tmp_path, with_split, tiny_registered):
    root = with_split("ds")
    exp = experiment_from_dict({
        "name": "msu", "seed": 0, "models": [tiny_registered],
        "datasets": [{"name": "folder", "root": str(root), "split": "test", "max_frames": 2}],
        "attacks": [{"name": "uap", "label": "uap-fitted", "epochs": 1, "batch_size": 2, "lr": 0.01,
                     "amplitude": 0.8, "fit": {"videos": 2, "max_frames": 3}},
                    {"name": "uap", "label": "uap-fitted-0.2", "epochs": 1, "batch_size": 2, "lr": 0.01,
                     "amplitude": 0.2, "fit": {"videos": 2, "max_frames": 3}},
                    {"name": "uap", "label": "uap-msu", "uap_path": str(UAP_NPY), "amplitude": 0.4},
                    {"name": "korhonen", "iterations": 2}, {"name": "madc", "iterations": 2}]})
    rep = run_experiment(exp, tmp_path / "out")
    # only the UAP without a file is fitted, once for both amplitudes (applied at test time only)
    assert rep.fitted == 1 and rep.computed == 5 * 3
    with ResultStore(rep.database) as store:
        rows = store.rows()
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(r["label"] or r["attack"], []).append(r)
    assert {k: len(v) for k, v in by.items()} == {"uap-fitted": 3, "uap-fitted-0.2": 3, "uap-msu": 3, "korhonen": 3,
                                                  "madc": 3}
    # the same perturbation at a quarter of the amplitude: a quarter of the Linf, up to 8-bit rounding
    pairs = zip(sorted(by["uap-fitted"], key=lambda r: r["video"]), sorted(by["uap-fitted-0.2"], key=lambda r: r["video"]))
    for a, b in pairs:
        assert abs(b["linf"] - a["linf"] / 4) <= 1 / 255 + 1e-6
    assert all(r["status"] == "ok" for r in rows)
    # the benchmark's UAP (max 0.1) at amplitude 0.4: Linf 0.04 up to 8-bit rounding, no queries
    assert all(abs(r["linf"] - 0.04) <= 0.5 / 255 + 1e-6 and r["queries"] == 0 for r in by["uap-msu"])
    assert all(r["linf"] <= 0.08 + 0.5 / 255 + 1e-6 for r in by["uap-fitted"])
    assert all(r["l2"] <= 10 / 255 + 1e-6 and r["queries"] == 2 * 2 for r in by["madc"])
    assert all(r["queries"] == 2 * 2 and r["adv_score"] > r["clean_score"] for r in by["korhonen"])


def test_an_image_folder_runs_with_a_uap_fitted_on_its_train_images(tmp_path, tiny_registered):
    """The runner on a labelled image folder: each image is a 1-frame video, the UAP is fitted once
    on the folder's train images, clean scores are the model's on the decoded files, budgets hold."""
    import csv

    import numpy as np
    import torch
    from PIL import Image
    from skimage import data as skdata

    from advqa.io import read_image
    from advqa.models import create

    root = tmp_path / "imgs"
    root.mkdir()
    photos = {"astronaut": skdata.astronaut(), "coffee": skdata.coffee(), "chelsea": skdata.chelsea(),
              "rocket": skdata.rocket(), "cat": skdata.cat()}
    with (root / "labels.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["name", "mos", "split"])
        for i, (name, img) in enumerate(photos.items()):
            Image.fromarray(np.ascontiguousarray(img[:64, :96])).save(root / f"{name}.png")
            w.writerow([f"{name}.png", 2 + 0.5 * i, "train" if i < 2 else "test"])
    exp = experiment_from_dict({
        "name": "imgs", "seed": 0, "models": [tiny_registered],
        "datasets": [{"name": "image-folder", "root": str(root), "split": "test"}],
        "attacks": [{"name": "fgsm", "eps": "2/255"},
                    {"name": "uap", "epochs": 2, "batch_size": 2, "lr": 0.05, "amplitude": 0.4}]})
    rep = run_experiment(exp, tmp_path / "out")
    assert rep.fitted == 1 and rep.computed == 2 * 3
    with ResultStore(rep.database) as store:
        rows, clean = store.rows(), {c["video"]: c["score"] for c in store.clean_rows()}
    assert sorted(clean) == ["cat", "chelsea", "rocket"]
    model = create(tiny_registered)
    with torch.no_grad():
        for name, score in clean.items():
            assert abs(score - float(model(read_image(root / f"{name}.png").unsqueeze(1))[0])) < 1e-6
    fgsm = [r for r in rows if r["attack"] == "fgsm"]
    uap = [r for r in rows if r["attack"] == "uap"]
    assert all(r["status"] == "ok" for r in rows) and len(fgsm) == len(uap) == 3
    assert all(0 < r["linf"] <= 2 / 255 + 1e-6 for r in fgsm)
    assert all(0 < r["linf"] <= 0.4 * 0.1 + 0.5 / 255 + 1e-6 for r in uap)
