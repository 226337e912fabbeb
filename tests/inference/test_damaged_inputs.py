"""Damaged files found by mutating real ones (truncation, flipped bytes: what a broken copy or download gives):
each costs only its own input, with one line naming it and what is wrong, never a traceback that ends the run."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from conftest import tiny_checkpoint
from tumorseg.inference.files import predict_inputs

nib = pytest.importorskip("nibabel")


def _failed(out) -> dict[str, str]:
    with open(out / "failed.csv", newline="") as f:
        return {r["input"].rsplit("/", 1)[-1]: r["reason"] for r in csv.DictReader(f)}


def _predict(inputs, tmp_path):
    return predict_inputs(inputs, tiny_checkpoint(tmp_path / "m.pt", image_size=32), tmp_path / "out",
                          progress=False, backend="torch")


def test_a_truncated_nifti_says_so_in_one_line(tmp_path):
    vol = np.random.default_rng(0).integers(0, 500, (32, 32, 6)).astype(np.int16)
    nib.save(nib.Nifti1Image(vol, np.eye(4)), str(tmp_path / "whole.nii"))
    data = (tmp_path / "whole.nii").read_bytes()
    (tmp_path / "cut.nii").write_bytes(data[: len(data) // 2])
    report = _predict([tmp_path / "cut.nii", tmp_path / "whole.nii"], tmp_path)
    assert [p.name for p in report.written if p.name.endswith(".nii.gz")] == ["whole_mask.nii.gz"]
    reason = _failed(tmp_path / "out")["cut.nii"]
    assert reason == ("truncated: its header declares 12,288 bytes of voxels, the file holds 5,968; copy or export it "
                      "again.")


def test_a_truncated_tiff_stack_is_one_failed_input_not_a_crash(tmp_path):
    """Cut inside its second page's header, Pillow raised TypeError ('Missing dimensions') while tumorseg only
    looked at whether the file is a stack: the whole run died. Now the stack fails alone, naming the page; before,
    with fewer bytes missing, it would have been read as its first page alone, the rest silently lost."""
    from tumorseg.data.formats.tiff_stack import write_stack

    write_stack((np.random.default_rng(1).random((4, 32, 32)) * 255).astype(np.uint8), (3.0, 1.0, 1.0),
                tmp_path / "stack.tif")
    data = (tmp_path / "stack.tif").read_bytes()
    second = data.index(b"\x00\x01", len(data) // 4)  # somewhere inside the pages after the first
    (tmp_path / "cut.tif").write_bytes(data[: max(second, len(data) // 3)])
    from PIL import Image

    Image.fromarray(np.arange(1024, dtype=np.uint8).reshape(32, 32)).save(tmp_path / "fine.png")
    report = _predict([tmp_path / "cut.tif", tmp_path / "fine.png"], tmp_path)
    assert [p.name for p in report.written] == ["fine.png"]
    reason = _failed(tmp_path / "out")["cut.tif"]
    assert reason.startswith("not a readable TIFF stack") and "truncated or damaged" in reason and "\n" not in reason


def test_a_damaged_dicom_header_value_is_one_failed_input(tmp_path):
    """pydicom parses a value only when it is read: a PixelSpacing of '0.P' raised ValueError out of predict."""
    pydicom = pytest.importorskip("pydicom")
    from data._dicom_series import series_pixels, write_mr_series

    [path, *_] = write_mr_series(tmp_path / "s", series_pixels()[:1])
    ds = pydicom.dcmread(path)
    ds.PixelSpacing = ["0.8", "0.6"]
    ds.save_as(path, enforce_file_format=True)
    data = path.read_bytes()
    (tmp_path / "bad.dcm").write_bytes(data.replace(b"0.8\\0.6", b"0.P\\0.6", 1))
    report = _predict([tmp_path / "bad.dcm"], tmp_path)
    assert not report.written
    reason = _failed(tmp_path / "out")["bad.dcm"]
    assert reason.startswith("a damaged DICOM header (ValueError: could not convert string to float: '0.P')")
    assert reason.endswith("export the file or series again.")


def test_a_dicom_seg_that_highdicom_cannot_write_costs_only_a_warning(tmp_path, caplog):
    """A header of an unknown value representation (StudyTime's 'TM' flipped to 'Tg') made highdicom raise
    NotImplementedError while copying it into the SEG, after the masks were predicted: the PNG is written, the SEG
    is not, and a warning says why."""
    import logging

    pydicom = pytest.importorskip("pydicom")
    pytest.importorskip("highdicom")
    from data._dicom_series import series_pixels, write_mr_series

    [path, *_] = write_mr_series(tmp_path / "s", series_pixels()[:1])
    data = path.read_bytes()
    tag = b"\x08\x00\x30\x00TM"  # (0008,0030) StudyTime, explicit VR little endian
    assert tag in data
    (tmp_path / "odd.dcm").write_bytes(data.replace(tag, b"\x08\x00\x30\x00Tg", 1))
    caplog.set_level(logging.WARNING, logger="tumorseg")
    report = _predict([tmp_path / "odd.dcm"], tmp_path)
    names = sorted(p.name for p in report.written)
    assert "odd.png" in names and "odd_seg.dcm" not in names and not report.failed
    assert "odd_seg.dcm not written (NotImplementedError" in caplog.text
    assert pydicom is not None


@pytest.mark.parametrize("axis", [0, 2])
def test_a_nifti_whose_affine_lost_an_axis_is_predicted_as_stored(tmp_path, axis):
    """A header whose affine has a zero column (bytes of its srow zeroed): no direction to show it in, so its slices
    are predicted and shown as stored, and the mask keeps that header (nibabel's orientation came back NaN and
    ended the run with ValueError)."""
    aff = np.diag([-1.0, -1.0, 1.0, 1.0])
    aff[:3, axis] = 0.0
    vol = np.random.default_rng(2).integers(0, 500, (32, 32, 4)).astype(np.int16)
    img = nib.Nifti1Image(vol, np.eye(4))
    img.header.set_qform(None, code=0)  # nibabel cannot decompose such an affine into a qform: the sform only
    img.header.set_sform(aff, code=2)
    nib.save(nib.Nifti1Image(vol, None, img.header), str(tmp_path / "odd.nii.gz"))
    assert np.allclose(nib.load(tmp_path / "odd.nii.gz").affine, aff)
    report = _predict([tmp_path / "odd.nii.gz"], tmp_path)
    assert not report.failed and [p.name for p in report.written] == ["odd_mask.nii.gz"]
    mask = nib.load(tmp_path / "out" / "odd_mask.nii.gz")
    assert mask.shape == vol.shape and np.allclose(mask.affine, aff)


def test_a_damaged_file_in_a_series_folder_fails_its_series_alone(tmp_path):
    """One file of a study folder's series with an unknown value representation in its header (Rows): listing the
    study's series raised NotImplementedError and ended the run; now that series fails naming the file, the other
    series is predicted."""
    pytest.importorskip("pydicom")
    from data._dicom_series import series_pixels, write_mr_series

    study = tmp_path / "study"
    write_mr_series(study / "SE1", series_pixels(), description="AX FLAIR")
    [*_, victim] = write_mr_series(study / "SE2", series_pixels(), description="AX T1 POST", number=9)
    data = victim.read_bytes()
    rows = b"\x28\x00\x10\x00US"  # (0028,0010) Rows, explicit VR little endian
    assert rows in data
    victim.write_bytes(data.replace(rows, b"\x28\x00\x10\x00\x55\x8b", 1))
    report = _predict([study], tmp_path)
    assert [p.name for p in report.written if p.name.endswith(".nii.gz")] == ["SE1_mask.nii.gz"]
    [(failed, reason)] = report.failed
    assert failed.name == "SE2" and f"{victim.name}: a damaged DICOM header (NotImplementedError" in reason


def test_a_damaged_inversion_time_is_no_timing_not_a_crash(tmp_path):
    """The FLAIR timing rule reads InversionTime/EchoTime from the header: a damaged value ('2P00') is an unknown
    time (the default model, with its note), where the file otherwise reads."""
    pydicom = pytest.importorskip("pydicom")
    from data._dicom_series import series_pixels, write_mr_series
    from tumorseg.inference.choose import choose_model

    [path, *_] = write_mr_series(tmp_path / "s", series_pixels()[:1])
    ds = pydicom.dcmread(path)
    ds.InversionTime, ds.EchoTime = "2500", "120"
    ds.save_as(path, enforce_file_format=True)
    assert choose_model(path).name == "flair"
    (tmp_path / "bad.dcm").write_bytes(path.read_bytes().replace(b"2500", b"2P00", 1))
    choice = choose_model(tmp_path / "bad.dcm")
    assert choice.name == "t1c" and "names neither FLAIR" in choice.reason
