"""scripts/prepare_t1c_data.py on a tiny figshare-like and LGG-like folder: tumour-free LGG slices, --mirror copies of
figshare training slices (only those whose tumour lies in one hemisphere) and --lgg-positives, each in its split."""

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
from PIL import Image

from data._phantom import lgg_folder, phantom

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("prepare_t1c_data", ROOT / "scripts" / "prepare_t1c_data.py")
prepare = importlib.util.module_from_spec(spec)
spec.loader.exec_module(prepare)


def _figshare(root: Path, cases: dict | None = None) -> None:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    cases = cases or {"9001": (110, 80), "9002": (128, 128)}  # a tumour in one hemisphere; one on the midline
    with open(root / "metadata.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["index", "patient_id", "patient_group", "label", "label_name", "orig_width", "orig_height", "split"])
        for idx, at in cases.items():
            img, mask = phantom(4.0, tumour_at=at)
            Image.fromarray(img).save(root / "images" / f"{idx}.png")
            Image.fromarray(mask.astype(np.uint8) * 255).save(root / "masks" / f"{idx}.png")
            w.writerow([idx, f"P{idx}", f"P{idx}", 2, "glioma", 256, 256, "dev"])
        w.writerow(["9003", "PX", "PX", 1, "meningioma", 512, 512, "heldout"])  # held out: never read


def test_mirror_and_lgg_positives(tmp_path: Path, capsys) -> None:
    _figshare(tmp_path / "fs")
    lgg_folder(tmp_path / "lgg")
    out = tmp_path / "out"
    assert prepare.main(["--figshare", str(tmp_path / "fs"), "--lgg", str(tmp_path / "lgg"), "--out", str(out),
                         "--lgg-val", "1", "--lgg-test", "1", "--mirror", "--lgg-positives"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["mirrored"] == {"tumour_free": 1, "two_tumours": 1}  # 9002's tumour is on the midline
    split = json.loads((out / "split.json").read_text())
    rows = {r["index"]: r for r in csv.DictReader(open(out / "metadata.csv"))}
    assert "9003" not in rows
    assert {"9001_mirror_free", "9001_mirror_two"} <= set(split["train"])
    free = np.asarray(Image.open(out / "masks" / "9001_mirror_free.png"))
    two = np.asarray(Image.open(out / "masks" / "9001_mirror_two.png")) > 127
    orig = np.asarray(Image.open(tmp_path / "fs" / "masks" / "9001.png")) > 127
    assert not free.any() and rows["9001_mirror_free"]["label_name"] == "no tumour"
    assert 1.8 * orig.sum() <= two.sum() <= 2.2 * orig.sum()
    assert rows["9001_mirror_two"]["patient_group"] == "P9001"  # a copy stays with its patient
    # LGG: tumour-free post (+ pre for training patients); tumour slices only for training patients, post only
    positives = [i for i, r in rows.items() if r["source"] == "lgg-post" and r["label_name"] == "lgg"]
    assert len(positives) == 1 and positives[0] in split["train"]
    assert np.asarray(Image.open(out / "masks" / f"{positives[0]}.png")).any()
    assert summary["tumour_free"] == {"train": 2, "val": 1, "test": 1}


def test_folds_keep_figshare_cv_folds_and_deal_lgg_patients(tmp_path: Path, capsys) -> None:
    from tumorseg.data.formats import read_dataset
    from tumorseg.data.splits import kfold_split

    _figshare(tmp_path / "fs", {str(9100 + i): (100 + 3 * i, 90) for i in range(8)})
    lgg_folder(tmp_path / "lgg", n_patients=4)
    out = tmp_path / "out"
    assert prepare.main(["--figshare", str(tmp_path / "fs"), "--lgg", str(tmp_path / "lgg"), "--out", str(out),
                         "--lgg-val", "1", "--lgg-test", "1", "--folds", "2", "--no-pre", "--neg-share", "0.3"]) == 0
    capsys.readouterr()
    rows = {r["index"]: r for r in csv.DictReader(open(out / "metadata.csv"))}
    assert not any(r["source"] == "lgg-pre" for r in rows.values())  # --no-pre
    lgg = {i for i, r in rows.items() if r["source"] == "lgg-post"}
    fs_records = read_dataset(tmp_path / "fs")
    tested = []
    for k in range(2):
        mixed = json.loads((out / "folds" / "mixed" / f"fold_{k}.json").read_text())
        only_fs = json.loads((out / "folds" / "figshare" / f"fold_{k}.json").read_text())
        cv = kfold_split(fs_records, 2, k, 42)  # what `tumorseg cv --data FIGSHARE --folds 2` makes
        for part in ("train", "val", "test"):
            assert [c for c in mixed[part] if c not in lgg] == cv[part]
        assert only_fs["train"] == cv["train"] and only_fs["val"] == cv["val"]  # figshare alone...
        assert only_fs["test"] == mixed["test"]  # ...scored on the same slices, LGG ones included
        patients = {part: {rows[c]["patient_group"] for c in mixed[part] if c in lgg} for part in mixed}
        assert patients["test"] and not (patients["train"] | patients["val"]) & patients["test"]
        assert not patients["train"] & patients["val"]
        tested += [c for c in mixed["test"] if c in lgg]
        fewer = json.loads((out / "folds" / "mixed-30" / f"fold_{k}.json").read_text())
        assert fewer["val"] == mixed["val"] and fewer["test"] == mixed["test"]  # scored on the same slices
        neg = [c for c in fewer["train"] if c in lgg]
        assert set(fewer["train"]) - set(neg) == set(cv["train"]) and set(neg) < set(mixed["train"])
        assert 0 < len(neg) == round(0.3 / 0.7 * len(cv["train"]))  # 30 % of the train part
    assert sorted(tested) == sorted(lgg)  # every tumour-free LGG slice is tested exactly once
