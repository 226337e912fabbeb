"""Tumour presence (image level), Dice by tumour present/absent and per-volume Dice: hand-checked values."""

import csv
import json

import numpy as np
import pytest

from conftest import shared_data, tiny_checkpoint
from tumorseg.data.dataset import SliceArrays
from tumorseg.data.records import SliceRecord
from tumorseg.evaluation.evaluate import evaluate, presence_lines, score_masks, summarise, write_results
from tumorseg.evaluation.metrics import DICE_RULE, presence, volume_dice
from tumorseg.models.checkpoint import load_checkpoint, save_checkpoint
from tumorseg.training.cv import aggregate


def _mask(cells):
    m = np.zeros((4, 4), bool)
    for r, c in cells:
        m[r, c] = True
    return m


# patient A: 3 slices, patient B: 2 slices (4x4 masks); (truth, prediction)
CASES = {
    "A1": (_mask([(0, 0), (0, 1), (1, 0), (1, 1)]), _mask([(0, 0), (0, 1)])),  # tp 2: Dice 2*2/(2+4) = 2/3
    "A2": (_mask([]), _mask([(3, 0), (3, 1), (3, 2)])),  # false alarm on a tumour-free slice: Dice 0
    "A3": (_mask([(2, 2), (2, 3)]), _mask([])),  # missed tumour: Dice 0
    "B1": (_mask([]), _mask([])),  # both empty: Dice 1
    "B2": (_mask([(0, 0), (0, 1), (0, 2)]), _mask([(0, 2), (1, 2), (2, 2)])),  # tp 1: Dice 2/6
}


@pytest.fixture
def rows():
    records = [SliceRecord(case_id=k, image=None, patient=k[0]) for k in CASES]
    truth = np.stack([t for t, _ in CASES.values()])
    pred = np.stack([p for _, p in CASES.values()])
    arrays = SliceArrays(np.zeros((5, 4, 4), np.uint8), truth, records)
    return score_masks(pred, arrays, distances=False), arrays, pred


def test_presence_counts_and_rates():
    p = presence([4, 0, 2, 0, 3], [2, 3, 0, 0, 3])
    assert (p["tp"], p["fn"], p["fp"], p["tn"]) == (2, 1, 1, 1)
    assert (p["n_tumour"], p["n_tumour_free"]) == (3, 2)
    assert p["sensitivity"] == pytest.approx(2 / 3) and p["specificity"] == 0.5 and p["fp_slice_rate"] == 0.5
    assert p["dice_rule"] == DICE_RULE and "both empty -> Dice 1" in DICE_RULE


def test_presence_without_tumour_free_slices_has_no_specificity():
    p = presence([5, 7], [0, 1])  # figshare: every slice has a tumour
    assert p["specificity"] is None and p["fp_slice_rate"] is None and p["sensitivity"] == 0.5
    lines = presence_lines({"presence": p})
    assert "specificity n/a (no tumour-free slices)" in lines[0] and "1 of 2 tumour slices found" in lines[0]


@pytest.mark.parametrize("tp,pred,truth,dice", [
    ([2, 0, 0], [2, 3, 0], [4, 0, 2], 4 / 11),
    ([1, 0], [3, 0], [3, 0], 1 / 3),
    ([0, 0], [0, 0], [0, 0], 1.0),  # a tumour-free patient left empty
    ([0], [5], [0], 0.0),  # a tumour-free patient with a false alarm
])
def test_volume_dice(tp, pred, truth, dice):
    assert volume_dice(tp, pred, truth) == pytest.approx(dice)


def test_summary_splits_by_presence_and_pools_per_volume(rows):
    r, _, _ = rows
    assert [x["intersection_px"] for x in r] == [2, 0, 0, 0, 1]
    assert [x["dice"] for x in r] == pytest.approx([2 / 3, 0, 0, 1, 1 / 3])
    s = summarise(r)
    assert s["presence"]["sensitivity"] == pytest.approx(2 / 3) and s["presence"]["specificity"] == 0.5
    assert s["by_presence"]["tumour"]["n_images"] == 3 and s["by_presence"]["tumour"]["mean_dice"] == pytest.approx(1 / 3)
    assert s["by_presence"]["tumour_free"]["mean_dice"] == pytest.approx(0.5)
    v = s["per_volume"]  # A: 2*2/(5+6) = 4/11, B: 2*1/(3+3) = 1/3
    assert v["n_patients"] == 2 and v["mean_dice"] == pytest.approx(23 / 66) and v["std_dice"] == pytest.approx(1 / 66)


