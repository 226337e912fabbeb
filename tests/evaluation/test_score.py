"""`tumorseg score PRED TRUTH`: mask files of any tool scored against truth files by evaluate's rules."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from conftest import shared_data
from tumorseg.cli import main
from tumorseg.errors import DataError
from tumorseg.evaluation.score import case_of, score_files, write_scores


def _png(path, mask):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask.astype(np.uint8) * 255).save(path)


def _nii(path, data, zooms=(1.0, 1.0, 2.0)):
    path.parent.mkdir(parents=True, exist_ok=True)
    img = nib.Nifti1Image(np.asarray(data), np.diag([*zooms, 1.0]))
    nib.save(img, str(path))


def _dice(p, t):
    return 2 * (p & t).sum() / (p.sum() + t.sum()) if p.sum() + t.sum() else 1.0


def test_case_names():
    assert case_of(Path("BraTS-GLI-00001-000-t2f_mask.nii.gz")) == "BraTS-GLI-00001-000"
    assert case_of(Path("BraTS-GLI-00001-000-seg.nii.gz")) == "BraTS-GLI-00001-000"
    assert case_of(Path("TCGA_CS_4942_19970222_12_mask.tif")) == "TCGA_CS_4942_19970222_12"
    assert case_of(Path("Brats18_X_1_t1ce_pred.nrrd")) == "Brats18_X_1"
    assert case_of(Path("12.png")) == "12"


def test_png_masks_pair_by_name_and_score_as_evaluate_does(tmp_path, capsys):
    rng = np.random.default_rng(0)
    truth, pred = {}, {}
    for i in range(1, 6):
        t = np.zeros((40, 48), bool)
        if i != 5:  # slice 5 is tumour-free
            t[5 + i: 20 + i, 10:30] = True
        p = np.roll(t, i, axis=1) | (rng.random(t.shape) > 0.995)
        truth[str(i)], pred[str(i)] = t, p
        _png(tmp_path / "truth" / "masks" / f"{i}_mask.png", t)
        if i != 4:  # no prediction for 4: scored as an empty one
            _png(tmp_path / "pred" / f"{i}.png", p)
    Image.fromarray(np.full((40, 48, 3), 90, np.uint8)).save(tmp_path / "pred" / "1_overlay.png")  # never a mask
    _png(tmp_path / "pred" / "1_prob.png", truth["1"])
    _png(tmp_path / "pred" / "9.png", truth["1"])  # no truth: left out
    (tmp_path / "truth" / "images").mkdir()
    Image.fromarray(np.full((40, 48), 77, np.uint8)).save(tmp_path / "truth" / "images" / "1.png")  # an image, left out

    result = score_files(tmp_path / "pred", tmp_path / "truth", progress=False)
    rows = {r["case_id"]: r for r in result.rows}
    assert sorted(rows) == ["1", "2", "3", "4", "5"]
    for k in ("1", "2", "3", "5"):
        assert rows[k]["dice"] == pytest.approx(_dice(pred[k], truth[k]))
    assert rows["4"]["dice"] == 0 and rows["4"]["predicted_area_px"] == 0
    assert result.missing == [str(tmp_path / "truth" / "masks" / "4_mask.png")]
    assert result.unpaired == [str(tmp_path / "pred" / "9.png")]

    assert main(["score", str(tmp_path / "pred"), str(tmp_path / "truth"), "--out", str(tmp_path / "sc"),
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    m = json.loads((tmp_path / "sc" / "metrics.json").read_text())
    assert m["mean_dice"] == pytest.approx(np.mean([r["dice"] for r in rows.values()]))
    assert m["presence"]["n_tumour_free"] == 1 and m["missing_predictions"] == result.missing
    assert "1 truth file(s) without a prediction" in out and "per-volume" not in out  # slices of no volume
    assert not (tmp_path / "sc" / "per_volume.csv").exists()


def test_volumes_brats_tree_labels_and_volume_in_ml(tmp_path):
    rng = np.random.default_rng(1)
    labels = np.zeros((30, 32, 10), np.int16)
    labels[5:15, 8:20, 2:7] = 2
    labels[8:12, 10:16, 3:6] = 4
    labels[20:24, 20:24, 4:6] = 1
    pred = (labels > 0) & (rng.random(labels.shape) > 0.2)
    case = tmp_path / "truth" / "BraTS-X-001"
    _nii(case / "BraTS-X-001-seg.nii.gz", labels)
    _nii(case / "BraTS-X-001-t2f.nii.gz", rng.integers(0, 900, labels.shape).astype(np.int16))  # the image: not truth
    _nii(tmp_path / "pred" / "BraTS-X-001-t2f_mask.nii.gz", pred.astype(np.uint8))

    result = score_files(tmp_path / "pred", tmp_path / "truth", progress=False)
    assert len(result.rows) == 10 and not result.missing and not result.unpaired
    summary = write_scores(result, tmp_path / "sc")
    assert summary["per_volume"]["mean_dice"] == pytest.approx(_dice(pred, labels > 0))
    vol = list(csv.DictReader(open(tmp_path / "sc" / "per_volume.csv")))[0]
    assert vol["patient"] == "BraTS-X-001"
    assert float(vol["truth_ml"]) == pytest.approx((labels > 0).sum() * 2.0 / 1000)  # 1 x 1 x 2 mm voxels
    assert main(["report", str(tmp_path / "sc")]) == 0  # a page over the scores: tables, the volume, plots
    page = (tmp_path / "sc" / "report.html").read_text()
    assert "Per volume (worst first)" in page and "BraTS-X-001" in page and vol["truth_ml"] in page
    assert "data:image/png;base64," in page
    # --labels picks the truth's labels (the enhancing core only)
    core = score_files(tmp_path / "pred", tmp_path / "truth", labels=(4,), distances=False, progress=False)
    pooled = [sum(r[k] for r in core.rows) for k in ("intersection_px", "predicted_area_px", "tumour_area_px")]
    assert 2 * pooled[0] / (pooled[1] + pooled[2]) == pytest.approx(_dice(pred, labels == 4))


def test_deepmedic_folders_pair_by_folder_and_bad_pairs_fail_alone(tmp_path, capsys, caplog):
    t = np.zeros((16, 16, 4), np.uint8)
    t[4:9, 4:9, 1:3] = 1
    for case in ("pat1", "pat2", "pat3"):
        _nii(tmp_path / "truth" / case / "OTMultiClass.nii.gz", t)
        _nii(tmp_path / "truth" / case / "brainmask.nii.gz", np.ones_like(t))  # a brain mask, not a tumour
        _nii(tmp_path / "truth" / case / "Flair_subtrMeanDivStd.nii.gz", t.astype(np.float32) * 0.3)
    _nii(tmp_path / "pred" / "pat1_mask.nii.gz", t)
    _nii(tmp_path / "pred" / "pat2_mask.nii.gz", np.zeros((16, 16, 5), np.uint8))  # wrong size
    _nii(tmp_path / "pred" / "pat3_mask.nii.gz", t.astype(np.float32) * 0.7)  # a probability map, not a mask
    rc = main(["score", str(tmp_path / "pred"), str(tmp_path / "truth"), "--no-progress"])
    captured = capsys.readouterr()
    assert rc == 1
    assert "per-volume Dice 1.0000 (1 patient" in captured.out and "2 truth file(s) could not be scored" in captured.out
    assert "pat2_mask.nii.gz is 5×16×16 but its truth" in caplog.text and "is 4×16×16" in caplog.text
    assert "pat3_mask.nii.gz: holds non-integer values (a probability map?)" in caplog.text


def test_nothing_pairs_is_one_line_and_two_files_always_pair(tmp_path, capsys):
    _png(tmp_path / "a" / "x.png", np.eye(8, dtype=bool))
    _png(tmp_path / "b" / "y_mask.png", np.eye(8, dtype=bool))
    assert main(["score", str(tmp_path / "a"), str(tmp_path / "b"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pairs with" in err
    assert main(["score", str(tmp_path / "a" / "x.png"), str(tmp_path / "b" / "y_mask.png"), "--no-progress"]) == 0
    assert "mean Dice 1.0000" in capsys.readouterr().out
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="notes.txt: not a mask file"):
        score_files(tmp_path / "a" / "x.png", tmp_path / "notes.txt", progress=False)


def test_scans_named_after_their_path_pair_with_the_truth_in_that_path(tmp_path):
    """predict names a scan found below its input after its path (``p1/image.nii.gz`` -> ``p1_image_mask.nii.gz``):
    such masks pair with ``p1/image_seg.nii.gz``, two levels down too, not with another folder's."""
    truth = {"p1/image_seg.nii.gz": 1, "p2/image_seg.nii.gz": 2, "site/a/x_seg.nii.gz": 3}
    for name, k in truth.items():
        vol = np.zeros((6, 6, 2), np.uint8)
        vol[k, 1:4, 0] = 1
        _nii(tmp_path / "truth" / name, vol)
        _nii(tmp_path / "pred" / f"{'_'.join(Path(name).parent.parts)}_{Path(name).name.split('_')[0]}_mask.nii.gz",
             vol)
    result = score_files(tmp_path / "pred", tmp_path / "truth", progress=False)
    assert result.unpaired == [] and len(result.rows) == 6 and all(r["dice"] == 1.0 for r in result.rows)
    assert {Path(r["pred_file"]).name for r in result.rows} == {"p1_image_mask.nii.gz", "p2_image_mask.nii.gz",
                                                                 "site_a_x_mask.nii.gz"}


