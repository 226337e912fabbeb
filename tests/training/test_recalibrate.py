"""`tumorseg calibrate RUN_DIR`: post-processing chosen again on the run's val split, without retraining."""

from __future__ import annotations


from tumorseg.cli import main
from tumorseg.inference.postprocess import DEFAULTS
from tumorseg.models.checkpoint import load_checkpoint


def test_calibrate_rewrites_best_pt_postprocess_from_val(synthetic_dataset, tmp_path, capsys):
    run = tmp_path / "run"
    rc = main(["train", "--data", str(synthetic_dataset), "--model", "unet", "--model-kwargs", '{"width": 4, "levels": 3}',
               "--image-size", "32", "--epochs", "1", "--batch-size", "8", "--out", str(run), "--device", "cpu",
               "--no-progress", "--grid-every", "0"])
    assert rc == 0
    assert "postprocess" not in load_checkpoint(run / "best.pt")  # trained without --calibrate
    assert main(["calibrate", str(run), "--max-fp-rate", "0.1", "--no-progress"]) == 0
    ckpt = load_checkpoint(run / "best.pt")
    assert set(ckpt["postprocess"]) == set(DEFAULTS)  # every setting stored
    assert "val_dice_calibrated" in ckpt["metrics"]
    assert str(run) in capsys.readouterr().out


def test_calibrate_refuses_a_folder_that_is_not_a_finished_run(tmp_path, capsys):
    assert main(["calibrate", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no config.json" in err and "Traceback" not in err
