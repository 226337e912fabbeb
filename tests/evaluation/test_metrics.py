import numpy as np
import pytest
import torch

from tumorseg.evaluation.metrics import dice_iou


def _m(rows):
    return torch.tensor(rows, dtype=torch.bool)[None]


@pytest.mark.parametrize(
    "pred, truth, dice, iou",
    [
        ([[1, 1], [0, 0]], [[1, 0], [0, 0]], 2 / 3, 1 / 2),  # tp=1 fp=1 fn=0
        ([[1, 1], [1, 0]], [[0, 1], [1, 1]], 4 / 6, 2 / 4),  # tp=2 fp=1 fn=1
        ([[0, 0], [0, 0]], [[0, 0], [0, 0]], 1.0, 1.0),  # both empty: nothing to find, nothing found
        ([[0, 0], [0, 0]], [[1, 0], [0, 0]], 0.0, 0.0),  # missed tumour counts as 0
        ([[1, 0], [0, 0]], [[0, 0], [0, 0]], 0.0, 0.0),  # false alarm on an empty slice
        ([[1, 1], [1, 1]], [[1, 1], [1, 1]], 1.0, 1.0),
    ],
)
def test_dice_iou_hand_values(pred, truth, dice, iou):
    d, i = dice_iou(_m(pred), _m(truth))
    assert d[0] == pytest.approx(dice)
    assert i[0] == pytest.approx(iou)


def test_per_image_not_pooled():
    pred = torch.tensor([[[1, 1, 1, 1]], [[0, 0, 0, 0]]], dtype=torch.bool)
    truth = torch.tensor([[[1, 1, 1, 1]], [[1, 0, 0, 0]]], dtype=torch.bool)
    d, _ = dice_iou(pred, truth)
    np.testing.assert_allclose(d, [1.0, 0.0])  # mean 0.5; pooled would be 8/9


def test_summary_counts_empty_predictions_and_wrong_places_apart():
    from tumorseg.evaluation.evaluate import summarise

    base = {"iou": 0.0, "case_id": "x", "patient": "p1", "label": "glioma"}
    rows = [
        {**base, "dice": 0.0, "predicted_area_px": 0, "tumour_area_px": 50, "tumour_fraction": 0.01},   # missed
        {**base, "dice": 0.0, "predicted_area_px": 40, "tumour_area_px": 50, "tumour_fraction": 0.01},  # elsewhere
        {**base, "dice": 0.8, "iou": 0.67, "predicted_area_px": 45, "tumour_area_px": 50, "tumour_fraction": 0.01},
    ]
    s = summarise(rows)
    assert (s["n_missed"], s["n_no_overlap"]) == (1, 2)
    assert abs(s["mean_dice"] - 0.8 / 3) < 1e-9  # the misses stay in the mean as 0


def test_per_case_csv_round_trip_keeps_text_ids_and_numbers(tmp_path):
    from tumorseg.evaluation.per_case import read_per_case, write_per_case

    rows = [{"case_id": "0012", "patient": "7", "label": "glioma", "dice": 0.5, "iou": 1 / 3, "hd95_px": float("inf"),
             "tumour_area_px": 40, "tumour_fraction": 0.01, "predicted_area_px": 0, "fold": "fold_0"}]
    write_per_case(rows, tmp_path / "per_case.csv")
    back = read_per_case(tmp_path / "per_case.csv")
    assert back == rows and isinstance(back[0]["tumour_area_px"], int)


