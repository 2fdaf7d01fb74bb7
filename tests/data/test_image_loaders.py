"""Image (IQA) dataset loaders: KonIQ-10k, CLIVE, KADID-10k, TID2013, SPAQ, image folders.

Each test builds a small tree in tmp_path in the dataset's released layout (label file in the
release's format, real photo crops from scikit-image as the images) and, where the community
label files are next to the repository (``shared/labels``), parses them in full and checks counts,
splits and known values.
"""
from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image
from skimage import data as skdata

from advqa.data import load_dataset
from advqa.data.base import ImageDataset
from advqa.data.clive import load_clive, nt_split
from advqa.data.image_folder import load_image_folder, load_unlabelled_images
from advqa.data.images import hashed_split, read_xlsx_table
from advqa.data.kadid import load_kadid
from advqa.data.koniq import load_koniq
from advqa.data.spaq import load_spaq
from advqa.data.tid2013 import load_tid2013
from advqa.errors import DatasetError
from advqa.io import read_image


def _shared_labels() -> Path | None:
    for parent in Path(__file__).resolve().parents:
        p = parent / "shared" / "labels"
        if (p / "koniq10k_distributions_sets.csv").is_file():
            return p
    return None


SHARED = _shared_labels()
needs_shared = pytest.mark.skipif(SHARED is None, reason="community label files not next to the repo")


def photo(root: Path, rel: str, i: int = 0) -> Path:
    """A 48x64 crop of a scikit-image photo saved at ``root/rel`` (format from the suffix)."""
    img = [skdata.astronaut(), skdata.coffee(), skdata.chelsea()][i % 3]
    crop = np.ascontiguousarray(img[40 + 10 * i:88 + 10 * i, 60:124])
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(crop).save(p, quality=95) if p.suffix.lower() in (".jpg", ".jpeg") else Image.fromarray(crop).save(p)
    return p


# --------------------------------------------------------------------------------------------
# KonIQ-10k

SETS_HEADER = "image_name,c1,c2,c3,c4,c5,c_total,MOS,SD,set\n"


def test_koniq_official_split_and_sizes(tmp_path):
    (tmp_path / "koniq10k_distributions_sets.csv").write_text(
        SETS_HEADER
        + "10004473376.jpg,0.0,0.0,0.238095238095,0.695238095238,0.0666666666667,105,77.3836206897,0.527277894494,training\n"
        + "10007357496.jpg,0.0,0.03125,0.46875,0.489583333333,0.0104166666667,96,68.7285714286,0.580003024795,test\n"
        + "10007903636.jpg,0.0104166666667,0.0,0.208333333333,0.760416666667,0.0208333333333,96,78.6285714286,0.527219618675,validation\n")
    for i, n in enumerate(("10004473376", "10007357496", "10007903636")):
        photo(tmp_path, f"1024x768/{n}.jpg", i)
    ds = load_koniq(tmp_path)
    assert isinstance(ds, ImageDataset) and ds.kind == "image" and len(ds) == 3 and ds.mos_range == (0, 100)
    s = ds[0]
    assert s.kind == "image" and s.name == "10004473376" and s.mos == pytest.approx(77.3836206897)
    assert s.meta["mos_1to5"] == pytest.approx(3 * 0.238095238095 + 4 * 0.695238095238 + 5 * 0.0666666666667)
    assert s.meta["set"] == "training" and s.meta["votes"] == 105
    assert read_image(s.path).shape == (1, 3, 48, 64)
    assert [x.name for x in load_koniq(tmp_path, "test")] == ["10007357496"]
    assert [x.name for x in load_koniq(tmp_path, "validation")] == ["10007903636"]
    with pytest.raises(DatasetError, match="512x384/10004473376.jpg"):
        load_koniq(tmp_path, size="512x384")
    assert len(load_koniq(tmp_path, size="512x384", allow_missing=True, check_files=False)) == 3
    with pytest.raises(DatasetError, match="no split 'val'"):
        load_koniq(tmp_path, "val")
    assert len(load_dataset("koniq10k", root=tmp_path, split="train")) == 1  # registry alias


