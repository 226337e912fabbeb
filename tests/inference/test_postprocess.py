import numpy as np
import pytest
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


def _tumour_and_free(tumour: int, blob: int, blob_side: int) -> tuple[np.ndarray, np.ndarray, list[SliceRecord]]:
    """4 tumour slices (a 6×6 square of brightness ``tumour``) and 6 tumour-free ones with a ``blob_side``² blob of
    brightness ``blob``; ``_Const`` reads brightness / 255 as the probability."""
    images = np.zeros((10, 16, 16), np.uint8)
    masks = np.zeros((10, 16, 16), bool)
    for i in range(4):
        masks[i, 4:10, 4:10] = True
        images[i][masks[i]] = tumour
    for i in range(4, 10):
        images[i, 2:2 + blob_side, 2:2 + blob_side] = blob
    return images, masks, [SliceRecord(str(i), f"{i}.png") for i in range(10)]


def test_calibration_with_tumour_free_slices_picks_a_gate_that_meets_the_fp_limit():
    # 4 tumour slices (a bright 6×6 square, p = 0.9) and 6 tumour-free slices with a faint 3×3 blob (p = 0.6)
    images, masks, recs = _tumour_and_free(230, 153, 3)
    best = calibrate(_Const(), SliceArrays(images, masks, recs), try_tta=False, max_fp_rate=0.0)
    assert best["val_fp_rate"] == 0.0 and best["val_detection"] == 1.0 and best["val_dice"] == 1.0
    assert best["presence_prob"] > 0.6 or best["presence_px"] > 9 or best["threshold"] >= 0.6
    # without tumour-free slices the gate stays off
    only_pos = calibrate(_Const(), SliceArrays(images[:4], masks[:4], recs[:4]), try_tta=False)
    assert only_pos["presence_prob"] == 0 and only_pos["presence_px"] == 0 and only_pos["val_fp_rate"] is None


def test_calibration_never_ships_a_setting_that_finds_no_tumour(caplog):
    # the tumour-free slices look more like tumour (a 6×6 blob, p = 0.9) than the tumours (p = 0.6): the only
    # settings that meet the limit gate every slice off, which must not win over ones that find the tumours
    images, masks, recs = _tumour_and_free(153, 230, 6)
    with caplog.at_level("WARNING", logger="tumorseg.inference.calibrate"):
        best = calibrate(_Const(), SliceArrays(images, masks, recs), try_tta=False, max_fp_rate=0.0)
    assert best["val_detection"] == 1.0 and best["val_dice"] == 1.0 and best["val_fp_rate"] == 1.0
    assert "no setting marks at most 0 % of the 6 tumour-free val slices" in caplog.text
    # a model that finds nothing anywhere says so
    caplog.clear()
    with caplog.at_level("WARNING", logger="tumorseg.inference.calibrate"):
        calibrate(_Const(), SliceArrays(np.zeros_like(images), masks, recs), try_tta=False)
    assert "leaves all 4 val tumour slices empty" in caplog.text


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


def test_volume_dice_objective_prefers_the_whole_lesion_over_slice_averages():
    # per patient: one large tumour (12×12, p 0.9 core, p 0.32 rim) and three small ones (4×4 at p 0.9, with a
    # p 0.32 halo outside the truth). Threshold 0.3 outlines the large lesion fully but adds halos to the small ones:
    # worse mean slice Dice (0.71 vs 0.85), better Dice of the pooled stack (0.87 vs 0.61).
    images = np.zeros((8, 32, 32), np.uint8)
    masks = np.zeros((8, 32, 32), bool)
    for p in range(2):
        big = 4 * p
        masks[big, 4:16, 4:16] = True
        images[big, 4:16, 4:16] = 82
        images[big, 7:13, 7:13] = 230
        for i in range(big + 1, big + 4):
            images[i, 9:15, 9:15] = 82
            images[i, 10:14, 10:14] = 230
            masks[i, 10:14, 10:14] = True
    recs = [SliceRecord(f"{i}", f"{i}.png", patient=f"P{i // 4}") for i in range(8)]
    val = SliceArrays(images, masks, recs)
    by_slice = calibrate(_Const(), val, try_tta=False)
    by_volume = calibrate(_Const(), val, try_tta=False, objective="volume-dice")
    assert by_slice["threshold"] > 0.32 and by_slice["objective"] == "slice-dice"
    assert by_volume["threshold"] == 0.3 and by_volume["min_component_px"] == 0
    assert by_volume["val_volume_dice"] == pytest.approx(2 * 192 / (252 + 192))
    assert by_slice["val_dice"] > by_volume["val_dice"]
    with pytest.raises(ValueError, match="objective"):
        calibrate(_Const(), val, try_tta=False, objective="pixels")


