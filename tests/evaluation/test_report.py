"""The HTML report of a run whose case ids look like numbers."""

import json

from conftest import tiny_checkpoint
from tumorseg.config import TrainConfig
from tumorseg.data.synthetic import make_dataset
from tumorseg.evaluation.evaluate import evaluate
from tumorseg.evaluation.report import build_report


def test_report_gallery_keeps_zero_padded_case_ids(tmp_path):
    """Regression: the report read case_id "0001" as 1.0, found no such slice and left the gallery empty."""
    data = make_dataset(tmp_path / "data", n=6, size=32, seed=2)
    (data / "metadata.csv").unlink()
    for sub in ("images", "masks"):
        for p in sorted((data / sub).iterdir()):
            p.rename(p.with_name(f"{int(p.stem):04d}.png"))  # 1.png -> 0001.png
    run = tmp_path / "run"
    tiny_checkpoint(run / "best.pt")
    TrainConfig(data=str(data), out=str(run), image_size=32).save(run / "config.json")
    evaluate(run / "best.pt", data, run / "test", split="all", device="cpu")
    assert json.loads((run / "test" / "metrics.json").read_text())["n_images"] == 6

    text = build_report(run).read_text()
    assert "4 worst cases" in text and "4 best cases" in text  # the gallery found the slices
    assert "Gallery skipped" not in text
