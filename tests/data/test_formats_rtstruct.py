"""RT Structure Sets (RTSTRUCT) as labels: contours filled on their series' pixel grids, read as a dataset
(``dicom-seg``) and scored by ``tumorseg score`` against a SEG of the same series."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pydicom")
pytest.importorskip("highdicom")

from data._dicom_series import series_pixels, write_mr_series, write_rtstruct  # noqa: E402
from tumorseg.data.formats import detect_format, load_record, read_dataset  # noqa: E402
from tumorseg.data.formats.dicom import read_dicom, read_dicom_series  # noqa: E402
from tumorseg.data.formats.dicom_seg import write_seg  # noqa: E402
from tumorseg.data.formats.rtstruct import SliceGeometry, rasterize  # noqa: E402
from tumorseg.data.formats.rtstruct import referenced_series as rtstruct_series  # noqa: E402
from tumorseg.errors import DataError  # noqa: E402
from tumorseg.evaluation.score import score_files  # noqa: E402

BOX = [(0, 0), (0, 1), (1, 1), (1, 0)]  # a rectangle's corners as (row, col) fractions


def _box(r0, c0, r1, c1):
    return [(r0 + (r1 - r0) * a, c0 + (c1 - c0) * b) for a, b in BOX]


# the tumour of series_pixels() (rows 6-9 × cols 8-13 on slice 1, rows 7-8 × cols 9-11 on slice 2) as a GTV, the
# brain (every slice) as an ROI that is not tumour, and a ring (a contour with a hole) named as a lesion on slice 3
ROIS = {1: ("Brain", [(k, _box(3, 4, 20, 27)) for k in range(4)]),
        2: ("GTV", [(1, _box(6, 8, 9, 13)), (2, _box(7, 9, 8, 11))]),
        3: ("lesion 2", [(3, _box(2, 2, 12, 12)), (3, _box(5, 5, 8, 8))])}


def _truth():
    t = series_pixels() == 900
    t[3, 2:13, 2:13] = True
    t[3, 5:9, 5:9] = False
    return t


def _labelled(root, reference_images=True):
    pix = series_pixels()
    brain = pix == 300
    pix[brain] += np.random.default_rng(0).integers(-40, 40, int(brain.sum())).astype(np.int16)  # signal everywhere
    write_mr_series(root / "series", pix)
    dss = read_dicom_series(root / "series")[2]
    write_rtstruct(root / "rs.dcm", dss, ROIS, reference_images)
    return dss


@pytest.mark.parametrize("reference_images", [True, False])
def test_contours_fill_the_pixels_they_outline(tmp_path, reference_images):
    """Pixel centres inside or on an outline are tumour; an inner contour is a hole; non-tumour ROIs are left out
    unless chosen by number; a contour without an image reference finds its slice by its plane."""
    dss = _labelled(tmp_path, reference_images)
    ds, geometry = read_dicom(tmp_path / "rs.dcm"), SliceGeometry.of(dss)
    assert np.array_equal(rasterize(ds, geometry), _truth())
    brain = np.zeros_like(_truth())
    brain[:, 3:21, 4:28] = True
    assert np.array_equal(rasterize(ds, geometry, rois=(1,)), brain)


def test_an_rtstruct_labels_its_series_as_a_dataset_and_in_score(tmp_path, caplog):
    dss = _labelled(tmp_path / "data" / "P1")
    assert detect_format(tmp_path / "data") == "dicom-seg"
    records = read_dataset(tmp_path / "data")
    assert [r.case_id for r in records] == [f"P1_series_z{k:03d}" for k in range(4)]
    with caplog.at_level("INFO"):
        assert all(np.array_equal(load_record(r).mask, t) for r, t in zip(records, _truth()))
    assert "rs.dcm: tumour = ROI 2 'GTV', 3 'lesion 2' (named as tumour of its 3 ROIs)" in caplog.text
    with pytest.raises(DataError, match="no ROI number 7 in this RTSTRUCT"):  # a wrong choice: when reading, once
        read_dataset(tmp_path / "data", "dicom-seg", labels="7")

    predicted = _truth()
    predicted[1] = False  # the GTV of slice 1 missed
    write_seg(predicted, dss, tmp_path / "pred" / "tool_seg.dcm", "tool")
    result = score_files(tmp_path / "pred", tmp_path / "data", progress=False)  # a SEG against the RTSTRUCT
    assert [r["dice"] for r in result.rows] == [1.0, 0.0, 1.0, 1.0] and not result.missing


def test_rois_without_a_tumour_name_or_a_wrong_number_are_one_line(tmp_path):
    dss = _labelled(tmp_path)
    write_rtstruct(tmp_path / "brain_only.dcm", dss, {1: ROIS[1]})
    geometry = SliceGeometry.of(dss)
    with pytest.raises(DataError, match=r"brain_only.dcm: no ROI named as a tumour \(GTV, tumour, lesion...\) among "
                                        r"its ROIs \(1 'Brain'\); choose them by number with --labels N\[,N\]\."):
        rasterize(read_dicom(tmp_path / "brain_only.dcm"), geometry, where=str(tmp_path / "brain_only.dcm"))
    with pytest.raises(DataError, match=r"no ROI number 9 in this RTSTRUCT \(its ROIs: 1 'Brain', 2 'GTV', 3 'lesion "
                                        r"2'\)"):
        rasterize(read_dicom(tmp_path / "rs.dcm"), geometry, rois=(9,))


def test_predict_finds_the_series_below_a_folder_of_labels(tmp_path, capsys):
    """A labelled export (P1/rs.dcm beside P1/series/): the labels' folder is not a series, the series below it is
    predicted; a folder of labels alone is one line saying so."""
    from tumorseg.cli import main

    _labelled(tmp_path / "data" / "P1")
    assert main(["predict", str(tmp_path / "data"), "--list"]) == 0
    out = capsys.readouterr().out
    assert "P1_series  DICOM series, 4 files" in out and "1 input(s)" in out
    (tmp_path / "labels").mkdir()
    (tmp_path / "data" / "P1" / "rs.dcm").rename(tmp_path / "labels" / "rs.dcm")
    assert main(["predict", str(tmp_path / "labels"), "--out", str(tmp_path / "out")]) == 2
    assert "labels: its DICOM files are labels or reports (SEG, RTSTRUCT, SR...), no image series; give the folder" \
        in capsys.readouterr().err


def test_an_rtstruct_naming_no_series_is_matched_by_its_contours_images(tmp_path):
    """RT Referenced Series Sequence is optional: a set that names only the images its contours lie on labels the
    series holding those images."""
    pix = series_pixels()
    write_mr_series(tmp_path / "data" / "P1" / "series", pix)
    dss = read_dicom_series(tmp_path / "data" / "P1" / "series")[2]
    write_rtstruct(tmp_path / "data" / "rs.dcm", dss, {2: ROIS[2]}, reference_series=False)
    assert rtstruct_series(read_dicom(tmp_path / "data" / "rs.dcm")) is None
    records = read_dataset(tmp_path / "data", "dicom-seg")
    truth = series_pixels() == 900
    assert [r.case_id for r in records] and all(np.array_equal(load_record(r).mask, truth[r.slice_index])
                                                for r in records)