def test_largest_3d_component_keeps_the_lesion_and_respects_volume_gaps():
    from tumorseg.inference.postprocess import apply_volumes, keep_largest_3d

    stack = np.zeros((6, 16, 16), bool)
    stack[1:4, 4:10, 4:10] = True  # the lesion: 3 adjacent slices
    stack[5, 0:2, 0:2] = True  # a false alarm, far away
    stack[0, 12:14, 12:14] = True
    kept = keep_largest_3d(stack)
    assert kept[1:4].sum() == 3 * 36 and not kept[0].any() and not kept[5].any()
    assert not keep_largest_3d(np.zeros((3, 4, 4), bool)).any()
    # records: patient A slices 0..5 given out of order, slice 3 missing (a gap), patient B a single slice
    order = [5, 0, 2, 1, 4]
    recs = [SliceRecord(f"A_{z}", "a.tif", patient="A", slice_index=z) for z in order] + \
        [SliceRecord("B_0", "b.tif", patient="B", slice_index=0), SliceRecord("x", "x.png")]
    masks = np.zeros((7, 16, 16), bool)
    masks[[1, 3, 2]] = stack[[0, 1, 2]]  # slices 0, 1, 2 of the stack
    masks[4] = True  # slice 4: a big blob, cut off from slices 0-2 by the missing slice 3
    masks[5, 0:2, 0:2] = masks[6, 0:2, 0:2] = True
    post = {"largest_component_3d": True}
    out = apply_volumes(masks, post, recs)
    assert out[4].all() and not out[[0, 1, 2, 3]].any()  # across the gap nothing connects: slice 4 wins alone
    assert out[5].sum() == 4 and out[6].sum() == 4  # a one-slice patient and a record without index: untouched
    assert apply_volumes(masks, {"largest_component_3d": False}, recs) is masks


def _two_patients(size: int) -> tuple[np.ndarray, np.ndarray, list[SliceRecord]]:
    """Blank ``(12, size, size)`` images and masks of two patients × 6 numbered slices, and their records."""
    recs = [SliceRecord(f"P{p}_{z}", f"P{p}_{z}.tif", patient=f"P{p}", slice_index=z)
            for p in range(2) for z in range(6)]
    return np.zeros((12, size, size), np.uint8), np.zeros((12, size, size), bool), recs


def _scattered_false_alarms() -> SliceArrays:
    """Two patients × 6 slices: a bright lesion on slices 1-3, and on slices 4-5 a small bright false alarm (as
    bright as the lesion, so no threshold or gate separates them; only 3-D connectivity does)."""
    images, masks, recs = _two_patients(32)
    for i, z in ((i, r.slice_index) for i, r in enumerate(recs)):
        if 1 <= z <= 3:
            masks[i, 8:20, 8:20] = True
            images[i, 8:20, 8:20] = 230
        elif z >= 4:
            images[i, 22:32, 22:32] = 230  # 100 px: no size gate of the grid keeps the 144-px lesion only
    return SliceArrays(images, masks, recs)


def test_volume_calibration_turns_on_the_3d_rule_when_false_alarms_are_scattered():
    val = _scattered_false_alarms()
    best = calibrate(_Const(), val, try_tta=False, objective="volume-dice", max_fp_rate=0.0)
    assert best["largest_component_3d"] is True
    assert best["val_fp_rate"] == 0.0 and best["val_volume_dice"] == pytest.approx(1.0)
    flat = calibrate(_Const(), val, try_tta=False, max_fp_rate=1.0)
    assert flat["largest_component_3d"] is False  # slice-dice calibration never turns it on