def test_per_volume_line_names_one_patient_without_a_spread(rows):
    r, _, _ = rows
    two = presence_lines(summarise(r))[-1]
    assert two.startswith("per-volume Dice 0.3485 ± 0.0152 over 2 patients")
    one = presence_lines(summarise([x for x in r if x["patient"] == "A"]))[-1]
    assert one == "per-volume Dice 0.3636 (1 patient, its slices pooled)"


def test_one_slice_per_patient_is_not_a_volume(rows):
    r, _, _ = rows
    single = [dict(x, patient=x["case_id"]) for x in r]
    assert "per_volume" not in summarise(single)


def test_written_results_and_cv_aggregate(rows, tmp_path):
    r, arrays, pred = rows
    s = write_results(r, arrays, pred, tmp_path / "ev")
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["presence"] == s["presence"]
    vol = list(csv.DictReader(open(tmp_path / "ev" / "per_volume.csv")))
    assert [(v["patient"], int(v["n_slices"]), int(v["intersection_px"])) for v in vol] == [("A", 3, 2), ("B", 2, 1)]
    assert "intersection_px" in open(tmp_path / "ev" / "per_case.csv").readline()
    # a 2-fold CV: fold 0 held out patient A, fold 1 patient B
    for k, patient in enumerate("AB"):
        idx = [i for i, x in enumerate(r) if x["patient"] == patient]
        write_results([r[i] for i in idx], arrays.subset(idx), pred[idx], tmp_path / "cv" / f"fold_{k}" / "test")
    cv = aggregate(tmp_path / "cv")
    # sensitivity: fold 0 found A1, missed A3 (1/2); fold 1 found B2 (1)
    assert cv["sensitivity_mean_over_folds"] == pytest.approx(0.75)
    assert cv["sensitivity_std_over_folds"] == pytest.approx(np.std([0.5, 1.0], ddof=1))
    assert cv["specificity_mean_over_folds"] == pytest.approx(0.5)  # fold 0: A2 false alarm (0); fold 1: B1 (1)
    assert cv["volume_dice_mean_over_folds"] == pytest.approx(23 / 66)
    assert cv["pooled"]["presence"]["tp"] == 2 and cv["pooled"]["per_volume"]["mean_dice"] == pytest.approx(23 / 66)
    saved = json.loads((tmp_path / "cv" / "cv_summary.json").read_text())
    assert saved["fp_slice_rate_mean_over_folds"] == pytest.approx(0.5)


def _constant_model(tmp_path, threshold: float):
    """A tiny checkpoint whose threshold makes every mask empty (1: no probability exceeds it) or full (0)."""
    path = tiny_checkpoint(tmp_path / f"m{threshold}.pt", image_size=32)
    ckpt = load_checkpoint(path)
    ckpt["postprocess"] = {"threshold": threshold, "tta": False, "min_component_px": 0}
    save_checkpoint(ckpt, path)
    return path


def test_empty_predictions_on_real_lgg_slices(tmp_path):
    """samples/lgg: 23 slices of one patient, 8 with a tumour, 15 tumour-free."""
    data = shared_data("samples", "lgg")
    s = evaluate(_constant_model(tmp_path, 1.0), data, tmp_path / "ev", split="all", device="cpu")
    p = s["presence"]
    assert (p["tp"], p["fn"], p["fp"], p["tn"]) == (0, 8, 0, 15)
    assert p["sensitivity"] == 0.0 and p["specificity"] == 1.0 and p["fp_slice_rate"] == 0.0
    assert s["mean_dice"] == pytest.approx(15 / 23)  # tumour-free slices left empty score 1, missed tumours 0
    assert s["by_presence"]["tumour_free"]["mean_dice"] == 1.0 and s["by_presence"]["tumour"]["mean_dice"] == 0.0
    assert s["per_volume"]["n_patients"] == 1 and s["per_volume"]["mean_dice"] == 0.0


