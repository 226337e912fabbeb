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


def test_calibration_grid_gives_the_masks_apply_gives():
    from tumorseg.inference.postprocess import apply, variants

    rng = np.random.default_rng(0)
    probs = rng.random((3, 24, 24)).astype(np.float32) ** 3  # speckle: many small components at every threshold
    seen = 0
    for thr, min_px, masks in variants(probs, (0.3, 0.6), (0, 2, 5)):
        assert np.array_equal(masks, apply(probs, {"threshold": thr, "min_component_px": min_px})), (thr, min_px)
        seen += 1
    assert seen == 6
    assert apply(probs[0], {"threshold": 0.6}).shape == (24, 24)
