"""tumorseg.io round trips: read -> write_mask -> read the mask back; the mask has the source's geometry."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import shared_data
from data._geometry import flipped_affine
from tumorseg.io import NiftiIO, read_input, write_mask

nib = pytest.importorskip("nibabel")


def test_png_mask_has_the_image_size(tmp_path):
    img = np.zeros((20, 33), np.uint8)
    img[4:9, 10:30] = 200
    Image.fromarray(img).save(tmp_path / "scan.png")
    array, props = read_input(tmp_path / "scan.png")
    written = write_mask(array >= 128, props, tmp_path / "out")
    assert written == [tmp_path / "out" / "scan.png"]
    back = Image.open(written[0])
    assert back.size == (33, 20) and back.mode == "L"
    assert np.array_equal(np.asarray(back), (img >= 128).astype(np.uint8) * 255)
    again, props2 = read_input(written[0])
    assert again.shape == array.shape and props2.source_shape == props.source_shape


def test_nifti_mask_keeps_shape_affine_zooms_and_codes(tmp_path):
    vol = np.zeros((20, 16, 6), np.int16)
    vol[2:18, 2:14, 1:5] = 300
    vol[5:9, 4:7, 2:4] = 900
    src = nib.Nifti1Image(vol, flipped_affine())
    src.header.set_xyzt_units("mm")
    src.set_qform(flipped_affine(), code=1)
    src.set_sform(flipped_affine(), code=2)
    nib.save(src, str(tmp_path / "case-t2f.nii.gz"))
    array, props = read_input(tmp_path / "case-t2f.nii.gz")
    assert array.shape == (6, 20, 16) and props.source_shape == (20, 16, 6)
    assert np.allclose(props.affine, flipped_affine()) and props.spacing_mm == pytest.approx((2.5, 1.2, 0.9))
    written = write_mask(array == array.max(), props, tmp_path / "out")
    assert written == [tmp_path / "out" / "case-t2f_mask.nii.gz"]
    back = nib.load(str(written[0]))
    assert back.shape == vol.shape and back.get_data_dtype() == np.uint8
    assert np.allclose(back.affine, flipped_affine()) and np.allclose(back.header.get_zooms(), (1.2, 0.9, 2.5))
    assert (int(back.header["qform_code"]), int(back.header["sform_code"])) == (1, 2)
    assert np.array_equal(np.asarray(back.dataobj) > 0, vol == 900)  # in the file's own layout
    again, props2 = NiftiIO(cache=False).read(written[0])
    assert again.shape == array.shape and np.allclose(props2.affine, props.affine)
    assert props2.spacing_mm == pytest.approx(props.spacing_mm)


def test_real_brats_mask_round_trip(tmp_path):
    src = shared_data("samples", "brats", "BraTS-GLI-00001-000", "BraTS-GLI-00001-000-t2f.nii.gz")
    array, props = read_input(src)
    [target] = write_mask(array > 200, props, tmp_path)
    ref, back = nib.load(str(src)), nib.load(str(target))
    assert back.shape == ref.shape and np.allclose(back.affine, ref.affine)
    assert np.allclose(back.header.get_zooms(), ref.header.get_zooms())
    assert int(np.asarray(back.dataobj).sum()) == int((array > 200).sum())


pydicom = pytest.importorskip("pydicom")


def test_dicom_series_masks_reference_the_source_series(tmp_path):
    hd = pytest.importorskip("highdicom")
    from data._dicom_series import series_pixels, write_mr_series
    from tumorseg.data.formats.dicom_seg import read_seg_mask

    pix = series_pixels()
    paths = write_mr_series(tmp_path / "series", pix, spacing=(0.8, 0.6), step=3.0)  # names in reverse order
    array, props = read_input(tmp_path / "series")
    assert array.shape == (4, 24, 32) and props.series and props.name == "series"
    assert [d.SOPInstanceUID for d in props.datasets] == [pydicom.dcmread(p).SOPInstanceUID for p in paths]
    assert props.spacing_mm == pytest.approx((3.0, 0.8, 0.6))
    mask = array == array.max()
    written = write_mask(mask, props, tmp_path / "out", algorithm="unet")
    assert [p.name for p in written] == [f"series_{i:03d}.png" for i in range(4)] + [
        "series_mask.nii.gz", "series_seg.dcm", "series_rtstruct.dcm"]
    assert all(Image.open(p).size == (32, 24) for p in written[:4])
    vol = nib.load(str(written[4]))
    assert vol.shape == (32, 24, 4) and np.allclose(vol.affine, props.affine)
    assert np.allclose(vol.header.get_zooms(), (0.6, 0.8, 3.0))
    assert np.array_equal(np.transpose(np.asarray(vol.dataobj), (2, 1, 0)) > 0, mask)
    sources = [pydicom.dcmread(p) for p in paths]
    seg = hd.seg.segread(written[5])
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == sources[0].SeriesInstanceUID
    referenced = {str(i.ReferencedSOPInstanceUID) for i in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
    assert referenced == {s.SOPInstanceUID for s in sources}
    assert seg.FrameOfReferenceUID == sources[0].FrameOfReferenceUID and (seg.Rows, seg.Columns) == (24, 32)
    assert np.array_equal(read_seg_mask(written[5], sources), mask)


def test_one_dicom_file_gives_a_png_of_its_size_and_a_seg(tmp_path):
    pytest.importorskip("highdicom")
    from data._dicom_series import series_pixels, write_mr_series
    from tumorseg.data.formats.dicom_seg import read_seg_mask

    [path] = write_mr_series(tmp_path / "one", series_pixels(rows=20, cols=30)[1:2])
    array, props = read_input(path)
    assert array.shape == (1, 20, 30) and not props.series and props.orientation == (1, 0, 0, 0, 1, 0)
    written = write_mask(array > 0, props, tmp_path / "out")
    assert [p.name for p in written] == ["IM001.png", "IM001_seg.dcm", "IM001_rtstruct.dcm"]
    assert Image.open(written[0]).size == (30, 20)
    assert np.array_equal(read_seg_mask(written[1], [pydicom.dcmread(path)])[0], np.asarray(Image.open(written[0])) > 0)


def test_real_dicom_round_trip(tmp_path):
    hd = pytest.importorskip("highdicom")
    src = shared_data("samples", "dicom", "MR_small.dcm")
    array, props = read_input(src)
    written = write_mask(array > 128, props, tmp_path)
    assert [p.name for p in written] == ["MR_small.png", "MR_small_seg.dcm", "MR_small_rtstruct.dcm"]
    assert Image.open(written[0]).size == (64, 64)
    source = pydicom.dcmread(src)
    seg = hd.seg.segread(written[1])
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == source.SeriesInstanceUID
    [ref] = seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence
    assert ref.ReferencedSOPInstanceUID == source.SOPInstanceUID


def _stored(tmp_path, name, vol, perm, zooms=(1.0, 1.0, 1.0)):
    """``vol`` (an axial RAS volume with voxel sizes ``zooms``) saved with its axes reordered by ``perm``
    (e.g. ``(1, 2, 0)``: stored as sagittal slices), the affine reordered alike: the same anatomy."""
    affine = np.diag([*zooms, 1.0])[:, [*perm, 3]]
    img = nib.Nifti1Image(np.ascontiguousarray(vol.transpose(perm)), affine)
    img.header.set_xyzt_units("mm")
    nib.save(img, str(tmp_path / name))
    return tmp_path / name


@pytest.mark.parametrize("perm, plane", [((1, 2, 0), "sagittal"), ((0, 2, 1), "coronal")])
def test_isotropic_sagittal_or_coronal_volume_is_read_as_axial_slices(tmp_path, caplog, perm, plane):
    rng = np.random.default_rng(0)
    vol = rng.integers(0, 1000, (12, 10, 8)).astype(np.int16)  # (R-L, A-P, S-I)
    axial, ap = read_input(_stored(tmp_path, "ax.nii.gz", vol, (0, 1, 2)))
    with caplog.at_level("INFO"):
        other, op = read_input(_stored(tmp_path, f"{plane}.nii.gz", vol, perm))
    assert f"stored as {plane} slices; read as axial slices" in caplog.text
    assert other.shape == axial.shape == (8, 12, 10) and np.array_equal(other, axial)  # the same slices
    assert np.allclose(op.view_affine, ap.affine) and np.array_equal(op.display(), ap.display())  # shown alike
    assert op.spacing_mm == ap.spacing_mm and ap.axes is None and op.axes is not None
    mask = rng.random(other.shape) > 0.7
    [written] = write_mask(mask, op, tmp_path / "out")
    back = nib.load(str(written))
    assert back.shape == vol.transpose(perm).shape and np.allclose(back.affine, nib.load(str(op.source)).affine)
    assert np.array_equal(np.asarray(back.dataobj) > 0, mask.transpose(1, 2, 0).transpose(perm))  # file's own layout


def test_thick_slice_sagittal_volume_stays_in_its_plane_with_a_warning(tmp_path, caplog):
    vol = np.random.default_rng(1).integers(0, 1000, (12, 10, 8)).astype(np.int16)
    path = _stored(tmp_path, "sag5mm.nii.gz", vol, (1, 2, 0), zooms=(5.0, 1.0, 1.0))  # 5 mm between sagittal slices
    with caplog.at_level("INFO"):
        array, props = read_input(path)
    assert array.shape == (12, 10, 8) and props.axes is None  # slice k = the file's [:, :, k]
    assert "sagittal slices of 1×1×5 mm; predicted in that plane" in caplog.text
    [written] = write_mask(array > 500, props, tmp_path / "out")
    assert np.array_equal(np.asarray(nib.load(str(written)).dataobj) > 0, np.moveaxis(array > 500, 0, -1))


def test_isotropic_sagittal_dicom_series_is_read_as_axial_slices_and_written_per_source_slice(tmp_path, caplog):
    pytest.importorskip("highdicom")
    from data._dicom_series import write_mr_series
    from tumorseg.data.formats.dicom_seg import read_seg_mask
    from tumorseg.data.formats.orientation import plane_of
    from tumorseg.data.formats.rtstruct import SliceGeometry, rasterize

    pix = np.random.default_rng(2).integers(100, 800, (8, 12, 14)).astype(np.int16)  # (slices, rows, cols)
    pix[3:5, 4:7, 5:9] = 1000  # one bright block: the "tumour"
    # sagittal images: columns run anterior -> posterior, rows superior -> inferior, slices along right-left
    paths = write_mr_series(tmp_path / "sag", pix, spacing=(1.0, 1.0), step=1.0, orientation=(0, 1, 0, 0, 0, -1))
    with caplog.at_level("INFO"):
        array, props = read_input(tmp_path / "sag")
    assert "stored as sagittal slices; read as axial slices" in caplog.text
    assert array.shape == (12, 8, 14) and plane_of(props.view_affine) == "axial"  # 12 axial slices of 8 × 14
    mask = array == array.max()
    written = write_mask(mask, props, tmp_path / "out")
    assert [p.name for p in written[:8]] == [f"sag_{i:03d}.png" for i in range(8)]  # one per source image
    back = np.stack([np.asarray(Image.open(p)) > 0 for p in written[:8]])
    assert np.array_equal(back, pix == 1000)  # the source slices' own layout
    sources = [pydicom.dcmread(p) for p in paths]
    assert np.array_equal(read_seg_mask(written[-2], sources), pix == 1000)
    assert np.array_equal(rasterize(pydicom.dcmread(written[-1]), SliceGeometry.of(sources)), pix == 1000)
