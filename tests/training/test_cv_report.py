"""Cross-validation on tiny synthetic data, and the HTML report built from a tiny run."""

import csv
import json
from dataclasses import fields

import numpy as np
import pytest

from tumorseg.cli import main
from tumorseg.config import TrainConfig
from tumorseg.inference.postprocess import DEFAULTS
from tumorseg.training.cv import run_cv
from tumorseg.training.presets import PRESETS, preset


def _cfg(data, out, **kw):
    return TrainConfig(data=str(data), out=str(out), model="seed-ae", model_kwargs={"width": 4}, epochs=1,
                       batch_size=8, image_size=32, **kw)


def test_cv_holds_each_patient_out_once(synthetic_dataset, tmp_path):
    summary = run_cv(_cfg(synthetic_dataset, tmp_path / "cv", calibrate=True), folds=3, progress=False)
    assert summary["folds_done"] == ["fold_0", "fold_1", "fold_2"]
    assert summary["n_images"] == 24  # every slice scored exactly once
    with open(synthetic_dataset / "metadata.csv", newline="") as f:
        patient = {row["index"]: row["patient_group"] for row in csv.DictReader(f)}
    tested = []  # the patients of each fold's test part
    for k in range(3):
        split = json.loads((tmp_path / "cv" / f"fold_{k}" / "split.json").read_text())
        assert split["test"] == json.loads((tmp_path / "cv" / "splits" / f"fold_{k}.json").read_text())["test"]
        parts = {name: {patient[c] for c in split[name]} for name in ("train", "val", "test")}
        assert not parts["test"] & (parts["train"] | parts["val"]) and not parts["train"] & parts["val"]
        tested.append(parts["test"])
    assert sorted(p for t in tested for p in t) == sorted(set(patient.values()))  # each patient tested exactly once
    pooled = summary["pooled"]
    assert {"by_class", "by_size"} <= set(pooled)
    # the across-fold figures are the mean and sample sd of the three folds' own test means
    fold_dice = [json.loads((tmp_path / "cv" / f"fold_{k}" / "test" / "metrics.json").read_text())["mean_dice"]
                 for k in range(3)]
    assert summary["dice_mean_over_folds"] == pytest.approx(np.mean(fold_dice))
    assert summary["dice_std_over_folds"] == pytest.approx(np.std(fold_dice, ddof=1))
    # calibrated post-processing is stored in the checkpoint
    from tumorseg.models.checkpoint import load_checkpoint

    post = load_checkpoint(tmp_path / "cv" / "fold_0" / "best.pt")["postprocess"]
    assert set(post) == set(DEFAULTS)  # every post-processing setting stored

    html_path = tmp_path / "cv" / "report.html"
    assert main(["report", str(tmp_path / "cv")]) == 0
    text = html_path.read_text()
    assert "Cross-validation (3 folds" in text and "Per tumour-size tercile" in text


def test_report_of_a_run(synthetic_dataset, tmp_path):
    from tumorseg.training.fit import fit

    run = fit(_cfg(synthetic_dataset, tmp_path / "run"), progress=False)
    assert main(["report", str(run)]) == 0
    text = (run / "report.html").read_text()
    for part in ("Per tumour class", "Training curves", "Dice vs tumour size", "worst cases", "best cases",
                 "Configuration", "data:image/png;base64", "Post-processing"):
        assert part in text, part
    assert "src=\"http" not in text  # self-contained


def test_report_of_an_empty_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "Train (or run cv, evaluate, score) first" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_only_set_known_fields(name):
    known = {f.name for f in fields(TrainConfig)}
    assert set(preset(name)) <= known


def _fold(out, name, dice, patients, label="glioma"):
    from tumorseg.evaluation.per_case import write_per_case

    rows = [{"case_id": f"{name}-{i}", "patient": p, "label": label, "dice": d, "iou": d / (2 - d),
             "sensitivity": d, "precision": d, "tumour_area_px": 100, "tumour_fraction": 0.01,
             "predicted_area_px": 100} for i, (d, p) in enumerate(zip(dice, patients))]
    (out / name / "test").mkdir(parents=True)
    write_per_case(rows, out / name / "test" / "per_case.csv")


def test_aggregate_hand_made_folds(tmp_path):
    from tumorseg.training.cv import aggregate

    _fold(tmp_path, "fold_0", [0.4, 0.6], ["a", "a"])  # fold mean 0.5
    _fold(tmp_path, "fold_1", [0.7], ["b"])  # 0.7
    _fold(tmp_path, "fold_2", [0.8, 1.0, 0.9, 0.9], ["c", "c", "d", "d"], label="meningioma")  # 0.9
    (tmp_path / "fold_3").mkdir()  # started, not finished: left out
    s = aggregate(tmp_path)
    assert s["folds_done"] == ["fold_0", "fold_1", "fold_2"] and s["n_images"] == 7
    assert s["dice_mean_over_folds"] == pytest.approx(0.7)  # (0.5 + 0.7 + 0.9) / 3
    assert s["dice_std_over_folds"] == pytest.approx(0.2)  # sqrt((0.04 + 0 + 0.04) / 2): sample sd over folds
    assert s["pooled"]["mean_dice"] == pytest.approx(5.3 / 7)  # pooled over images, not over folds
    assert s["pooled"]["by_class"]["meningioma"]["mean_dice"] == pytest.approx(0.9)
    assert [f["mean_dice"] for f in s["per_fold"]] == pytest.approx([0.5, 0.7, 0.9])
    back = json.loads((tmp_path / "cv_summary.json").read_text())
    assert back["dice_mean_over_folds"] == pytest.approx(0.7)
    from tumorseg.evaluation.per_case import read_per_case

    rows = read_per_case(tmp_path / "cv_per_case.csv")
    assert [r["fold"] for r in rows] == ["fold_0"] * 2 + ["fold_1"] + ["fold_2"] * 4