def test_calibration_on_probabilities_computed_elsewhere_equals_running_the_model():
    """Out-of-fold calibration: the maps of several models, given as probabilities, choose as the model would."""
    from tumorseg.inference.predictor import predict_probabilities

    val = _scattered_false_alarms()
    maps = {tta: predict_probabilities(_Const(), val.images, "cpu", 4, tta=tta) for tta in (False, True)}
    ran = calibrate(_Const(), val, objective="volume-dice", max_fp_rate=0.0)
    given = calibrate(None, val, objective="volume-dice", max_fp_rate=0.0, probabilities=maps)
    assert given == ran and given["largest_component_3d"] is True
    maps[False] = maps[True] = np.zeros_like(maps[False])  # the given maps are what is searched, not the model's
    assert calibrate(None, val, objective="volume-dice", probabilities=maps)["val_detection"] == 0.0


def test_volume_calibration_chooses_the_confident_lesion_when_the_largest_is_a_false_alarm(monkeypatch):
    # two patients × 6 slices: a small sure lesion (p 0.97, slices 2-3) and a large unsure false alarm (p 0.70,
    # slices 0-3) with a few confident voxels of its own (so hysteresis keeps it): by size the false alarm wins,
    # by confident voxels the lesion; no threshold, clean-up size or gate of the grid separates them
    import tumorseg.inference.calibrate as cal

    images, masks, recs = _two_patients(32)
    for i, z in ((i, r.slice_index) for i, r in enumerate(recs)):
        if z <= 3:
            images[i, 0:8, 0:8] = 179  # 0.70
        if z == 0:
            images[i, 0:2, 0:2] = 245  # 0.96: 4 confident voxels in the false alarm
        if z in (2, 3):
            images[i, 20:24, 20:24] = 247  # 0.97: 32 confident voxels, the lesion
            masks[i, 20:24, 20:24] = True
    val = SliceArrays(images, masks, recs)
    best = calibrate(_Const(), val, try_tta=False, objective="volume-dice", max_fp_rate=1.0)
    assert (best["largest_component_3d"], best["lesion_core_prob"]) == (True, 0.95)
    assert best["val_volume_dice"] == pytest.approx(1.0)
    monkeypatch.setattr(cal, "LESION_CORE_PROB", (0.0,))  # without the setting in the search: the false alarm
    assert calibrate(_Const(), val, try_tta=False, objective="volume-dice", max_fp_rate=1.0)["val_volume_dice"] < 0.9


def test_volume_calibration_finds_the_confident_lesion_of_a_network_whose_probabilities_stop_low(monkeypatch):
    # like the bundled t1c, whose probabilities stop at 0.59: no voxel reaches 0.95, so "confident" has to mean
    # p >= 0.5. Slices 2-3 of two patients: a lesion (core p 0.58, faint rim p 0.39 that is tumour too) and a
    # larger false alarm (p 0.39). The rim needs a threshold under 0.39, which lets the false alarm in; by size the
    # false alarm wins; with p >= 0.95 (no such voxel) too; with p >= 0.5 the lesion
    import tumorseg.inference.calibrate as cal

    images, masks, recs = _two_patients(32)
    for i, z in ((i, r.slice_index) for i, r in enumerate(recs)):
        if z in (2, 3):
            images[i, 0:12, 0:12] = 100  # 0.39: the false alarm, 144 px a slice
            images[i, 18:28, 18:28] = 100  # the lesion's rim ...
            images[i, 20:26, 20:26] = 148  # ... and core, 0.58
            masks[i, 18:28, 18:28] = True
    val = SliceArrays(images, masks, recs)
    best = calibrate(_Const(), val, try_tta=False, objective="volume-dice", max_fp_rate=1.0)
    assert (best["largest_component_3d"], best["lesion_core_prob"]) == (True, 0.5)
    assert best["val_volume_dice"] == pytest.approx(1.0)
    monkeypatch.setattr(cal, "LESION_CORE_PROB", (0.0, 0.95))  # the search before 2026-12-05
    assert calibrate(_Const(), val, try_tta=False, objective="volume-dice", max_fp_rate=1.0)["val_volume_dice"] < 0.9



