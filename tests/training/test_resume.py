"""Kill -9 in the middle of an epoch, resume, and end exactly where an uninterrupted run ends.

What makes it exact (CPU): the data order is a function of (seed, epoch), augmentation of each item
is seeded by (seed, epoch, index), dropout draws from the global RNG whose state is in last.pt, and
every run uses the same number of threads (1 here) and DataLoader workers (0), so float reductions
happen in the same order. A different thread count or a GPU's non-deterministic kernels would make it
close, not bit-identical.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tumorseg.config import TrainConfig
from tumorseg.data.synthetic import make_dataset
from tumorseg.models.checkpoint import load_checkpoint

CHILD = Path(__file__).with_name("_train_child.py")


def _child(cfg: TrainConfig, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    path = tmp / f"{Path(cfg.out).name}.json"
    cfg.save(path)
    return subprocess.run([sys.executable, str(CHILD), str(path), *args], capture_output=True, text=True, timeout=300)


def _config(data: Path, out: Path) -> TrainConfig:
    # 28 train slices, batch 4 -> 7 steps per epoch; step checkpoints every 3 steps
    return TrainConfig(
        data=str(data), out=str(out), model="unet",
        model_kwargs={"width": 4, "levels": 3, "num_res_units": 1, "dropout": 0.2},
        loss="dice-bce", optimizer="adamw", image_size=32, epochs=3, batch_size=4, lr=3e-3,
        scheduler="cosine", warmup_epochs=0.5, augment="light", select_metric="val_dice",
        checkpoint_every_steps=3, grid_every=0, evaluate_test=False, num_workers=0,
    )


def _without_seconds(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


@pytest.mark.parametrize("data_path,ema", [("loader", 0.0), ("device", 0.0), ("loader", 0.8)])
def test_sigkill_mid_epoch_then_resume_is_exact(tmp_path, data_path, ema):
    data = make_dataset(tmp_path / "data", n=48, size=32, seed=3, n_patients=12)
    ref_cfg = _config(data, tmp_path / "ref")
    ref_cfg.data_path, ref_cfg.ema_decay = data_path, ema
    ref = _child(ref_cfg, tmp_path, "run")
    assert ref.returncode == 0, ref.stderr

    cut = _config(data, tmp_path / "cut")
    cut.data_path, cut.ema_decay = data_path, ema
    killed = _child(cut, tmp_path, "killat", "12")  # dies writing the checkpoint of step 12 (epoch 2, step 5)
    assert killed.returncode == -9, killed.stderr
    run = Path(cut.out)
    assert list(run.glob(".last.pt.*.tmp")), "the kill should have left a half-written temporary file"
    state = load_checkpoint(run / "last.pt")["train_state"]  # the previous checkpoint is intact
    assert (state["epoch"], state["step_in_epoch"], state["global_step"]) == (1, 2, 9)

    resumed = _child(cut, tmp_path, "resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr

    a, b = load_checkpoint(tmp_path / "ref" / "last.pt"), load_checkpoint(run / "last.pt")
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for k in a["state_dict"]:
        assert torch.equal(a["state_dict"][k], b["state_dict"][k]), k
    ta, tb = a["train_state"], b["train_state"]
    assert _without_seconds(ta["history"]) == _without_seconds(tb["history"])
    assert ta["global_step"] == tb["global_step"] == 21
    for sa, sb in zip(ta["optimizer"]["state"].values(), tb["optimizer"]["state"].values()):
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert ta["scheduler"] == tb["scheduler"]
    if ema:  # the weights' moving average goes on from where it was, too
        assert ta["ema"].keys() == tb["ema"].keys() and all(torch.equal(ta["ema"][k], tb["ema"][k]) for k in ta["ema"])
    best_a, best_b = load_checkpoint(tmp_path / "ref" / "best.pt"), load_checkpoint(run / "best.pt")
    assert all(torch.equal(best_a["state_dict"][k], best_b["state_dict"][k]) for k in best_a["state_dict"])
    assert (run / "history.csv").read_text().count("\n") == 4


def test_resume_of_a_finished_run_changes_nothing(tmp_path):
    data = make_dataset(tmp_path / "data", n=24, size=32, seed=4, n_patients=6)
    cfg = _config(data, tmp_path / "run")
    cfg.epochs, cfg.augment = 1, "none"
    assert _child(cfg, tmp_path, "run").returncode == 0
    before = load_checkpoint(tmp_path / "run" / "last.pt")
    from tumorseg.training.fit import resume

    resume(tmp_path / "run", progress=False)
    after = load_checkpoint(tmp_path / "run" / "last.pt")
    assert all(torch.equal(before["state_dict"][k], after["state_dict"][k]) for k in before["state_dict"])


def test_a_cv_killed_mid_fold_resumes_that_fold_exactly(tmp_path):
    # the same CV run again into its folder goes on from the fold's last.pt and ends where an uninterrupted CV
    # ends; with another recipe the fold starts over instead, with a warning that says what changed
    data = make_dataset(tmp_path / "data", n=48, size=32, seed=3, n_patients=12)
    ref = _config(data, tmp_path / "ref")
    assert _child(ref, tmp_path, "cv").returncode == 0
    cut = _config(data, tmp_path / "cut")
    killed = _child(cut, tmp_path, "cvkillat", "9")  # 4 steps an epoch: dies in epoch 3, last.pt of step 8
    assert killed.returncode == -9, killed.stderr
    fold = tmp_path / "cut" / "fold_0"
    assert (fold / "last.pt").is_file() and not (fold / "test").exists()
    again = _child(cut, tmp_path, "cv")
    assert again.returncode == 0, again.stderr
    assert "fold 0: resuming its unfinished run" in again.stderr
    a, b = load_checkpoint(tmp_path / "ref" / "fold_0" / "best.pt"), load_checkpoint(fold / "best.pt")
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    assert (tmp_path / "ref" / "fold_0" / "history.csv").read_text().count("\n") == \
        (fold / "history.csv").read_text().count("\n") == 4
    assert (fold / "test" / "metrics.json").is_file() and (tmp_path / "cut" / "cv_summary.json").is_file()

    other = _config(data, tmp_path / "other")
    assert _child(other, tmp_path, "cvkillat", "9").returncode == -9
    other.epochs = 2  # the recipe changed since the fold was started
    changed = _child(other, tmp_path, "cv")
    assert changed.returncode == 0, changed.stderr
    assert "was started with epochs = 3, this cv gives 2; starting the fold over" in changed.stderr
    assert (tmp_path / "other" / "fold_0" / "history.csv").read_text().count("\n") == 3
