"""Size caps checked from headers before decoding (tumorseg.limits) and the block-wise 8-bit conversion."""

from __future__ import annotations

import gzip
import io
import time
import zlib

import numpy as np
import pytest

import hostile
from tumorseg import limits
from tumorseg.data.formats import _common
from tumorseg.data.formats._common import finite_range, to_uint8
from tumorseg.errors import DataError

SMALL = limits.Limits(max_pixels=100 * 100, max_voxels=100 * 100 * 10, max_decoded_bytes=1 << 20, fix="make it smaller")


def _reference_uint8(arr, inside=None, lo_pct=0.5, hi_pct=99.5):
    """The whole-array formula to_uint8 used before it worked in blocks (6 full-size float copies)."""
    arr = np.asarray(arr, dtype=np.float32)
    finite = np.isfinite(arr)
    sel = finite if inside is None else (finite & inside)
    if not sel.any():
        return np.zeros(arr.shape, dtype=np.uint8)
    lo, hi = np.percentile(arr[sel], [lo_pct, hi_pct])
    if hi <= lo:
        hi = lo + 1.0
    out = np.clip((np.where(finite, arr, lo) - lo) / (hi - lo), 0.0, 1.0) * 255.0
    out = out.round().astype(np.uint8)
    if inside is not None:
        out[~inside] = 0
    return out


@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("order", ["C", "F"])
def test_to_uint8_blocks_are_bit_identical_to_the_formula(monkeypatch, dtype, order):
    monkeypatch.setattr(_common, "CHUNK", 997)  # many blocks, none aligned with the array's rows
    rng = np.random.default_rng(7)
    a = np.asarray(np.clip(rng.normal(200, 400, (31, 29, 7)), 0, None), order=order).astype(dtype, order=order)
    if a.dtype.kind == "f":
        a[0, 0, :3], a[2, 2, 2] = np.nan, np.inf
    inside = np.isfinite(a.astype(np.float32)) & (a != 0)
    np.testing.assert_array_equal(to_uint8(a), _reference_uint8(a))
    np.testing.assert_array_equal(to_uint8(a, inside), _reference_uint8(a, inside))
    np.testing.assert_array_equal(to_uint8(a, nonzero=True), _reference_uint8(a, inside))
    np.testing.assert_array_equal(to_uint8(a[:, 3, :]), _reference_uint8(a[:, 3, :]))  # a strided view
    f = a.astype(np.float32)
    ok = np.isfinite(f)
    assert finite_range(a) == (float(f[ok].min()), float(f[ok].max()), int((~ok).sum()))
    assert to_uint8(np.zeros((4, 4), dtype)).max() == 0 and finite_range(np.full(3, np.nan)) == (0.0, 0.0, 3)


def test_checks_name_size_cap_and_fix():
    with limits.using(SMALL):
        limits.check_image(100, 100, "a.png")
        with pytest.raises(limits.LimitExceeded, match=r"a\.png: declares 101×100 pixels .* at most 10,000 .* make it smaller"):
            limits.check_image(101, 100, "a.png")
        with pytest.raises(limits.LimitExceeded, match=r"v\.nii: declares 100 × 100 × 11 = 110,000 voxels"):
            limits.check_volume((100, 100, 11), 1, "v.nii")
        with pytest.raises(limits.LimitExceeded, match="MiB"):
            limits.check_volume((100, 100, 10), 16, "v.nii")  # voxels fine, bytes not
        with pytest.raises(DataError, match="invalid shape"):
            limits.check_volume((100, 0, 3), 1, "v.nii")
    assert limits.current() is limits.FILES  # restored after the block


def test_a_4d_nifti_counts_one_volume_against_the_voxel_cap_and_the_whole_against_the_bytes():
    """Of a 4-D NIfTI one volume at a time is decoded (an MSD file's FLAIR, predict --volume): a real MSD Task01 file
    (240 × 240 × 155 × 4 = 35.7 M voxels) passes the upload cap of 33.6 M voxels, its bytes count whole."""
    with limits.using(limits.UPLOADS):
        limits.check_stack((240, 240, 155, 4), 2, "BRATS_001.nii.gz")
        with pytest.raises(limits.LimitExceeded):
            limits.check_volume((240, 240, 155, 4), 2, "BRATS_001.nii.gz")  # as one volume it would not
    with limits.using(SMALL):
        limits.check_stack((100, 100, 10, 3), 1, "v.nii")  # 30,000 voxels: 10,000 a volume
        with pytest.raises(limits.LimitExceeded, match=r"v\.nii \(one of its 3 volumes\): declares 100 × 100 × 11"):
            limits.check_stack((100, 100, 11, 3), 1, "v.nii")
        with pytest.raises(limits.LimitExceeded, match=r"v\.nii: declares 10 × 10 × 10 × 9000 voxels \(17 MiB"):
            limits.check_stack((10, 10, 10, 9000), 2, "v.nii")  # 1,000 voxels a volume, but 17 MiB in all
        with pytest.raises(limits.LimitExceeded, match="110,000 voxels"):
            limits.check_stack((100, 100, 11, 1), 1, "v.nii")  # one time point: a 3-D volume