def test_volume_calibration_trims_a_thin_sliver_that_no_size_gate_can_remove(monkeypatch):
    # patient P0: a 400-px lesion on slices 1-3 running on as a 36-px false sliver on slice 4 (touching it, as
    # sure of itself); patient P1: a 36-px lesion on slices 1-3. Any absolute size gate that drops the sliver
    # drops P1's lesion; a share of each lesion's largest slice (0.1 × 400 = 40 px) drops only the sliver
    import tumorseg.inference.calibrate as cal

    images, masks, recs = _two_patients(32)
    for i, r in enumerate(recs):
        if r.patient == "P0" and 1 <= r.slice_index <= 3:
            images[i, 6:26, 6:26] = 230
            masks[i, 6:26, 6:26] = True
        if r.patient == "P0" and r.slice_index == 4:
            images[i, 10:16, 10:16] = 230
        if r.patient == "P1" and 1 <= r.slice_index <= 3:
            images[i, 10:16, 10:16] = 230
            masks[i, 10:16, 10:16] = True
    val = SliceArrays(images, masks, recs)
    best = calibrate(_Const(), val, try_tta=False, objective="volume-dice", max_fp_rate=1.0)
    assert (best["largest_component_3d"], best["lesion_slice_share"]) == (True, 0.1)
    assert best["val_volume_dice"] == pytest.approx(1.0) and best["val_fp_rate"] == 0.0
    monkeypatch.setattr(cal, "LESION_SLICE_SHARE", (0.0,))  # without the setting in the search: the sliver stays
    assert calibrate(_Const(), val, try_tta=False, objective="volume-dice", max_fp_rate=1.0)["val_volume_dice"] < 1.0


def test_smooth_z_blends_neighbours_and_never_reaches_across_ends_or_gaps():
    from tumorseg.inference.postprocess import smooth_z

    p = np.zeros((4, 2, 2), np.float32)
    p[1] = 1.0
    out = smooth_z(p, 0.25)
    assert out[:, 0, 0].tolist() == pytest.approx([0.25, 0.5, 0.25, 0.0])
    ends = smooth_z(np.ones((3, 2, 2), np.float32), 0.25)  # the end slices use themselves: a flat stack stays flat
    assert np.allclose(ends, 1.0)
    gap = smooth_z(p, 0.25, present=np.array([True, True, False, True]))  # slice 2 missing: 3 is cut off from 1
    assert gap[3, 0, 0] == 0.0 and gap[1, 0, 0] == pytest.approx(0.75)  # slice 1 uses itself for its missing 2
    assert smooth_z(p, 0.0) is p and np.array_equal(smooth_z(p[:1], 0.3), p[:1])  # one slice: nothing to blend


def test_hysteresis_keeps_only_components_with_a_confident_voxel():
    from tumorseg.inference.postprocess import apply_volume, keep_seeded_3d

    probs = np.zeros((3, 8, 8), np.float32)
    probs[0:2, 0:3, 0:3] = 0.6
    probs[1, 1, 1] = 0.97  # lesion 1: one confident voxel
    probs[0:3, 5:8, 5:8] = 0.6  # lesion 2: faint everywhere, and larger
    masks = probs > 0.5
    kept = keep_seeded_3d(masks, probs, 0.95)
    assert kept[:, 0:3, 0:3].sum() == 18 and not kept[:, 5:8, 5:8].any()
    assert not keep_seeded_3d(masks, probs, 0.99).any()
    # the order of the volume rules: hysteresis first, then the largest component of what is left
    both = apply_volume(masks, {"hysteresis_prob": 0.95, "largest_component_3d": True}, probs)
    assert np.array_equal(both, kept)
    assert apply_volume(masks, {"largest_component_3d": True}, probs)[:, 5:8, 5:8].all()  # largest alone: lesion 2
    assert apply_volume(masks, {"hysteresis_prob": 0.95}) is masks  # no probabilities: nothing to seed from


