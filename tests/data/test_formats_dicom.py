"""DICOM prediction: single files and one-series folders (slope/intercept, slice order, NIfTI geometry)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pydicom = pytest.importorskip("pydicom")
nib = pytest.importorskip("nibabel")

from pydicom.uid import generate_uid  # noqa: E402

from conftest import shared_data, tiny_checkpoint  # noqa: E402
from data._dicom_series import mr_slice  # noqa: E402
from tumorseg.data.formats.dicom import dicom_pixels, read_dicom, read_dicom_series  # noqa: E402
from tumorseg.io import DicomIO  # noqa: E402
from tumorseg.errors import DataError  # noqa: E402
from tumorseg.inference.files import predict_files  # noqa: E402

ROWS, COLS = 24, 32


def write_dcm(path, pixels, z, instance, series_uid, slope=2.0, intercept=-100.0):
    ds = mr_slice(pixels, [-10.0, 20.0, z], instance, series_uid)  # 0.8 × 0.6 mm pixels, 3 mm slices, axial
    ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    ds.save_as(path, enforce_file_format=True)


def write_series(folder, n=4):
    """Slices whose file names sort in reverse of their position; slice at z = 3k holds value 10(k+1)."""
    folder.mkdir(parents=True)
    uid = generate_uid()
    for k in range(n):
        pix = np.full((ROWS, COLS), 10 * (k + 1), np.int16)
        pix[5:10, 4:20] = 500
        write_dcm(folder / f"IM{n - k:03d}.dcm", pix, z=3.0 * k, instance=n - k if k % 2 else k + 1, series_uid=uid)
    return folder


def _ckpt(tmp_path):
    return tiny_checkpoint(tmp_path / "m.pt")


def test_series_is_sorted_by_position_and_rescaled(tmp_path):
    volume, affine, _ = read_dicom_series(write_series(tmp_path / "series"))
    assert volume.shape == (4, ROWS, COLS)
    assert volume[:, 0, 0].tolist() == [2 * 10 * (k + 1) - 100 for k in range(4)]  # slope 2, intercept -100
    assert np.allclose(affine[:3, 3], [10.0, -20.0, 0.0])  # LPS (-10, 20, 0) in RAS


def test_predict_single_file_and_series(tmp_path):
    series = write_series(tmp_path / "series")
    ckpt = _ckpt(tmp_path)
    written = predict_files([series / "IM001.dcm", series], ckpt, tmp_path / "out", progress=False, backend="torch")
    assert written[0] == tmp_path / "out" / "IM001.png"
    assert Image.open(written[0]).size == (COLS, ROWS) and Image.open(written[0]).mode == "L"
    pngs, vol = written[1:-1], written[-1]
    assert len(pngs) == 4 and all(Image.open(p).size == (COLS, ROWS) for p in pngs)
    assert vol.name == "series_mask.nii.gz"
    img = nib.load(str(vol))
    assert img.shape == (COLS, ROWS, 4) and img.get_data_dtype() == np.uint8
    a = img.affine
    assert np.allclose(a @ [0, 0, 0, 1], [10, -20, 0, 1])
    assert np.allclose(a @ [1, 0, 0, 1] - a @ [0, 0, 0, 1], [-0.6, 0, 0, 0])  # along a row: column spacing, L->R flip
    assert np.allclose(a @ [0, 1, 0, 1] - a @ [0, 0, 0, 1], [0, -0.8, 0, 0])
    assert np.allclose(a @ [0, 0, 1, 1] - a @ [0, 0, 0, 1], [0, 0, 3.0, 0])


def test_two_series_in_one_folder_is_an_error(tmp_path):
    folder = write_series(tmp_path / "mixed", n=2)
    write_dcm(folder / "other.dcm", np.zeros((ROWS, COLS), np.int16), z=9.0, instance=9, series_uid=generate_uid())
    with pytest.raises(DataError, match=r"holds 2 DICOM series \(.*: 2 files; .*: 1 file\); `tumorseg predict` on the folder predicts each"):
        read_dicom_series(folder)


def test_broken_dicom_names_the_file(tmp_path):
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"\0" * 200)
    with pytest.raises(DataError, match=r"bad\.dcm"):
        predict_files([bad], _ckpt(tmp_path), tmp_path / "out", progress=False, backend="torch")


def test_real_dicom_sample(tmp_path):
    dcm = shared_data("samples", "dicom", "MR_small.dcm")
    out, seg, rt = predict_files([dcm], _ckpt(tmp_path), tmp_path / "out", progress=False, backend="torch")
    assert seg.name == "MR_small_seg.dcm"  # a DICOM SEG beside the PNG (tests/inference/test_volumes.py)
    assert rt.name == "MR_small_rtstruct.dcm"  # and an RTSTRUCT
    assert Image.open(out).size == (64, 64) and set(np.unique(np.asarray(Image.open(out)))) <= {0, 255}


PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"  # shipped inside the pydicom wheel


@pytest.mark.parametrize("name", ["MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm", "MR_small_RLE.dcm"])
def test_compressed_mr_predicts_like_the_uncompressed_file(tmp_path, name):
    """pydicom's MR_small in JPEG-LS, JPEG 2000 (lossless) and RLE: the same pixels, so the same mask."""
    ckpt = _ckpt(tmp_path)
    [plain, *_] = predict_files([PYDICOM_FILES / "MR_small.dcm"], ckpt, tmp_path / "a", progress=False, backend="torch")
    [packed, *_] = predict_files([PYDICOM_FILES / name], ckpt, tmp_path / "b", progress=False, backend="torch")
    assert np.array_equal(np.asarray(Image.open(plain)), np.asarray(Image.open(packed)))
    volume = DicomIO().read(PYDICOM_FILES / name)[0]
    assert np.array_equal(volume, DicomIO().read(PYDICOM_FILES / "MR_small.dcm")[0])


