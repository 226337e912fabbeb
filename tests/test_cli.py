"""CLI smoke test on demo-sized synthetic data: train -> evaluate -> predict -> summary (seconds)."""

import csv
import json

import numpy as np
import pytest
from PIL import Image

from tumorseg.cli import main


def test_train_evaluate_predict_summary(synthetic_dataset, tmp_path, capsys):
    run = tmp_path / "run"
    rc = main(["train", "--data", str(synthetic_dataset), "--out", str(run), "--epochs", "2",
               "--batch-size", "8", "--image-size", "64", "--no-progress", "--device", "cpu"])
    assert rc == 0
    for name in ("config.json", "split.json", "history.csv", "loss_curve.png", "best.pt", "last.pt",
                 "grids/epoch_002.png", "test/metrics.json", "test/per_case.csv", "test/predictions.png"):
        assert (run / name).exists(), name
    split = json.loads((run / "split.json").read_text())
    assert split["grouped_by"] == "patient"
    history = list(csv.DictReader(open(run / "history.csv")))
    assert [int(h["epoch"]) for h in history] == [1, 2]
    assert json.loads((run / "config.json").read_text())["image_size"] == 64
    from tumorseg.models.checkpoint import load_checkpoint

    stats = load_checkpoint(run / "best.pt")["preprocessing"]["input_stats"]  # predict's brightness check
    assert stats["n_slices"] > 0 and len(stats["fg_median"][0]) == 3

    rc = main(["evaluate", "--data", str(synthetic_dataset), "--model", str(run / "best.pt"),
               "--split", "all", "--out", str(tmp_path / "ev"), "--no-progress"])
    assert rc == 0
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    rows = list(csv.DictReader(open(tmp_path / "ev" / "per_case.csv")))
    assert {"case_id", "dice", "iou", "tumour_area_px"} <= set(rows[0])
    # --split all on the training data scores only what the model did not learn from: the test part
    assert sorted(r["case_id"] for r in rows) == sorted(split["test"])
    assert (metrics["n_images"], metrics["training_slices_left_out"]) == (len(rows), 24 - len(rows))
    assert metrics["mean_dice"] == pytest.approx(np.mean([float(r["dice"]) for r in rows]))
    assert (tmp_path / "ev" / "predictions.png").exists()
    assert main(["report", str(tmp_path / "ev")]) == 0  # a page over evaluate's folder: tables and examples
    page = (tmp_path / "ev" / "report.html").read_text()
    assert "best.pt</code>" in page and "<h2>Examples</h2>" in page and f"<td>{len(rows)}</td>" in page

    # predict keeps each input's own size (here 96x80, not the model's 64x64)
    big = np.asarray(Image.open(synthetic_dataset / "images" / "1.png").resize((80, 96)))
    Image.fromarray(big).save(tmp_path / "odd.png")
    rc = main(["predict", str(tmp_path / "odd.png"), str(synthetic_dataset / "images"), "--model",
               str(run / "best.pt"), "--out", str(tmp_path / "pred"), "--overlay", "--no-progress"])
    assert rc == 0
    out = Image.open(tmp_path / "pred" / "odd.png")
    assert out.mode == "L" and out.size == (80, 96)
    assert set(np.unique(np.asarray(out))) <= {0, 255}
    assert (tmp_path / "pred" / "odd_overlay.png").exists()
    assert len(list((tmp_path / "pred").glob("*_overlay.png"))) == 25
    # evaluate's per-image Dice is the Dice of the masks predict writes, computed here by hand (same model, same
    # size; only a pixel within float rounding of the threshold may differ between the two batchings)
    for r in rows:
        pred = np.asarray(Image.open(tmp_path / "pred" / f"{r['case_id']}.png")) > 0
        truth = np.asarray(Image.open(synthetic_dataset / "masks" / f"{r['case_id']}.png")) > 0
        both = pred.sum() + truth.sum()
        assert float(r["dice"]) == pytest.approx(2 * (pred & truth).sum() / both if both else 1.0, abs=0.02), r
        assert int(r["tumour_area_px"]) == truth.sum() and abs(int(r["predicted_area_px"]) - pred.sum()) <= 2

    capsys.readouterr()
    assert main(["summary", "--model", "seed-ae"]) == 0
    assert "2,298,977" in capsys.readouterr().out


def test_evaluate_test_split_of_another_dataset_is_a_clear_error(synthetic_dataset, tmp_path, capsys):
    from tumorseg.data.synthetic import make_dataset

    run = tmp_path / "run"
    assert main(["train", "--data", str(synthetic_dataset), "--out", str(run), "--epochs", "1", "--batch-size", "8",
                 "--image-size", "64", "--no-progress", "--device", "cpu"]) == 0
    other = make_dataset(tmp_path / "other", n=3, size=64, seed=5)
    for p in (other / "images").iterdir():
        p.rename(p.with_name("x" + p.name))
    for p in (other / "masks").iterdir():
        p.rename(p.with_name("x" + p.name))
    capsys.readouterr()
    assert main(["evaluate", "--data", str(other), "--model", str(run / "best.pt"), "--no-progress"]) == 2
    assert "--split all" in capsys.readouterr().err


def test_demo_writes_what_a_real_run_writes(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--n-images", "24", "--image-size", "64", "--epochs", "1",
                 "--no-progress", "--device", "cpu"]) == 0
    run = out / "run"
    for name in ("config.json", "split.json", "history.csv", "loss_curve.png", "best.pt", "last.pt",
                 "test/metrics.json", "test/per_case.csv", "test/predictions.png"):
        assert (run / name).exists(), name
    assert json.loads((run / "config.json").read_text())["model"] == "unet"
    masks = [p for p in (out / "predictions").glob("*.png") if not p.stem.endswith("_overlay")]
    assert masks and all(Image.open(p).size == (64, 64) for p in masks)
    assert "demo finished" in capsys.readouterr().out


def test_a_log_line_during_a_progress_bar_gets_a_line_of_its_own(capsys):
    """With the console logging as ``main`` sets it up, a line logged while a bar is drawn is written above the
    bar (the bar cleared first), not appended to the bar's text."""
    import logging
    import sys

    from tqdm.auto import tqdm

    from tumorseg.cli import _log_above_progress_bars

    handler = logging.StreamHandler(sys.stderr)  # what basicConfig gives main outside the test's log capture
    logging.root.addHandler(handler)
    try:
        with _log_above_progress_bars():
            bar = tqdm(total=4, desc="predicting", file=sys.stderr, mininterval=0)
            bar.update(2)
            logging.getLogger("tumorseg.test").warning("case_7: tumour in 3/4 slices")
            bar.update(2)
            bar.close()
    finally:
        logging.root.removeHandler(handler)
    lines = capsys.readouterr().err.split("\n")
    assert "case_7: tumour in 3/4 slices" in [line.split("\r")[-1] for line in lines]


def test_every_help_page_prints(capsys):
    """`tumorseg --help` and each command's --help (argparse %-formats help strings: a stray % broke the list)."""
    from tumorseg.cli import build_parser

    assert main(["--help"]) == 0
    commands = build_parser()._subparsers._group_actions[0].choices
    assert {"score", "compare", "predict", "serve"} <= set(commands)
    for name in commands:
        assert main([name, "--help"]) == 0, name
    out = capsys.readouterr().out
    assert "95% CI" in out and "%%" not in out
