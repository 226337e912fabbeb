"""``predict --probabilities``: the model's probabilities written beside each mask with the input's geometry —
NIfTI (0-1 through the header's scale), DICOM series (NIfTI with the series' affine), NRRD, 2-D images (8-bit PNG) —
in the file's own layout, before threshold and post-processing."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import tiny_checkpoint
from tumorseg.cli import main
from tumorseg.errors import DataError
from tumorseg.inference.volumes import predict_volumes, read_volume_input
from tumorseg.io import probability_bytes, write_probabilities

nib = pytest.importorskip("nibabel")


def _volume(tmp_path, name="scan.nii.gz", perm=(0, 1, 2)):
    rng = np.random.default_rng(0)
    vol = np.zeros((12, 10, 8), np.int16)
    vol[1:-1, 1:-1, 1:-1] = rng.integers(100, 1000, (10, 8, 6))  # a "brain" in air
    aff = np.diag([1.0, 1.0, 1.0, 1.0])[:, [*perm, 3]]
    nib.save(nib.Nifti1Image(vol.transpose(perm), aff), str(tmp_path / name))
    return tmp_path / name


@pytest.mark.parametrize("perm", [(0, 1, 2), (1, 2, 0)], ids=["axial", "sagittal-stored"])
def test_a_nifti_map_is_the_model_output_in_the_files_own_layout(tmp_path, graded, perm):
    path = _volume(tmp_path, perm=perm)
    slices, props = read_volume_input(path, graded)
    [result] = predict_volumes([path], graded, tmp_path / "out", progress=False, probabilities=True)
    assert [p.name for p in result.maps] == ["scan_prob.nii.gz"]
    prob, mask, src = (nib.load(str(tmp_path / "out" / n)) for n in ("scan_prob.nii.gz", "scan_mask.nii.gz", path))
    assert prob.shape == mask.shape == src.shape and np.allclose(prob.affine, src.affine)
    values = prob.get_fdata()  # 0-1 through the header's scale
    assert values.min() >= 0 and values.max() <= 1.0 + 1e-6
    expected = np.moveaxis(props.source_layout(slices), 0, -1)  # the model's input = its probabilities x 255
    assert np.array_equal(np.asarray(prob.dataobj.get_unscaled()), expected)
    assert np.allclose(values, expected / 255, atol=1e-6)


def test_probability_bytes_round_and_clip():
    assert probability_bytes(np.array([-0.1, 0.0, 0.5, 0.998, 1.2])).tolist() == [0, 0, 128, 254, 255]


def test_a_dicom_series_map_has_the_series_affine(tmp_path, graded):
    pytest.importorskip("pydicom")
    from data._dicom_series import series_pixels, write_mr_series

    write_mr_series(tmp_path / "series", series_pixels())
    [result] = predict_volumes([tmp_path / "series"], graded, tmp_path / "out", progress=False, probabilities=True)
    prob, mask = (nib.load(str(tmp_path / "out" / f"series_{k}.nii.gz")) for k in ("prob", "mask"))
    assert [p.name for p in result.maps] == ["series_prob.nii.gz"]
    assert prob.shape == mask.shape and np.allclose(prob.affine, mask.affine)
    assert (prob.get_fdata()[mask.get_fdata() > 0] > 0.5).all()  # the bright block: marked and probable


def test_a_nrrd_map_keeps_the_scans_geometry(tmp_path, graded):
    sitk = pytest.importorskip("SimpleITK")
    image = sitk.GetImageFromArray(np.pad(np.full((4, 8, 6), 500, np.int16), 1))
    image.SetSpacing((0.5, 0.7, 2.0))
    image.SetOrigin((3.0, -4.0, 5.0))
    sitk.WriteImage(image, str(tmp_path / "scan.nrrd"))
    [result] = predict_volumes([tmp_path / "scan.nrrd"], graded, tmp_path / "out", progress=False, probabilities=True)
    prob = sitk.ReadImage(str(tmp_path / "out" / "scan_prob.nrrd"))
    assert [p.name for p in result.maps] == ["scan_prob.nrrd"]
    assert prob.GetSize() == image.GetSize() and prob.GetSpacing() == image.GetSpacing()
    assert prob.GetOrigin() == image.GetOrigin() and sitk.GetArrayFromImage(prob).dtype == np.uint8


def test_predict_writes_png_maps_for_images_and_counts_them(tmp_path, capsys):
    Image.fromarray(np.full((20, 24), 90, np.uint8)).save(tmp_path / "a.png")
    ckpt = tiny_checkpoint(tmp_path / "m.pt")
    assert main(["predict", str(tmp_path / "a.png"), "--model", str(ckpt), "--out", str(tmp_path / "out"),
                 "--probabilities", "--no-progress", "--backend", "torch"]) == 0
    prob = np.asarray(Image.open(tmp_path / "out" / "a_prob.png"))
    assert prob.shape == (20, 24) and prob.dtype == np.uint8
    assert "1 mask and 1 probability map written to" in capsys.readouterr().out
    assert main(["predict", str(tmp_path / "a.png"), "--model", str(ckpt), "--out", str(tmp_path / "o2"),
                 "--no-progress", "--backend", "torch"]) == 0
    assert not (tmp_path / "o2" / "a_prob.png").exists()  # only when asked


def test_a_map_of_the_wrong_shape_is_refused(tmp_path, graded):
    path = _volume(tmp_path)
    _, props = read_volume_input(path, graded)
    with pytest.raises(DataError, match="map shape"):
        write_probabilities(np.zeros((2, 3, 4), np.uint8), props, tmp_path)


def test_the_api_returns_the_maps_after_the_masks(tmp_path):
    from tumorseg import api

    Image.fromarray(np.full((20, 24), 90, np.uint8)).save(tmp_path / "a.png")
    written = api.predict(tmp_path / "a.png", tmp_path / "out", model=tiny_checkpoint(tmp_path / "m.pt"),
                          probabilities=True, progress=False, backend="torch")
    assert [p.name for p in written] == ["a.png", "a_prob.png"]