def test_koniq_scores_file_has_no_split(tmp_path):
    (tmp_path / "koniq10k_scores_and_distributions.csv").write_text(
        "image_name,c1,c2,c3,c4,c5,c_total,MOS,SD,MOS_zscore\n"
        "10004473376.jpg,0,0,25,73,7,105,3.828571429,0.527277894,77.38362069\n")
    photo(tmp_path, "1024x768/10004473376.jpg")
    s = load_koniq(tmp_path)[0]
    assert s.mos == pytest.approx(77.38362069) and s.meta["mos_1to5"] == pytest.approx(3.828571429)
    with pytest.raises(DatasetError, match="no official split.*koniq10k_distributions_sets.csv"):
        load_koniq(tmp_path, "test")


@needs_shared
def test_koniq_real_label_file(tmp_path):
    sets = SHARED / "koniq10k_distributions_sets.csv"
    counts = {split: len(load_koniq(tmp_path, split, labels=sets, check_files=False))
              for split in ("all", "train", "validation", "test")}
    assert counts == {"all": 10073, "train": 7058, "validation": 1000, "test": 2015}
    ds = load_koniq(tmp_path, labels=sets, check_files=False)
    mos = [s.mos for s in ds]
    assert min(mos) == pytest.approx(3.91176470588) and max(mos) == pytest.approx(88.3888888889)
    one = [s.meta["mos_1to5"] for s in ds]
    assert 1.0 < min(one) < 1.2 and 4.2 < max(one) < 4.4  # the 1-5 scale: 1.10-4.31
    assert ds.select(["10007357496"])[0].mos == pytest.approx(68.7285714286)


# --------------------------------------------------------------------------------------------
# CLIVE

TRIAL = [f"t{i}.bmp" for i in range(1, 8)]


def _clive_official(root: Path, names: list[str], mos: list[float]) -> None:
    (root / "Data").mkdir(parents=True)
    cells = np.empty((len(names), 1), dtype=object)
    for i, n in enumerate(names):
        cells[i, 0] = n
    scipy.io.savemat(root / "Data" / "AllImages_release.mat", {"AllImages_release": cells})
    scipy.io.savemat(root / "Data" / "AllMOS_release.mat", {"AllMOS_release": np.array([mos])})
    scipy.io.savemat(root / "Data" / "AllStdDev_release.mat", {"AllStdDev_release": np.array([[10.0] * len(names)])})


def test_clive_official_release_drops_trial_images(tmp_path):
    names = [*TRIAL, "3.bmp", "1000.JPG", "5.bmp"]
    _clive_official(tmp_path, names, [50.0] * 7 + [63.96, 25.33, 92.43])
    for i, n in enumerate(TRIAL):
        photo(tmp_path, f"Images/trainingImages/{n}", i)
    photo(tmp_path, "Images/3.bmp", 0)
    photo(tmp_path, "Images/1000.jpg", 1)  # a copy whose suffix lost its case
    photo(tmp_path, "Images/5.bmp", 2)
    ds = load_clive(tmp_path)
    assert [s.name for s in ds] == ["3", "1000", "5"] and [s.mos for s in ds] == [63.96, 25.33, 92.43]
    assert ds[1].path.name == "1000.jpg" and ds[0].meta["std"] == 10.0 and ds.info["trial_images_dropped"]
    assert ds.info["label_format"] == "clive-official-mat"
    with pytest.raises(DatasetError, match="indexes CLIVE's 1162 images in release order"):
        load_clive(tmp_path, "nt-test")
    with pytest.raises(DatasetError, match="nt-train, nt-test"):
        load_clive(tmp_path, "test")
    (tmp_path / "Images" / "5.bmp").unlink()
    with pytest.raises(DatasetError, match=r"1 of 3 images .*Images/5.bmp"):
        load_clive(tmp_path)


def test_clive_nt_split_on_a_full_list(tmp_path):
    rows = [f"{n},50.0,10.0" for n in TRIAL] + [f"{i + 1}.bmp,{i % 100}.5,9.0" for i in range(1162)]
    (tmp_path / "meta_info_LIVEChallengeDataset.csv").write_text("img_name,mos,std\n" + "\n".join(rows) + "\n")
    train = load_clive(tmp_path, "nt-train", check_files=False)
    test = load_clive(tmp_path, "nt-test", check_files=False)
    assert len(train) == 930 and len(test) == 232
    assert not {s.name for s in train} & {s.name for s in test}
    perm = nt_split()["permutation"]
    assert [s.meta["index"] for s in test] == perm[930:]
    assert test[0].name == f"{perm[930] + 1}"