def test_volume_paths_agree_evaluate_records_predict_stack_and_upload():
    from tumorseg.inference.postprocess import VolumeMasks, apply_records, binarize_volume

    rng = np.random.default_rng(1)
    probs = rng.random((5, 16, 16)).astype(np.float32) ** 3
    probs[1:4, 4:10, 4:10] = 0.9
    post = {"threshold": 0.5, "z_smooth": 0.2, "hysteresis_prob": 0.85, "largest_component_3d": True,
            "min_component_px": 3}
    whole = binarize_volume(probs, post)
    recs = [SliceRecord(f"A_{z}", "a.tif", patient="A", slice_index=z) for z in (3, 0, 4, 1, 2)]
    by_records = apply_records(probs[[3, 0, 4, 1, 2]], post, recs)
    assert np.array_equal(by_records, whole[[3, 0, 4, 1, 2]])
    for rules in (post, {"threshold": 0.5, "largest_component_3d": True}):  # probabilities kept, or masks only
        vm = VolumeMasks(5, (16, 16), rules)
        assert (vm.probs is None) == (rules is not post)
        for z in range(5):
            vm.add(z, probs[z])
        assert np.array_equal(vm.masks(), binarize_volume(probs, rules))
    from scipy import ndimage

    assert whole[1:4, 4:10, 4:10].all() and ndimage.label(whole, np.ones((3, 3, 3)))[1] == 1  # the lesion only


def test_volume_calibration_chooses_hysteresis_for_a_faint_false_alarm_beside_two_lesions():
    # per patient, slices 1-3: lesion A (confident core p 0.98 with a faint rim p 0.63 that is tumour too), a small
    # second lesion B (p 0.98), and a faint false alarm (p 0.63, larger than B). Outlining A's rim needs a threshold
    # under 0.63, which lets the false alarm in; one-lesion-per-volume would drop B; only a seed (p ≥ 0.95) picks both
    images, masks, recs = _two_patients(40)
    for i, z in ((i, r.slice_index) for i, r in enumerate(recs)):
        if 1 <= z <= 3:
            images[i, 2:16, 2:16] = 160
            images[i, 5:13, 5:13] = 250
            masks[i, 2:16, 2:16] = True
            images[i, 30:34, 30:34] = 250
            masks[i, 30:34, 30:34] = True
            images[i, 2:12, 26:36] = 160
    val = SliceArrays(images, masks, recs)
    best = calibrate(_Const(), val, try_tta=False, objective="volume-dice", max_fp_rate=0.0, progress=True)
    assert best["hysteresis_prob"] == 0.95 and best["threshold"] < 0.63
    assert best["val_volume_dice"] == pytest.approx(1.0)
    from tumorseg.inference.postprocess import DEFAULTS

    assert set(DEFAULTS) <= set(best)


