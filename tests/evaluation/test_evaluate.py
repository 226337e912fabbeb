"""Which slices ``evaluate`` scores: a stored split, or every slice the checkpoint did not learn from."""

import json

import pytest

from conftest import tiny_checkpoint
from tumorseg.cli import main
from tumorseg.data import SliceRecord
from tumorseg.errors import DataError
from tumorseg.evaluation.evaluate import cases_to_score
from tumorseg.models.checkpoint import load_checkpoint, save_checkpoint


def _records(n=6):
    return [SliceRecord(case_id=str(i), image=f"{i}.png", patient=f"P{i % 3}") for i in range(1, n + 1)]


def _ids(records):
    return [r.case_id for r in records]


def test_a_stored_split_is_scored_as_stored():
    ckpt = {"split": {"train": ["1", "2", "3"], "val": ["4"], "test": ["5", "6"]}}
    chosen, extra = cases_to_score(_records(), ckpt, "test", "m.pt", "D")
    assert (_ids(chosen), extra) == (["5", "6"], {})


def test_an_empty_split_says_so_and_offers_split_all():
    """Regression: the bundled model (trained on every patient, no test part) failed with 'none of the 0 cases'."""
    ckpt = {"split": {"train": ["1", "2", "3"], "val": ["4"], "test": []}}
    with pytest.raises(DataError, match=r"m.pt has no 'test' part \(its stored split: 3 train, 1 val, 0 test") as e:
        cases_to_score(_records(), ckpt, "test", "runs/x/m.pt", "D")
    assert "--split all" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(DataError, match="none of the 2 'test' cases of m.pt are here"):
        cases_to_score(_records(), {"split": {"train": ["1"], "val": ["2"], "test": ["x", "y"]}}, "test", "m.pt", "D")


def test_split_all_leaves_out_training_and_validation_slices():
    ckpt = {"split": {"train": ["1", "2"], "val": ["3"], "test": ["4"]}}
    chosen, extra = cases_to_score(_records(), ckpt, "all", "m.pt", "D")
    assert (_ids(chosen), extra) == (["4", "5", "6"], {"training_slices_left_out": 3})
    chosen, extra = cases_to_score(_records(), ckpt, "all", "m.pt", "D", include_training=True)
    assert (_ids(chosen), extra) == (["1", "2", "3", "4", "5", "6"], {"training_slices_included": 3})


def test_split_all_refuses_when_every_slice_was_trained_on():
    ckpt = {"split": {"train": ["1", "2", "3", "4"], "val": ["5", "6"], "test": []}}
    with pytest.raises(DataError, match="all 6 slices are ones m.pt was trained or validated on") as e:
        cases_to_score(_records(), ckpt, "all", "m.pt", "D")
    assert "--include-training-slices" in str(e.value) and "\n" not in str(e.value)


def test_same_names_of_other_patients_are_another_dataset():
    """With ``split_patients`` stored, slice "1" of patient P1 is not the training slice "1" of patient X; slice "5"
    is another slice of the training patient P2, so it is left out with "2"."""
    ckpt = {"split": {"train": ["1", "2"], "val": ["3"], "test": []},
            "split_patients": {"1": "X", "2": "P2", "3": "X"}}
    chosen, extra = cases_to_score(_records(), ckpt, "all", "m.pt", "D")
    assert (_ids(chosen), extra) == (["1", "3", "4", "6"], {"training_slices_left_out": 2})


def test_training_patients_are_left_out_under_other_slice_names(caplog):
    """Regression: the bundled t1c stores LGG training slices as 'TCGA_..._12_post' (the names of the folder it was
    trained from), the lgg reader names them 'TCGA_..._12'; --split all scored its training patients as unseen."""
    recs = [SliceRecord(case_id=f"TCGA_A_{k}", image=f"{k}.tif", patient="TCGA_A") for k in (1, 2, 3)]
    recs += [SliceRecord(case_id=f"TCGA_B_{k}", image=f"{k}.tif", patient="TCGA_B") for k in (1, 2)]
    ckpt = {"split": {"train": ["TCGA_A_1_post", "7"], "val": [], "test": ["TCGA_B_1_post"]},
            "split_patients": {"TCGA_A_1_post": "TCGA_A", "7": "P7", "TCGA_B_1_post": "TCGA_B"}}
    chosen, extra = cases_to_score(recs, ckpt, "all", "m.pt", "D")
    assert (_ids(chosen), extra) == (["TCGA_B_1", "TCGA_B_2"], {"training_slices_left_out": 3})
    assert "case ids and 1 patient of its stored split" in caplog.text


def test_bundled_model_on_another_dataset(synthetic_dataset, tmp_path, capsys):
    """The README's promise: evaluate without --model uses the bundled model. Its stored 'test' part (the tumour-free
    LGG slices of 6 patients it never trained on) is not in this synthetic dataset, so evaluate says to score the
    slices it was not trained on with --split all."""
    assert main(["evaluate", "--data", str(synthetic_dataset), "--out", str(tmp_path / "ev"), "--no-progress",
                 "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "none of the 164 'test' cases of t1c.pt are here (another dataset?)" in err and "--split all" in err
    assert main(["evaluate", "--data", str(synthetic_dataset), "--split", "all", "--out", str(tmp_path / "ev"),
                 "--no-progress", "--device", "cpu"]) == 0
    assert "reading slices" not in capsys.readouterr().err  # --no-progress hides every bar, the reading one too
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["n_images"] == 24 and "training_slices_left_out" not in metrics


def test_cli_split_all_on_the_training_data(synthetic_dataset, tmp_path, capsys):
    ckpt_path = tiny_checkpoint(tmp_path / "m.pt", image_size=32)
    ckpt = load_checkpoint(ckpt_path)
    ids = [str(i) for i in range(1, 25)]
    ckpt["split"] = {"train": ids[:16], "val": ids[16:20], "test": ids[20:]}
    save_checkpoint(ckpt, ckpt_path)
    args = ["evaluate", "--data", str(synthetic_dataset), "--model", str(ckpt_path), "--split", "all",
            "--no-progress", "--device", "cpu"]
    assert main(args + ["--out", str(tmp_path / "a")]) == 0
    assert "20 training slices left out" in capsys.readouterr().out
    assert json.loads((tmp_path / "a" / "metrics.json").read_text())["n_images"] == 4
    assert main(args + ["--out", str(tmp_path / "b"), "--include-training-slices"]) == 0
    m = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert (m["n_images"], m["training_slices_included"]) == (24, 20)
