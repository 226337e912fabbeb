"""An enhanced multi-frame DICOM file holding one stack of slices (a 3-D acquisition as Siemens XA and Philips
scanners export it) is a volume, as the same slices in a series folder are: the same masks and NIfTI geometry, a
near-isotropic sagittal one read as axial slices, the DICOM SEG over its frames. Frames that are not one stack in
order of position are read as stored, as before, with a warning.

The predictor's probabilities are ``image >= 128``, so every expected mask is known exactly."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

nib = pytest.importorskip("nibabel")
pydicom = pytest.importorskip("pydicom")
hd = pytest.importorskip("highdicom")

from data._dicom_series import write_enhanced_mr, write_mr_series  # noqa: E402
from tumorseg.inference.volumes import predict_volumes  # noqa: E402
from tumorseg.errors import DataError  # noqa: E402
from tumorseg.io import DicomIO  # noqa: E402

SAGITTAL = (0, 1, 0, 0, 0, -1)


def _sphere_volume(z=20, rows=24, cols=24) -> np.ndarray:
    """``(z, rows, cols) int16``: a head (300) with a bright ball (900) off the centre."""
    zz, yy, xx = np.mgrid[:z, :rows, :cols]
    pix = np.zeros((z, rows, cols), np.int16)
    pix[((zz - z / 2) / (z / 2 - 1)) ** 2 + ((yy - rows / 2) / (rows / 2 - 1)) ** 2 + ((xx - cols / 2) / (cols / 2 - 1))
        ** 2 < 1] = 300
    pix[((zz - 8) / 3) ** 2 + ((yy - 9) / 3) ** 2 + ((xx - 14) / 3) ** 2 < 1] = 900
    return pix


@pytest.mark.parametrize("frame_order", ["ascending", "descending"])
def test_a_sagittal_3d_multiframe_file_is_the_volume_its_series_would_be(tmp_path, bright, frame_order):
    pix = _sphere_volume()
    order = None if frame_order == "ascending" else list(range(len(pix)))[::-1]
    source = write_enhanced_mr(tmp_path / "flair3d.dcm", pix, spacing=(1.0, 1.0), step=1.0, orientation=SAGITTAL,
                               frame_order=order)
    write_mr_series(tmp_path / "series", pix, spacing=(1.0, 1.0), step=1.0, orientation=SAGITTAL)
    array, props = DicomIO().read(source)
    assert props.axes is not None and array.shape == (24, 20, 24)  # read as axial slices, as the series is
    [multi, _] = predict_volumes([source, tmp_path / "series"], bright, tmp_path / "out", progress=False)
    assert "flair3d_mask.nii.gz" in [p.name for p in multi.outputs]
    a, b = nib.load(tmp_path / "out" / "flair3d_mask.nii.gz"), nib.load(tmp_path / "out" / "series_mask.nii.gz")
    data_a, data_b = np.asarray(a.dataobj) > 0, np.asarray(b.dataobj) > 0
    if order is not None:  # frames stored in reverse: the same voxels in the other order, the affine says so
        data_a, flip = data_a[:, :, ::-1], np.diag([1.0, 1.0, -1.0, 1.0])
        flip[2, 3] = data_a.shape[2] - 1
        assert np.allclose(a.affine @ flip, b.affine)
    else:
        assert np.allclose(a.affine, b.affine)
    assert data_b.sum() > 50 and np.array_equal(data_a, data_b)
    rows = {r["name"]: r for r in json.loads((tmp_path / "out" / "summary.json").read_text())["volumes"]}
    assert rows["flair3d"]["volume_ml"] == rows["series"]["volume_ml"] and rows["flair3d"]["n_slices"] == 24
    seg = hd.seg.segread(tmp_path / "out" / "flair3d_seg.dcm")  # over the file's frames, in their stored order
    src = pydicom.dcmread(source)
    frames = seg.get_pixels_by_source_frame(source_sop_instance_uid=src.SOPInstanceUID,
                                            source_frame_numbers=list(range(1, len(pix) + 1)),
                                            assert_missing_frames_are_empty=True)[..., 0] > 0
    stored = pix[order] if order is not None else pix
    assert np.array_equal(frames, stored == 900)


def test_frames_that_are_not_one_stack_are_read_as_stored_with_a_warning(tmp_path, bright, caplog):
    pix = _sphere_volume(z=6)
    shuffled = write_enhanced_mr(tmp_path / "mixed.dcm", pix, frame_order=[0, 2, 1, 3, 5, 4])
    with caplog.at_level(logging.WARNING):
        array, props = DicomIO().read(shuffled)
    assert props.affine is None and props.axes is None and array.shape == (6, 24, 24)
    assert "not one stack of slices in order of position" in caplog.text and "export one stack per file" in caplog.text
    [result] = predict_volumes([shuffled], bright, tmp_path / "out", progress=False)
    assert not any(p.name.endswith(".nii.gz") for p in result.outputs)  # PNG per frame and the SEG, as before


def test_a_series_folder_holding_one_enhanced_file_is_that_file_named_after_the_series(tmp_path, bright):
    """A PACS export of a modern scanner: ``SE3/IM0001`` is the whole 3-D acquisition in one file."""
    pix = _sphere_volume()
    (tmp_path / "SE3").mkdir()
    first = write_enhanced_mr(tmp_path / "SE3" / "IM0001", pix, spacing=(1.0, 1.0), step=1.0, orientation=SAGITTAL)
    [result] = predict_volumes([tmp_path / "SE3"], bright, tmp_path / "out", progress=False)
    assert result.summary.name == "SE3" and result.summary.n_slices == 24  # read as axial slices, as the file is
    assert (tmp_path / "out" / "SE3_mask.nii.gz").exists() and (tmp_path / "out" / "SE3_seg.dcm").exists()
    # two multi-frame files of one series in its folder: refused, naming the fix
    write_enhanced_mr(tmp_path / "SE3" / "IM0002", pix, series_uid=pydicom.dcmread(first).SeriesInstanceUID)
    with pytest.raises(DataError, match="holds 2 multi-frame files among its 2 files; .* give each multi-frame file"):
        DicomIO().read(tmp_path / "SE3")


def test_a_scale_per_frame_is_applied_to_its_frame(tmp_path):
    """Philips stores RescaleSlope/Intercept per frame (Pixel Value Transformation), and they may differ: each frame
    is rescaled by its own, so the volume reads as the one stored unscaled (ignoring them halved slice 3's ball)."""
    pix = _sphere_volume()
    scale = [(2.0, 0.0) if k % 2 else (0.5, -10.0) for k in range(len(pix))]
    plain = DicomIO().read(write_enhanced_mr(tmp_path / "plain.dcm", pix, step=1.0))[0]
    scaled = DicomIO().read(write_enhanced_mr(tmp_path / "scaled.dcm", pix, step=1.0, frame_scale=scale))[0]
    assert plain.shape == scaled.shape and np.array_equal(plain, scaled)
    from tumorseg.data.formats.dicom import read_dicom, rescale

    slope, intercept = rescale(read_dicom(tmp_path / "scaled.dcm", pixels=False), len(pix))
    assert slope.tolist()[:2] == [0.5, 2.0] and intercept.tolist()[:2] == [-10.0, 0.0]
    assert rescale(read_dicom(tmp_path / "plain.dcm", pixels=False), 3)[0].tolist() == [1.0, 1.0, 1.0]