@needs_shared
def test_clive_real_label_files_agree(tmp_path):
    csv_ds = load_clive(tmp_path, labels=SHARED / "meta_info_LIVEChallengeDataset.csv", check_files=False)
    mat_ds = load_clive(tmp_path, labels=SHARED / "CLIVEinfo.mat", check_files=False)
    assert len(csv_ds) == len(mat_ds) == 1162
    assert [s.name for s in csv_ds] == [s.name for s in mat_ds]
    assert np.allclose([s.mos for s in csv_ds], [s.mos for s in mat_ds])
    assert csv_ds[0].name == "100" and csv_ds[0].mos == pytest.approx(32.56107532210109)
    mos = [s.mos for s in csv_ds]
    assert min(mos) == pytest.approx(3.42, abs=0.01) and max(mos) == pytest.approx(92.43, abs=0.01)
    # the shipped NT split is NT's pickle (a plain list of ints)
    with open(SHARED / "CLIVE_traintest_index.pkl", "rb") as fh:
        assert pickle.load(fh) == nt_split()["permutation"]
    test = load_clive(tmp_path, "nt-test", labels=SHARED / "CLIVEinfo.mat", check_files=False)
    assert len(test) == 232 and test[0].name == csv_ds[nt_split()["permutation"][930]].name


# --------------------------------------------------------------------------------------------
# KADID-10k and TID2013: split by reference


def test_kadid_release_layout_and_reference_split(tmp_path):
    rows = []
    for r in range(1, 6):
        for t in (1, 2):
            rows.append(f"I{r:02d}_{t:02d}_01.png,I{r:02d}.png,{1 + r * 0.5 + t * 0.1:.2f},0.5")
            photo(tmp_path, f"images/I{r:02d}_{t:02d}_01.png", r)
    (tmp_path / "dmos.csv").write_text("dist_img,ref_img,dmos,var\n" + "\n".join(rows) + "\n")
    ds = load_kadid(tmp_path)
    assert len(ds) == 10 and ds.mos_range == (1, 5) and ds[0].meta["var"] == 0.5
    assert ds[3].name == "I02_02_01" and ds[3].meta == {**ds[3].meta, "reference": "I02", "distortion": 2, "level": 1}
    train, test = load_kadid(tmp_path, "train"), load_kadid(tmp_path, "test")
    assert len(train) + len(test) == 10 and len(test) == 2  # round(0.2 * 5) = 1 reference
    assert not {s.meta["reference"] for s in train} & {s.meta["reference"] for s in test}
    other = load_kadid(tmp_path, "test", seed=5, test_fraction=0.4)
    assert len({s.meta["reference"] for s in other}) == 2
    with pytest.raises(DatasetError, match="test_fraction"):
        load_kadid(tmp_path, "test", test_fraction=1.0)


@needs_shared
def test_kadid_real_label_file(tmp_path):
    f = SHARED / "meta_info_KADID10kDataset.csv"
    ds = load_kadid(tmp_path, labels=f, check_files=False)
    assert len(ds) == 10125 and len({s.meta["reference"] for s in ds}) == 81
    assert min(s.mos for s in ds) == pytest.approx(1.0) and max(s.mos for s in ds) == pytest.approx(4.93)
    assert ds[0].name == "I01_01_01" and ds[0].mos == 4.57 and ds[0].meta["std"] == 0.496
    train = load_kadid(tmp_path, "train", labels=f, check_files=False)
    test = load_kadid(tmp_path, "test", labels=f, check_files=False)
    assert (len(train), len(test)) == (8125, 2000)
    assert len({s.meta["reference"] for s in test}) == 16


