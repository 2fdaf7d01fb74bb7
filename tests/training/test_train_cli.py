"""``advqa train`` fine-tuning options: a tiny model on a folder dataset of real photo crops, and
one-line errors for bad options."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from advqa.cli import cli
from advqa.models import registry
from doubles import TinyFrameModel

TINY = "tiny-nt-cli"


@pytest.fixture(scope="module")
def tiny_registered():
    registry.register(TINY, dataclasses.replace(TinyFrameModel.card, name=TINY))(
        lambda weights=None, device="cpu": TinyFrameModel(seed=4))
    yield TINY
    registry.unregister(TINY)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from skimage import data

    from advqa.io import write_video_lossless

    root = tmp_path_factory.mktemp("folder")
    img = data.chelsea()
    rows = ["name,mos,split"]
    for i in range(4):
        step = 3 * (i + 1)
        crop = np.ascontiguousarray(img[50:50 + 20 * step:step, 100:100 + 28 * step:step])
        write_video_lossless(root / f"c{i}.mkv", np.stack([np.roll(crop, t, axis=0) for t in range(4)]))
        rows.append(f"c{i}.mkv,{0.9 - 0.2 * i:.2f},{'test' if i == 3 else 'train'}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_train_fine_tunes_chosen_parameters(tiny_registered: str, folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "fc.pt"
    r = invoke("train", "--model", tiny_registered, "--trainable", "fc.", "--nt-lambda", "1e-3", "--h-space", "pixels",
               "--dataset", "folder", "--root", str(folder), "--split", "train", "--eval-split", "test",
               "--frames", "2", "--batch-size", "2", "--epochs", "2", "--lr", "1e-2", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert "trained 17 parameters" in r.output and "on 3 videos" in r.output and "sha256" in r.output
    state = torch.load(out, weights_only=True)
    assert set(state) == {"fc.weight", "fc.bias"}
    assert not torch.equal(state["fc.weight"], TinyFrameModel(seed=4).fc.weight)


@pytest.mark.parametrize("args, message", [
    (("--trainable", "nosuch."), "starts with 'nosuch.'"),
    (("--nt-lambda", "-1"), "lambda"),
    (("--nt-h", "0"), "h"),
    (("--trainable", "fc.", "--nt-lambda", "1e-3"), "input_std"),  # the tiny model states no normalisation
    (("--trainable", "fc.", "--lr-for", "fc.:1e-3"), "expected PREFIX=LR"),
    (("--trainable", "fc.", "--lr-for", "conv.=1e-3"), "match no trainable"),
])
def test_train_bad_options_are_one_line_errors(tiny_registered: str, folder: Path, tmp_path: Path,
                                               args: tuple[str, ...], message: str) -> None:
    r = invoke("train", "--model", tiny_registered, "--dataset", "folder", "--root", str(folder),
               "--out", str(tmp_path / "x.pt"), *args)
    assert r.exit_code == 2 and message in r.output and "Traceback" not in r.output
    assert not (tmp_path / "x.pt").exists()


def test_h_space_choice_is_checked() -> None:
    r = invoke("train", "--h-space", "pixel", "--out", "x.pt")
    assert r.exit_code == 2 and "pixel" in r.output
