"""NRRD and MetaImage volumes (tumorseg.io.itk, SimpleITK): read as the same voxels in a NIfTI file are, masks
written back with the source's geometry, bad files refused in one line, sizes checked before decoding."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import shared_data
from data._geometry import flipped_affine
from tumorseg import limits
from tumorseg.errors import DataError
from tumorseg.io import ItkIO, read_input, reader_for, write_mask

nib = pytest.importorskip("nibabel")
sitk = pytest.importorskip("SimpleITK")


def _volume() -> np.ndarray:
    vol = np.zeros((20, 16, 6), np.int16)
    vol[2:18, 2:14, 1:5] = 300
    vol[5:9, 4:7, 2:4] = 900
    return vol


def _as(nifti_path, suffix: str):
    """The NIfTI file converted by SimpleITK (as 3D Slicer or ITK-SNAP would save it)."""
    out = nifti_path.with_name(nifti_path.name.replace(".nii.gz", suffix))
    sitk.WriteImage(sitk.ReadImage(str(nifti_path)), str(out), True)
    return out


@pytest.fixture
def nifti_case(tmp_path):
    src = nib.Nifti1Image(_volume(), flipped_affine())
    src.header.set_xyzt_units("mm")
    path = tmp_path / "case-t2f.nii.gz"
    nib.save(src, str(path))
    return path


@pytest.mark.parametrize("suffix, mask_name", [(".nrrd", "case-t2f_mask.nrrd"), (".mha", "case-t2f_mask.mha")])
def test_reads_as_the_same_nifti_and_writes_back_its_geometry(nifti_case, tmp_path, suffix, mask_name):
    path = _as(nifti_case, suffix)
    assert isinstance(reader_for(path), ItkIO)
    want, want_props = read_input(nifti_case)
    array, props = read_input(path)
    assert props.kind == "itk" and props.name == "case-t2f" and props.source_shape == (20, 16, 6)
    assert np.array_equal(array, want)  # (Z, X, Y): the same slices, the same scaling
    assert np.allclose(props.affine, flipped_affine(), atol=1e-5)  # ITK's LPS turned back into RAS
    assert props.spacing_mm == pytest.approx(want_props.spacing_mm)
    assert props.spacing_mm == pytest.approx((2.5, 1.2, 0.9))
    assert np.array_equal(props.display(), want_props.display())  # shown in the same radiological view
    [target] = write_mask(array == array.max(), props, tmp_path / "out")
    assert target == tmp_path / "out" / mask_name
    back, ref = sitk.ReadImage(str(target)), sitk.ReadImage(str(path))
    assert back.GetPixelID() == sitk.sitkUInt8 and back.GetSize() == ref.GetSize()
    assert np.allclose(back.GetSpacing(), ref.GetSpacing()) and np.allclose(back.GetOrigin(), ref.GetOrigin())
    assert np.allclose(back.GetDirection(), ref.GetDirection())
    assert np.array_equal(sitk.GetArrayFromImage(back).transpose(2, 1, 0) > 0, _volume() == 900)  # file's layout


def test_near_isotropic_sagittal_volume_is_read_as_axial_slices_like_nifti(tmp_path):
    sag = np.array([[0, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]], float)  # array axes: A, S, R
    vol = np.zeros((12, 14, 10), np.int16)
    vol[3:9, 4:10, 2:8] = 500
    vol[4:6, 5:7, 3:5] = 1000
    nib.save(nib.Nifti1Image(vol, sag), str(tmp_path / "sag.nii.gz"))
    path = _as(tmp_path / "sag.nii.gz", ".nrrd")
    want, want_props = read_input(tmp_path / "sag.nii.gz")
    array, props = read_input(path)
    assert want_props.axes is not None and props.axes == want_props.axes
    assert np.array_equal(array, want) and array.shape == (14, 10, 12)  # slices along S
    [target] = write_mask(array == array.max(), props, tmp_path / "out")
    back = sitk.GetArrayFromImage(sitk.ReadImage(str(target))).transpose(2, 1, 0)
    assert np.array_equal(back > 0, vol == 1000)  # written in the stored (sagittal) layout


def test_two_d_image_is_one_slice(tmp_path):
    img = np.zeros((24, 30), np.float32)
    img[5:15, 8:20] = 1.0
    img[8:11, 12:15] = 5.0
    sitk.WriteImage(sitk.GetImageFromArray(img), str(tmp_path / "one.mha"))
    array, props = read_input(tmp_path / "one.mha")
    assert array.shape == (1, 30, 24) and props.source_shape == (30, 24, 1)  # (Z, X, Y): ITK's (Y, X) turned
    assert np.array_equal(array[0].T == 255, img == 5.0)
    [target] = write_mask(array == 255, props, tmp_path / "out")
    back = sitk.ReadImage(str(target))
    assert back.GetDimension() == 2 and np.array_equal(sitk.GetArrayFromImage(back) > 0, img == 5.0)


def _nrrd_header(path, sizes: str, dtype: str = "short", dimension: int = 3, data: bytes = b"") -> None:
    path.write_bytes(f"NRRD0004\ntype: {dtype}\ndimension: {dimension}\nsizes: {sizes}\nencoding: raw\n"
                     "endian: little\n\n".encode() + data)


def test_size_is_checked_before_any_voxel_is_decoded(tmp_path):
    _nrrd_header(tmp_path / "huge.nrrd", "40000 40000 4000")  # claims 12 TB; holds nothing
    with pytest.raises(limits.LimitExceeded, match=r"huge\.nrrd: declares 40000 × 40000 × 4000"):
        read_input(tmp_path / "huge.nrrd")


@pytest.mark.parametrize("name, content, says", [
    ("junk.nrrd", b"not a volume at all", r"junk\.nrrd: not a readable NRRD/MetaImage volume"),
    ("short.nrrd", None, r"short\.nrrd: its voxels could not be read"),
    ("colour.nrrd", "rgb", r"colour\.nrrd: 3 values per voxel"),
    ("movie.nrrd", "4d", r"movie\.nrrd: 4-D image of size \(8, 8, 4, 3\)"),
])
def test_bad_files_get_one_line_naming_the_file(tmp_path, name, content, says):
    path = tmp_path / name
    if content is None:
        _nrrd_header(path, "16 16 4", data=b"\0" * 100)  # 2048 bytes declared, 100 there
    elif content == "rgb":
        sitk.WriteImage(sitk.GetImageFromArray(np.zeros((4, 8, 8, 3), np.uint8), isVector=True), str(path))
    elif content == "4d":
        frame = sitk.GetImageFromArray(np.zeros((4, 8, 8), np.int16))
        sitk.WriteImage(sitk.JoinSeries([frame] * 3), str(path))  # three 3-D volumes in one file
    else:
        path.write_bytes(content)
    with pytest.raises(DataError, match=says) as err:
        read_input(path)
    assert "\n" not in str(err.value)


def test_detached_header_reads_its_data_file_again_when_it_changes_and_says_when_it_is_missing(tmp_path):
    import os

    vol = np.zeros((3, 8, 8), np.int16)
    vol[:, 1:7, 1:7] = 50
    vol[1, 2:6, 2:6] = 200
    sitk.WriteImage(sitk.GetImageFromArray(vol), str(tmp_path / "scan.mhd"))  # + scan.raw
    first = read_input(tmp_path / "scan.mhd")[0]
    assert first.shape == (3, 8, 8) and first[1].max() == 255
    header = (tmp_path / "scan.mhd").stat()
    (tmp_path / "scan.raw").write_bytes(np.zeros((3, 8, 8), np.int16).tobytes())  # the data re-exported alone
    os.utime(tmp_path / "scan.mhd", ns=(header.st_atime_ns, header.st_mtime_ns))
    assert not read_input(tmp_path / "scan.mhd")[0].any()  # not the cached volume of the old data
    (tmp_path / "scan.raw").unlink()
    with pytest.raises(DataError, match=r"scan\.mhd: its voxels, in the separate data file its header names, could "
                                        r"not be read: is that file beside it\?"):
        read_input(tmp_path / "scan.mhd")


def test_missing_simpleitk_names_the_extra(tmp_path, monkeypatch):
    import sys

    _nrrd_header(tmp_path / "scan.nrrd", "4 4 2", data=b"\0" * 64)
    monkeypatch.setitem(sys.modules, "SimpleITK", None)  # import fails as if not installed
    with pytest.raises(DataError, match=r"needs the 'SimpleITK' package.*pip install 'tumorseg\[itk\]'"):
        read_input(tmp_path / "scan.nrrd")


def test_predict_gives_the_same_masks_as_for_the_nifti_and_takes_a_folder(tmp_path):
    from tumorseg.inference.files import predict_inputs

    src = shared_data("samples", "brats", "brats_2013_pat0001_1", "Flair_subtrMeanDivStd.nii.gz")
    folder = tmp_path / "scans"
    folder.mkdir()
    nrrd = folder / "Flair_case.nrrd"
    sitk.WriteImage(sitk.ReadImage(str(src)), str(nrrd), True)
    a = predict_inputs([src], None, tmp_path / "from-nifti", progress=False)  # the model chosen by the name: flair
    b = predict_inputs([folder], None, tmp_path / "from-nrrd", progress=False)  # a folder of NRRD files: each file
    assert [p.name for p in b.written] == ["Flair_case_mask.nrrd"]
    assert a.results[0].model == b.results[0].model
    want = np.asarray(nib.load(str(a.written[0])).dataobj) > 0
    got = sitk.GetArrayFromImage(sitk.ReadImage(str(b.written[0]))).transpose(2, 1, 0) > 0
    assert want.any() and np.array_equal(got, want)
    rows = b.results[0].summary
    assert rows.slices_with_tumour == a.results[0].summary.slices_with_tumour and rows.volume_ml is not None
