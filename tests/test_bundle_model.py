"""scripts/bundle_model.py: a run becomes models/bundled/NAME.* with metrics, modality and input statistics."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from conftest import tiny_checkpoint
from tumorseg.data import read_dataset
from tumorseg.data.splits import save_split
from tumorseg.inference.onnx import file_sha256
from tumorseg.models import listing, zoo
from tumorseg.models.checkpoint import load_checkpoint, save_checkpoint

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("bundle_model", ROOT / "scripts" / "bundle_model.py")
bundle_model = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bundle_model)


def _run(tmp_path, data) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    ids = [r.case_id for r in read_dataset(data)]
    save_split({"train": ids[:16], "val": ids[16:20], "test": ids[20:]}, run / "split.json", "patient")
    (run / "config.json").write_text(json.dumps({"data": str(data), "data_format": "auto", "data_options": {}}))
    path = tiny_checkpoint(run / "best.pt", image_size=32)
    ckpt = load_checkpoint(path)
    ckpt["train_state"] = {"epoch": 3}
    ckpt["metrics"] = {"val_dice": 0.5}
    save_checkpoint(ckpt, path)
    (run / "test").mkdir()
    (run / "test" / "metrics.json").write_text(json.dumps({
        "mean_dice": 0.6, "mean_iou": 0.5, "n_images": 4,
        "presence": {"sensitivity": 0.9, "specificity": 0.8}}))
    cv = tmp_path / "cv"
    cv.mkdir()
    (cv / "cv_summary.json").write_text(json.dumps({
        "folds_done": ["fold_0", "fold_1"], "n_images": 24, "dice_mean_over_folds": 0.61, "dice_std_over_folds": 0.02,
        "iou_mean_over_folds": 0.5, "iou_std_over_folds": 0.01, "specificity_mean_over_folds": 0.85,
        "specificity_std_over_folds": 0.05}))
    return run


def test_bundle_writes_named_files_with_metrics_modality_and_stats(synthetic_dataset, tmp_path):
    pytest.importorskip("onnxruntime")
    run = _run(tmp_path, synthetic_dataset)
    card = tmp_path / "card.md"
    card.write_text("# Model card: `flair`\n")
    out = bundle_model.bundle(run, "flair", cv=tmp_path / "cv", card=card, dest=tmp_path / "bundled")
    assert out == tmp_path / "bundled" / "flair.pt"
    ckpt = load_checkpoint(out)
    assert "train_state" not in ckpt
    m = ckpt["metrics"]
    assert (m["test_dice"], m["test_specificity"], m["cv_folds"], m["cv_dice_mean"]) == (0.6, 0.8, 2, 0.61)
    assert m["cv_specificity_mean"] == 0.85 and "cv_sensitivity_mean" not in m
    assert ckpt["preprocessing"]["modality"] == "flair"
    assert ckpt["preprocessing"]["input_stats"]["n_slices"] == 16  # the run's train slices
    meta = json.loads((tmp_path / "bundled" / "flair.json").read_text())
    assert meta["checkpoint_sha256"] == file_sha256(out) and meta["preprocessing"]["modality"] == "flair"
    assert (tmp_path / "bundled" / "flair.md").read_text() == card.read_text()
    before = dict(ckpt.get("postprocess") or {})
    bundle_model.set_postprocess("flair", {"largest_component_3d": True}, dest=tmp_path / "bundled")
    after = load_checkpoint(out)
    assert after["postprocess"] == {**before, "largest_component_3d": True} and after["metrics"] == m
    meta = json.loads((tmp_path / "bundled" / "flair.json").read_text())
    assert meta["postprocess"]["largest_component_3d"] is True and meta["checkpoint_sha256"] == file_sha256(out)
    with pytest.raises(SystemExit, match="not a post-processing setting"):
        bundle_model.set_postprocess("flair", {"largest": True}, dest=tmp_path / "bundled")
    with pytest.raises(SystemExit, match=r"z_smooth=0.6: give a number in \[0.0, 0.5\)"):
        bundle_model.set_postprocess("flair", {"z_smooth": 0.6}, dest=tmp_path / "bundled")
    with pytest.raises(SystemExit, match="hysteresis_prob"):
        bundle_model.set_postprocess("flair", {"hysteresis_prob": "high"}, dest=tmp_path / "bundled")


def test_a_checkpoint_file_bundled_without_onnx_leaves_no_stale_twin(synthetic_dataset, tmp_path):
    """A checkpoint file (e.g. a cascade, too large to ship its ONNX export) bundled with onnx=False: an earlier
    model's NAME.onnx/.json are removed, and a later --set does not export one into the wheel."""
    pytest.importorskip("onnxruntime")
    run = _run(tmp_path, synthetic_dataset)
    dest = tmp_path / "bundled"
    bundle_model.bundle(run, "flair", cv=tmp_path / "cv", dest=dest)  # the earlier model, with its twin
    assert (dest / "flair.onnx").is_file() and (dest / "flair.json").is_file()
    ckpt = load_checkpoint(run / "best.pt")
    ckpt["preprocessing"]["input_stats"] = {"n_slices": 1}
    save_checkpoint(ckpt, tmp_path / "ens.pt")
    out = bundle_model.bundle(tmp_path / "ens.pt", "flair", cv=tmp_path / "cv", dest=dest, onnx=False)
    assert load_checkpoint(out)["metrics"]["cv_dice_mean"] == 0.61
    assert not (dest / "flair.onnx").exists() and not (dest / "flair.json").exists()
    bundle_model.set_postprocess("flair", {"largest_component_3d": True}, dest=dest)
    assert load_checkpoint(out)["postprocess"]["largest_component_3d"] is True and not (dest / "flair.onnx").exists()