def test_a_truth_folder_of_scans_without_labels_is_one_line(tmp_path, capsys):
    """A BraTS 2023 case folder as shipped to participants (four scans, no -seg file) given as TRUTH: said so, not
    "both pair as"."""
    for m in ("t1c", "t1n", "t2f", "t2w"):
        _nii(tmp_path / "case" / f"BraTS-GLI-00001-000-{m}.nii.gz", np.zeros((4, 4, 2), np.int16))
    _nii(tmp_path / "pred" / "BraTS-GLI-00001-000_mask.nii.gz", np.zeros((4, 4, 2), np.uint8))
    assert main(["score", str(tmp_path / "pred"), str(tmp_path / "case"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds scans (BraTS-GLI-00001-000-t1c.nii.gz" in err
    assert "no truth mask" in err and "give as TRUTH the folder that holds the labels" in err


def test_predict_then_score_equals_evaluate_on_a_real_lgg_patient(tmp_path, capsys):
    lgg = shared_data("samples", "lgg")
    assert main(["predict", str(lgg), "--model", "flair", "--out", str(tmp_path / "pred"), "--no-progress",
                 "--backend", "torch"]) == 0
    assert main(["evaluate", "--data", str(lgg), "--model", "flair", "--split", "all", "--include-training-slices",
                 "--out", str(tmp_path / "ev"), "--no-progress"]) == 0
    assert main(["score", str(tmp_path / "pred"), str(lgg), "--out", str(tmp_path / "sc"), "--no-progress"]) == 0
    ev = list(csv.DictReader(open(tmp_path / "ev" / "per_volume.csv")))
    sc = list(csv.DictReader(open(tmp_path / "sc" / "per_volume.csv")))
    assert [(r["patient"], r["intersection_px"], r["predicted_px"], r["tumour_px"]) for r in sc] == \
        [(r["patient"], r["intersection_px"], r["predicted_px"], r["tumour_px"]) for r in ev]


def test_zipped_truth_and_predictions_score_as_their_folders(tmp_path, caplog):
    import zipfile

    t = np.zeros((16, 16, 4), np.uint8)
    t[4:9, 4:9, 1:3] = 1
    _nii(tmp_path / "truth" / "caseA" / "caseA_seg.nii.gz", t)
    _nii(tmp_path / "truth" / "caseB" / "caseB_seg.nii.gz", t)
    _nii(tmp_path / "pred" / "caseA_flair_mask.nii.gz", np.roll(t, 1, axis=0))
    _nii(tmp_path / "pred" / "caseB_flair_mask.nii.gz", np.zeros((16, 16, 5), np.uint8))  # wrong size
    for side in ("truth", "pred"):
        with zipfile.ZipFile(tmp_path / f"{side}.zip", "w") as z:
            for f in sorted((tmp_path / side).rglob("*.nii.gz")):
                z.write(f, f"{side}/{f.relative_to(tmp_path / side).as_posix()}")
    folders = score_files(tmp_path / "pred", tmp_path / "truth", progress=False)
    zipped = score_files(tmp_path / "pred.zip", tmp_path / "truth.zip", progress=False)
    assert [r["dice"] for r in zipped.rows] == [r["dice"] for r in folders.rows]
    assert zipped.rows[0]["truth_file"] == str(tmp_path / "truth.zip" / "truth" / "caseA" / "caseA_seg.nii.gz")
    assert zipped.failed[0][0] == str(tmp_path / "truth.zip" / "truth" / "caseB" / "caseB_seg.nii.gz")
    assert str(tmp_path / "pred.zip" / "pred" / "caseB_flair_mask.nii.gz") in zipped.failed[0][1]
    assert "tumorseg-unzip" not in caplog.text
