"""Cross-validation on tiny synthetic data, and the HTML report built from a tiny run."""

import json
from dataclasses import fields

import pytest

from tumorseg.cli import main
from tumorseg.config import TrainConfig
from tumorseg.training.cv import run_cv
from tumorseg.training.presets import PRESETS, preset


def _cfg(data, out, **kw):
    return TrainConfig(data=str(data), out=str(out), model="seed-ae", model_kwargs={"width": 4}, epochs=1,
                       batch_size=8, image_size=32, **kw)


def test_cv_holds_each_patient_out_once(synthetic_dataset, tmp_path):
    summary = run_cv(_cfg(synthetic_dataset, tmp_path / "cv", calibrate=True), folds=3, progress=False)
    assert summary["folds_done"] == ["fold_0", "fold_1", "fold_2"]
    assert summary["n_images"] == 24  # every slice scored exactly once
    tests = [set(json.loads((tmp_path / "cv" / "splits" / f"fold_{k}.json").read_text())["test"]) for k in range(3)]
    assert not (tests[0] & tests[1] or tests[0] & tests[2] or tests[1] & tests[2])
    for k in range(3):
        split = json.loads((tmp_path / "cv" / f"fold_{k}" / "split.json").read_text())
        assert not set(split["test"]) & (set(split["train"]) | set(split["val"]))
    pooled = summary["pooled"]
    assert {"by_class", "by_size"} <= set(pooled)
    assert 0 <= summary["dice_mean_over_folds"] <= 1 and summary["dice_std_over_folds"] >= 0
    # calibrated post-processing is stored in the checkpoint
    from tumorseg.models.checkpoint import load_checkpoint

    post = load_checkpoint(tmp_path / "cv" / "fold_0" / "best.pt")["postprocess"]
    assert set(post) == {"threshold", "tta", "min_component_px", "presence_prob", "presence_px"}

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
    assert "Train (or run cv) first" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_only_set_known_fields(name):
    known = {f.name for f in fields(TrainConfig)}
    assert set(preset(name)) <= known
