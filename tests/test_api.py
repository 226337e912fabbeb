"""tumorseg from Python (:mod:`tumorseg.api`): arrays give what ``predict`` gives for the same pixels."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import tumorseg
from tumorseg.errors import CheckpointError, DataError

from conftest import shared_data, tiny_checkpoint


@pytest.fixture
def bright_segmenter(bright):
    """A :class:`tumorseg.Segmenter` whose probability is 1 exactly where the uint8 slice is ≥ 128 (conftest)."""
    return tumorseg.Segmenter(bright)


def _two_lesions() -> np.ndarray:
    vol = np.zeros((6, 32, 32), np.int16)
    vol[:, 2:30, 2:30] = 300  # "brain"
    vol[1:5, 4:14, 4:14] = 1000  # a large lesion over 4 slices
    vol[2, 24:27, 24:27] = 1000  # a small one on one slice
    return vol


def test_import_is_light_and_names_resolve():
    code = "import sys, tumorseg; assert 'torch' not in sys.modules; tumorseg.load; assert 'torch' in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
    with pytest.raises(AttributeError):
        tumorseg.no_such_thing  # noqa: B018


def test_volume_dtypes_rules_and_summary(bright_segmenter):
    vol = _two_lesions()
    as_int16 = bright_segmenter.segment_volume(vol, spacing_mm=(5.0, 0.5, 0.5), name="case")
    # z-scored floats scale to the same uint8 slices (foreground percentiles), so the same masks
    z = (vol.astype(np.float32) - 500) / 300
    assert np.array_equal(bright_segmenter.segment_volume(z).masks, as_int16.masks)
    assert as_int16.masks.shape == vol.shape and as_int16.masks.dtype == bool
    # the model's one-lesion rule is on (tiny_checkpoint stores none: set it as t1c and flair have it)
    bright_segmenter.predictor.post["largest_component_3d"] = True
    one = bright_segmenter.segment_volume(vol, spacing_mm=(5.0, 0.5, 0.5), name="case")
    assert one.masks[1:5, 4:14, 4:14].all() and not one.masks[2, 24:27, 24:27].any()
    assert as_int16.masks[2, 24:27, 24:27].all()
    s = one.summary
    assert (s.slices_with_tumour, s.tumour_voxels, s.volume_ml) == (4, 400, round(400 * 5 * 0.25 / 1000, 4))
    assert s.line().startswith("case: tumour in 4/6 slices, 0.50 mL") and s.model == "m.pt"
    empty = bright_segmenter.segment_volume(np.zeros((3, 16, 16), np.uint8))
    assert not empty.masks.any() and empty.summary.line() == "no tumour found (3 slices)"


def test_slice_and_one_lesion_switch(tmp_path):
    seg = tumorseg.load(tiny_checkpoint(tmp_path / "m.pt"), device="cpu", backend="torch", one_lesion=False)
    assert seg.predictor.post["largest_component_3d"] is False and seg.channels == 1
    img = np.zeros((40, 48), np.uint16)
    img[10:20, 10:20] = 4000
    prob = seg.probabilities(img)
    assert prob.shape == (40, 48) and prob.dtype == np.float32 and 0 <= prob.min() <= prob.max() <= 1
    mask = seg.segment(img)
    assert mask.shape == (40, 48) and mask.dtype == bool


@pytest.mark.parametrize("shape, call, said", [
    ((5, 32, 32, 1, 1), "segment_volume", "a volume is (Z, H, W)"),
    ((32,), "segment", "a slice is (H, W)"),
    ((4, 0, 32), "segment_volume", "shape (4, 0, 32)"),
    ((3, 32, 32), "segment", "has 3 channel(s)"),  # a 3-channel slice for a 1-channel model
    ((2, 3, 32, 32), "segment_volume", "has 3 channel(s)"),
])
def test_bad_shapes_are_one_line_errors(bright_segmenter, shape, call, said):
    with pytest.raises(DataError) as err:
        getattr(bright_segmenter, call)(np.ones(shape, np.uint8))
    assert said in str(err.value) and "\n" not in str(err.value)


def test_bad_spacing_and_unknown_model(bright_segmenter):
    with pytest.raises(DataError, match="spacing_mm"):
        bright_segmenter.segment_volume(_two_lesions(), spacing_mm=(1.0, 0.0, 1.0))
    with pytest.raises(CheckpointError, match="flair"):  # the message lists the bundled names
        tumorseg.load("no-such-model")


def test_real_nifti_array_gives_predicts_mask(tmp_path):
    """The BraTS 2023 sample FLAIR as a numpy array (slices first) with its affine gets the mask ``predict`` writes
    for the file (flair reads the slices in the radiological view, which the affine gives)."""
    nib = pytest.importorskip("nibabel")
    path = shared_data("samples", "brats", "BraTS-GLI-00001-000", "BraTS-GLI-00001-000-t2f.nii.gz")
    img = nib.load(path)
    vol = np.moveaxis(np.asanyarray(img.dataobj), -1, 0)  # (X, Y, Z) -> (Z, X, Y), raw scanner values
    seg = tumorseg.load("flair", device="cpu")
    zooms = img.header.get_zooms()
    result = seg.segment_volume(vol, spacing_mm=(zooms[2], zooms[0], zooms[1]), name="case", affine=img.affine)
    [written] = tumorseg.predict(path, out=tmp_path / "out", model="flair", device="cpu", progress=False)
    by_file = np.moveaxis(np.asanyarray(nib.load(written).dataobj) > 0, -1, 0)
    assert result.summary.slices_with_tumour > 0
    assert np.array_equal(result.masks, by_file)
