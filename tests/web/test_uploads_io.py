"""Uploads are read by the same tumorseg.io readers as ``tumorseg predict``: same slices, same properties."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import tiny_checkpoint
from tumorseg.inference.predictor import Predictor
from tumorseg.io import read_input
from tumorseg.web.uploads import decode

nib = pytest.importorskip("nibabel")
pytest.importorskip("pydicom")


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    return Predictor.from_checkpoint(tiny_checkpoint(tmp_path_factory.mktemp("m") / "m.pt"), "cpu", backend="torch")


def _files(tmp_path):
    from data._dicom_series import write_mr_series

    img = np.zeros((20, 33), np.uint8)
    img[4:9, 10:30] = 200
    Image.fromarray(img).save(tmp_path / "scan.png")
    vol = np.zeros((12, 10, 5), np.int16)
    vol[2:10, 2:8, 1:4] = 300
    affine = np.diag([-1.2, 0.9, 2.5, 1.0])
    nib.save(nib.Nifti1Image(vol, affine), str(tmp_path / "vol.nii.gz"))
    pix = np.zeros((1, 24, 32), np.int16)
    pix[0, 3:21, 4:28] = 300
    [dcm] = write_mr_series(tmp_path / "dcm", pix)
    return {"image": tmp_path / "scan.png", "nifti": tmp_path / "vol.nii.gz", "dicom": dcm}


@pytest.mark.parametrize("kind", ["image", "nifti", "dicom"])
def test_upload_decodes_as_the_cli_reads(tmp_path, predictor, kind):
    path = _files(tmp_path)[kind]
    work = tmp_path / "work"
    work.mkdir()
    dec = decode(path.read_bytes(), predictor, work)
    array, props = read_input(path)
    assert dec.kind == dec.properties.kind == props.kind == kind
    assert np.array_equal(np.stack(dec.slices), array)
    assert dec.properties.shape == props.shape and dec.properties.source_shape == props.source_shape
    assert dec.properties.spacing_mm == props.spacing_mm
    if kind == "nifti":
        assert np.allclose(dec.properties.affine, props.affine) and dec.slice_mm == pytest.approx(2.5)
        assert dec.spacing_mm == pytest.approx((1.2, 0.9))