@pytest.mark.parametrize(
    "pred, truth, sensitivity, precision",
    [
        ([[1, 1], [0, 0]], [[1, 0], [0, 0]], 1.0, 1 / 2),  # tp=1 fp=1 fn=0
        ([[1, 1], [1, 0]], [[0, 1], [1, 1]], 2 / 3, 2 / 3),  # tp=2 fp=1 fn=1
        ([[1, 0], [0, 0]], [[1, 1], [1, 1]], 1 / 4, 1.0),  # tp=1 fp=0 fn=3
        ([[0, 0], [0, 0]], [[0, 0], [0, 0]], 1.0, 1.0),  # both empty: nothing to find, no false alarm
        ([[0, 0], [0, 0]], [[1, 0], [0, 0]], 0.0, 0.0),  # missed tumour: 0, never NaN
        ([[1, 0], [0, 0]], [[0, 0], [0, 0]], 1.0, 0.0),  # false alarm on an empty slice
    ],
)
def test_sensitivity_precision_hand_values(pred, truth, sensitivity, precision):
    from tumorseg.evaluation.metrics import sensitivity_precision

    s, p = sensitivity_precision(_m(pred), _m(truth))
    assert (s[0], p[0]) == (pytest.approx(sensitivity), pytest.approx(precision))


def _canvas():
    return np.zeros((20, 20), bool)


def test_hd95_hand_values():
    from tumorseg.evaluation.metrics import hd95

    a, b = _canvas(), _canvas()
    a[2:10, 2], b[2:10, 6] = True, True  # two parallel 1-px lines 4 columns apart: every distance is 4
    assert hd95(a, b) == pytest.approx(4.0)
    assert hd95(a, b, spacing=(2.0, 0.5)) == pytest.approx(2.0)  # columns are 0.5 mm apart
    assert hd95(a, a) == 0.0
    # 95th percentile, not the maximum: a line of 20 px plus 2 stray px 10 px away gives 22 pred->truth distances
    # (20 zeros, two 10s); linear interpolation at 0.95 * 21 = 19.95 -> 0 + 0.95 * 10 = 9.5 (truth->pred: all 0)
    line = _canvas()
    line[:, 2] = True
    stray = line.copy()
    stray[0:2, 12] = True
    assert hd95(stray, line) == pytest.approx(9.5, abs=1e-4)
    stray[1, 12] = False  # one stray px of 21: 0.95 * 20 = 19 -> exactly the 20th zero
    assert hd95(stray, line) == pytest.approx(0.0)


def test_hd95_empty_mask_rules():
    from tumorseg.evaluation.metrics import hd95

    empty, lesion = _canvas(), _canvas()
    lesion[5:8, 5:8] = True
    assert hd95(empty, empty) == 0.0  # nothing to find, nothing found
    assert hd95(empty, lesion) == pytest.approx(np.hypot(20, 20))  # missed: the image diagonal, not NaN/inf
    assert hd95(lesion, empty) == pytest.approx(np.hypot(20, 20))  # false alarm: the same
    assert hd95(empty, lesion, spacing=(1.0, 2.0)) == pytest.approx(np.hypot(20, 40))


def test_hd95_prints_no_monai_deprecation_warning():
    """Regression: evaluation printed MONAI's FutureWarning about ``always_return_as_numpy`` to users."""
    import warnings

    from tumorseg.evaluation.metrics import hd95

    a, b = _canvas(), _canvas()
    a[2:6, 2:6], b[3:7, 3:7] = True, True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hd95(a, b)
    assert not [w for w in caught if issubclass(w.category, (FutureWarning, DeprecationWarning))], caught


def test_confusion_counts_match_a_float_computation_with_empty_and_full_slices():
    from tumorseg.evaluation.metrics import confusion

    g = torch.Generator().manual_seed(0)
    pred = torch.rand(6, 1, 37, 41, generator=g) > 0.7
    truth = torch.rand(6, 1, 37, 41, generator=g) > 0.6
    pred[0] = False  # a missed slice
    truth[1] = False  # a false alarm
    pred[2] = truth[2] = False  # nothing to find, nothing found
    pred[3] = truth[3] = True
    tp, fp, fn = confusion(pred, truth)
    p, t = pred.flatten(1).double(), truth.flatten(1).double()
    assert tp.dtype == fp.dtype == fn.dtype == torch.int64 and tp.shape == (6,)
    assert torch.equal(tp.double(), (p * t).sum(1))
    assert torch.equal(fp.double(), (p * (1 - t)).sum(1))
    assert torch.equal(fn.double(), ((1 - p) * t).sum(1))
    assert tp[3] == 37 * 41 and fp[3] == fn[3] == 0
