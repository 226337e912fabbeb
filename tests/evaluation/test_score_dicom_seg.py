"""`tumorseg score` on DICOM SEG objects: a SEG (tumorseg's, 3D Slicer's, OHIF's) scored against the truth SEG of
the same series, over the series' slices."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

pytest.importorskip("pydicom")
pytest.importorskip("highdicom")

from conftest import tiny_checkpoint  # noqa: E402
from data._dicom_series import series_pixels, write_mr_series  # noqa: E402
from tumorseg.cli import main  # noqa: E402
from tumorseg.data.formats.dicom import read_dicom_series  # noqa: E402
from tumorseg.data.formats.dicom_seg import read_seg_mask, write_seg  # noqa: E402
from tumorseg.errors import DataError  # noqa: E402
from tumorseg.evaluation.score import score_files  # noqa: E402


def _series(folder, shift=0):
    """A 4-slice series (24 × 32) in ``folder``; returns its datasets (geometric order) and tumour ``(4, 24, 32)``."""
    pix = np.roll(series_pixels(), shift, axis=0)
    write_mr_series(folder, pix)
    return read_dicom_series(folder)[2], pix == 900


def _dice(p, t):
    return 2 * (p & t).sum() / (p.sum() + t.sum()) if p.sum() + t.sum() else 1.0


def test_seg_pairs_with_the_truth_seg_of_its_series_whatever_the_names(tmp_path, capsys):
    dss_a, truth_a = _series(tmp_path / "truth" / "a" / "series")
    dss_b, truth_b = _series(tmp_path / "truth" / "b" / "series", shift=1)
    write_seg(truth_a, dss_a, tmp_path / "truth" / "a" / "label.dcm", "manual")
    write_seg(truth_b, dss_b, tmp_path / "truth" / "labels" / "b.dcm", "manual")  # the SEG elsewhere in the tree
    pred_a = np.roll(truth_a, 2, axis=2)  # shifted outline, and a false mark on a tumour-free slice
    empty = int(np.flatnonzero(~truth_a.reshape(4, -1).any(axis=1))[0])
    pred_a[empty, 2:5, 2:5] = True
    write_seg(pred_a, dss_a, tmp_path / "pred" / "x.dcm", "other tool")  # no prediction for b: scored as empty

    result = score_files(tmp_path / "pred", tmp_path / "truth", progress=False)
    by_volume = {}
    for r in result.rows:
        by_volume.setdefault(r["patient"], []).append(r)
    assert sorted(by_volume) == ["a_series", "b_series"] and all(len(v) == 4 for v in by_volume.values())
    for z, r in enumerate(by_volume["a_series"]):  # every slice of the series, tumour-free ones too
        assert r["dice"] == pytest.approx(_dice(pred_a[z], truth_a[z]))
    assert [r["dice"] for r in by_volume["b_series"] if truth_b[int(r["case_id"][-3:])].any()] == [0.0, 0.0]
    assert result.missing == [str(tmp_path / "truth" / "labels" / "b.dcm")] and not result.failed

    assert main(["score", str(tmp_path / "pred"), str(tmp_path / "truth"), "--out", str(tmp_path / "s"),
                 "--no-progress"]) == 0
    m = json.loads((tmp_path / "s" / "metrics.json").read_text())
    assert m["per_volume"]["n_patients"] == 2 and m["presence"]["fp"] == 1
    with open(tmp_path / "s" / "per_volume.csv") as f:
        vols = {r["patient"]: r for r in csv.DictReader(f)}
    voxel_ml = 0.8 * 0.6 * 3.0 / 1000
    assert float(vols["a_series"]["dice"]) == pytest.approx(_dice(pred_a, truth_a), abs=1e-4)
    assert float(vols["a_series"]["truth_ml"]) == pytest.approx(truth_a.sum() * voxel_ml, abs=1e-3)
    assert float(vols["b_series"]["predicted_ml"]) == 0.0
    assert "1 truth file(s) without a prediction" in capsys.readouterr().out


def test_what_predict_writes_for_a_series_scores_against_its_truth_seg(tmp_path, monkeypatch):
    """predict's SEG (and the masks beside it) against a hand-drawn SEG of the series: the SEG is scored, over the
    series as predict read it; the other masks, which no truth names, are counted as unpaired."""
    from tumorseg.inference.predictor import Predictor

    # a model whose probability is the brightness: the tumour (900, the brightest) and a rim of partial voxels
    monkeypatch.setattr(Predictor, "probabilities",
                        lambda self, slices, batch_size=16: [s.astype(np.float32) / 255 for s in slices])
    dss, truth = _series(tmp_path / "data" / "S1" / "series")
    write_seg(truth, dss, tmp_path / "data" / "S1" / "truth_seg.dcm", "manual")
    ckpt = tiny_checkpoint(tmp_path / "m.pt")
    assert main(["predict", str(tmp_path / "data" / "S1" / "series"), "--model", str(ckpt),
                 "--out", str(tmp_path / "pred"), "--no-progress"]) == 0
    seg = next((tmp_path / "pred").glob("*_seg.dcm"))
    predicted = read_seg_mask(seg, dss)
    result = score_files(tmp_path / "pred", tmp_path / "data", progress=False)
    assert predicted.any() and not np.array_equal(predicted, np.zeros_like(truth))
    assert [r["dice"] for r in result.rows] == pytest.approx([_dice(p, t) for p, t in zip(predicted, truth)])
    assert [r["case_id"] for r in result.rows] == [f"S1_series_z{z:03d}" for z in range(4)]
    assert any(f.endswith("_mask.nii.gz") for f in result.unpaired)


def test_a_seg_without_its_series_or_against_a_nifti_is_one_line(tmp_path, capsys, caplog):
    dss, truth = _series(tmp_path / "truth" / "series")
    write_seg(truth, dss, tmp_path / "truth" / "t.dcm", "manual")
    write_seg(truth, dss, tmp_path / "pred" / "p.dcm", "tool")
    for p in (tmp_path / "truth" / "series").iterdir():  # the images are gone: the SEG cannot be laid out
        p.unlink()
    assert main(["score", str(tmp_path / "pred"), str(tmp_path / "truth"), "--no-progress"]) == 2
    assert "no truth file could be scored (1 failed" in capsys.readouterr().err
    [line] = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert "t.dcm: the series it labels" in line and "give as TRUTH the folder" in line and "\n" not in line

    import nibabel as nib

    nib.save(nib.Nifti1Image(np.zeros((4, 24, 32), np.uint8), np.eye(4)), str(tmp_path / "t.nii.gz"))
    with pytest.raises(DataError, match="a DICOM SEG is scored against a SEG of the same series"):
        score_files(tmp_path / "pred" / "p.dcm", tmp_path / "t.nii.gz", progress=False)