def test_lesion_core_prob_keeps_the_confident_component_in_every_path():
    """A big, unsure false alarm (p 0.7) and a smaller, sure lesion (p 0.97): by size the false alarm is kept,
    with lesion_core_prob 0.95 the lesion — in evaluate's records path, predict's VolumeMasks and the stack alike."""
    from tumorseg.inference.postprocess import (VolumeMasks, apply_records, binarize_volume, check_settings,
                                                keep_largest_3d, needs_probabilities)

    probs = np.zeros((5, 16, 16), np.float32)
    probs[0:4, 0:8, 0:8] = 0.7  # 256 voxels
    probs[2:4, 10:14, 10:14] = 0.97  # 32 voxels
    by_size = {"threshold": 0.5, "largest_component_3d": True}
    by_core = {**by_size, "lesion_core_prob": 0.95}
    assert binarize_volume(probs, by_size)[0:4, 0:8, 0:8].all()
    kept = binarize_volume(probs, by_core)
    assert kept.sum() == 32 and kept[2:4, 10:14, 10:14].all()
    recs = [SliceRecord(f"A_{z}", "a.tif", patient="A", slice_index=z) for z in (4, 2, 0, 3, 1)]
    assert np.array_equal(apply_records(probs[[4, 2, 0, 3, 1]], by_core, recs), kept[[4, 2, 0, 3, 1]])
    assert needs_probabilities(by_core) and not needs_probabilities(by_size)
    for rules in (by_core, {**by_core, "z_smooth": 0.1}):  # bool masks + confident voxels, or probabilities kept
        vm = VolumeMasks(5, (16, 16), rules)
        assert (vm.probs is None) == (rules is by_core) and (vm._core is not None) == (rules is by_core)
        for z in range(5):
            vm.add(z, probs[z])
        assert np.array_equal(vm.masks(), binarize_volume(probs, rules))
    # no voxel reaches the core probability: the largest, as without the setting
    masks = probs > 0.5
    assert np.array_equal(keep_largest_3d(masks, probs >= 0.99), keep_largest_3d(masks))
    # without the one-lesion rule the setting does nothing; it is a probability in [0, 1)
    assert not needs_probabilities({"lesion_core_prob": 0.95})
    assert check_settings({"lesion_core_prob": 0.95}) and pytest.raises(ValueError, check_settings,
                                                                       {"lesion_core_prob": 1.5})


def test_lesion_slice_share_trims_the_kept_lesions_thin_slices_in_every_path():
    """A lesion of 64 px on slices 1-3 running on as 4-px slivers on slices 0 and 4 (and 9 px on slice 5): with
    lesion_slice_share 0.1 the slivers go (4 < 6.4), the 9-px slice and the lesion's body stay — in evaluate's
    records path, predict's VolumeMasks and the stack alike; without the one-lesion rule nothing is trimmed."""
    from tumorseg.inference.postprocess import (VolumeMasks, apply_records, binarize_volume, check_settings,
                                                trim_thin_slices)

    probs = np.zeros((6, 16, 16), np.float32)
    probs[1:4, 4:12, 4:12] = 0.9
    probs[0, 6:8, 6:8] = probs[4, 6:8, 6:8] = 0.9
    probs[5, 6:9, 6:9] = 0.9  # touches slice 4's sliver: one 3-D lesion
    rules = {"threshold": 0.5, "largest_component_3d": True, "lesion_slice_share": 0.1}
    kept = binarize_volume(probs, rules)
    area = kept.reshape(6, -1).sum(1)
    assert list(area) == [0, 64, 64, 64, 0, 9]  # slivers of 4 px dropped, 9 px ≥ 6.4 kept (a gap at slice 4)
    assert list(binarize_volume(probs, {**rules, "lesion_slice_share": 0.0}).reshape(6, -1).sum(1)) == [4, 64, 64, 64,
                                                                                                        4, 9]
    recs = [SliceRecord(f"A_{z}", "a.tif", patient="A", slice_index=z) for z in (5, 2, 0, 3, 1, 4)]
    assert np.array_equal(apply_records(probs[[5, 2, 0, 3, 1, 4]], rules, recs), kept[[5, 2, 0, 3, 1, 4]])
    vm = VolumeMasks(6, (16, 16), rules)
    for z in range(6):
        vm.add(z, probs[z])
    assert np.array_equal(vm.masks(), kept)
    # the one-lesion rule off (--no-one-lesion): every slice stays whole
    assert binarize_volume(probs, {**rules, "largest_component_3d": False}).sum() == 64 * 3 + 4 + 4 + 9
    assert trim_thin_slices(np.zeros((3, 4, 4), bool), 0.5).sum() == 0
    assert check_settings({"lesion_slice_share": 0.1}) and pytest.raises(ValueError, check_settings,
                                                                         {"lesion_slice_share": 1.0})


def _three_lesions() -> tuple[np.ndarray, np.ndarray]:
    """A ``(6, 16, 16)`` stack: lesion A (slices 1-3, 108 voxels), B (slices 4-5, 32 voxels, apart from A), C (one
    slice, 4 voxels); and a core: all of B and 16 voxels of A on slice 2."""
    stack = np.zeros((6, 16, 16), bool)
    stack[1:4, 2:8, 2:8] = True
    stack[4:6, 10:14, 10:14] = True
    stack[0, 14:16, 0:2] = True
    core = np.zeros_like(stack)
    core[4:6, 10:14, 10:14] = True
    core[2, 2:6, 2:6] = True
    return stack, core


