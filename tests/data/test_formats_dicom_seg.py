"""Own scans as a dataset: DICOM series with DICOM SEG labels (``dicom-seg``) are read, scored and checked."""

from __future__ import annotations

import json

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
pytest.importorskip("highdicom")

from conftest import tiny_checkpoint  # noqa: E402
from data._dicom_series import series_pixels, write_mr_series  # noqa: E402
from tumorseg.cli import main  # noqa: E402
from tumorseg.data.formats import detect_format, load_record, read_dataset  # noqa: E402
from tumorseg.data.formats.dicom import read_dicom_series  # noqa: E402
from tumorseg.data.formats.dicom_seg import write_seg  # noqa: E402
from tumorseg.errors import DataError  # noqa: E402


def phantom(shift=0):
    """``(4, 24, 32) int16``: a textured brain (300 ± 40) in every slice, the tumour (900) in two of them."""
    pix = np.roll(series_pixels(), shift, axis=0)
    brain = pix == 300
    pix[brain] += np.random.default_rng(shift).integers(-40, 40, int(brain.sum())).astype(np.int16)
    return pix


def labelled(folder, pix, seg_at=None, patient="PHANTOM1"):
    """A series in ``folder/series`` and a SEG of its 900-valued voxels in ``seg_at`` (default: beside it)."""
    write_mr_series(folder / "series", pix)
    _, _, dss = read_dicom_series(folder / "series")
    for d in dss:
        d.PatientID = patient
    target = (seg_at or folder) / "label_seg.dcm"
    target.parent.mkdir(parents=True, exist_ok=True)
    write_seg(pix == 900, dss, target, "manual")
    return target


def test_series_labelled_by_a_seg_are_a_dataset(tmp_path):
    pix, rolled = phantom(), phantom(1)
    labelled(tmp_path / "data" / "a", pix)
    labelled(tmp_path / "data" / "b", rolled, seg_at=tmp_path / "data" / "labels")  # the SEG elsewhere
    assert detect_format(tmp_path / "data") == "dicom-seg"
    records = read_dataset(tmp_path / "data")
    assert [r.case_id for r in records] == [f"a_series_z{k:03d}" for k in range(4)] + [f"b_series_z{k:03d}"
                                                                                        for k in range(4)]
    assert {r.patient for r in records} == {"PHANTOM1"}
    for r, truth in zip(records, [*(pix == 900), *(rolled == 900)]):
        loaded = load_record(r)
        assert loaded.image.dtype == np.uint8 and loaded.image.shape == (24, 32)
        assert np.array_equal(loaded.mask, truth)
    assert loaded.raw_max == 900


def test_evaluate_on_own_labelled_scans(tmp_path, capsys):
    pix = phantom()
    labelled(tmp_path / "data" / "a", pix, patient="P1")
    labelled(tmp_path / "data" / "b", pix, patient="P2")
    ckpt = tiny_checkpoint(tmp_path / "m.pt")
    assert main(["evaluate", "--data", str(tmp_path / "data"), "--model", str(ckpt), "--split", "all",
                 "--out", str(tmp_path / "ev"), "--no-progress"]) == 0
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["n_images"] == 8 and metrics["per_volume"]["n_patients"] == 2
    assert main(["check-data", str(tmp_path / "data")]) == 0
    assert "dicom-seg" in capsys.readouterr().out


def test_a_seg_without_its_series_names_both(tmp_path):
    seg = labelled(tmp_path / "data", phantom())
    for p in (tmp_path / "data" / "series").iterdir():
        p.unlink()
    (tmp_path / "data" / "series" / "other").mkdir()
    write_mr_series(tmp_path / "data" / "series" / "other", series_pixels())  # images, but not the labelled ones
    with pytest.raises(DataError, match=rf"{seg.name}: its series \(.*\) is not under .*data; put the labelled"):
        read_dataset(tmp_path / "data", "dicom-seg")


def test_evaluate_without_model_picks_it_from_the_series_descriptions(tmp_path, fake_bundled):
    from tumorseg.inference.choose import choose_for_dataset

    for name in ("a", "b"):
        write_mr_series(tmp_path / "flair" / name / "series", phantom(), description="AX T2 FLAIR")
        _, _, dss = read_dicom_series(tmp_path / "flair" / name / "series")
        write_seg(phantom() == 900, dss, tmp_path / "flair" / name / "seg.dcm", "manual")
    choice = choose_for_dataset("dicom-seg", {}, tmp_path / "flair")
    assert choice.line() == "model: flair (DICOM with SEG/RTSTRUCT labels: its 2 labelled series are described as FLAIR)"
    labelled(tmp_path / "other", phantom())  # a labelled series without a description
    write_mr_series(tmp_path / "other" / "unlabelled" / "series", phantom(), description="AX T2 FLAIR")  # no SEG
    choice = choose_for_dataset("dicom-seg", {}, tmp_path / "other")
    assert choice.name == "t1c" and "not all described as FLAIR" in choice.reason


