"""Volume -> uint8 scaling: background, window, dtypes (uint8, int16, uint16, z-scored float), memory, real BraTS."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from conftest import shared_data
from tumorseg.data.formats.scaling import background_value, intensity_window, volume_to_uint8


def _with_background(values, bg, dtype, n_bg=20):
    """1-D volume: ``n_bg`` background voxels then ``values``."""
    return np.array([bg] * n_bg + list(values), dtype=dtype)


# (values, background, dtype): foreground at 0 %, 20 %, 60 %, 100 % of its range -> 0, 51, 153, 255; background -> 0
CASES = {
    "uint8": ([10, 20, 40, 60], 0, np.uint8),
    "int16": ([100, 300, 700, 1100], 0, np.int16),
    "uint16": ([1000, 3800, 9400, 15000], 0, np.uint16),
    "int16, background at the minimum (CT-like)": ([-100, -60, 20, 100], -1024, np.int16),
    "z-scored float32 (BraTS 2015)": ([-1.0, -0.6, 0.2, 1.0], -3.6243944, np.float32),
    "float64, background 0 and a brain below it": ([-2.0, -1.8, -1.4, -1.0], 0, np.float64),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hand_checked_window_per_dtype(case):
    values, bg, dtype = CASES[case]
    vol = _with_background(values, bg, dtype)
    assert background_value(vol) == pytest.approx(float(np.asarray(bg, dtype)))
    out = volume_to_uint8(vol, lo_pct=0, hi_pct=100)
    assert out.dtype == np.uint8 and out.shape == vol.shape
    assert out[:20].tolist() == [0] * 20  # background
    assert out[20:].tolist() == [0, 51, 153, 255]
    w = intensity_window(vol, lo_pct=0, hi_pct=100)
    assert (w.lo, w.hi, w.foreground) == pytest.approx((values[0], values[-1], 4))


def test_every_input_type_gives_the_same_image():
    """One anatomy stored as uint8, int16, uint16 and z-scored float: identical uint8 results."""
    rng = np.random.default_rng(0)
    brain = rng.integers(1, 200, (30, 20, 8))
    inside = np.zeros(brain.shape, bool)
    inside[5:25, 4:16, 1:7] = True
    anatomy = np.where(inside, brain, 0)
    z = np.where(inside, (anatomy - 100.0) / 50.0, -2.0 - 100 / 50).astype(np.float32)  # background: a constant minimum
    outs = [volume_to_uint8(v) for v in (anatomy.astype(np.uint8), anatomy.astype(np.int16),
                                          (anatomy * 70).astype(np.uint16), z)]
    assert (outs[0][~inside] == 0).all()
    for other in outs[1:]:
        assert np.abs(other.astype(int) - outs[0]).max() <= 1  # float rounding may differ by one step
    assert outs[0][inside].max() == 255


def test_lookup_table_and_float_paths_agree_and_keep_layout():
    rng = np.random.default_rng(1)
    vol = np.asfortranarray(rng.integers(-500, 3000, (40, 30, 12)).astype(np.int16))
    vol[:5] = 0
    a = volume_to_uint8(vol)
    b = volume_to_uint8(vol.astype(np.float32))
    assert np.abs(a.astype(int) - b).max() <= 1 and np.mean(a == b) > 0.99
    assert a.flags.f_contiguous  # nibabel's arrays are Fortran-ordered; slices vol[..., k] stay contiguous
    big_endian = vol.astype(">i2")
    assert np.array_equal(volume_to_uint8(big_endian), a)


def test_edge_cases():
    assert not volume_to_uint8(np.zeros((4, 4, 2), np.int16)).any()  # all background
    flat = _with_background([7] * 10, 0, np.int16)
    assert volume_to_uint8(flat)[20:].tolist() == [0] * 10  # flat foreground: lo maps to 0, no division by zero
    with_nan = np.array([np.nan, np.inf, -5, -5, -5, 1.0, 2.0, 3.0], np.float32)
    out = volume_to_uint8(with_nan, lo_pct=0, hi_pct=100)
    assert out.tolist() == [0, 0, 0, 0, 0, 0, 128, 255]  # NaN/inf -> 0, background -5 -> 0; 2.0 is mid-way
    noise = np.random.default_rng(2).normal(100, 10, 500)  # no value repeats: no background
    assert background_value(noise) is None and intensity_window(noise).foreground == 500
    with pytest.raises(TypeError, match="real numeric"):
        volume_to_uint8(np.zeros(3, bool))


def _peak(fn, *args) -> int:
    tracemalloc.start()
    try:
        fn(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_no_float_copy_of_the_volume():
    vol = np.random.default_rng(3).integers(0, 4000, (128, 128, 96)).astype(np.int16)  # 3 MB; float32 would be 6
    vol[:30] = 0
    assert _peak(volume_to_uint8, vol) < 1.3 * vol.nbytes  # uint8 result (0.5x) + the foreground values (< 1x)
    fvol = vol.astype(np.float32)  # 6 MB, more than one 4 MB work block
    assert _peak(volume_to_uint8, fvol) < 1.5 * fvol.nbytes  # foreground copy, then block by block


@pytest.mark.parametrize("path", [
    ("brats_2013_pat0001_1", "Flair_subtrMeanDivStd.nii.gz"),  # z-scored float32, background -3.62
    ("brats_2013_pat0001_1", "T1c_subtrMeanDivStd.nii.gz"),
    ("BraTS-GLI-00001-000", "BraTS-GLI-00001-000-t2f.nii.gz"),  # int16 0..3119, background 0
    ("BraTS-GLI-00001-000", "BraTS-GLI-00001-000-t1c.nii.gz"),
], ids=lambda p: p[1])
def test_real_brats_volumes_land_in_one_range(path):
    nib = pytest.importorskip("nibabel")
    from tumorseg.data.formats.nifti import read_volume

    file = shared_data("samples", "brats", *path)
    raw = np.asanyarray(nib.load(str(file)).dataobj)
    if "2013" in path[0]:  # z-scored: the case's brain mask (a scaled int32 that reads as 0.99999997)
        mask = np.asanyarray(nib.load(str(file.parent / "brainmask.nii.gz")).dataobj) > 0.5
    else:  # skull-stripped int16: the brain is every non-zero voxel
        mask = raw != 0
    out, lo, hi, bad, dtype = read_volume(file)
    assert out.shape == raw.shape and out.dtype == np.uint8 and bad == 0
    assert (out[~mask] == 0).all()  # background (0, or the z-score of 0) stays black
    brain = out[mask]
    p5, p50, p95 = np.percentile(brain, [5, 50, 95])
    assert 5 <= p5 <= 60 and 40 <= p50 <= 160 and 100 <= p95 <= 240  # the brain spans the 8-bit range
    assert np.mean(brain == 0) < 0.01 and np.mean(brain == 255) < 0.01  # 0.5 % clipped at each end
    assert lo == pytest.approx(float(raw.min())) and hi == pytest.approx(float(raw.max()))