def test_bundled_files_are_what_the_registry_reads(synthetic_dataset, tmp_path, monkeypatch):
    run = _run(tmp_path, synthetic_dataset)
    monkeypatch.setattr(zoo, "BUNDLED_DIR", tmp_path / "bundled")
    bundle_model.bundle(run, "flair", onnx=False)
    assert zoo.get("flair").installed and listing.describe(zoo.get("flair"))["cv"] == "test Dice 0.600"


def test_a_cv_still_running_is_listed_as_k_of_n_folds(tmp_path, monkeypatch):
    """A model bundled while its recipe's CV has 2 of 5 folds done must not be listed as a "2-fold CV"."""
    cv = tmp_path / "cv"
    (cv / "splits").mkdir(parents=True)
    for k in range(5):
        (cv / "splits" / f"fold_{k}.json").write_text("{}")
    summary = {"folds_done": ["fold_0", "fold_1"], "n_images": 24, "dice_mean_over_folds": 0.61,
               "dice_std_over_folds": 0.02, "iou_mean_over_folds": 0.5, "iou_std_over_folds": 0.01}
    monkeypatch.setattr(zoo, "BUNDLED_DIR", tmp_path / "bundled")
    ckpt = load_checkpoint(tiny_checkpoint(tmp_path / "bundled" / "t1c.pt", image_size=32))
    for done, label in ((2, "2 of 5 CV folds"), (5, "5-fold CV")):
        summary["folds_done"] = [f"fold_{k}" for k in range(done)]
        (cv / "cv_summary.json").write_text(json.dumps(summary))
        metrics = bundle_model.cv_metrics(cv)
        assert metrics.get("cv_folds_planned") == (5 if done < 5 else None)
        save_checkpoint({**ckpt, "metrics": metrics}, zoo.get("t1c").checkpoint)
        assert listing.describe(zoo.get("t1c"))["cv"] == f"Dice 0.610 ± 0.020 ({label})"


def test_fp16_storage_halves_the_file_and_predicts_like_the_float32_weights(synthetic_dataset, tmp_path):
    import numpy as np
    import torch

    from tumorseg.inference.predictor import Predictor

    run = _run(tmp_path, synthetic_dataset)
    full = bundle_model.bundle(run, "flair", onnx=False, dest=tmp_path / "fp32")
    half = bundle_model.bundle(run, "flair", onnx=False, dest=tmp_path / "fp16", fp16=True)
    sd = load_checkpoint(half)["state_dict"]
    assert {v.dtype for v in sd.values() if v.is_floating_point()} == {torch.float16}
    assert half.stat().st_size < 0.7 * full.stat().st_size
    image = (np.random.default_rng(0).random((48, 48)) * 255).astype(np.uint8)
    p32 = Predictor.from_checkpoint(full, "cpu", backend="torch", tta=False).probabilities([image], 1)[0]
    p16 = Predictor.from_checkpoint(half, "cpu", backend="torch", tta=False).probabilities([image], 1)[0]
    assert np.abs(p32 - p16).max() < 0.02  # the network runs in float32 either way; only rounding of the weights
    if importlib.util.find_spec("onnxruntime") is not None:  # the ONNX file is exported from the fp16 weights
        from tumorseg.inference.onnx import export_onnx

        onnx = export_onnx(half, tmp_path / "fp16" / "flair.onnx")
        po = Predictor.from_checkpoint(onnx, "cpu", backend="onnx", tta=False).probabilities([image], 1)[0]
        assert np.abs(po - p16).max() < 1e-3


def test_set_cv_replaces_the_cv_numbers_of_an_installed_model(synthetic_dataset, tmp_path, monkeypatch):
    """`--cv CV_DIR` alone: every cv_* metric is replaced (none of the old CV's survives), the rest kept; a
    volume-level summary (no per-slice Dice) is listed by its per-volume Dice."""
    run = _run(tmp_path, synthetic_dataset)
    monkeypatch.setattr(zoo, "BUNDLED_DIR", tmp_path / "bundled")
    out = bundle_model.bundle(run, "flair", cv=tmp_path / "cv", onnx=False)
    before = load_checkpoint(out)
    vol = tmp_path / "cv-volume"
    vol.mkdir()
    (vol / "cv_summary.json").write_text(json.dumps({
        "folds_done": [f"fold_{k}" for k in range(5)], "n_images": 1475,
        "volume_dice_mean_over_folds": 0.756, "volume_dice_std_over_folds": 0.08,
        "sensitivity_mean_over_folds": 0.83, "sensitivity_std_over_folds": 0.05,
        "specificity_mean_over_folds": 0.99, "specificity_std_over_folds": 0.01}))
    bundle_model.set_cv("flair", vol, onnx=False)
    after = load_checkpoint(out)
    m = after["metrics"]
    assert "cv_dice_mean" not in m and "cv_iou_mean" not in m  # the old CV's per-slice numbers are gone
    assert (m["cv_folds"], m["cv_images"], m["cv_volume_dice_mean"]) == (5, 1475, 0.756)
    assert m["test_dice"] == before["metrics"]["test_dice"]
    assert after.get("postprocess") == before.get("postprocess")
    assert torch.equal(after["state_dict"][next(iter(after["state_dict"]))],
                       before["state_dict"][next(iter(before["state_dict"]))])
    assert listing.describe(zoo.get("flair"))["cv"] == "per-volume Dice 0.756 ± 0.080 (5-fold CV), sens 0.83, spec 0.99"