def test_one_lesion_rule_reports_the_runner_up_it_left_out():
    from tumorseg.inference.postprocess import LeftOut, choose_lesion, keep_largest_3d

    stack, core = _three_lesions()
    kept, left = choose_lesion(stack)  # by size: A kept, B the runner-up
    assert np.array_equal(kept, keep_largest_3d(stack)) and kept[1:4].sum() == 108 and kept.sum() == 108
    assert left == LeftOut(lesions=2, voxels=32, share=round(32 / 108, 4), largest_slice=4) and left.close_call
    kept, left = choose_lesion(stack, core)  # by confident voxels: B (32) kept, A (16) the runner-up
    assert np.array_equal(kept, keep_largest_3d(stack, core)) and kept[4:6].sum() == 32 and kept.sum() == 32
    assert left == LeftOut(lesions=2, voxels=108, share=0.5, largest_slice=1)  # A's slices tie: the first
    one = np.zeros((3, 8, 8), bool)
    one[0:2, 1:3, 1:3] = True
    assert choose_lesion(one)[1] == LeftOut() and not LeftOut().close_call
    assert choose_lesion(np.zeros((3, 8, 8), bool))[1] == LeftOut()
    small = stack.copy()
    small[4:6] = False  # A and C: C is 4 / 108 of A, no close call
    assert choose_lesion(small)[1] == LeftOut(1, 4, round(4 / 108, 4), 0)
    assert not choose_lesion(small)[1].close_call


def test_a_close_call_is_the_same_test_for_a_lesion_choice_and_a_row_read_back():
    from tumorseg.inference.postprocess import CLOSE_CALL, LeftOut, is_close_call

    # summary.json / per_volume.csv cells: None or "" where the rule did not run, text after a CSV round trip
    assert [is_close_call(v) for v in (None, "", 0, "0.2499", CLOSE_CALL, str(CLOSE_CALL), 0.9)] == \
        [False, False, False, False, True, True, True]
    assert LeftOut(share=CLOSE_CALL).close_call and not LeftOut(share=0.2499).close_call


@pytest.mark.parametrize("extra", [{}, {"hysteresis_prob": 0.5}])  # masks + confident bits, or probabilities
def test_every_volume_path_reports_the_same_runner_up(extra):
    # predict's VolumeMasks (masks + confident bits, or probabilities) and evaluate's apply_records give one answer;
    # records number the runner-up's slice as the files do
    from tumorseg.inference.postprocess import LeftOut, VolumeMasks, apply_records, apply_volume

    stack, core = _three_lesions()
    probs = np.where(core, 0.99, np.where(stack, 0.9, 0.0)).astype(np.float32)
    rules = {"largest_component_3d": True, "lesion_core_prob": 0.95, **extra}
    vm = VolumeMasks(6, (16, 16), rules)
    for i, p in enumerate(probs):
        vm.add(i, p)
    got: dict = {}
    masks = vm.masks(got)
    assert masks[4:6].sum() == 32 and got["left_out"].voxels == 108 and got["left_out"].largest_slice == 1
    if not extra:
        assert got["left_out"] == LeftOut(2, 108, 0.5, 1)
    recs = [SliceRecord(f"P_{z}", f"{z}.tif", patient="P", slice_index=10 + z) for z in range(6)]
    by_records: dict = {}
    assert np.array_equal(apply_records(probs, rules, recs, report=by_records), masks)
    assert by_records["left_out"] == [dataclass_replace(got["left_out"], largest_slice=11)]
    off: dict = {}
    apply_volume(stack, {"largest_component_3d": False}, report=off)
    assert off == {}  # the rule did not run: nothing to report


def dataclass_replace(obj, **changes):
    import dataclasses

    return dataclasses.replace(obj, **changes)
