"""load_checkpoint never runs pickled code and says clearly what is wrong with a bad file."""

from __future__ import annotations

import pickle

import pytest
import torch

from tumorseg.errors import CheckpointError
from tumorseg.models import build_model
from tumorseg.models.checkpoint import FORMAT, FORMAT_VERSION, load_checkpoint, make_checkpoint, save_checkpoint


class _Evil:
    """Unpickling this creates ``target`` (a harmless stand-in for arbitrary code)."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (open, (self.target, "w"))


def _good(tmp_path):
    model = build_model("seed-ae", width=4)
    path = tmp_path / "good.pt"
    save_checkpoint(make_checkpoint("seed-ae", {"width": 4}, model, {"image_size": 32}), path)
    return path


@pytest.mark.parametrize("how", ["torch.save", "pickle.dump"])
def test_malicious_pickle_is_refused_and_not_executed(tmp_path, how):
    target = tmp_path / "pwned"
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "state_dict": {}, "x": _Evil(target)}
    path = tmp_path / "evil.pt"
    if how == "torch.save":
        torch.save(payload, path)
    else:
        with open(path, "wb") as f:
            pickle.dump(payload, f)
    assert not target.exists()
    with pytest.raises(CheckpointError, match="refused|not a readable"):
        load_checkpoint(path)
    assert not target.exists(), "the pickled payload ran"


def test_truncated_file(tmp_path):
    path = _good(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(path)


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n not a checkpoint", b""])
def test_foreign_bytes(tmp_path, content):
    path = tmp_path / "foreign.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(path)


def test_foreign_torch_file(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"model": build_model("seed-ae", width=4).state_dict()}, path)  # someone else's checkpoint
    with pytest.raises(CheckpointError, match="not a tumorseg checkpoint"):
        load_checkpoint(path)


def test_newer_format_version(tmp_path):
    path = _good(tmp_path)
    ckpt = load_checkpoint(path)
    ckpt["format_version"] = FORMAT_VERSION + 1
    save_checkpoint(ckpt, path)
    with pytest.raises(CheckpointError, match="newer than this tumorseg"):
        load_checkpoint(path)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")


def test_resume_state_loads_weights_only(tmp_path, synthetic_dataset):
    """The last.pt of a run (optimizer, scheduler, RNG states...) is itself weights_only-loadable."""
    from tumorseg.config import TrainConfig
    from tumorseg.training.fit import fit

    out = fit(TrainConfig(data=str(synthetic_dataset), out=str(tmp_path / "run"), model_kwargs={"width": 4},
                          image_size=32, epochs=1, batch_size=8, scheduler="cosine", grid_every=0,
                          evaluate_test=False), progress=False)
    ts = load_checkpoint(out / "last.pt")["train_state"]
    assert {"optimizer", "scheduler", "scaler", "rng", "selector", "history"} <= set(ts)
    assert set(ts["rng"][0]) >= {"python", "numpy", "torch"}
