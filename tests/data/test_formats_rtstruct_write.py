"""Predicted masks written as an RTSTRUCT (:mod:`tumorseg.data.formats.rtstruct_write`): outlines that read back as
the mask, on the right images and planes, referencing the study, series and Frame of Reference; scored and read as a
dataset beside the SEG of the same series."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

pydicom = pytest.importorskip("pydicom")
pytest.importorskip("highdicom")

from data._dicom_series import series_pixels, write_mr_series  # noqa: E402
from tumorseg.data.formats import read_dataset  # noqa: E402
from tumorseg.data.formats.dicom import read_dicom_series  # noqa: E402
from tumorseg.data.formats.dicom_seg import write_seg  # noqa: E402
from tumorseg.data.formats.rtstruct import TUMOUR_NAMES, SliceGeometry, fill_polygon, rasterize  # noqa: E402
from tumorseg.data.formats.rtstruct_write import mask_contours, write_rtstruct  # noqa: E402
from tumorseg.errors import DataError  # noqa: E402
from tumorseg.evaluation.score import score_files  # noqa: E402


def _filled(shape, loops) -> np.ndarray:
    mask = np.zeros(shape, bool)
    for loop in loops:
        fill_polygon(mask, loop)
    return mask


@pytest.mark.parametrize("seed", range(4))
def test_outlines_read_back_as_the_mask(seed):
    """Smooth blobs, speckle (pixels touching only at corners), holes and the image border: the outlines filled by
    pixel centre give the mask back exactly."""
    rng = np.random.default_rng(seed)
    for _ in range(25):
        blobs = ndimage.gaussian_filter(rng.random((40, 50)), 2 + 3 * rng.random()) > 0.5
        speckle = rng.random((40, 50)) > 0.6
        for mask in (blobs, speckle, np.ones((40, 50), bool)):
            assert np.array_equal(_filled(mask.shape, mask_contours(mask)), mask)


def test_a_square_is_its_boundary_and_a_ring_two_outlines():
    square = np.zeros((20, 20), bool)
    square[5:15, 4:14] = True
    [loop] = mask_contours(square)
    x, y = loop[:, 0], loop[:, 1]
    area = 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))
    assert area == pytest.approx(100 - 4 * 0.125)  # 10 × 10 pixels, less the four cut corners
    assert len(loop) == 8  # collinear vertices left out: four sides, four cut corners
    assert x.min() == pytest.approx(3.5) and x.max() == pytest.approx(13.5)  # halfway to the outside pixels
    ring = square.copy()
    ring[8:12, 7:11] = False
    assert len(mask_contours(ring)) == 2 and mask_contours(np.zeros((5, 5), bool)) == []


@pytest.mark.parametrize("orientation", [(1, 0, 0, 0, 1, 0), (0, 1, 0, 0, 0, -1)], ids=["axial", "sagittal"])
def test_written_set_references_the_series_and_reads_back(tmp_path, orientation, monkeypatch):
    from pydicom import config

    # every value written and read is checked against its VR (decimal strings of at most 16 characters...)
    monkeypatch.setattr(config.settings, "writing_validation_mode", config.RAISE)
    monkeypatch.setattr(config.settings, "reading_validation_mode", config.RAISE)
    pix = series_pixels()
    paths = write_mr_series(tmp_path / "s", pix, orientation=orientation)
    dss = read_dicom_series(tmp_path / "s")[2]
    mask = pix == 900
    mask[3, 2:13, 2:13] = True
    mask[3, 5:9, 5:9] = False  # a hole
    out = write_rtstruct(mask, dss, tmp_path / "out" / "s_rtstruct.dcm", "t1c")
    ds = pydicom.dcmread(out)
    assert ds.file_meta.MediaStorageSOPClassUID == ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.481.3"
    assert ds.Modality == "RTSTRUCT" and ds.PatientID == dss[0].PatientID
    assert ds.StudyInstanceUID == dss[0].StudyInstanceUID and ds.SeriesInstanceUID != dss[0].SeriesInstanceUID
    [frame] = ds.ReferencedFrameOfReferenceSequence
    assert frame.FrameOfReferenceUID == dss[0].FrameOfReferenceUID
    [series] = frame.RTReferencedStudySequence[0].RTReferencedSeriesSequence
    assert series.SeriesInstanceUID == dss[0].SeriesInstanceUID
    assert [i.ReferencedSOPInstanceUID for i in series.ContourImageSequence] == [d.SOPInstanceUID for d in dss]
    [roi] = ds.StructureSetROISequence
    assert TUMOUR_NAMES.search(roi.ROIName) and roi.ROIGenerationAlgorithm == "AUTOMATIC"
    assert roi.ReferencedFrameOfReferenceUID == dss[0].FrameOfReferenceUID
    contours = ds.ROIContourSequence[0].ContourSequence
    assert len(contours) == 1 + 1 + 2  # slices 1 and 2: one outline; slice 3: the ring's two
    geometry = SliceGeometry.of(dss)
    normal = np.cross(geometry.row_dir, geometry.col_dir)
    by_uid = {d.SOPInstanceUID: k for k, d in enumerate(dss)}
    for c in contours:
        k = by_uid[c.ContourImageSequence[0].ReferencedSOPInstanceUID]
        points = np.asarray(c.ContourData, float).reshape(-1, 3)
        assert c.NumberOfContourPoints == len(points) and c.ContourGeometricType == "CLOSED_PLANAR"
        assert np.allclose(points @ normal, geometry.positions[k] @ normal, atol=1e-3)  # in its image's plane
    assert np.array_equal(rasterize(ds, geometry), mask)
    assert len(paths) == 4


def test_no_tumour_is_a_set_with_its_roi_and_no_contour(tmp_path):
    write_mr_series(tmp_path / "s", series_pixels(n=3))
    dss = read_dicom_series(tmp_path / "s")[2]
    ds = pydicom.dcmread(write_rtstruct(np.zeros((3, 24, 32), bool), dss, tmp_path / "e.dcm"))
    assert len(ds.StructureSetROISequence) == 1 and "ContourSequence" not in ds.ROIContourSequence[0]
    assert not rasterize(ds, SliceGeometry.of(dss)).any()


def test_what_cannot_be_written_is_one_line(tmp_path):
    write_mr_series(tmp_path / "s", series_pixels(n=3))
    dss = read_dicom_series(tmp_path / "s")[2]
    with pytest.raises(DataError, match="do not match the 3 image"):
        write_rtstruct(np.zeros((2, 24, 32), bool), dss, tmp_path / "x.dcm", where="s")
    del dss[0].FrameOfReferenceUID
    with pytest.raises(DataError, match=r"^s: no RTSTRUCT written: the source lacks FrameOfReferenceUID"):
        write_rtstruct(np.zeros((3, 24, 32), bool), dss, tmp_path / "x.dcm", where="s")
    assert not (tmp_path / "x.dcm").exists()


def test_scored_and_read_beside_a_seg_of_the_same_series(tmp_path):
    """The RTSTRUCT as truth scores Dice 1 against the SEG of the same mask; with both beside the series, the
    dataset and ``score`` read the SEG once (no duplicate records, no clash)."""
    pix = series_pixels()
    brain = pix == 300
    pix[brain] += np.random.default_rng(0).integers(-40, 40, int(brain.sum())).astype(np.int16)
    write_mr_series(tmp_path / "truth" / "series", pix)
    dss = read_dicom_series(tmp_path / "truth" / "series")[2]
    mask = pix == 900
    write_rtstruct(mask, dss, tmp_path / "truth" / "t_rtstruct.dcm", "manual")
    write_seg(mask, dss, tmp_path / "pred" / "p_seg.dcm", "tool")
    result = score_files(tmp_path / "pred", tmp_path / "truth", progress=False)
    assert [r["dice"] for r in result.rows] == [1.0] * 4
    assert [r["tumour_area_px"] for r in result.rows] == [0, 24, 6, 0] and result.rows[1]["truth_file"].endswith(
        "t_rtstruct.dcm")
    write_seg(mask, dss, tmp_path / "truth" / "t_seg.dcm", "manual")
    records = read_dataset(tmp_path / "truth", "dicom-seg")
    assert {r.mask.name for r in records} == {"t_seg.dcm"} and len({r.case_id for r in records}) == len(records)
    write_rtstruct(mask, dss, tmp_path / "pred" / "p_rtstruct.dcm", "tool")
    again = score_files(tmp_path / "pred", tmp_path / "truth", progress=False)
    assert [r["dice"] for r in again.rows] == [1.0] * 4
    assert {r["pred_file"] for r in again.rows} == {str(tmp_path / "pred" / "p_seg.dcm")}


def test_without_highdicom_the_rtstruct_is_still_written(tmp_path, monkeypatch, caplog):
    """The SEG needs highdicom (one warning line when it is missing); the RTSTRUCT needs only pydicom."""
    import importlib.util

    from tumorseg.io import read_input, write_mask

    found = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "highdicom" else found(name, *a))
    pix = series_pixels()
    write_mr_series(tmp_path / "s", pix)
    array, props = read_input(tmp_path / "s")
    with caplog.at_level("WARNING"):
        written = write_mask(array == array.max(), props, tmp_path / "out")
    assert [p.name for p in written[-2:]] == ["s_mask.nii.gz", "s_rtstruct.dcm"]
    assert "s_seg.dcm not written: DICOM SEG output needs highdicom" in caplog.text
    dss = read_dicom_series(tmp_path / "s")[2]
    assert np.array_equal(rasterize(pydicom.dcmread(written[-1]), SliceGeometry.of(dss)), pix == 900)
