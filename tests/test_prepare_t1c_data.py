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


def _figshare(root: Path) -> None:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    cases = {"9001": (110, 80), "9002": (128, 128)}  # a tumour in one hemisphere; one on the midline (no copies)
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
