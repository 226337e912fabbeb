import numpy as np
import torch

from tumorseg.data.dataset import SliceArrays
from tumorseg.data.records import SliceRecord
from tumorseg.data.transforms import build_transform
from tumorseg.inference.calibrate import calibrate
from tumorseg.inference.postprocess import binarize, remove_small_components
from tumorseg.models.base import SegmentationModel


def test_small_components_removed_but_largest_kept():
    m = np.zeros((20, 20), bool)
    m[2:4, 2:4] = True  # 4 px
    m[10:13, 10:13] = True  # 9 px
    out = remove_small_components(m, 5)
    assert out[11, 11] and not out[2, 2]
    only_small = np.zeros((20, 20), bool)
    only_small[0, 0] = True
    assert remove_small_components(only_small, 50)[0, 0]  # never erase everything


def test_binarize_scales_min_size_with_resolution():
    prob = np.zeros((64, 64), np.float32)
    prob[0:2, 0:2] = 0.9  # 4 px at 64² = 1 px at 32²
    prob[30:40, 30:40] = 0.9
    assert binarize(prob, 0.5, min_component_px=1, model_size=32)[0, 0]  # 1 px at 32² -> 4 px here: kept
    assert not binarize(prob, 0.5, min_component_px=2, model_size=32)[0, 0]  # 2 px at 32² -> 8 px: removed
    assert binarize(prob, 0.5, min_component_px=2, model_size=32)[35, 35]


class _Const(SegmentationModel):
    """Returns the input itself as a probability map (image intensities = probabilities)."""
    returns_logits = False

    def forward(self, x):
        return x


def test_calibration_picks_the_threshold_that_fits_validation():
    rng = np.random.default_rng(0)
    images = np.zeros((6, 16, 16), np.uint8)
    masks = np.zeros((6, 16, 16), bool)
    for i in range(6):
        masks[i, 4:10, 4:10] = True
        images[i][masks[i]] = 170  # p = 0.67 inside
        images[i][~masks[i]] = rng.integers(0, 140, size=(~masks[i]).sum())  # p < 0.55 outside
    recs = [SliceRecord(str(i), f"{i}.png") for i in range(6)]
    best = calibrate(_Const(), SliceArrays(images, masks, recs), try_tta=False)
    assert best["threshold"] in (0.55, 0.6, 0.65)
    assert best["val_dice"] == 1.0 and best["val_dice_default"] < 1.0


def test_augmentation_keeps_masks_binary_and_shapes():
    torch.manual_seed(0)
    t = build_transform("mri")
    img, mask = torch.rand(1, 32, 32), (torch.rand(1, 32, 32) > 0.8).float()
    for _ in range(30):
        a, b = t(img, mask)
        assert a.shape == img.shape and b.shape == mask.shape
        assert set(b.unique().tolist()) <= {0.0, 1.0}
        assert 0 <= a.min() and a.max() <= 1
    assert build_transform("none") is None


def test_presence_gate_empties_low_confidence_or_small_findings():
    prob = np.zeros((32, 32), np.float32)
    prob[2:4, 2:4] = 0.6  # 4 px, peak 0.6
    assert binarize(prob, 0.5)[2, 2]  # no gate: marked
    assert not binarize(prob, 0.5, presence_prob=0.7).any()  # peak below the gate: "no tumour"
    assert not binarize(prob, 0.5, presence_px=5).any()  # largest component 4 px < 5
    assert binarize(prob, 0.5, presence_prob=0.55, presence_px=4).sum() == 4  # both gates passed
    # pixel counts are at the model's resolution: 4 px at 32² are 16 px at 64²
    big = np.kron(prob, np.ones((2, 2), np.float32))
    assert binarize(big, 0.5, presence_px=4, model_size=32).sum() == 16
    assert not binarize(big, 0.5, presence_px=5, model_size=32).any()


def test_calibration_with_tumour_free_slices_picks_a_gate_that_meets_the_fp_limit():
    # 4 tumour slices (a bright 6×6 square, p = 0.9) and 6 tumour-free slices with a faint 3×3 blob (p = 0.6)
    images = np.zeros((10, 16, 16), np.uint8)
    masks = np.zeros((10, 16, 16), bool)
    for i in range(4):
        masks[i, 4:10, 4:10] = True
        images[i][masks[i]] = 230
    for i in range(4, 10):
        images[i, 2:5, 2:5] = 153
    recs = [SliceRecord(str(i), f"{i}.png") for i in range(10)]
    best = calibrate(_Const(), SliceArrays(images, masks, recs), try_tta=False, max_fp_rate=0.0)
    assert best["val_fp_rate"] == 0.0 and best["val_detection"] == 1.0 and best["val_dice"] == 1.0
    assert best["presence_prob"] > 0.6 or best["presence_px"] > 9 or best["threshold"] >= 0.6
    # without tumour-free slices the gate stays off
    only_pos = calibrate(_Const(), SliceArrays(images[:4], masks[:4], recs[:4]), try_tta=False)
    assert only_pos["presence_prob"] == 0 and only_pos["presence_px"] == 0 and only_pos["val_fp_rate"] is None


def test_calibration_grid_gives_the_masks_apply_gives():
    from tumorseg.inference.postprocess import apply, variants

    rng = np.random.default_rng(0)
    probs = rng.random((3, 24, 24)).astype(np.float32) ** 3  # speckle: many small components at every threshold
    seen = 0
    for thr, min_px, masks, _ in variants(probs, (0.3, 0.6), (0, 2, 5)):
        assert np.array_equal(masks, apply(probs, {"threshold": thr, "min_component_px": min_px})), (thr, min_px)
        seen += 1
    assert seen == 6
    assert apply(probs[0], {"threshold": 0.6}).shape == (24, 24)