def test_jpeg_lossless_decodes():
    """JPEG Lossless, Process 14 SV1: what PACS exports of MR most often hold (pylibjpeg-libjpeg; Pillow cannot)."""
    ds = read_dicom(PYDICOM_FILES / "SC_rgb_jpeg_gdcm.dcm")
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.70"
    assert dicom_pixels(ds, Path("SC_rgb_jpeg_gdcm.dcm")).shape == (100, 100, 3)


def test_a_jpeg_frame_lying_about_its_size_is_a_one_line_error(tmp_path):
    """The JPEG stream's own header claims 40000×40000 inside a 100×100 DICOM: refused as damaged, nothing huge
    allocated (the decoder fails on the missing data), and the message is one line."""
    from pydicom.encaps import encapsulate, generate_frames

    ds = pydicom.dcmread(PYDICOM_FILES / "SC_rgb_jpeg_gdcm.dcm")
    frame = bytearray(next(generate_frames(ds.PixelData, number_of_frames=1)))
    sof = frame.find(b"\xff\xc3")  # SOF3: marker, length, precision, height, width
    frame[sof + 5 : sof + 9] = (40000).to_bytes(2, "big") * 2
    ds.PixelData = encapsulate([bytes(frame)])
    ds.save_as(tmp_path / "bomb.dcm", enforce_file_format=True)
    with pytest.raises(DataError) as err:
        dicom_pixels(read_dicom(tmp_path / "bomb.dcm"), tmp_path / "bomb.dcm")
    assert "\n" not in str(err.value) and str(err.value).endswith("The pixel data looks damaged; export the series again.")


def test_a_folder_s_headers_are_read_once_until_it_changes(tmp_path, monkeypatch):
    """Listing, choosing a model for and reading a one-series folder read each header once, not once per step; a
    file added (or replaced) makes the folder new again."""
    import tumorseg.data.formats.dicom as dicom

    folder = write_series(tmp_path / "ser")
    reads = []
    real = dicom.read_dicom
    monkeypatch.setattr(dicom, "read_dicom", lambda p, pixels=True: reads.append((p.name, pixels)) or real(p, pixels))
    assert len(dicom.list_series(folder)) == 1 and len(dicom.list_series(folder)) == 1
    assert sorted(reads) == sorted((f"IM{k:03d}.dcm", False) for k in range(1, 5))
    reads.clear()
    volume, _, _ = read_dicom_series(folder)  # groups the cached headers, then decodes each file once
    assert volume.shape == (4, ROWS, COLS) and sorted(reads) == sorted((f"IM{k:03d}.dcm", True) for k in range(1, 5))
    reads.clear()
    write_dcm(folder / "IM000.dcm", np.zeros((ROWS, COLS), np.int16), z=-3.0, instance=9, series_uid=generate_uid())
    assert len(dicom.list_series(folder)) == 2  # the new file, a second series, is seen
    assert len([r for r in reads if not r[1]]) == 5
