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