@pytest.mark.parametrize("pixel_mm", [0.9375, 0.6])
def test_what_predict_writes_evaluates_as_a_perfect_match(tmp_path, pixel_mm):
    """predict → DICOM SEG → evaluate, same model, two series of one patient: Dice 1 on every slice. Slice order,
    geometry, the per-series intensity scale and the volume rules (per series, not pooled over the patient's series)
    agree between the two paths. At 0.9375 mm the series cover 240 mm, a whole head's field of view; at 0.6 mm
    (154 mm) both paths pad the slices to 240 mm for the model (inference/field_of_view.py)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:256, :256]
    brain = ((yy - 128) ** 2 / 100**2 + (xx - 128) ** 2 / 85**2) < 1
    for i in range(2):  # one patient (PHANTOM1), two series
        pix = (brain * rng.normal(400, 50, (6, 256, 256))).astype(np.int16)
        for k in range(1, 5):
            pix[k][((yy - 100 - 5 * i) ** 2 + (xx - 150) ** 2) < (15 + 3 * k) ** 2] = 1100
        write_mr_series(tmp_path / "data" / f"S{i}" / "series", pix, spacing=(pixel_mm, pixel_mm))
    assert main(["predict", str(tmp_path / "data"), "--model", "t1c", "--out", str(tmp_path / "pred"),
                 "--no-progress"]) == 0
    for i in range(2):
        (tmp_path / "pred" / f"S{i}_series_seg.dcm").rename(tmp_path / "data" / f"S{i}" / "seg.dcm")
    assert main(["evaluate", "--data", str(tmp_path / "data"), "--model", "t1c", "--split", "all",
                 "--out", str(tmp_path / "ev"), "--no-progress"]) == 0
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    # at 0.6 mm the two paths resample differently (evaluate scores at the model's 256², predict at the slice's
    # size), which moves a few edge pixels
    assert metrics["n_images"] == 12 and metrics["mean_dice"] >= (1.0 if pixel_mm == 0.9375 else 0.99)
    assert metrics["presence"]["sensitivity"] == 1.0 and metrics["presence"]["specificity"] == 1.0


def test_a_sagittal_series_is_read_as_the_axial_slices_predict_sees(tmp_path):
    """A near-isotropic sagittal series (1 mm voxels) and its SEG: the records are the axial slices ``predict``
    reads it as, image for image, with the SEG's mask turned the same way."""
    from tumorseg.io import DicomIO

    rng = np.random.default_rng(1)
    pix = rng.integers(200, 400, (20, 24, 28)).astype(np.int16)  # 20 sagittal slices of 24 rows × 28 columns
    truth = np.zeros(pix.shape, bool)
    truth[5:12, 8:14, 10:16] = True
    pix[truth] = 1200
    write_mr_series(tmp_path / "data" / "sag", pix, spacing=(1.0, 1.0), step=1.0, orientation=(0, 1, 0, 0, 0, -1))
    _, _, dss = read_dicom_series(tmp_path / "data" / "sag")
    write_seg(truth, dss, tmp_path / "data" / "seg.dcm", "manual")
    array, props = DicomIO().read(tmp_path / "data" / "sag")  # what predict feeds the model
    assert props.axes is not None and array.shape[0] != 20  # read as axial slices
    records = read_dataset(tmp_path / "data", "dicom-seg")
    assert len(records) == len(array)
    axial_truth = truth.transpose(props.axes)
    for r in records:
        loaded = load_record(r)
        assert np.array_equal(loaded.image, array[r.slice_index])
        assert np.array_equal(loaded.mask, axial_truth[r.slice_index])


def test_dicom_without_labels_says_what_to_do(tmp_path, capsys):
    write_mr_series(tmp_path / "study" / "SE1", phantom())
    with pytest.raises(DataError, match=r"study: DICOM images without DICOM SEG labels\. To segment them: tumorseg "
                                        r"predict .*study --out OUT; to score a model on them, label the series"):
        detect_format(tmp_path / "study")
    assert main(["check-data", str(tmp_path / "study")]) != 0
    assert "DICOM images without DICOM SEG labels" in capsys.readouterr().out  # check-data lists it as a problem


def test_the_tree_is_scanned_once_for_detect_list_and_read(tmp_path, monkeypatch):
    """Detecting the format, listing the labelled series and reading the records share one scan of an unchanged
    tree (a header read per file); a file added below it is a new tree."""
    import tumorseg.data.formats.dicom_labelled as dicom_labelled

    labelled(tmp_path / "data" / "a", phantom())
    files = [p for p in (tmp_path / "data").rglob("*.dcm")]
    reads = []
    real = dicom_labelled.read_dicom
    monkeypatch.setattr(dicom_labelled, "read_dicom", lambda p, pixels=True: reads.append(p) or real(p, pixels))
    assert detect_format(tmp_path / "data") == "dicom-seg"
    assert len(dicom_labelled.labelled_series(tmp_path / "data")) == 1
    assert len(read_dataset(tmp_path / "data")) == 4
    assert sorted(reads) == sorted(files)
    reads.clear()
    labelled(tmp_path / "data" / "b", phantom(1))
    assert len(read_dataset(tmp_path / "data")) == 8 and len(reads) == len(files) * 2