def test_inflate_streams_multi_member_stops_and_refuses():
    data = gzip.compress(b"a" * 100_000) + gzip.compress(b"b" * 50_000)
    out = io.BytesIO()
    assert limits.inflate(io.BytesIO(data), out, "x", 31, chunk=1000) == 150_000
    assert out.getvalue() == b"a" * 100_000 + b"b" * 50_000
    head = io.BytesIO()
    assert limits.inflate(io.BytesIO(data), head, "x", 31, stop_after=352, chunk=100) == 352
    with pytest.raises(limits.LimitExceeded, match="decompresses to more than"):
        limits.inflate(io.BytesIO(data), None, "x", 31, limit=120_000)
    raw = zlib.compressobj(9, zlib.DEFLATED, -15)
    assert limits.inflate(io.BytesIO(raw.compress(b"z" * 70_000) + raw.flush() + b"junk"), None, "x", -15) == 70_000
    with pytest.raises(DataError, match="corrupt"):
        limits.inflate(io.BytesIO(b"\x1f\x8b\x08\x00" + b"garbage" * 20), None, "x", 31)


def test_inflate_bomb_costs_no_memory():
    bomb = hostile.nifti_gz_bomb((512, 512, 256))  # 130 kB -> 128 MiB
    t0 = time.perf_counter()
    with pytest.raises(limits.LimitExceeded):
        limits.inflate(io.BytesIO(bomb), None, "bomb", 31, limit=16 << 20)
    assert time.perf_counter() - t0 < 5


def test_nifti_header_refused_before_any_voxel_is_read(tmp_path):
    pytest.importorskip("nibabel")
    from tumorseg.data.formats import nifti

    path = tmp_path / "huge.nii.gz"
    path.write_bytes(gzip.compress(hostile.nifti_header((4096, 4096, 4096))))  # declares 128 GiB, holds nothing
    with pytest.raises(limits.LimitExceeded, match=r"huge\.nii\.gz: declares 4096 × 4096 × 4096"):
        nifti.read_volume(path, cache=False)
    with pytest.raises(limits.LimitExceeded):
        nifti._read_labels(path, 0, 0, "generic")


def test_dicom_bombs_refused_from_header(tmp_path):
    pytest.importorskip("pydicom")
    from tumorseg.data.formats.dicom import dicom_pixels, read_dicom

    rle = tmp_path / "rle.dcm"
    rle.write_bytes(hostile.dicom_rle_bomb(12000, 12000))
    with pytest.raises(limits.LimitExceeded, match="12000×12000"):
        dicom_pixels(read_dicom(rle), rle)
    deflated = tmp_path / "deflated.dcm"
    deflated.write_bytes(hostile.dicom_deflate_bomb(2048, 2048, 1, 16))  # 8 MiB of pixels in ~10 kB
    with limits.using(SMALL), pytest.raises(limits.LimitExceeded, match="decompresses to more than 1 MiB"):
        read_dicom(deflated)
    with limits.using(limits.Limits(2048 * 2048, 2048 * 2048, 64 << 20, "x")):
        ds = read_dicom(deflated)  # within the caps: read as usual
        assert dicom_pixels(ds, deflated).shape == (2048, 2048)


@pytest.mark.parametrize("bomb", [hostile.png_bomb, hostile.tiff_bomb])
def test_image_bombs_refused_before_decoding(tmp_path, bomb):
    from tumorseg.data.imageio import read_gray, read_mask

    path = tmp_path / "bomb.png"
    path.write_bytes(bomb(50000, 50000))
    for read in (read_gray, read_mask):
        with pytest.raises(limits.LimitExceeded, match=r"bomb\.png: declares"):
            read(path)
    path.write_bytes(bomb(120, 100))  # over SMALL's 10,000 pixels, under Pillow's own limit
    with limits.using(SMALL), pytest.raises(limits.LimitExceeded, match="120×100"):
        read_gray(path)
