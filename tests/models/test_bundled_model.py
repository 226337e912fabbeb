"""The model shipped in the package: it loads, predicts 256² and 512² slices, and its ONNX twin agrees."""

import numpy as np
import pytest

from conftest import shared_data
from tumorseg.data.synthetic import phantom
from tumorseg.inference.predictor import Predictor
from tumorseg.models.checkpoint import DEFAULT_MODEL, load_checkpoint


def test_bundled_model_is_small_weights_only_and_calibrated():
    assert DEFAULT_MODEL.is_file(), "src/tumorseg/weights/default.pt is missing (scripts/bundle_default.py RUN_DIR)"
    assert DEFAULT_MODEL.stat().st_size < 10e6
    ckpt = load_checkpoint(DEFAULT_MODEL)  # torch.load(weights_only=True) inside
    assert "train_state" not in ckpt
    assert set(ckpt["postprocess"]) >= {"threshold", "tta", "min_component_px"}
    m = ckpt["metrics"]  # a held-out test score, or the cross-validation of its recipe (trained on every patient)
    assert m.get("test_images", 0) > 0 or m.get("cv_folds", 0) >= 2


def test_bundled_model_names_no_path_of_the_training_machine():
    """Regression: the shipped checkpoint stored config.data = '/root/fs', the training machine's data folder."""
    from tumorseg.models.checkpoint import MACHINE_PATH_KEYS

    cfg = load_checkpoint(DEFAULT_MODEL)["config"]
    assert {k: cfg.get(k) for k in MACHINE_PATH_KEYS} == dict.fromkeys(MACHINE_PATH_KEYS)
    assert not [v for v in cfg.values() if isinstance(v, str) and ("/" in v or "\\" in v)]


def test_without_machine_paths_changes_the_config_only():
    import torch

    from tumorseg.models.checkpoint import without_machine_paths

    weights = {"w": torch.arange(4.0)}
    ckpt = {"state_dict": weights, "split": {"train": ["1"]}, "metrics": {"val_dice": 0.7},
            "config": {"data": "/home/me/fs", "out": "runs/x", "split_file": "/tmp/s.json", "init_from": "a.pt",
                       "cache": "/scratch/c", "epochs": 3, "data_options": {"masks_dir": "/m", "channels": "flair"}}}
    out = without_machine_paths(ckpt)
    assert out["config"] == {"data": None, "out": None, "split_file": None, "init_from": None, "cache": None,
                             "epochs": 3, "data_options": {"masks_dir": None, "channels": "flair"}}
    assert out["state_dict"] is weights and out["split"] == ckpt["split"] and out["metrics"] == ckpt["metrics"]
    assert ckpt["config"]["data"] == "/home/me/fs"  # the input is not modified


@pytest.mark.parametrize("size", [256, 512])
def test_bundled_model_predicts_a_synthetic_slice_at_its_size(size):
    image, truth = phantom(np.random.default_rng(3), size=size, n_lesions=1)
    mask = Predictor.from_checkpoint(None, device="cpu", backend="torch").predict(image)
    assert mask.shape == (size, size) and mask.dtype == bool


def test_bundled_onnx_agrees_with_pytorch_on_real_slices():
    pytest.importorskip("onnxruntime")
    from PIL import Image

    files = sorted(shared_data("figshare-native", "images").iterdir())[:2]
    images = [np.asarray(Image.open(f).convert("L")) for f in files]
    torch_p = Predictor.from_checkpoint(None, device="cpu", backend="torch", tta=False).probabilities(images)
    onnx_pred = Predictor.from_checkpoint(None, device="cpu", backend="auto", tta=False)
    assert onnx_pred.backend == "onnx"  # the bundled default.onnx matches default.pt's SHA-256
    for a, b in zip(torch_p, onnx_pred.probabilities(images)):
        assert a.shape == b.shape and np.abs(a - b).max() < 1e-4
