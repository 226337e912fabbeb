"""Shared fixtures: synthetic datasets and the path of ../shared/data (skip when absent)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from tumorseg.data.synthetic import make_dataset
from tumorseg.models import build_model
from tumorseg.models.checkpoint import make_checkpoint, save_checkpoint

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
# the suite's own cache (ONNX exports of bundled models without a shipped twin, made once per run), never the user's
_OWN_CACHE = None
if "TUMORSEG_CACHE_DIR" not in os.environ:
    _OWN_CACHE = os.environ["TUMORSEG_CACHE_DIR"] = tempfile.mkdtemp(prefix="tumorseg-test-cache-")


def pytest_sessionfinish(session, exitstatus):
    if _OWN_CACHE:
        shutil.rmtree(_OWN_CACHE, ignore_errors=True)


def shared_data(*parts: str) -> Path:
    """Path under ../shared/data, or skip the test when it is not there."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not available")
    return path


def tiny_checkpoint(path: Path, image_size: int = 32, in_channels: int = 1, **preprocess) -> Path:
    """Write an untrained width-4 seed-ae checkpoint (threshold 0.5) to ``path`` and return it.

    ``preprocess`` adds to / overrides the preprocessing dict (e.g. ``reader_options``).
    """
    model = build_model("seed-ae", width=4, in_channels=in_channels)
    pre = {"image_size": image_size, "in_channels": in_channels, "threshold": 0.5, **preprocess}
    save_checkpoint(make_checkpoint("seed-ae", {"width": 4, "in_channels": in_channels}, model, pre), path)
    return path


@pytest.fixture(scope="session")
def synthetic_dataset(tmp_path_factory) -> Path:
    """24 phantoms of 64×64 in the Kaggle layout with a metadata.csv of 6 patients."""
    return make_dataset(tmp_path_factory.mktemp("syn") / "data", n=24, size=64, seed=1, n_patients=6)


@pytest.fixture
def fake_bundled(tmp_path, monkeypatch) -> Path:
    """``models/bundled/`` swapped for a folder with tiny untrained ``t1c`` and ``flair`` checkpoints (each with its
    ``preprocessing["modality"]``), so tests can route inputs to both bundled models without the real weights."""
    from tumorseg.models import zoo

    folder = tmp_path / "bundled"
    folder.mkdir()
    for name in ("t1c", "flair"):
        tiny_checkpoint(folder / f"{name}.pt", image_size=32, modality=name)
    monkeypatch.setattr(zoo, "BUNDLED_DIR", folder)
    return folder


@pytest.fixture
def bright(tmp_path):
    """A predictor whose mask is exactly the slice's pixels >= 128."""
    from tumorseg.inference.predictor import Predictor

    pred = Predictor.from_checkpoint(tiny_checkpoint(tmp_path / "m.pt"), "cpu", backend="torch")
    pred.probabilities = lambda slices, batch_size=16: [(s >= 128).astype(np.float32) for s in slices]
    pred.post["min_component_px"] = 0
    return pred


@pytest.fixture
def graded(tmp_path):
    """A predictor whose probability is the slice's brightness / 255 (so a probability map written is the model's
    input)."""
    from tumorseg.inference.predictor import Predictor

    pred = Predictor.from_checkpoint(tiny_checkpoint(tmp_path / "m.pt"), "cpu", backend="torch")
    pred.probabilities = lambda slices, batch_size=16: [s.astype(np.float32) / 255 for s in slices]
    pred.post["min_component_px"] = 0
    return pred