def test_tid2013_mixed_case_names(tmp_path):
    (tmp_path / "mos_with_names.txt").write_text("5.51429 I01_01_1.bmp\n5.56757 i01_01_2.bmp\n4.94444 i02_01_1.bmp\n")
    (tmp_path / "mos_std.txt").write_text("0.13013\n0.16008\n0.15186\n")
    photo(tmp_path, "distorted_images/i01_01_1.bmp", 0)  # case differs from the label file
    photo(tmp_path, "distorted_images/I01_01_2.BMP", 1)
    photo(tmp_path, "distorted_images/i02_01_1.bmp", 2)
    ds = load_tid2013(tmp_path)
    assert [s.name for s in ds] == ["i01_01_1", "i01_01_2", "i02_01_1"] and ds.mos_range == (0, 9)
    assert ds[1].path.name == "I01_01_2.BMP" and ds[2].meta["std"] == 0.15186 and ds[2].meta["reference"] == "I02"
    assert len(load_tid2013(tmp_path, "test")) in (1, 2)
    (tmp_path / "mos_std.txt").write_text("0.1\n")
    with pytest.raises(DatasetError, match="do not belong together"):
        load_tid2013(tmp_path)


@needs_shared
def test_tid2013_real_label_file(tmp_path):
    f = SHARED / "meta_info_TID2013Dataset.csv"
    ds = load_tid2013(tmp_path, labels=f, check_files=False)
    assert len(ds) == 3000 and len({s.meta["reference"] for s in ds}) == 25
    assert min(s.mos for s in ds) == pytest.approx(0.24, abs=0.005) and max(s.mos for s in ds) == pytest.approx(7.21, abs=0.005)
    assert ds[0].name == "i01_01_1" and ds[0].mos == 5.51429
    test = load_tid2013(tmp_path, "test", labels=f, check_files=False)
    assert len(test) == 600 and test.info["test_groups"] == ["I03", "I04", "I05", "I11", "I17"]


def test_hashed_split_is_fixed():
    refs = [f"I{i:02d}" for i in range(1, 26)]
    assert sorted(hashed_split(refs)) == ["I03", "I04", "I05", "I11", "I17"]  # machine-independent
    assert hashed_split(reversed(refs)) == hashed_split(refs)
    assert hashed_split(["only"]) == set()


# --------------------------------------------------------------------------------------------
# SPAQ