def test_full_predictions_on_real_lgg_slices(tmp_path):
    data = shared_data("samples", "lgg")
    s = evaluate(_constant_model(tmp_path, 0.0), data, tmp_path / "ev", split="all", device="cpu")
    p = s["presence"]
    # every slice marked whole, except the patient's one black slice: no signal, no tumour (postprocess.no_signal)
    assert (p["tp"], p["fn"], p["fp"], p["tn"]) == (8, 0, 14, 1) and p["specificity"] == pytest.approx(1 / 15)
    assert s["by_presence"]["tumour_free"]["mean_dice"] == pytest.approx(1 / 15)  # both empty: Dice 1
    rows = list(csv.DictReader(open(tmp_path / "ev" / "per_case.csv")))
    [black] = [r for r in rows if r["predicted_area_px"] == "0"]
    assert black["case_id"] == "TCGA_CS_4941_19960909_23" and black["tumour_area_px"] == "0"
    truth = sum(int(r["tumour_area_px"]) for r in rows)
    assert all(r["intersection_px"] == r["tumour_area_px"] for r in rows)
    assert s["per_volume"]["mean_dice"] == pytest.approx(2 * truth / (22 * 32 * 32 + truth))


def test_evaluate_scores_what_the_one_lesion_rule_dropped(tmp_path):
    # one patient, 4 slices of 16²: the tumour (truth) is a block on slices 0-1 that the model marks as two separate
    # lesions, a bigger false one on slices 2-3; the rule keeps the false one (largest) and drops the tumour
    from tumorseg.evaluation.evaluate import per_volume, score_arrays
    from tumorseg.models.base import SegmentationModel

    class Bright(SegmentationModel):  # probability ~1 where the pixel is >= 128 of 255, ~0 elsewhere
        def forward(self, x):
            return (x - 0.5) * 100

    images = np.full((4, 16, 16), 60, np.uint8)
    truth = np.zeros((4, 16, 16), bool)
    truth[0:2, 2:6, 2:6] = True
    images[truth] = 220  # marked: 32 px of tumour
    images[2:4, 8:14, 8:14] = 220  # marked: 72 px, no tumour
    records = [SliceRecord(f"P_{z}", None, patient="P", slice_index=z) for z in range(4)]
    arrays = SliceArrays(images, truth, records)
    post = {"threshold": 0.5, "largest_component_3d": True}
    rows, preds = score_arrays(Bright(), arrays, "cpu", post=post, distances=False)
    assert preds[2:4].sum() == 72 and not preds[0:2].any()
    assert [r["dropped_tumour_px"] for r in rows] == [16, 16, 0, 0]
    assert {(r["lesions_left_out"], r["runner_up_share"]) for r in rows} == {(1, round(32 / 72, 4))}
    [v] = per_volume(rows)
    assert (v["dice"], v["dropped_tumour_px"], v["lesions_left_out"], v["runner_up_share"]) == \
        (0.0, 32, 1, round(32 / 72, 4))
    s = write_results(rows, arrays, preds, tmp_path / "ev")
    choice = s["per_volume"]["one_lesion"]
    assert (choice["n_patients"], choice["n_tumour_dropped"], choice["n_close_calls"],
            choice["n_close_calls_tumour_dropped"], choice["dropped_tumour_share"]) == (1, 1, 1, 1, 1.0)
    assert "the dropped lesions held >= 1% of the tumour of 1 of 1 patients (100.0% of all tumour pixels); close " \
           "calls 1 (1 of them with tumour left out)" in "\n".join(presence_lines(s))
    assert "dropped_tumour_px" in open(tmp_path / "ev" / "per_volume.csv").readline()
    # the rule off: nothing dropped, no new columns; a CV of a fold with the rule and one without writes one file
    plain, plain_preds = score_arrays(Bright(), arrays, "cpu", post={"threshold": 0.5}, distances=False)
    assert "dropped_tumour_px" not in plain[0] and "one_lesion" not in summarise(plain)["per_volume"]
    write_results(rows, arrays, preds, tmp_path / "cv" / "fold_0" / "test")
    other = [dict(r, patient="Q") for r in plain]
    write_results(other, arrays, plain_preds, tmp_path / "cv" / "fold_1" / "test")
    cv = aggregate(tmp_path / "cv")
    assert cv["pooled"]["per_volume"]["one_lesion"]["n_patients"] == 1  # only the fold scored with the rule
    header = open(tmp_path / "cv" / "cv_per_case.csv").readline()
    assert "dropped_tumour_px" in header and "fold" in header
