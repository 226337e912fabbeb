"""tumorseg.io: the reader chosen per file type, the array each reader gives, and the errors for anything else."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import shared_data
from tumorseg.errors import DataError
from tumorseg.io import DicomIO, ImageIO, NiftiIO, Properties, luma, read_input, reader_for, write_mask


@pytest.mark.parametrize("name, reader", [
    ("a.png", ImageIO), ("a.PNG", ImageIO), ("a.jpg", ImageIO), ("a.jpeg", ImageIO), ("a.tif", ImageIO),
    ("a.TIFF", ImageIO), ("a.bmp", ImageIO), ("a.nii", NiftiIO), ("a.nii.gz", NiftiIO), ("A.NII.GZ", NiftiIO),
    ("a.dcm", DicomIO), ("a.DCM", DicomIO),
])
def test_reader_by_suffix(tmp_path, name, reader):
    assert type(reader_for(tmp_path / name)) is reader


def test_reader_by_dicom_preamble_and_series_folder(tmp_path):
    (tmp_path / "IM0001").write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 16)  # no suffix: the preamble decides
    assert type(reader_for(tmp_path / "IM0001")) is DicomIO
    assert type(reader_for(tmp_path)) is DicomIO  # a folder holding DICOM files: one series


@pytest.mark.parametrize("name, content, says", [
    ("notes.txt", b"hello", "unsupported file type '.txt'"),
    ("IM0001", b"not dicom" * 20, "unsupported file type ''"),
    ("missing.xyz", None, "no such file or folder"),
    ("empty_dir", "dir", "a folder without DICOM files"),
])
def test_unknown_input_is_one_line_naming_the_file(tmp_path, name, content, says):
    path = tmp_path / name
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError) as err:
        read_input(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: ") and says in msg and "\n" not in msg


def test_unreadable_image_keeps_its_one_line_error(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"bad.png: not a readable image \(UnidentifiedImageError\)"):
        read_input(tmp_path / "bad.png")


def test_image_layouts(tmp_path):
    gray = np.arange(20 * 33, dtype=np.uint8).reshape(20, 33)
    Image.fromarray(gray).save(tmp_path / "g.png")
    Image.fromarray(np.repeat(gray[..., None], 3, 2)).save(tmp_path / "rgb_gray.png")  # R = G = B: grayscale
    rgb = np.stack([gray, 255 - gray, gray // 2], -1)
    Image.fromarray(rgb).save(tmp_path / "lgg.tif")
    Image.fromarray(np.dstack([rgb, np.full(gray.shape, 7, np.uint8)]), "RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(gray.astype(np.uint16) * 100).save(tmp_path / "deep.png")
    for name in ("g.png", "rgb_gray.png"):
        array, props = read_input(tmp_path / name)
        assert array.dtype == np.uint8 and np.array_equal(array, gray[None]) and props.shape == (1, 20, 33)
    array, props = read_input(tmp_path / "lgg.tif")
    assert array.shape == (1, 3, 20, 33) and np.array_equal(array[0], np.moveaxis(rgb, -1, 0))
    assert props.source_shape == (20, 33, 3) and props.kind == "image" and props.name == "lgg"
    assert np.array_equal(luma(array[0]), np.asarray(Image.fromarray(rgb).convert("L")))
    array, _ = read_input(tmp_path / "rgba.png")
    assert array.shape == (1, 3, 20, 33) and np.array_equal(array[0], np.moveaxis(rgb, -1, 0))  # alpha dropped
    array, _ = read_input(tmp_path / "deep.png")  # 16-bit: rescaled by its own min/max
    assert array.min() == 0 and array.max() == 255 and array.shape == (1, 20, 33)


def test_write_refuses_a_mask_of_another_shape(tmp_path):
    props = Properties(tmp_path / "x.png", "image", "x", (1, 20, 33), (20, 33))
    with pytest.raises(DataError, match=r"x.png: mask shape \(1, 33, 20\) differs from the input's \(1, 20, 33\)"):
        write_mask(np.zeros((1, 33, 20), bool), props, tmp_path / "out")
    assert not (tmp_path / "out" / "x.png").exists()


def test_real_samples_read_with_their_layout():
    lgg = shared_data("samples", "lgg", "TCGA_CS_4941_19960909")
    array, props = read_input(lgg / "TCGA_CS_4941_19960909_10.tif")
    assert array.shape == (1, 3, 256, 256) and array.dtype == np.uint8
    brats = shared_data("samples", "brats", "BraTS-GLI-00001-000", "BraTS-GLI-00001-000-t2f.nii.gz")
    array, props = read_input(brats)
    assert array.shape == (155, 240, 240) and props.source_shape == (240, 240, 155)
    assert props.spacing_mm == pytest.approx((1.0, 1.0, 1.0)) and props.name == "BraTS-GLI-00001-000-t2f"
    pytest.importorskip("pydicom")
    array, props = read_input(shared_data("samples", "dicom", "MR_small.dcm"))
    assert array.shape == (1, 64, 64) and props.kind == "dicom" and not props.series and len(props.datasets) == 1