def _xlsx(path: Path, rows: list[list[object]]) -> Path:
    """A minimal .xlsx workbook (shared strings for text, numbers inline)."""
    strings: list[str] = []
    cells_xml = []
    for r, row in enumerate(rows, start=1):
        cells = []
        for c, v in enumerate(row):
            ref = f"{chr(65 + c)}{r}"
            if isinstance(v, str):
                strings.append(v)
                cells.append(f'<c r="{ref}" t="s"><v>{len(strings) - 1}</v></c>')
            else:
                cells.append(f'<c r="{ref}"><v>{v}</v></c>')
        cells_xml.append(f'<row r="{r}">{"".join(cells)}</row>')
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel_ns = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("xl/workbook.xml", f'<workbook {ns} {rel_ns}><sheets><sheet name="MOS" sheetId="1" r:id="rId7"/>'
                                      "</sheets></workbook>")
        z.writestr("xl/_rels/workbook.xml.rels",
                   '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                   '<Relationship Id="rId7" Target="worksheets/data.xml" Type="worksheet"/></Relationships>')
        z.writestr("xl/worksheets/data.xml", f'<worksheet {ns}><sheetData>{"".join(cells_xml)}</sheetData></worksheet>')
        z.writestr("xl/sharedStrings.xml", f'<sst {ns}>' + "".join(f"<si><t>{s}</t></si>" for s in strings) + "</sst>")
    return path


def test_spaq_official_xlsx(tmp_path):
    (tmp_path / "Annotations").mkdir()
    header = ["Image name", "MOS", "Brightness", "Colorfulness", "Contrast", "Noisiness", "Sharpness"]
    rows = [header, ["00001.jpg", 48.86, 47.43, 55.57, 55.71, 37.86, 42.57], [2, 62.5, 55.38, 67.13, 53.13, 57.5, 47.5]]
    _xlsx(tmp_path / "Annotations" / "MOS and Image attribute scores.xlsx", rows)
    photo(tmp_path, "TestImage/00001.jpg", 0)
    photo(tmp_path, "TestImage/00002.jpg", 1)
    ds = load_spaq(tmp_path)
    assert [s.name for s in ds] == ["00001", "00002"] and [s.mos for s in ds] == [48.86, 62.5]
    assert ds[0].meta["sharpness"] == 42.57 and ds.info["label_format"] == "spaq-xlsx"
    assert len(load_spaq(tmp_path, "train")) + len(load_spaq(tmp_path, "test")) == 2
    assert read_xlsx_table(tmp_path / "Annotations" / "MOS and Image attribute scores.xlsx", ["mos"])[1][0] == 3
    (tmp_path / "bad.xlsx").write_text("not a zip")
    with pytest.raises(DatasetError, match="not a readable .xlsx"):
        load_spaq(tmp_path, labels="bad.xlsx")


@needs_shared
def test_spaq_real_label_file(tmp_path):
    f = SHARED / "meta_info_SPAQDataset.csv"
    ds = load_spaq(tmp_path, labels=f, check_files=False)
    assert len(ds) == 11125 and ds[0].name == "00001" and ds[0].mos == 48.86
    assert ds[0].meta["brightness"] == 47.43  # the attribute, not the EXIF column of the same name
    assert min(s.mos for s in ds) == pytest.approx(2, abs=0.5) and max(s.mos for s in ds) == pytest.approx(96, abs=0.5)
    assert len(load_spaq(tmp_path, "test", labels=f, check_files=False)) == 2225


# --------------------------------------------------------------------------------------------
# your own images


def test_image_folder_with_labels(tmp_path):
    photo(tmp_path, "a.png", 0)
    photo(tmp_path, "sub/b.jpg", 1)
    (tmp_path / "labels.csv").write_text("name,mos,split,mos_min,mos_max\na.png,3.5,test,1,5\nsub/b.jpg,2.0,train,1,5\n")
    ds = load_dataset("image-folder", root=tmp_path)
    assert isinstance(ds, ImageDataset) and [s.name for s in ds] == ["a", "b"] and ds.mos_range == (1, 5)
    assert [s.name for s in load_image_folder(tmp_path, "train")] == ["b"]
    (tmp_path / "labels.csv").write_text("name,mos\na.png,3.5\nclip.mp4,2.0\n")
    with pytest.raises(DatasetError, match="'clip.mp4' is not a PNG/JPEG/BMP"):
        load_image_folder(tmp_path)
    (tmp_path / "labels.csv").write_text("name,mos\na.png,3.5\nmissing.png,2.0\n")
    with pytest.raises(DatasetError, match="1 of 2 images .*missing.png"):
        load_image_folder(tmp_path)
    assert len(load_image_folder(tmp_path, allow_missing=True)) == 1


def test_unlabelled_images(tmp_path):
    photo(tmp_path, "b.png", 0)
    photo(tmp_path, "a/x.JPG", 1)
    photo(tmp_path, "a/y.bmp", 2)
    (tmp_path / "notes.txt").write_text("ignored")
    ds = load_dataset("unlabelled-images", root=tmp_path)
    assert [s.name for s in ds] == ["a/x", "a/y", "b"] and all(s.mos is None for s in ds)
    assert ds.mos_range is None and not ds.labelled and ds.kind == "image"
    assert len(ds.subset(2, seed=1)) == 2
    assert [s.name for s in load_unlabelled_images(tmp_path, recursive=False)] == ["b"]
    with pytest.raises(DatasetError, match="no png/jpg/jpeg/bmp files"):
        load_unlabelled_images(_empty(tmp_path))
    with pytest.raises(DatasetError, match="has no split"):
        load_unlabelled_images(tmp_path, "test")
    photo(tmp_path, "b.jpg", 1)
    with pytest.raises(DatasetError, match="share the name 'b'"):
        load_unlabelled_images(tmp_path)


def _empty(tmp_path: Path) -> Path:
    p = tmp_path / "empty"
    p.mkdir()
    return p


def test_missing_label_files_are_named(tmp_path):
    for loader, expected in ((load_koniq, "koniq10k_distributions_sets.csv"), (load_kadid, "dmos.csv"),
                             (load_tid2013, "mos_with_names.txt"), (load_spaq, "MOS and Image attribute scores.xlsx"),
                             (load_clive, "Data/AllImages_release.mat")):
        with pytest.raises(DatasetError, match=expected):
            loader(tmp_path)
    with pytest.raises(DatasetError, match="does not exist"):
        load_koniq(tmp_path / "nope")
    assert json.loads(json.dumps(nt_split()))["n_train"] == 930
