"""--time-budget: after epoch 1 the run plans how many epochs fit, anneals over them and keeps the plan on resume."""

from __future__ import annotations

import json
import time

import pytest

from tumorseg.config import TrainConfig
from tumorseg.options import duration
from tumorseg.training import distributed as D
from tumorseg.training.fit import prepare_data
from tumorseg.training.trainer import Trainer


def _trainer(data, out, **kw) -> Trainer:
    cfg = TrainConfig(data=str(data), out=str(out), model="unet", model_kwargs={"width": 4, "levels": 3},
                      image_size=32, batch_size=4, device="cpu", scheduler="cosine", warmup_epochs=2,
                      optimizer="adamw", lr=1e-2, grid_every=0, **kw)
    t = Trainer(cfg, D.DistEnv(), progress=False)
    t.setup(prepare_data(cfg, t.out, t.env, progress=False))
    return t


def test_the_plan_fits_the_time_left_and_reshapes_the_schedule_without_a_jump(synthetic_dataset, tmp_path):
    t = _trainer(synthetic_dataset, tmp_path / "run", epochs=50, time_budget_s=100.0)
    t.started = time.time() - 10.0  # 10 s spent reading data and on epochs 1-2: about 90 s left
    assert t.plan_epochs(1, epoch_s=5.0) is None  # epoch 1 pays for start-up: too early to plan
    for _ in range(2 * t.steps_per_epoch):  # epochs 1-2's steps (the 2-epoch warm-up)
        t.optimizer.step()
        t.scheduler.step()
    lr_before = t.optimizer.param_groups[0]["lr"]
    planned = t.plan_epochs(2, epoch_s=10.0)
    assert planned == 10  # 2 + floor(0.95 × ~90 / 10)
    assert t.cfg.epochs == 10 and t.optimizer.param_groups[0]["lr"] == lr_before
    saved = json.loads((t.out / "config.json").read_text())
    assert saved["epochs"] == 10
    assert saved["runtime"]["time_budget"]["epochs_asked"] == 50
    assert saved["runtime"]["time_budget"]["epochs_planned"] == 10
    # the cosine now runs from the end of the warm-up to the 10th epoch: ~0 at the end, ~0.5 half way
    total, warm = 10 * t.steps_per_epoch, 2 * t.steps_per_epoch
    factor = t.scheduler.lr_lambdas[0]
    assert factor(warm) == pytest.approx(1.0) and factor(total) == pytest.approx(0.0) and factor(total - 1) < 0.01
    assert factor(warm + (total - warm) // 2) == pytest.approx(0.5, abs=0.1)


def test_a_spent_budget_stops_the_run_after_epoch_1(synthetic_dataset, tmp_path):
    t = _trainer(synthetic_dataset, tmp_path / "run", epochs=50, time_budget_s=100.0)
    t.started = time.time() - 101.0
    assert t.plan_epochs(1, epoch_s=50.0) == 1 and t.cfg.epochs == 1


def test_a_run_stops_at_the_planned_epoch_and_a_resume_keeps_the_plan(synthetic_dataset, tmp_path):
    t = _trainer(synthetic_dataset, tmp_path / "run", epochs=5, time_budget_s=0.001)  # spent before epoch 1 ends
    result = t.run()
    assert [h["epoch"] for h in result.history] == [1] and t.finished
    cfg = TrainConfig.load(t.out / "config.json")
    assert cfg.epochs == 1 and cfg.runtime["time_budget"]["epochs_asked"] == 5
    again = Trainer(cfg, t.env, resume=True, progress=False)
    again.setup(t.data)
    assert again.finished and again.cfg.runtime["time_budget"] == cfg.runtime["time_budget"]


def test_a_budget_larger_than_needed_leaves_the_epochs_as_asked(synthetic_dataset, tmp_path):
    t = _trainer(synthetic_dataset, tmp_path / "run", epochs=2, time_budget_s=3600.0)
    result = t.run()
    assert [h["epoch"] for h in result.history] == [1, 2]
    assert json.loads((t.out / "config.json").read_text())["runtime"]["time_budget"]["epochs_planned"] == 2


@pytest.mark.parametrize("text, seconds", [("300", 300.0), ("90s", 90.0), ("20m", 1200.0), ("1.5h", 5400.0),
                                           ("off", 0.0)])
def test_durations_read_like_people_write_them(text, seconds):
    assert duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "-5", "0", "10d", "nan", "9999h"])
def test_bad_durations_are_refused(text):
    import argparse

    with pytest.raises(argparse.ArgumentTypeError, match="300, 90s, 20m or 1.5h"):
        duration(text)


def test_the_cli_takes_time_budget(capsys):
    from tumorseg.cli import main

    assert main(["train", "--data", "x", "--out", "y", "--time-budget", "soon"]) == 2  # refused at parse time
    err = capsys.readouterr().err
    assert "--time-budget" in err and len(err.strip().splitlines()) == 1
